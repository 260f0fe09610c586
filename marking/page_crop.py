"""Find the page in a photo of one: the box of the largest bright region,
so that OCR reads the page and not the table it lies on.

A phone photo of a whole page has background around it (a table, a
textured cloth): it costs Tesseract time, Sauvola and Otsu thresholds go
wrong on it, and the text height measured over it is the background's
noise.  The page is found on a small, blurred copy: the bright side of an
Otsu threshold, its largest connected region.  A scan or a rendered page
(paper to every edge) gives no box: nothing to crop.
"""

from __future__ import annotations

import cv2
import numpy as np

# The photo is looked at this many times smaller (a page is large; its edge
# only has to be right to a few pixels, and the box is widened by a margin).
_SHRINK = 8
# A region smaller than this share of the frame is not a page (a label, a
# lamp's reflection); one this close to the whole frame leaves nothing to
# crop.
MIN_PAGE_SHARE = 0.15
MAX_PAGE_SHARE = 0.92
# Paper must be this much brighter than the background around it.
MIN_PAGE_CONTRAST = 24.0


def page_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the page in ``gray`` (2-D uint8), widened by a
    margin and clipped to the photo, or ``None`` when no page stands out
    from a background (the photo is the page, or it is no page at all)."""
    height, width = gray.shape
    if min(height, width) < 16 * _SHRINK:
        return None
    small = cv2.resize(gray, (width // _SHRINK, height // _SHRINK), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    _, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Close the page's text lines (dark) into the paper around them.
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[largest, :4])
    share = (w * h) / float(small.shape[0] * small.shape[1])
    if not MIN_PAGE_SHARE <= share <= MAX_PAGE_SHARE:
        return None
    inside = labels == largest
    if float(small[inside].mean()) - float(small[~inside].mean()) < MIN_PAGE_CONTRAST:
        return None
    margin = 2
    return (
        max(0, (x - margin) * _SHRINK),
        max(0, (y - margin) * _SHRINK),
        min(width, (x + w + margin) * _SHRINK),
        min(height, (y + h + margin) * _SHRINK),
    )
