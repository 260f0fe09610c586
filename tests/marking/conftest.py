"""Photos rendered with Pillow for the marking tests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {
    "sans": "DejaVuSans.ttf",
    "serif": "DejaVuSerif.ttf",
    "mono": "DejaVuSansMono.ttf",
}


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A DejaVu face when installed, Pillow's built-in font otherwise (or when
    ``name`` is "default")."""
    path = DEJAVU / FONT_FILES.get(name, "-")
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def render_page(
    lines: list[str],
    *,
    face: str = "serif",
    size: int = 28,
    width: int | None = None,
    margin: int = 40,
    paper: tuple[int, int, int] = (250, 248, 240),
    ink: tuple[int, int, int] = (20, 20, 30),
) -> Image.Image:
    """A page with ``lines`` of text, one per line.  ``image.info["words"]``
    lists (word, ink box) of every word drawn, box (x0, y0, x1, y1) exclusive."""
    f = font(face, size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_width = max(measure.textlength(line, font=f) for line in lines)
    line_height = round(size * 1.6)
    image = Image.new(
        "RGB",
        (width or int(text_width + 2 * margin), 2 * margin + line_height * len(lines)),
        paper,
    )
    draw = ImageDraw.Draw(image)
    words = []
    for i, line in enumerate(lines):
        y = margin + i * line_height
        draw.text((margin, y), line, font=f, fill=ink)
        start = 0
        for word in line.split():
            start = line.index(word, start)
            x = margin + draw.textlength(line[:start], font=f)
            x0, y0, x1, y1 = draw.textbbox((x, y), word, font=f)
            words.append((word, (int(x0), int(y0), int(x1) + 1, int(y1) + 1)))
            start += len(word)
    image.info["words"] = words
    return image


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def with_orientation(upright: Image.Image, orientation: int) -> bytes:
    """JPEG bytes of ``upright`` as a camera would store it: pixels rotated
    and the EXIF Orientation tag saying how to turn them back."""
    stored = {
        6: upright.transpose(Image.Transpose.ROTATE_90),  # shown after turning 90 degrees clockwise
        8: upright.transpose(Image.Transpose.ROTATE_270),
        3: upright.transpose(Image.Transpose.ROTATE_180),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def boxes_of(image: Image.Image, keyword: str) -> list[tuple[int, int, int, int]]:
    """Where ``render_page`` drew ``keyword`` (a single word, case- and
    punctuation-insensitive)."""
    strip = "()[]{},.;:!?\"'“”"
    return [box for word, box in image.info["words"] if word.strip(strip).lower() == keyword.lower()]


def contains(outer, inner, slack: int = 0) -> bool:
    return (
        outer[0] - slack <= inner[0]
        and outer[1] - slack <= inner[1]
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


@pytest.fixture
def page() -> Image.Image:
    return render_page(
        [
            "The photomark service finds keywords in a photo.",
            "Every marked photo lists its Keywords, counted;",
            "(photomark) reads the network, not networks.",
        ]
    )


@pytest.fixture
def photos():
    """The helpers above, for the tests (with --import-mode=importlib a test
    module cannot import this conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        font=font,
        render_page=render_page,
        encode=encode,
        with_orientation=with_orientation,
        contains=contains,
        iou=iou,
        boxes_of=boxes_of,
    )
