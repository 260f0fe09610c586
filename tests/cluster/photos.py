"""Small photos whose right counts are known, for cluster tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FILLER = ["river", "stone", "garden", "window", "yellow", "market"]


def page_with(keyword: str, count: int, seed: int = 0, lines: int = 4) -> bytes:
    """A white page of ``lines`` lines; ``keyword`` appears ``count`` times (once in each of the first
    lines), filler words elsewhere.  Many lines make OCR take a while."""
    font = ImageFont.truetype(str(FONT), 40) if FONT.exists() else ImageFont.load_default(size=40)
    image = Image.new("RGB", (900, 120 + 70 * lines), "white")
    draw = ImageDraw.Draw(image)
    for line in range(lines):
        words = [FILLER[(seed + line + i) % len(FILLER)] for i in range(3)]
        if line < count:
            words[1] = keyword
        draw.text((40, 40 + 70 * line), " ".join(words), fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
