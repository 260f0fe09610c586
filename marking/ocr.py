"""Read the words of a photo with Tesseract: preprocessing, then exactly one
``image_to_data`` call, then word boxes mapped back to the upright photo.

Preprocessing is what measured better on ``../shared/eval/dev`` (see
``bench/quality.py``); the settings are recorded in every report.
"""

from __future__ import annotations

import os

# One Tesseract process per core beats Tesseract's own OpenMP threads; the
# variable is read by the tesseract subprocess, so it must be set before the
# first call.
os.environ["OMP_THREAD_LIMIT"] = "1"

import functools
import math
from dataclasses import asdict, dataclass

import pytesseract
from PIL import Image, ImageOps


@dataclass(frozen=True)
class Word:
    """One word as OCR read it; ``box`` is (x0, y0, x1, y1) in pixels of the
    upright photo, x1/y1 exclusive.  (block, par, line, word) are Tesseract's
    numbers: words sharing (block, par, line) are on one line, in ``word`` order."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    block: int
    par: int
    line: int
    word: int

    @property
    def line_key(self) -> tuple[int, int, int]:
        return (self.block, self.par, self.line)


@dataclass(frozen=True)
class Settings:
    """How a photo is prepared and read.

    ``min_long_side``: a photo whose longer side is under this is upscaled to
    it (small text is what Tesseract misreads most); ``max_scale`` caps that.
    ``thresholding_method``: Tesseract's binarisation (0 Otsu, its default;
    1 Leptonica's adaptive Otsu; 2 Sauvola, local, which copes with uneven
    light).

    Measured on ``../shared/eval/dev`` with bench/quality.py (Tesseract
    5.3.0): grayscale + Sauvola found all 157 expected boxes of the clean
    pages (Otsu on the colour page: 155) and 48 of 55 on the phone photos
    (Otsu: 44), for one wrong box more; OCR time about the same on clean
    pages, about 1.5x on photos (Sauvola keeps more of the textured
    background), 1.15x over the set.  Tried and dropped: dividing by the
    paper's brightness to flatten the light (helped Otsu on photos, not
    Sauvola, and cost clean pages with Otsu), Leptonica's adaptive Otsu
    (recall on photos 0.53), upscaling pages of 1275 px and more (1.45x the
    time for no recall), page segmentation 11, sparse text (lost words on
    photos).  Upscaling photos under 1000 px (a thumbnail of a page; the dev
    set has none) is kept: 9 px text is boxed right only after it.
    """

    lang: str = "eng"
    psm: int = 3
    grayscale: bool = True
    min_long_side: int = 1000
    max_scale: float = 3.0
    thresholding_method: int = 2

    def config(self) -> str:
        parts = [f"--psm {self.psm}"]
        if self.thresholding_method:
            parts.append(f"-c thresholding_method={self.thresholding_method}")
        return " ".join(parts)


DEFAULT_SETTINGS = Settings()


@functools.cache
def tesseract_version() -> str:
    return str(pytesseract.get_tesseract_version())


def engine_info(settings: Settings = DEFAULT_SETTINGS) -> dict:
    """What read the photo, for the report."""
    info = {"name": "tesseract", "version": tesseract_version()}
    info.update(asdict(settings))
    return info


def prepare(
    image: Image.Image, settings: Settings = DEFAULT_SETTINGS
) -> tuple[Image.Image, float]:
    """The image Tesseract reads, and its scale relative to ``image``."""
    prepared = image
    if settings.grayscale:
        prepared = ImageOps.grayscale(prepared)
    scale = 1.0
    long_side = max(image.size)
    if settings.min_long_side and long_side < settings.min_long_side:
        scale = min(settings.max_scale, settings.min_long_side / long_side)
        size = (round(image.width * scale), round(image.height * scale))
        prepared = prepared.resize(size, Image.Resampling.LANCZOS)
    return prepared, scale


def read_words(image: Image.Image, settings: Settings = DEFAULT_SETTINGS) -> list[Word]:
    """The words of ``image`` (upright, as it will be shown), read with one
    ``image_to_data`` call; boxes in pixels of ``image``."""
    prepared, scale = prepare(image, settings)
    data = pytesseract.image_to_data(
        prepared,
        lang=settings.lang,
        config=settings.config(),
        output_type=pytesseract.Output.DICT,
    )
    return words_from_data(data, scale, image.size)


def words_from_data(data: dict, scale: float, size: tuple[int, int]) -> list[Word]:
    """Turn ``image_to_data``'s columns into words, boxes divided by ``scale``
    (rounded outward) and clipped to ``size``."""
    width, height = size
    words = []
    for i, text in enumerate(data["text"]):
        if int(data["level"][i]) != 5 or not text or not text.strip():
            continue
        left, top = int(data["left"][i]), int(data["top"][i])
        right, bottom = left + int(data["width"][i]), top + int(data["height"][i])
        box = (
            max(0, int(left / scale)),
            max(0, int(top / scale)),
            min(width, math.ceil(right / scale)),
            min(height, math.ceil(bottom / scale)),
        )
        words.append(
            Word(
                text=text.strip(),
                box=box,
                confidence=float(data["conf"][i]),
                block=int(data["block_num"][i]),
                par=int(data["par_num"][i]),
                line=int(data["line_num"][i]),
                word=int(data["word_num"][i]),
            )
        )
    return words
