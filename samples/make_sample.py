#!/usr/bin/env python3
"""Render samples/release-notes.png: a phone-photo-like picture of a printed
page of release notes, for ``make demo``.

The page mentions "photomark" and "keywords" several times and "marked photo"
once on a line, and never the word the demo uses as its absent keyword.  It is
rendered with DejaVu fonts (fonts-dejavu-core), put on a desk-coloured
background with a slight perspective tilt, warm tint and uneven light: it
looks photographed, while Tesseract still reads it reliably.  Deterministic.

usage: python samples/make_sample.py [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONTS = Path("/usr/share/fonts/truetype/dejavu")
OUT = Path(__file__).resolve().parent / "release-notes.png"

TITLE = "photomark 0.1 release notes"
PARAGRAPHS = [
    (
        "This release of photomark finds keywords in a photo of a printed page "
        "and marks each of them. Upload a picture with a few keywords, and the "
        "service answers with an id at once."
    ),
    (
        "A worker reads the page with Tesseract, looks for every keyword, and "
        "draws a coloured box around each word it finds."
    ),
    (
        "Download the result by its id: the marked photo shows every occurrence "
        "highlighted, and a legend in a corner counts the keywords, including "
        "those that were not found."
    ),
    (
        "New in photomark 0.1: matching ignores case, accents and punctuation, "
        "keywords of several words are found on one line, and small reading "
        "errors are forgiven."
    ),
]


def font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONTS / name
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size=size)


def wrap(text: str, f, width: int, draw: ImageDraw.ImageDraw) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=f) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    return lines + [line]


def render_page(width: int = 1000, height: int = 720) -> Image.Image:
    page = Image.new("RGB", (width, height), (252, 250, 243))
    draw = ImageDraw.Draw(page)
    margin = 70
    title, body = font("DejaVuSerif-Bold.ttf", 40), font("DejaVuSerif.ttf", 25)
    draw.text((margin, 60), TITLE, font=title, fill=(25, 25, 35))
    draw.line((margin, 120, width - margin, 120), fill=(90, 90, 100), width=2)
    y = 150
    for paragraph in PARAGRAPHS:
        for line in wrap(paragraph, body, width - 2 * margin, draw):
            draw.text((margin, y), line, font=body, fill=(30, 30, 40))
            y += 36
        y += 20
    return page


def photograph(page: Image.Image) -> Image.Image:
    """The page as a phone would see it on a desk: small perspective tilt,
    warm tint, light falling off towards one corner, a little blur and noise."""
    w, h = page.size
    canvas_size = (w + 160, h + 160)
    # Perspective: the page's corners moved a little inward, unevenly.
    corners = [(60, 70), (w + 95, 55), (w + 110, h + 95), (50, h + 110)]
    coefficients = _perspective(corners, [(0, 0), (w, 0), (w, h), (0, h)])
    desk = Image.new("RGB", canvas_size, (118, 96, 78))
    grain = Image.effect_noise((canvas_size[0] // 4, canvas_size[1] // 4), 30).convert("RGB").resize(canvas_size)
    desk = Image.blend(desk, grain, 0.1)  # a coarse wood-like grain
    mask = Image.new("L", page.size, 255).transform(
        canvas_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC
    )
    warped = page.transform(canvas_size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
    shadow = mask.filter(ImageFilter.GaussianBlur(12)).point(lambda v: v * 0.45)
    desk.paste((40, 30, 25), (14, 18), shadow)
    photo = Image.composite(warped, desk, mask)
    # Warm tint and light falling off towards the bottom right.
    down = Image.linear_gradient("L").resize(canvas_size)
    across = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    light = Image.blend(down, across.resize(canvas_size), 0.5).point(lambda v: 255 - v * 0.3)
    tint = Image.new("RGB", canvas_size, (255, 236, 205))
    photo = Image.composite(photo, Image.new("RGB", canvas_size, (0, 0, 0)), light)
    photo = Image.blend(photo, ImageChops.multiply(photo, tint), 0.6)
    photo = photo.filter(ImageFilter.GaussianBlur(0.6))
    return photo


def _perspective(target, source) -> list[float]:
    """Coefficients of Image.transform(PERSPECTIVE) that map ``target`` corners
    (output pixels) back to ``source`` corners (input pixels)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    return _solve(rows, rhs)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (8x8: no numpy needed)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                factor = m[r][col] / m[col][col]
                m[r] = [x - factor * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    photo = photograph(render_page())
    # 256 colours keep the PNG small (about 200 KiB) with no visible loss.
    photo.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, optimize=True)
    print(f"{out}: {photo.size[0]}x{photo.size[1]}, {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
