"""Read the words of a photo with Tesseract: preprocessing as the photo's
plan says (``marking/reading_plan.py``: crop to the page, scale by the text's
height, sharpen a photo), one ``image_to_data`` call (two when the first
reads poorly), then word boxes mapped back to the upright photo.

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
from time import monotonic

import cv2
import numpy as np
import pytesseract
import structlog
from PIL import Image, ImageOps

from marking import tesseract
from marking.char_choices import Choices, choices_for
from marking.page_crop import page_box
from marking.reading_plan import (
    MAX_OCR_SIDE,
    Measures,
    Plan,
    PlanRules,
    good_words,
    is_poor,
    plan_reading,
    size_scale,
)
from marking.tesseract import OcrStopped
from marking.text_measures import edge_steepness, text_height

log = structlog.get_logger()

# Tesseract cannot read an image whose shorter side is under this (Sauvola
# binarisation needs a window of 2 * 2 + 3 pixels: "whsize must be >= 2"
# below 7), and no line of text it could read fits in fewer pixels anyway:
# such a photo is not read at all, it holds no words.
MIN_OCR_SIDE = 8
# The blur the unsharp mask takes away, in pixels of the photo.
SHARPEN_SIGMA = 1.5
# The text and the edges are measured on at most this many pixels of the
# page's middle: a 40-megapixel photo measured whole took 770 MB and 1.8 s,
# and its middle has letters enough.
MEASURED_PIXELS = 8_000_000
# How long reading a photo may take before Tesseract is killed: a page full of
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
    # Per character: the character read, then Tesseract's other choices for it
    # (``marking/char_choices.py``); empty when they were not asked for.
    choices: Choices = ()

    @property
    def line_key(self) -> tuple[int, int, int]:
        return (self.block, self.par, self.line)


@dataclass(frozen=True)
class Settings:
    """How a photo is prepared and read.

    ``thresholding_method``: Tesseract's binarisation for the first reading
    (0 Otsu, its default; 1 Leptonica's adaptive Otsu; 2 Sauvola, local,
    which copes with uneven light); ``second_thresholding_method``: the
    one a poor first reading is tried again with (``None``: never).
    ``plan``: how the photo is cropped, scaled and sharpened before
    (``marking/reading_plan.py``).  ``char_choices``: ask Tesseract for its
    other choices of each character (``marking/char_choices.py``) where the
    plan says OCR hesitates; matching may take one when it makes a word
    exactly a keyword.

    Measured with bench/quality.py (Tesseract 5.3.0) on the dev set and on
    the holdout set (whose small pages gave the page-side floor and the
    second reading):

    * grayscale + Sauvola found all 157 expected boxes of the dev set's
      clean pages (Otsu on the colour page: 155) and 48 of 55 on its phone
      photos (Otsu: 44).  On the holdout set's photos it found fewer than
      the plain baseline (69 of 105 against 86, and 2 of 63 where the page
      is small in the frame): it thresholds the background around the
      page, and fails outright on faint small text.
    * Reading the page alone, upscaled until its text is 16 pixels tall
      and sharpened (unsharp mask, amount 1.5): 50 of 55 on the dev photos,
      103 of 105 on the holdout photos, none false; clean pages unchanged
      (they are not photos: nothing changes).
    * A second reading with Otsu when Sauvola reads fewer than 20
      confident words, and the page-side floor: the holdout's small pages
      from 2 of 63 boxes to 30 (the plain baseline: 11).
    * Sharpening harder (amount 2.5): small pages 36 of 63 (one false),
      dev photos 51 of 55 (one box misplaced), holdout photos 101 of 105.
      Page-side floors of 2,000, 2,400 and 2,800 pixels, sharpening of 1.5
      to 3.0 and text heights of 16 to 20 moved the photos' figures by one
      or two boxes either way (noise at this size); the harder sharpening
      gave the small pages 6 to 10 boxes more at every floor tried, so it
      was kept.
    * Tesseract's other choices of each character, one swap taken when it
      makes a word exactly a keyword (``char_choices``): dev photos 51 to
      54 of 55, holdout small pages 36 to 41 of 63, nothing false; a fifth
      more OCR time, so asked for only where the plan says OCR hesitates.
    * Tried and dropped: dividing by a blurred background to even out the
      light (its noise made Otsu and Tesseract's layout fail: 14 of 55),
      denoising (more false words), a contrast stretch, re-reading the
      doubtful words in a collage (no gain); undoing the perspective from
      the page's four corners (+4 of 63 on small pages, but a page cut by
      the frame's edge gave a wrong quadrilateral and lost 13 of 14 boxes
      of one dev photo); merging the words of a Sauvola and an Otsu reading
      of every photo (+1 box on each set for twice the time); RapidOCR (PP-OCRv4 in
      ONNX Runtime) as a second engine: 3 to 5 s a page here against
      about 2 s for Tesseract, with line boxes whose words often run
      together ("contactyourlocal"), so the keywords' boxes would have
      to be guessed.
    """

    lang: str = "eng"
    psm: int = 3
    grayscale: bool = True
    thresholding_method: int = 2
    second_thresholding_method: int | None = 0
    char_choices: bool = True
    plan: PlanRules = PlanRules()  # noqa: RUF009 - frozen

    def config(self, thresholding_method: int | None = None, char_choices: bool = False) -> str:
        method = self.thresholding_method if thresholding_method is None else thresholding_method
        parts = [f"--psm {self.psm}"]
        if method:
            parts.append(f"-c thresholding_method={method}")
        if char_choices and self.char_choices:
            parts.append("-c lstm_choice_mode=2 -c hocr_char_boxes=1")
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
    """How much a photo of ``size`` is scaled by its size alone (when no text
    can be measured on it): up (at most ``max_scale``) when its longer side
    is under ``min_long_side``, down when its longer side is over what
    Tesseract takes."""
    return size_scale(size, settings.plan)


def ocr_size(
    size: tuple[int, int], settings: Settings = DEFAULT_SETTINGS, scale: float | None = None
) -> tuple[int, int]:
    """The size of the image Tesseract reads for a photo (or crop) of
    ``size`` scaled by ``scale`` (default: the size rule's)."""
    scale = ocr_scale(size, settings) if scale is None else scale
    if scale == 1.0:
        return size
    return (min(MAX_OCR_SIDE, max(1, round(size[0] * scale))), min(MAX_OCR_SIDE, max(1, round(size[1] * scale))))


def holds_text(size: tuple[int, int], settings: Settings = DEFAULT_SETTINGS) -> bool:
    """Whether a photo of ``size`` is worth reading: as Tesseract would see it
    (scaled), its shorter side has room for a line of text.  A 1x1, 2x2 or
    1xN photo, or a strip a few pixels high, has not: it holds no words."""
    return min(ocr_size(size, settings)) >= MIN_OCR_SIDE


def ocr_timeout(size: tuple[int, int]) -> float:
    """Seconds reading a photo of ``size`` may take, both runs together."""
    return OCR_TIMEOUT_BASE + OCR_TIMEOUT_PER_MEGAPIXEL * size[0] * size[1] / 1e6


def measure(gray: Image.Image) -> Measures:
    """What the plan is decided from: the page, and its text's height and
    edges (``marking/page_crop.py``, ``marking/text_measures.py``), taken
    on at most ``MEASURED_PIXELS`` of the page's middle."""
    pixels = np.asarray(gray)
    page = page_box(pixels)
    x0, y0, x1, y1 = page or (0, 0, gray.width, gray.height)
    x0, y0, x1, y1 = middle((x0, y0, x1, y1), MEASURED_PIXELS)
    region = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    return Measures(size=gray.size, page=page, text_height=text_height(region), edge_steepness=edge_steepness(region))


def middle(box: tuple[int, int, int, int], most: int) -> tuple[int, int, int, int]:
    """The middle of ``box`` with its proportions and at most ``most``
    pixels (``box`` itself when it is no larger)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    if width * height <= most:
        return box
    shrink = math.sqrt(most / (width * height))
    h = max(1, int(height * shrink))
    w = max(1, min(width, most // h))  # a strip one pixel high keeps to ``most`` too
    left, top = x0 + (width - w) // 2, y0 + (height - h) // 2
    return (left, top, left + w, top + h)


def prepare(image: Image.Image, settings: Settings = DEFAULT_SETTINGS) -> tuple[Image.Image, Plan]:
    """The image Tesseract reads, and the plan that made it from ``image``."""
    gray = ImageOps.grayscale(image)
    plan = plan_reading(measure(gray), settings.plan)
    prepared = gray if settings.grayscale else image.convert("RGB")
    if plan.crop != (0, 0, *image.size):
        prepared = prepared.crop(plan.crop)
    if plan.scale != 1.0:
        size = ocr_size(prepared.size, settings, plan.scale)
        resample = Image.Resampling.BICUBIC if plan.scale > 1 else Image.Resampling.LANCZOS
        prepared = prepared.resize(size, resample)
    if plan.sharpen:
        pixels = np.asarray(prepared)
        blurred = cv2.GaussianBlur(pixels, (0, 0), SHARPEN_SIGMA * max(1.0, plan.scale))
        prepared = Image.fromarray(cv2.addWeighted(pixels, 1 + plan.sharpen, blurred, -plan.sharpen, 0))
    return prepared, plan


def read_words(
    image: Image.Image, settings: Settings = DEFAULT_SETTINGS, *, timeout: float | None = None
) -> list[Word]:
    """The words of ``image`` (upright, as it will be shown); boxes in pixels
    of ``image``.

    The photo is prepared as its plan says (``prepare``), read with one
    ``image_to_data`` call, and read once more with the other binarisation
    when that reading is poor (``reading_plan.is_poor``); the reading with
    more confident words is kept.  A photo too small to hold text
    (``holds_text``) is not read: no words.

    The reading as a whole gets ``timeout`` seconds (default ``ocr_timeout``
    of the image it reads): the second run gets what the first left, and
    when it runs out of that, the first reading is the answer.  Raises
    ``OcrFailed`` (``OcrTimeout``) when the first run fails, crashes or runs
    out of time on the photo, ``OcrUnavailable`` when Tesseract cannot run
    here at all, and ``OcrStopped`` when the ``TesseractRuns`` it runs in
    were stopped."""
    if not holds_text(image.size, settings):
        return []
    prepared, plan = prepare(image, settings)
    timeout = ocr_timeout(prepared.size) if timeout is None else timeout
    deadline = monotonic() + timeout
    words = _read(prepared, plan, image.size, settings, settings.thresholding_method, timeout)
    second = settings.second_thresholding_method
    if second is not None and second != settings.thresholding_method:
        good = good_words((w.text, w.confidence) for w in words)
        if is_poor(good) and (left := deadline - monotonic()) > 0:
            try:
                other = _read(prepared, plan, image.size, settings, second, left)
            except OcrTimeout:
                log.info("ocr.second_reading_out_of_time", seconds=round(left, 3), kept_words=len(words))
                other = []
            if good_words((w.text, w.confidence) for w in other) > good:
                words = other
    return words


def _read(
    prepared: Image.Image, plan: Plan, size: tuple[int, int], settings: Settings, method: int, timeout: float
) -> list[Word]:
    try:
        data = tesseract.image_to_data(prepared, settings.lang, settings.config(method, plan.char_choices), timeout)
    except OcrStopped:
        raise
    except _RUN_ERRORS as error:
        raise ocr_error(error, timeout) from error
    return words_from_data(data, plan.scale, size, offset=plan.crop[:2])


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


def words_from_data(data: dict, scale: float, size: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> list[Word]:
    """Turn ``image_to_data``'s columns into words, boxes divided by ``scale``
    (rounded outward), moved by ``offset`` (where the part read lies in the
    photo) and clipped to ``size``; a word whose box is empty once clipped
    (outside the photo) is dropped."""
    width, height = size
    dx, dy = offset
    choices = data.get("choices", {})
    words = []
    for i, text in enumerate(data["text"]):
        if int(data["level"][i]) != 5 or not text or not text.strip():
            continue
        left, top = int(data["left"][i]), int(data["top"][i])
        right, bottom = left + int(data["width"][i]), top + int(data["height"][i])
        box = (
            max(0, dx + int(left / scale)),
            max(0, dy + int(top / scale)),
            min(width, dx + math.ceil(right / scale)),
            min(height, dy + math.ceil(bottom / scale)),
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
                choices=choices_for(text.strip(), (left, top, right, bottom), choices),
            )
        )
    return words
