"""Marking a photo: OCR, keyword matching, drawing, the report.

Pure library (no actors, threads or storage): ``mark_photo(bytes, keywords)``
returns the marked PNG and the report; the worker actor calls it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from marking.drawing import draw_marks, to_png
from marking.matching import Occurrence, match
from marking.ocr import DEFAULT_SETTINGS, Settings, Word, engine_info, read_words
from marking.photo import NotAnImage, PhotoTooLarge, decode_photo
from marking.report import build_report

__all__ = [
    "MarkResult",
    "NotAnImage",
    "Occurrence",
    "PhotoTooLarge",
    "Settings",
    "Word",
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
) -> MarkResult:
    """Find every keyword in ``photo`` (encoded image bytes), mark them, report.

    Raises ``NotAnImage`` (a ``ValueError``) for bytes that are not a
    decodable image and ``PhotoTooLarge`` (also a ``ValueError``) for a
    decompression bomb.  Deterministic: marking the same photo twice gives
    the same report (but ``seconds``) and the same PNG.
    """
    started = time.perf_counter()
    image = decode_photo(photo)
    words = read_words(image, settings) if keywords else []
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
