"""Odd photos: each one is marked (every keyword 0 where there is nothing to read) or fails with a
reason, never with an error a worker cannot place.

``ODD_PHOTOS`` is shared with ``tests/actors/test_marker_failures.py``, which sends the same photos
through a real Marker.  Tests that run Tesseract are marked ``integration``.
"""

from __future__ import annotations

import functools
import io
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont

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

KEYWORDS = ("photomark", "keywords")
TEXT = "photomark marks keywords"
DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
NONE_FOUND = {"photomark": 0, "keywords": 0}
BOTH_FOUND = {"photomark": 1, "keywords": 1}


@dataclass(frozen=True)
class OddPhoto:
    """An odd photo and what marking it gives: ``counts`` when it is marked, else a ``reason``
    (a regular expression of the error's message)."""

    make: object = field(repr=False)  # () -> bytes
    counts: dict[str, int] | None = None
    reason: str = ""
    size: tuple[int, int] | None = None  # the upright size, when it is marked
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # where a keyword was drawn

    @functools.cached_property
    def data(self) -> bytes:
        return self.make()


def _font(size: int) -> ImageFont.ImageFont:
    if DEJAVU_SANS.is_file():
        return ImageFont.truetype(str(DEJAVU_SANS), size)
    return ImageFont.load_default(size=size)


def _page(text: str = TEXT, size: int = 32) -> Image.Image:
    """One line of dark text on white paper with a margin: what OCR reads without trouble."""
    font = _font(size)
    width = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(text, font=font)) + 80
    image = Image.new("RGB", (width, size * 3), "white")
    ImageDraw.Draw(image).text((40, size), text, font=font, fill="black")
    return image


def _encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _blank(size, colour="white", fmt="PNG", mode="RGB") -> bytes:
    return _encode(Image.new(mode, size, colour), fmt)


def _banner() -> bytes:
    """40000 x 80: wider than Tesseract takes (32767), the keyword near the middle."""
    image = Image.new("RGB", (40_000, 80), "white")
    ImageDraw.Draw(image).text(BANNER_AT, "photomark", font=_font(48), fill="black")
    return _encode(image)


BANNER_AT = (20_000, 10)


def _banner_box() -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(BANNER_AT, "photomark", font=_font(48))
    return (int(x0), int(y0), int(x1) + 1, int(y1) + 1)


def _grey16(byte_order: str, fmt: str) -> bytes:
    """16-bit greyscale: the 8-bit page times 257, in ``byte_order`` ("I;16" little, "I;16B" big)."""
    grey = _page().convert("L").convert("I").point(lambda v: v * 257)
    return _encode(grey.convert(byte_order), fmt)


def _animated(fmt: str) -> bytes:
    first, drawn = _page("photomark first frame"), _page("keywords second frame")
    second = Image.new("RGB", first.size, "white")  # every frame the size of the first (WebP wants it)
    second.paste(drawn)
    if fmt == "GIF":
        first, second = first.convert("P"), second.convert("P")
    return _encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0)


def _palette_with_transparency() -> bytes:
    """A palette PNG: entry 0 (the background) transparent, entry 1 black ink."""
    page = _page()
    image = Image.new("P", page.size, 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    image.paste(1, mask=page.convert("L").point(lambda v: 255 if v < 128 else 0))
    return _encode(image, "PNG", transparency=0)


def _one_bit() -> bytes:
    return _encode(_page().convert("L").point(lambda v: 255 if v > 128 else 0).convert("1"), "PNG")


def _rotated(orientation: int) -> bytes:
    """A camera JPEG: pixels stored turned, the EXIF Orientation tag saying how to turn them back."""
    upright = _page()
    stored = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(upright.transpose(stored), "JPEG", quality=95, exif=exif.tobytes())


PAGE_SIZE = _page().size

ODD_PHOTOS: dict[str, OddPhoto] = {
    "1x1 png": OddPhoto(lambda: _blank((1, 1)), NONE_FOUND, size=(1, 1)),
    "1x1 black png": OddPhoto(lambda: _blank((1, 1), "black"), NONE_FOUND, size=(1, 1)),
    "2x2 png": OddPhoto(lambda: _blank((2, 2)), NONE_FOUND, size=(2, 2)),
    "1x500 png": OddPhoto(lambda: _blank((1, 500)), NONE_FOUND, size=(1, 500)),
    "500x1 png": OddPhoto(lambda: _blank((500, 1)), NONE_FOUND, size=(500, 1)),
    "10000x3 png": OddPhoto(lambda: _blank((10_000, 3)), NONE_FOUND, size=(10_000, 3)),
    "3x10000 png": OddPhoto(lambda: _blank((3, 10_000)), NONE_FOUND, size=(3, 10_000)),
    "40000x80 banner": OddPhoto(
        _banner, {"photomark": 1, "keywords": 0}, size=(40_000, 80), boxes={"photomark": _banner_box()}
    ),
    "16-bit grey png": OddPhoto(lambda: _grey16("I;16", "PNG"), BOTH_FOUND, size=PAGE_SIZE),
    "16-bit big-endian grey tiff": OddPhoto(lambda: _grey16("I;16B", "TIFF"), BOTH_FOUND, size=PAGE_SIZE),
    "cmyk jpeg": OddPhoto(lambda: _encode(_page().convert("CMYK"), "JPEG", quality=95), BOTH_FOUND, size=PAGE_SIZE),
    "animated gif (first frame)": OddPhoto(lambda: _animated("GIF"), {"photomark": 1, "keywords": 0}),
    "apng (first frame)": OddPhoto(lambda: _animated("PNG"), {"photomark": 1, "keywords": 0}),
    "animated webp (first frame)": OddPhoto(lambda: _animated("WEBP"), {"photomark": 1, "keywords": 0}),
    "palette png with transparency": OddPhoto(_palette_with_transparency, BOTH_FOUND, size=PAGE_SIZE),
    "fully transparent png": OddPhoto(
        lambda: _blank((300, 200), (0, 0, 0, 0), mode="RGBA"), NONE_FOUND, size=(300, 200)
    ),
    "blank white jpeg": OddPhoto(lambda: _blank((800, 600), "white", "JPEG"), NONE_FOUND, size=(800, 600)),
    "blank black png": OddPhoto(lambda: _blank((800, 600), "black"), NONE_FOUND, size=(800, 600)),
    "1-bit png": OddPhoto(_one_bit, BOTH_FOUND, size=PAGE_SIZE),
    "exif rotated 180 jpeg": OddPhoto(lambda: _rotated(3), BOTH_FOUND, size=PAGE_SIZE),
    "exif rotated 90 jpeg": OddPhoto(lambda: _rotated(6), BOTH_FOUND, size=PAGE_SIZE),
    "truncated png": OddPhoto(lambda: _encode(_page())[:200], reason="not a decodable PNG image"),
    "text, not a photo": OddPhoto(lambda: b"hello, this is not a photo", reason="not an image"),
}


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
    report = mark_photo(_blank((1, 1)), ["anything"]).report
    assert report["keywords"] == {"anything": {"count": 0, "boxes": [], "texts": []}}
    assert (report["width"], report["height"]) == (1, 1)


@pytest.mark.integration
def test_tesseract_running_out_of_time_is_an_ocr_timeout():
    with pytest.raises(OcrTimeout, match=r"did not finish reading this photo in 0\.001 s"):
        mark_photo(_encode(_page()), KEYWORDS, ocr_timeout=0.001)


@pytest.mark.integration
def test_tesseract_crashing_on_a_photo_is_an_ocr_failure(tmp_path, monkeypatch):
    crashing = tmp_path / "tesseract"
    crashing.write_text('#!/bin/sh\ncase "$1" in --version) exec tesseract --version ;; esac\nkill -SEGV $$\n')
    crashing.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(crashing))
    with pytest.raises(OcrFailed, match="Tesseract crashed reading this photo .signal SIGSEGV"):
        mark_photo(_encode(_page()), KEYWORDS)


@pytest.mark.integration
def test_tesseract_missing_from_the_worker_is_ocr_unavailable_not_the_photos_fault(monkeypatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable, match="cannot be run on this worker"):
        mark_photo(_encode(_page()), KEYWORDS)


@pytest.mark.integration
def test_missing_language_data_is_ocr_unavailable_not_the_photos_fault():
    with pytest.raises(OcrUnavailable, match="cannot load its language data"):
        mark_photo(_encode(_page()), KEYWORDS, settings=Settings(lang="xyz"))


# -- without Tesseract: when OCR is tried, how it is scaled, what its failures mean -----------


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 500), (500, 1), (10_000, 3), (3, 10_000), (10_000, 7), (2, 300)])
def test_a_photo_too_small_or_thin_to_hold_text_is_not_read(size, monkeypatch):
    def no_tesseract(*args, **kwargs):
        raise AssertionError("Tesseract was run")

    monkeypatch.setattr(pytesseract, "image_to_data", no_tesseract)
    assert not holds_text(size)
    assert read_words(Image.new("RGB", size, "white")) == []


@pytest.mark.parametrize("size", [(3, 3), (8, 8), (10_000, 8), (8, 10_000), (40_000, 20), (800, 600)])
def test_a_photo_with_room_for_a_line_of_text_is_read(size):
    assert holds_text(size)
    assert min(ocr_size(size)) >= MIN_OCR_SIDE and max(ocr_size(size)) <= MAX_OCR_SIDE


def test_a_photo_longer_than_tesseract_takes_is_read_scaled_down_to_it():
    assert ocr_size((40_000, 80)) == (MAX_OCR_SIDE, 66)
    assert ocr_scale((40_000, 80)) == pytest.approx(MAX_OCR_SIDE / 40_000)
    prepared, scale = prepare(Image.new("RGB", (40_000, 80), "white"))
    assert prepared.size == (MAX_OCR_SIDE, 66) and scale < 1


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

    monkeypatch.setattr(pytesseract, "image_to_data", sauvola_fails)
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
    data = _blank((40, 30))  # 1200 pixels
    with pytest.raises(BadUpload, match="over the limit of 1000 pixels"):
        check_photo(data, Limits(max_pixels=100_000_000))


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
