"""Two measures of a photo, taken before OCR, that decide how it is read
(``marking/reading_plan.py``): how tall its text is, and how soft its edges
are.  Functions of a grayscale array; no Tesseract.

``text_height``: the median height, in pixels, of the dark connected
components shaped like letters.  It mixes x-height letters and letters with
ascenders, so it is not the x-height itself, but it moves with the text's
size and it is what the plan's thresholds were measured in: 10 to 11 on a
page rendered at 150 dpi, 11 to 13 on the dev set's phone photos, 6 to 7 on
a whole page photographed from further away.

``edge_steepness``: how sharp the page's sharpest edges are for its contrast,
the 99.5th percentile of the gradient's magnitude over the range from the
darkest ink to the median (paper).  A rendered page gives 4 to 5, the dev
set's blurred phone photos 2.2 to 2.9.
"""

from __future__ import annotations

import cv2
import numpy as np

# Components counted as letters: at least this many pixels tall (smaller ones
# are noise, dots and commas), at most this tall (rules, pictures), and not
# much wider than tall (a rule, or letters touching along a line).
MIN_LETTER_HEIGHT = 4
MAX_LETTER_HEIGHT = 200
MAX_LETTER_ASPECT = 3.0
# Fewer letters than this and there is no text to measure.
MIN_LETTERS = 30
# The local threshold that separates ink from paper: a window of this many
# pixels, and this much darker than the window's mean.
_WINDOW = 31
_DARKER_BY = 15


def text_height(gray: np.ndarray) -> float | None:
    """The median height of the letter-shaped dark components of ``gray``
    (2-D, uint8), or ``None`` when fewer than ``MIN_LETTERS`` are found
    (a blank, tiny or pictorial photo)."""
    if gray.ndim != 2 or min(gray.shape) < _WINDOW:
        return None
    ink = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, _WINDOW, _DARKER_BY)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    heights = stats[1:count, cv2.CC_STAT_HEIGHT]
    widths = stats[1:count, cv2.CC_STAT_WIDTH]
    letters = (
        (heights >= MIN_LETTER_HEIGHT)
        & (heights <= MAX_LETTER_HEIGHT)
        & (widths >= 2)
        & (widths <= MAX_LETTER_ASPECT * heights)
    )
    if int(letters.sum()) < MIN_LETTERS:
        return None
    return float(np.median(heights[letters]))


def edge_steepness(gray: np.ndarray) -> float | None:
    """The 99.5th percentile of the gradient magnitude of ``gray`` over its
    contrast (median minus 1st percentile), or ``None`` for a photo with no
    contrast to speak of (blank)."""
    if gray.ndim != 2 or min(gray.shape) < 3:
        return None
    darkest, median = np.percentile(gray, [1, 50])
    contrast = float(median - darkest)
    if contrast < 16:
        return None
    dx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
    dy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    return float(np.percentile(cv2.magnitude(dx, dy), 99.5)) / contrast
