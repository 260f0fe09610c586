"""Drawing marks and the legend: no OCR."""

from __future__ import annotations

from PIL import Image

from marking import draw_marks
from marking.drawing import PALETTE, legend_box, legend_font_size, legend_lines
from marking.matching import Occurrence

WHITE = (255, 255, 255)


def test_each_occurrence_is_outlined_and_lightly_filled_in_its_keywords_colour():
    image = Image.new("RGB", (800, 600), WHITE)
    matches = {
        "alpha": [Occurrence((500, 300, 600, 330), "alpha")],
        "beta": [
            Occurrence((500, 400, 560, 430), "Beta"),
            Occurrence((600, 400, 700, 430), "beta,"),
        ],
    }
    marked = draw_marks(image, matches)
    assert marked.size == image.size and marked.mode == "RGB"
    assert image.getpixel((550, 315)) == WHITE  # the input is not drawn on
    for index, (x0, y0, x1, y1) in [
        (0, (500, 300, 600, 330)),
        (1, (500, 400, 560, 430)),
        (1, (600, 400, 700, 430)),
    ]:
        colour = PALETTE[index]
        assert marked.getpixel((x0 - 1, (y0 + y1) // 2)) == colour  # outline
        fill = marked.getpixel(((x0 + x1) // 2, (y0 + y1) // 2))
        assert fill != WHITE and fill != colour  # translucent: tinted, not painted over
        assert all(f >= c for f, c in zip(fill, colour, strict=True))
    assert marked.getpixel((450, 315)) == WHITE  # nothing around


def test_the_legend_lists_every_keyword_with_its_count_absent_ones_too():
    matches = {"alpha": [Occurrence((1, 1, 5, 5), "alpha")] * 3, "zeta": []}
    assert legend_lines(matches) == ["alpha: 3", "zeta: 0 (not found)"]


def test_the_legend_is_stamped_with_a_swatch_per_keyword():
    image = Image.new("RGB", (800, 600), (90, 90, 90))
    matches = {"alpha": [], "beta": [], "gamma": []}
    marked = draw_marks(image, matches)
    x0, y0, x1, y1 = legend_box(image.size, matches)
    assert (x0, y0) < (40, 40)  # top-left when no mark is there
    legend = marked.crop((x0, y0, x1, y1))
    colours = {c for _, c in legend.getcolors(maxcolors=legend.width * legend.height)}
    assert all(PALETTE[i] in colours for i in range(3))
    assert any(min(c) > 230 for c in colours)  # light panel on a dark photo
    assert any(max(c) < 40 for c in colours)  # dark text on it
    assert marked.getpixel((x1 + 5, y1 + 5)) == (90, 90, 90)


def test_the_legend_moves_to_a_corner_that_hides_no_mark():
    image = Image.new("RGB", (400, 300), WHITE)
    matches = {"alpha": [Occurrence((5, 5, 200, 60), "alpha")]}
    x0, y0, _, _ = legend_box(image.size, matches)
    assert (x0, y0) != legend_box(image.size, {"alpha": []})[:2]


def test_the_legend_grows_with_the_photo_and_fits_a_small_one():
    assert legend_font_size((4000, 3000)) > 3 * legend_font_size((800, 600))
    matches = {"a rather long keyword": [], "another": []}
    for size in [(120, 80), (640, 480), (4000, 3000)]:
        x0, y0, x1, y1 = legend_box(size, matches)
        assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]
        if size[0] >= 640:
            assert (y1 - y0) >= 2 * legend_font_size(size)  # two lines of that size
    draw_marks(Image.new("RGB", (120, 80), WHITE), matches)  # does not fail


def test_a_keyword_past_the_palette_reuses_colours_without_failing():
    matches = {f"k{i}": [Occurrence((10 * i, 200, 10 * i + 8, 210), "x")] for i in range(14)}
    assert draw_marks(Image.new("RGB", (300, 400), WHITE), matches).size == (300, 400)


def test_a_photo_smaller_or_thinner_than_the_legend_is_marked_without_failing():
    matches = {"alpha": [Occurrence((0, 0, 1, 1), "alpha")], "a rather long keyword": []}
    for size in [(1, 1), (2, 2), (3, 3), (1, 500), (500, 1), (10_000, 3), (3, 10_000), (40, 20)]:
        x0, y0, x1, y1 = legend_box(size, matches)
        assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1], size
        assert draw_marks(Image.new("RGB", size, WHITE), matches).size == size


def test_a_box_on_the_edge_or_empty_is_drawn_inside_the_photo():
    matches = {
        "alpha": [
            Occurrence((95, 45, 100, 50), "alpha"),
            Occurrence((100, 50, 100, 50), "alpha"),
            Occurrence((10, 10, 10, 12), "alpha"),
        ]
    }
    marked = draw_marks(Image.new("RGB", (100, 50), WHITE), matches)
    assert marked.size == (100, 50)
    assert marked.getpixel((99, 49)) != WHITE  # the mark at the corner is there
