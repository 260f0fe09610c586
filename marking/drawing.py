"""Draw the marks on a photo: each occurrence outlined and lightly
highlighted in its keyword's colour, and a legend listing every keyword with
its count (an absent keyword too, so it is visible that it was looked for)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

from marking.matching import Box, Occurrence

# Distinct, saturated colours readable on white paper and on photos
# (Tableau 10 without its grey); keywords past the tenth reuse them.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (214, 39, 40),
    (31, 119, 180),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (23, 190, 207),
    (227, 119, 194),
    (140, 86, 75),
    (188, 189, 34),
    (0, 0, 0),
)
HIGHLIGHT_ALPHA = 64  # of 255: the word under the mark stays readable
LEGEND_BACKGROUND = (255, 255, 255, 225)
LEGEND_TEXT = (0, 0, 0, 255)


def colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def legend_font_size(size: tuple[int, int]) -> int:
    """Text of the legend: about 1/45 of the shorter side, 12 px at least, so it
    reads on a thumbnail and on a 12-megapixel photo alike."""
    return max(12, round(min(size) / 45))


def draw_marks(image: Image.Image, matches: Mapping[str, Sequence[Occurrence]]) -> Image.Image:
    """A copy of ``image`` (RGB) with every occurrence marked and the legend
    stamped in the corner that hides the fewest marks."""
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    outline = max(2, round(min(base.size) / 400))
    for index, occurrences in enumerate(matches.values()):
        r, g, b = colour(index)
        for occurrence in occurrences:
            x0, y0, x1, y1 = _padded(occurrence.box, outline, base.size)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(r, g, b, HIGHLIGHT_ALPHA))
    marked = Image.alpha_composite(base, overlay)
    draw = ImageDraw.Draw(marked)
    for index, occurrences in enumerate(matches.values()):
        for occurrence in occurrences:
            x0, y0, x1, y1 = _padded(occurrence.box, outline, base.size)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour(index) + (255,), width=outline)
    _draw_legend(marked, matches)
    return marked.convert("RGB")


def to_png(image: Image.Image) -> bytes:
    """The PNG of a marked photo.  Compression level 1: on a phone photo
    (1546 x 2127, noisy) level 3 took 0.23 s and level 6 (Pillow's default)
    2.5x as long again, level 1 0.16 s for a file 12 % larger."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _padded(box: Box, pad: int, size: tuple[int, int]) -> Box:
    """``box`` grown by ``pad`` and kept inside the photo, at least a pixel wide and high."""
    x0, y0, x1, y1 = box
    x0, y0 = min(max(0, x0 - pad), size[0] - 1), min(max(0, y0 - pad), size[1] - 1)
    return (x0, y0, max(x0 + 1, min(size[0], x1 + pad)), max(y0 + 1, min(size[1], y1 + pad)))


def legend_lines(matches: Mapping[str, Sequence[Occurrence]]) -> list[str]:
    lines = []
    for keyword, occurrences in matches.items():
        n = len(occurrences)
        lines.append(f"{keyword}: {n}" + (" (not found)" if n == 0 else ""))
    return lines


def legend_box(image_size: tuple[int, int], matches: Mapping[str, Sequence[Occurrence]]) -> Box:
    """Where the legend goes: (x0, y0, x1, y1) in the image."""
    box, _ = _legend_layout(image_size, matches)
    return box


def _legend_layout(image_size: tuple[int, int], matches: Mapping[str, Sequence[Occurrence]]):
    font = ImageFont.load_default(size=legend_font_size(image_size))
    lines = legend_lines(matches) or ["(no keywords)"]
    size = font.size
    pad = max(4, size // 2)
    swatch = size
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_width = max(measure.textlength(line, font=font) for line in lines)
    line_height = round(size * 1.35)
    width = max(1, min(image_size[0], round(pad * 3 + swatch + text_width)))
    height = max(1, min(image_size[1], pad * 2 + line_height * len(lines)))
    margin = max(2, size // 2)
    boxes = [o.box for occurrences in matches.values() for o in occurrences]
    corners = []
    # Each corner's box is moved inside the photo whole (not cut), so on a
    # photo smaller than the legend and its margin, it still has a size.
    for cx in (margin, image_size[0] - width - margin):
        for cy in (margin, image_size[1] - height - margin):
            x0 = min(max(0, cx), image_size[0] - width)
            y0 = min(max(0, cy), image_size[1] - height)
            corners.append((x0, y0, x0 + width, y0 + height))
    # top-left, bottom-left, top-right, bottom-right: the first that hides the fewest marks
    best = min(corners, key=lambda c: sum(_overlaps(c, b) for b in boxes))
    return best, (font, lines, pad, swatch, line_height)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_legend(marked: Image.Image, matches: Mapping[str, Sequence[Occurrence]]) -> None:
    (x0, y0, x1, y1), (font, lines, pad, swatch, line_height) = _legend_layout(marked.size, matches)
    panel = Image.new("RGBA", marked.size, (0, 0, 0, 0))
    ImageDraw.Draw(panel).rectangle((x0, y0, x1 - 1, y1 - 1), fill=LEGEND_BACKGROUND)
    marked.alpha_composite(panel)
    draw = ImageDraw.Draw(marked)
    draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(0, 0, 0, 255), width=1)
    for index, line in enumerate(lines if matches else []):
        top = y0 + pad + index * line_height
        inset = max(1, swatch // 6)
        draw.rectangle(
            (x0 + pad, top + inset, x0 + pad + swatch - 1, top + swatch - 1 - inset),
            fill=colour(index) + (255,),
        )
        draw.text((x0 + pad * 2 + swatch, top), line, font=font, fill=LEGEND_TEXT)
    if not matches:
        draw.text((x0 + pad, y0 + pad), lines[0], font=font, fill=LEGEND_TEXT)
