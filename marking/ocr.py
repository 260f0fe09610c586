"""Read the words of a photo with Tesseract: preprocessing, then exactly one
``image_to_data`` call, then word boxes mapped back to the upright photo.

Tesseract runs as ``marking/tesseract.py`` starts it: it dies with the worker (even
on SIGKILL), and OCR started inside ``with TesseractRuns():`` can be stopped from
another thread (``read_words`` then raises ``OcrStopped``).

Preprocessing is what measured better on ``tests/data/eval/dev`` (see
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
import signal
import subprocess
from dataclasses import asdict, dataclass

import pytesseract
from PIL import Image, ImageOps

from marking import tesseract
from marking.tesseract import OcrStopped

# Tesseract cannot read an image whose shorter side is under this (Sauvola
# binarisation needs a window of 2 * 2 + 3 pixels: "whsize must be >= 2"
# below 7), and no line of text it could read fits in fewer pixels anyway:
# such a photo is not read at all, it holds no words.
MIN_OCR_SIDE = 8
# Tesseract refuses an image wider or taller than this ("Image too large",
# an abort with Sauvola): a longer photo is read scaled down to it.
MAX_OCR_SIDE = 32767
# How long one Tesseract run may take before it is killed: a page full of
# text took 4 s per megapixel on one core here (89 megapixels: 350 s), so
# this leaves room for a slower or busier machine.
OCR_TIMEOUT_BASE = 60.0
OCR_TIMEOUT_PER_MEGAPIXEL = 10.0
# What Tesseract says when its language data cannot be loaded: the worker's
# installation, not the photo.
_MISSING_DATA = ("Failed loading language", "Error opening data file", "Could not initialize tesseract")
# What a pytesseract call raises when Tesseract fails (TesseractError and its
# timeout are RuntimeErrors, TesseractNotFoundError an OSError; a tesseract
# that cannot say its version makes pytesseract raise SystemExit, which must
# not reach an actor: Pykka stops every actor of the process on it).
_RUN_ERRORS = (RuntimeError, OSError, subprocess.SubprocessError, SystemExit)


class OcrFailed(ValueError):
    """Tesseract failed, crashed or ran out of time on this photo: the photo
    cannot be read (another worker would fail the same way)."""


class OcrTimeout(OcrFailed):
    """Tesseract did not finish reading this photo in time and was killed."""


class OcrUnavailable(RuntimeError):
    """Tesseract cannot run on this machine (not installed, its language data
    missing, no room for its files): not the photo's fault."""


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

    Measured on ``tests/data/eval/dev`` with bench/quality.py (Tesseract
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
    """Tesseract's version; raises ``OcrUnavailable`` when it cannot be run."""
    try:
        return str(pytesseract.get_tesseract_version())
    except _RUN_ERRORS as error:
        raise ocr_error(error, 0.0) from error


def engine_info(settings: Settings = DEFAULT_SETTINGS) -> dict:
    """What read the photo, for the report."""
    info = {"name": "tesseract", "version": tesseract_version()}
    info.update(asdict(settings))
    return info


def ocr_scale(size: tuple[int, int], settings: Settings = DEFAULT_SETTINGS) -> float:
    """How much a photo of ``size`` is scaled before Tesseract reads it: up
    (at most ``max_scale``) when its longer side is under ``min_long_side``,
    down when its longer side is over what Tesseract takes."""
    long_side = max(size)
    scale = 1.0
    if settings.min_long_side and long_side < settings.min_long_side:
        scale = min(settings.max_scale, settings.min_long_side / long_side)
    return min(scale, MAX_OCR_SIDE / long_side)


def ocr_size(size: tuple[int, int], settings: Settings = DEFAULT_SETTINGS) -> tuple[int, int]:
    """The size of the image Tesseract reads for a photo of ``size``."""
    scale = ocr_scale(size, settings)
    if scale == 1.0:
        return size
    return (min(MAX_OCR_SIDE, max(1, round(size[0] * scale))), min(MAX_OCR_SIDE, max(1, round(size[1] * scale))))


def holds_text(size: tuple[int, int], settings: Settings = DEFAULT_SETTINGS) -> bool:
    """Whether a photo of ``size`` is worth reading: as Tesseract would see it
    (scaled), its shorter side has room for a line of text.  A 1x1, 2x2 or
    1xN photo, or a strip a few pixels high, has not: it holds no words."""
    return min(ocr_size(size, settings)) >= MIN_OCR_SIDE


def ocr_timeout(size: tuple[int, int]) -> float:
    """Seconds one Tesseract run on a photo of ``size`` may take."""
    return OCR_TIMEOUT_BASE + OCR_TIMEOUT_PER_MEGAPIXEL * size[0] * size[1] / 1e6


def prepare(image: Image.Image, settings: Settings = DEFAULT_SETTINGS) -> tuple[Image.Image, float]:
    """The image Tesseract reads, and its scale relative to ``image``."""
    prepared = image
    if settings.grayscale:
        prepared = ImageOps.grayscale(prepared)
    scale = ocr_scale(image.size, settings)
    if scale != 1.0:
        prepared = prepared.resize(ocr_size(image.size, settings), Image.Resampling.LANCZOS)
    return prepared, scale


def read_words(
    image: Image.Image, settings: Settings = DEFAULT_SETTINGS, *, timeout: float | None = None
) -> list[Word]:
    """The words of ``image`` (upright, as it will be shown), read with one
    ``image_to_data`` call; boxes in pixels of ``image``.

    A photo too small to hold text (``holds_text``) is not read: no words.
    Tesseract gets ``timeout`` seconds (default ``ocr_timeout``); raises
    ``OcrFailed`` (``OcrTimeout``) when it fails, crashes or runs out of time
    on the photo, ``OcrUnavailable`` when it cannot run here at all, and
    ``OcrStopped`` when the ``TesseractRuns`` it runs in were stopped."""
    if not holds_text(image.size, settings):
        return []
    prepared, scale = prepare(image, settings)
    timeout = ocr_timeout(image.size) if timeout is None else timeout
    try:
        data = tesseract.image_to_data(prepared, settings.lang, settings.config(), timeout)
    except OcrStopped:
        raise
    except _RUN_ERRORS as error:
        raise ocr_error(error, timeout) from error
    return words_from_data(data, scale, image.size)


def ocr_error(error: BaseException, timeout: float) -> Exception:
    """The error a failed Tesseract run means: ``OcrUnavailable`` for the
    machine's fault, ``OcrFailed`` for the photo's (``OcrTimeout`` when it was
    killed after ``timeout`` seconds)."""
    if isinstance(error, (OSError, subprocess.SubprocessError, SystemExit)):
        # TesseractNotFoundError is an OSError; SystemExit: "Invalid tesseract version"
        return OcrUnavailable(f"Tesseract cannot be run on this worker: {_describe(error)}")
    if isinstance(error, pytesseract.TesseractError):
        message = " ".join(str(error.message).split())[:300] or "no message"
        if any(text in message for text in _MISSING_DATA):
            return OcrUnavailable(f"Tesseract cannot load its language data on this worker: {message}")
        if error.status < 0:
            return OcrFailed(f"Tesseract crashed reading this photo ({_signal_name(-error.status)}): {message}")
        return OcrFailed(f"Tesseract failed on this photo (exit status {error.status}): {message}")
    if "timeout" in str(error).lower():
        return OcrTimeout(f"Tesseract did not finish reading this photo in {timeout:g} s and was stopped")
    return OcrFailed(f"Tesseract failed on this photo: {_describe(error)}")


def _signal_name(number: int) -> str:
    try:
        return f"signal {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


def _describe(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def words_from_data(data: dict, scale: float, size: tuple[int, int]) -> list[Word]:
    """Turn ``image_to_data``'s columns into words, boxes divided by ``scale``
    (rounded outward) and clipped to ``size``; a word whose box is empty once
    clipped (outside the photo) is dropped."""
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
        if box[0] >= box[2] or box[1] >= box[3]:
            continue
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
