"""How to read a photo, decided from what was measured of it before OCR, and
whether a reading came out poor enough to try another: pure decisions, no
image, no Tesseract (``marking/ocr.py`` applies them).

The rules, each kept for what it measured on the dev set and the holdout
set (``bench/quality.py``; the figures are in ``Settings``' docstring):

* A photo of a page (a page found against a background, or soft edges) is
  read from the page alone, upscaled until its text is
  ``target_text_height`` pixels tall, and sharpened (an unsharp mask undoes
  some of the blur).  A page that fills only part of the frame is also
  upscaled until its long side is ``min_page_side`` pixels: its letters
  blur into each other, so their height is measured too tall.
* A scan or a rendered page (sharp, paper to the edges) is read as it is,
  unless its text is under ``small_text_height`` pixels.
* A photo with no text to measure falls back to the size rule: a
  thumbnail under ``min_long_side`` is upscaled.
* Whatever the plan, the scaled photo stays within Tesseract's side limit
  and ``max_megapixels``, and is upscaled at most ``max_scale`` times.
* A reading is poor when it holds fewer than ``MIN_GOOD_WORDS`` confident
  words: the photo is then read once more with the other binarisation, and
  the reading with more confident words is kept.
* Tesseract's other choices of each character (``marking/char_choices.py``)
  are asked for where OCR hesitates: on photos and on upscaled small text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# Tesseract refuses an image wider or taller than this.
MAX_OCR_SIDE = 32767
# A word counts as confidently read at this confidence, with this many letters or digits.
GOOD_WORD_CONFIDENCE = 60.0
GOOD_WORD_LENGTH = 3
# A reading with fewer confident words than this is poor.
MIN_GOOD_WORDS = 20

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Measures:
    """What was measured of a photo before OCR (``marking/text_measures.py``,
    ``marking/page_crop.py``)."""

    size: tuple[int, int]  # the photo's width and height
    page: Box | None  # the page found against a background, or None
    text_height: float | None  # of the page (or photo), None: no text found
    edge_steepness: float | None  # likewise; None: no contrast


@dataclass(frozen=True)
class PlanRules:
    """The thresholds of the plan (a part of ``ocr.Settings``)."""

    min_long_side: int = 1000
    max_scale: float = 3.0
    target_text_height: float = 16.0
    small_text_height: float = 9.0
    soft_edges_below: float = 3.3
    min_page_side: int = 2000
    sharpen_amount: float = 2.5
    max_megapixels: float = 60.0


@dataclass(frozen=True)
class Plan:
    """How one photo is read: the region of it (``crop``, in its pixels),
    how much that region is scaled, and whether it is sharpened first."""

    crop: Box
    scale: float
    sharpen: float  # the unsharp mask's amount; 0: none
    photo: bool  # read as a photo of a page (found page or soft edges)

    @property
    def char_choices(self) -> bool:
        """Whether Tesseract's other choices of each character are worth
        asking for (they cost a fifth more OCR time): on a photo, or text
        upscaled because it is small, where OCR hesitates; not on a sharp
        page read as it is, which it reads with confidence."""
        return self.photo or self.scale > 1.0

    def as_dict(self) -> dict:
        return {
            "crop": list(self.crop),
            "scale": round(self.scale, 3),
            "sharpen": self.sharpen,
            "photo": self.photo,
            "char_choices": self.char_choices,
        }


def size_scale(size: tuple[int, int], rules: PlanRules) -> float:
    """The size rule alone: up (at most ``max_scale``) when the longer side
    is under ``min_long_side``, down when it is over Tesseract's limit."""
    long_side = max(size)
    scale = 1.0
    if rules.min_long_side and long_side < rules.min_long_side:
        scale = min(rules.max_scale, rules.min_long_side / long_side)
    return min(scale, MAX_OCR_SIDE / long_side)


def plan_reading(measures: Measures, rules: PlanRules = PlanRules()) -> Plan:  # noqa: B008 - frozen
    """The plan for a photo of these measures (see the module's rules)."""
    width, height = measures.size
    crop = measures.page or (0, 0, width, height)
    region = (crop[2] - crop[0], crop[3] - crop[1])
    soft = measures.edge_steepness is not None and measures.edge_steepness < rules.soft_edges_below
    photo = measures.page is not None or soft
    text = measures.text_height
    if text is None:
        scale = size_scale(region, rules)
    elif photo:
        scale = max(1.0, rules.target_text_height / text)
        if measures.page is not None:
            scale = max(scale, rules.min_page_side / max(region))
    elif text < rules.small_text_height:
        scale = rules.target_text_height / text
    else:
        scale = 1.0
    if scale > 1.0:
        scale = min(scale, rules.max_scale, math.sqrt(rules.max_megapixels * 1e6 / (region[0] * region[1])))
        scale = max(scale, 1.0)
    scale = min(scale, MAX_OCR_SIDE / max(region))
    return Plan(crop=crop, scale=scale, sharpen=rules.sharpen_amount if photo else 0.0, photo=photo)


def good_words(texts_and_confidences: Iterable[tuple[str, float]]) -> int:
    """How many words were read confidently (``GOOD_WORD_CONFIDENCE``,
    ``GOOD_WORD_LENGTH`` letters or digits)."""
    return sum(
        1
        for text, confidence in texts_and_confidences
        if confidence >= GOOD_WORD_CONFIDENCE and sum(c.isalnum() for c in text) >= GOOD_WORD_LENGTH
    )


def is_poor(good: int) -> bool:
    """Whether a reading with ``good`` confident words is worth a second try."""
    return good < MIN_GOOD_WORDS
