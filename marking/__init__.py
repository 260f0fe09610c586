"""Marking a photo: OCR, keyword matching, drawing, the report.

Pure library (no actors, threads or storage): ``mark_photo(bytes, keywords)``
returns the marked PNG and the report; the worker actor calls it.

Errors say whose fault a failure is.  The photo's (the job can never
succeed, anywhere): ``NotAnImage``, ``PhotoTooLarge``, ``OcrFailed`` (and its
``OcrTimeout``), all ``ValueError``.  The machine's (another worker, or a
later try, may succeed): ``OcrUnavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from marking.drawing import draw_marks, to_png
from marking.matching import Occurrence, match
from marking.ocr import (
    DEFAULT_SETTINGS,
    OcrFailed,
    OcrTimeout,
    OcrUnavailable,
    Settings,
    Word,
    engine_info,
    read_words,
)
from marking.photo import NotAnImage, PhotoTooLarge, decode_photo
from marking.report import UnreadableReport, build_report, counts_of

__all__ = [
    "MarkResult",
    "NotAnImage",
    "Occurrence",
    "OcrFailed",
    "OcrTimeout",
    "OcrUnavailable",
    "PhotoTooLarge",
    "Settings",
    "UnreadableReport",
    "Word",
    "counts_of",
    "decode_photo",
    "draw_marks",
    "mark_photo",
    "match",
    "read_words",
]


@dataclass(frozen=True)
class MarkResult:
    png: bytes  # the marked photo, PNG, upright (EXIF orientation applied)
    report: dict  # the report of DESIGN.md


def mark_photo(
    photo: bytes,
    keywords: Sequence[str],
    *,
    photo_id: str = "",
    filename: str = "",
    settings: Settings = DEFAULT_SETTINGS,
    ocr_timeout: float | None = None,
) -> MarkResult:
    """Find every keyword in ``photo`` (encoded image bytes), mark them, report.

    Raises ``NotAnImage`` (a ``ValueError``) for bytes that are not a
    decodable image, ``PhotoTooLarge`` (also a ``ValueError``) for a
    decompression bomb, ``OcrFailed`` (also) when Tesseract fails, crashes or
    takes over ``ocr_timeout`` seconds (default: ``ocr.ocr_timeout`` of its
    size) on it, ``OcrUnavailable`` when Tesseract cannot run here.  A photo
    too small to hold a line of text (1x1, 2x2, a strip a few pixels high) is
    not read: every keyword is counted 0.  An animated photo is its first
    frame.  Deterministic: marking the same photo twice gives the same report
    (but ``seconds``) and the same PNG.
    """
    started = time.perf_counter()
    image = decode_photo(photo)
    words = read_words(image, settings, timeout=ocr_timeout) if keywords else []
    matches = match(words, keywords)
    png = to_png(draw_marks(image, matches))
    report = build_report(
        photo_id=photo_id,
        filename=filename,
        size=image.size,
        matches=matches,
        engine=engine_info(settings),
        seconds=time.perf_counter() - started,
    )
    return MarkResult(png=png, report=report)
