"""Odd photos and what each must give: the catalogue the marking tests (``test_odd_photos.py``)
and the Marker's tests (``tests/actors/test_marker_failures.py``) both send through.

Each is marked (every keyword 0 where there is nothing to read) or fails with a reason.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

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


def text_page(text: str = TEXT, size: int = 32) -> Image.Image:
    """One line of dark text on white paper with a margin: what OCR reads without trouble."""
    font = _font(size)
    width = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(text, font=font)) + 80
    image = Image.new("RGB", (width, size * 3), "white")
    ImageDraw.Draw(image).text((40, size), text, font=font, fill="black")
    return image


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def blank(size, colour="white", fmt="PNG", mode="RGB") -> bytes:
    return encode(Image.new(mode, size, colour), fmt)


def _banner() -> bytes:
    """40000 x 80: wider than Tesseract takes (32767), the keyword near the middle."""
    image = Image.new("RGB", (40_000, 80), "white")
    ImageDraw.Draw(image).text(BANNER_AT, "photomark", font=_font(48), fill="black")
    return encode(image)


BANNER_AT = (20_000, 10)


def _banner_box() -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(BANNER_AT, "photomark", font=_font(48))
    return (int(x0), int(y0), int(x1) + 1, int(y1) + 1)


def _grey16(byte_order: str, fmt: str) -> bytes:
    """16-bit greyscale: the 8-bit page times 257, in ``byte_order`` ("I;16" little, "I;16B" big)."""
    grey = text_page().convert("L").convert("I").point(lambda v: v * 257)
    return encode(grey.convert(byte_order), fmt)


def _animated(fmt: str) -> bytes:
    first, drawn = text_page("photomark first frame"), text_page("keywords second frame")
    second = Image.new("RGB", first.size, "white")  # every frame the size of the first (WebP wants it)
    second.paste(drawn)
    if fmt == "GIF":
        first, second = first.convert("P"), second.convert("P")
    return encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0)


def _palette_with_transparency() -> bytes:
    """A palette PNG: entry 0 (the background) transparent, entry 1 black ink."""
    page = text_page()
    image = Image.new("P", page.size, 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    image.paste(1, mask=page.convert("L").point(lambda v: 255 if v < 128 else 0))
    return encode(image, "PNG", transparency=0)


def _one_bit() -> bytes:
    return encode(text_page().convert("L").point(lambda v: 255 if v > 128 else 0).convert("1"), "PNG")


def _rotated(orientation: int) -> bytes:
    """A camera JPEG: pixels stored turned, the EXIF Orientation tag saying how to turn them back."""
    upright = text_page()
    stored = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(upright.transpose(stored), "JPEG", quality=95, exif=exif.tobytes())


PAGE_SIZE = text_page().size

ODD_PHOTOS: dict[str, OddPhoto] = {
    "1x1 png": OddPhoto(lambda: blank((1, 1)), NONE_FOUND, size=(1, 1)),
    "1x1 black png": OddPhoto(lambda: blank((1, 1), "black"), NONE_FOUND, size=(1, 1)),
    "2x2 png": OddPhoto(lambda: blank((2, 2)), NONE_FOUND, size=(2, 2)),
    "1x500 png": OddPhoto(lambda: blank((1, 500)), NONE_FOUND, size=(1, 500)),
    "500x1 png": OddPhoto(lambda: blank((500, 1)), NONE_FOUND, size=(500, 1)),
    "10000x3 png": OddPhoto(lambda: blank((10_000, 3)), NONE_FOUND, size=(10_000, 3)),
    "3x10000 png": OddPhoto(lambda: blank((3, 10_000)), NONE_FOUND, size=(3, 10_000)),
    "40000x80 banner": OddPhoto(
        _banner, {"photomark": 1, "keywords": 0}, size=(40_000, 80), boxes={"photomark": _banner_box()}
    ),
    "16-bit grey png": OddPhoto(lambda: _grey16("I;16", "PNG"), BOTH_FOUND, size=PAGE_SIZE),
    "16-bit big-endian grey tiff": OddPhoto(lambda: _grey16("I;16B", "TIFF"), BOTH_FOUND, size=PAGE_SIZE),
    "cmyk jpeg": OddPhoto(lambda: encode(text_page().convert("CMYK"), "JPEG", quality=95), BOTH_FOUND, size=PAGE_SIZE),
    "animated gif (first frame)": OddPhoto(lambda: _animated("GIF"), {"photomark": 1, "keywords": 0}),
    "apng (first frame)": OddPhoto(lambda: _animated("PNG"), {"photomark": 1, "keywords": 0}),
    "animated webp (first frame)": OddPhoto(lambda: _animated("WEBP"), {"photomark": 1, "keywords": 0}),
    "palette png with transparency": OddPhoto(_palette_with_transparency, BOTH_FOUND, size=PAGE_SIZE),
    "fully transparent png": OddPhoto(
        lambda: blank((300, 200), (0, 0, 0, 0), mode="RGBA"), NONE_FOUND, size=(300, 200)
    ),
    "blank white jpeg": OddPhoto(lambda: blank((800, 600), "white", "JPEG"), NONE_FOUND, size=(800, 600)),
    "blank black png": OddPhoto(lambda: blank((800, 600), "black"), NONE_FOUND, size=(800, 600)),
    "1-bit png": OddPhoto(_one_bit, BOTH_FOUND, size=PAGE_SIZE),
    "exif rotated 180 jpeg": OddPhoto(lambda: _rotated(3), BOTH_FOUND, size=PAGE_SIZE),
    "exif rotated 90 jpeg": OddPhoto(lambda: _rotated(6), BOTH_FOUND, size=PAGE_SIZE),
    "truncated png": OddPhoto(lambda: encode(text_page())[:200], reason="not a decodable PNG image"),
    "text, not a photo": OddPhoto(lambda: b"hello, this is not a photo", reason="not an image"),
}
