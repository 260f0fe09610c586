"""Odd photos: each one is marked (every keyword 0 where there is nothing to read) or fails with a
reason, never with an error a worker cannot place.

The photos are the catalogue of ``tests/marking/odd_photos.py``, which
``tests/actors/test_marker_failures.py`` sends through a real Marker.  Tests that run
Tesseract are marked ``integration``.
"""

from __future__ import annotations

import io
import re
import signal
import subprocess

import pytesseract
import pytest
from PIL import Image

from actors.upload_validation import BadUpload, Limits, check_photo
from marking import (
    NotAnImage,
    OcrFailed,
    OcrTimeout,
    OcrUnavailable,
    Settings,
    UnreadableReport,
    counts_of,
    decode_photo,
    mark_photo,
)
from marking import ocr as ocr_module
from marking import tesseract as tesseract_module
from marking.ocr import (
    MAX_OCR_SIDE,
    MIN_OCR_SIDE,
    OCR_TIMEOUT_BASE,
    holds_text,
    ocr_error,
    ocr_scale,
    ocr_size,
    ocr_timeout,
    prepare,
    read_words,
)
from tests.marking.odd_photos import KEYWORDS, ODD_PHOTOS, blank, encode, text_page

# -- every odd photo through mark_photo, with Tesseract --------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("name", list(ODD_PHOTOS))
def test_an_odd_photo_is_marked_or_fails_with_a_reason(name):
    odd = ODD_PHOTOS[name]
    if odd.counts is None:
        with pytest.raises(NotAnImage, match=odd.reason):
            mark_photo(odd.data, KEYWORDS)
        return
    result = mark_photo(odd.data, KEYWORDS)
    report = result.report
    assert {k: v["count"] for k, v in report["keywords"].items()} == odd.counts
    marked = Image.open(io.BytesIO(result.png))
    assert marked.size == (report["width"], report["height"])
    if odd.size:
        assert (report["width"], report["height"]) == odd.size
    for keyword, drawn in odd.boxes.items():
        (found,) = report["keywords"][keyword]["boxes"]
        assert _iou(found, drawn) >= 0.5, (found, drawn)


@pytest.mark.integration
def test_the_1x1_png_of_the_bug_report_is_marked_with_zero_counts():
    report = mark_photo(blank((1, 1)), ["anything"]).report
    assert report["keywords"] == {"anything": {"count": 0, "boxes": [], "texts": []}}
    assert (report["width"], report["height"]) == (1, 1)


@pytest.mark.integration
def test_tesseract_running_out_of_time_is_an_ocr_timeout():
    with pytest.raises(OcrTimeout, match=r"did not finish reading this photo in 0\.001 s"):
        mark_photo(encode(text_page()), KEYWORDS, ocr_timeout=0.001)


@pytest.mark.integration
def test_tesseract_crashing_on_a_photo_is_an_ocr_failure(tmp_path, monkeypatch):
    crashing = tmp_path / "tesseract"
    crashing.write_text('#!/bin/sh\ncase "$1" in --version) exec tesseract --version ;; esac\nkill -SEGV $$\n')
    crashing.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(crashing))
    with pytest.raises(OcrFailed, match="Tesseract crashed reading this photo .signal SIGSEGV"):
        mark_photo(encode(text_page()), KEYWORDS)


@pytest.mark.integration
def test_tesseract_missing_from_the_worker_is_ocr_unavailable_not_the_photos_fault(monkeypatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable, match="cannot be run on this worker"):
        mark_photo(encode(text_page()), KEYWORDS)


@pytest.mark.integration
def test_missing_language_data_is_ocr_unavailable_not_the_photos_fault():
    with pytest.raises(OcrUnavailable, match="cannot load its language data"):
        mark_photo(encode(text_page()), KEYWORDS, settings=Settings(lang="xyz"))


# -- without Tesseract: when OCR is tried, how it is scaled, what its failures mean -----------


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 500), (500, 1), (10_000, 3), (3, 10_000), (10_000, 7), (2, 300)])
def test_a_photo_too_small_or_thin_to_hold_text_is_not_read(size, monkeypatch):
    def no_tesseract(*args, **kwargs):
        raise AssertionError("Tesseract was run")

    monkeypatch.setattr(tesseract_module, "image_to_data", no_tesseract)
    assert not holds_text(size)
    assert read_words(Image.new("RGB", size, "white")) == []


@pytest.mark.parametrize("size", [(3, 3), (8, 8), (10_000, 8), (8, 10_000), (40_000, 20), (800, 600)])
def test_a_photo_with_room_for_a_line_of_text_is_read(size):
    assert holds_text(size)
    assert min(ocr_size(size)) >= MIN_OCR_SIDE and max(ocr_size(size)) <= MAX_OCR_SIDE


def test_a_photo_longer_than_tesseract_takes_is_read_scaled_down_to_it():
    assert ocr_size((40_000, 80)) == (MAX_OCR_SIDE, 66)
    assert ocr_scale((40_000, 80)) == pytest.approx(MAX_OCR_SIDE / 40_000)
    prepared, plan = prepare(Image.new("RGB", (40_000, 80), "white"))
    assert prepared.size == (MAX_OCR_SIDE, 66) and plan.scale < 1


def test_a_small_photo_is_still_upscaled_at_most_three_times():
    assert ocr_scale((100, 50)) == 3.0 and ocr_size((100, 50)) == (300, 150)
    assert ocr_scale((500, 400)) == 2.0
    assert ocr_scale((2000, 1500)) == 1.0 and ocr_size((2000, 1500)) == (2000, 1500)


def test_the_ocr_timeout_grows_with_the_photo():
    assert ocr_timeout((1, 1)) == pytest.approx(OCR_TIMEOUT_BASE, abs=0.01)
    assert ocr_timeout((4000, 3000)) > ocr_timeout((1000, 1000)) > OCR_TIMEOUT_BASE
    assert ocr_timeout((10_000, 8_900)) > 2 * 353  # the slowest page measured: 353 s, one core


def test_the_reported_tesseract_failure_becomes_an_ocr_failure(monkeypatch):
    def sauvola_fails(*args, **kwargs):
        raise pytesseract.TesseractError(
            1, "Error in pixSauvolaBinarizeTiled: whsize must be >= 2 Error during processing."
        )

    monkeypatch.setattr(tesseract_module, "image_to_data", sauvola_fails)
    with pytest.raises(OcrFailed, match=r"exit status 1\): Error in pixSauvolaBinarizeTiled"):
        read_words(Image.new("RGB", (200, 100), "white"))


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (pytesseract.TesseractError(1, "Error in pixSauvolaBinarizeTiled"), OcrFailed, "exit status 1"),
        (pytesseract.TesseractError(-signal.SIGSEGV, ""), OcrFailed, "crashed reading this photo .signal SIGSEGV"),
        (pytesseract.TesseractError(-6, "Input image too large!"), OcrFailed, "crashed .* SIGABRT.*too large"),
        (RuntimeError("Tesseract process timeout"), OcrTimeout, "did not finish .* in 5 s"),
        (pytesseract.TesseractError(1, "Failed loading language 'xyz'"), OcrUnavailable, "language data"),
        (pytesseract.TesseractNotFoundError(), OcrUnavailable, "cannot be run on this worker"),
        (OSError(28, "No space left on device"), OcrUnavailable, "No space left"),
        (SystemExit('Invalid tesseract version: "?"'), OcrUnavailable, "Invalid tesseract version"),
        (subprocess.CalledProcessError(1, ["tesseract", "--version"]), OcrUnavailable, "cannot be run"),
    ],
    ids=[
        "failed",
        "segfault",
        "abort",
        "timeout",
        "no-language",
        "not-installed",
        "disk-full",
        "bad-version",
        "version-fails",
    ],
)
def test_every_tesseract_failure_says_whose_fault_it_is(error, kind, message):
    converted = ocr_error(error, 5.0)
    assert type(converted) is kind
    assert re.search(message, str(converted)), converted


def test_ocr_failures_are_the_photos_errors_and_unavailability_is_not():
    assert issubclass(OcrFailed, ValueError) and issubclass(OcrTimeout, OcrFailed)
    assert not issubclass(OcrUnavailable, ValueError)


def test_a_tesseract_that_cannot_say_its_version_is_unavailable(monkeypatch):
    def version_fails(*args, **kwargs):
        raise SystemExit('Invalid tesseract version: "garbage"')

    ocr_module.tesseract_version.cache_clear()
    monkeypatch.setattr(pytesseract, "get_tesseract_version", version_fails)
    try:
        with pytest.raises(OcrUnavailable, match="Invalid tesseract version"):
            ocr_module.tesseract_version()
    finally:
        ocr_module.tesseract_version.cache_clear()


# -- the stored report, read back by a worker ---------------------------------------------------


def test_the_counts_of_a_stored_report_are_read_in_order():
    stored = b'{"keywords": {"b": {"count": 2}, "a": {"count": 0, "boxes": []}}}'
    assert list(counts_of(stored).items()) == [("b", 2), ("a", 0)]
    assert counts_of({"keywords": {}}) == {}


@pytest.mark.parametrize(
    "stored",
    [
        b"",
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        b'{"keywords": []}',
        b'{"keywords": {"a": 3}}',
        b'{"keywords": {"a": {"count": -1}}}',
        b'{"keywords": {"a": {"count": true}}}',
        b'{"keywords": {"a": {"count": "2"}}}',
        b'{"keywords": {"": {"count": 1}}}',
    ],
)
def test_an_unreadable_stored_report_is_an_unreadable_report(stored):
    with pytest.raises(UnreadableReport):
        counts_of(stored)


# -- what the Svc refuses at upload -------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, odd in ODD_PHOTOS.items() if odd.counts is not None])
def test_the_svc_accepts_every_odd_photo_a_worker_can_mark(name):
    ext, width, height = check_photo(ODD_PHOTOS[name].data, Limits())
    assert ext in ("png", "jpg", "gif", "tiff", "webp") and width >= 1 and height >= 1


def test_the_svc_refuses_a_photo_in_a_pixel_mode_no_worker_can_turn_into_colour(monkeypatch):
    monkeypatch.setattr("marking.photo.markable_mode", lambda mode: mode != "CMYK")
    data = ODD_PHOTOS["cmyk jpeg"].data
    with pytest.raises(BadUpload, match="pixel mode CMYK, which cannot be turned into colour"):
        check_photo(data, Limits())
    with pytest.raises(NotAnImage, match="pixel mode CMYK"):
        decode_photo(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_svc_refuses_more_pixels_than_a_worker_decodes_whatever_its_own_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = blank((40, 30))  # 1200 pixels
    with pytest.raises(BadUpload, match="over the limit of 1000 pixels"):
        check_photo(data, Limits(max_pixels=100_000_000))


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
