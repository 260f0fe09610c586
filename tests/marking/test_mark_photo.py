"""Marking photos rendered here: real Tesseract, one call per photo."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from marking import MarkResult, mark_photo
from marking.drawing import PALETTE, legend_box

pytestmark = pytest.mark.integration  # needs Tesseract

TEXT = [
    "Release notes: photomark now marks keywords,",
    "and every marked photo lists its Keywords.",
    "The (photomark) worker reads each page once.",
]
KEYWORDS = ["photomark", "keywords", "marked photo", "absent"]


def found_all(photos, result: MarkResult, image: Image.Image, keyword: str) -> None:
    """Every place ``keyword`` was drawn is in the report, box for box."""
    expected = photos.boxes_of(image, keyword)
    got = result.report["keywords"][keyword]["boxes"]
    assert len(got) == len(expected), (keyword, got, expected)
    for box in expected:
        assert max(photos.iou(box, g) for g in got) >= 0.5, (keyword, box, got)


@pytest.mark.parametrize(
    ("face", "size"),
    [("sans", 18), ("serif", 26), ("mono", 34), ("default", 22)],
)
def test_words_are_found_in_several_fonts_and_sizes(photos, face, size):
    image = photos.render_page(TEXT, face=face, size=size)
    result = mark_photo(photos.encode(image), KEYWORDS)
    for keyword in ("photomark", "keywords"):
        found_all(photos, result, image, keyword)
    assert result.report["keywords"]["marked photo"]["count"] == 1
    assert result.report["keywords"]["absent"] == {"count": 0, "boxes": [], "texts": []}


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_rotated_camera_photo_is_read_upright_and_boxed_in_upright_pixels(photos, orientation):
    upright = photos.render_page(TEXT, face="sans", size=26)
    result = mark_photo(photos.with_orientation(upright, orientation), KEYWORDS)
    report = result.report
    assert (report["width"], report["height"]) == upright.size
    for keyword in ("photomark", "keywords"):
        found_all(photos, result, upright, keyword)
    marked = Image.open(io.BytesIO(result.png))
    assert marked.size == upright.size


def test_the_report_has_every_keyword_in_order_and_is_json(photos, page):
    result = mark_photo(
        photos.encode(page),
        ["networks", "photomark", "absent", "marked photo"],
        photo_id="abc",
        filename="p.png",
    )
    report = json.loads(json.dumps(result.report))
    assert list(report) == [
        "id",
        "filename",
        "width",
        "height",
        "keywords",
        "engine",
        "seconds",
    ]
    assert (report["id"], report["filename"], report["width"], report["height"]) == (
        "abc",
        "p.png",
        *page.size,
    )
    assert list(report["keywords"]) == [
        "networks",
        "photomark",
        "absent",
        "marked photo",
    ]
    assert report["keywords"]["absent"] == {"count": 0, "boxes": [], "texts": []}
    assert report["keywords"]["photomark"]["count"] == 2
    assert report["keywords"]["photomark"]["texts"] == ["photomark", "(photomark)"]
    assert report["keywords"]["networks"]["count"] == 1  # "networks.", not "network,"
    for entry in report["keywords"].values():
        assert entry["count"] == len(entry["boxes"]) == len(entry["texts"])
        for x0, y0, x1, y1 in entry["boxes"]:
            assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
    assert report["engine"]["name"] == "tesseract" and report["engine"]["version"].startswith(("4", "5"))
    assert report["seconds"] > 0


def test_occurrences_are_highlighted_in_their_keyword_colour_and_the_legend_is_stamped(photos, page):
    keywords = ["photomark", "keywords", "absent"]
    result = mark_photo(photos.encode(page), keywords)
    marked = Image.open(io.BytesIO(result.png)).convert("RGB")
    assert marked.size == page.size
    for index, keyword in enumerate(keywords[:2]):
        (x0, y0, x1, y1), *_ = result.report["keywords"][keyword]["boxes"]
        colour = PALETTE[index]
        # the outline just outside the word is the keyword's colour
        assert _close(marked.getpixel((x0 - 1, (y0 + y1) // 2)), colour), keyword
        # the paper inside the box is tinted towards it, not covered
        inside = _paper_pixel(page, (x0, y0, x1, y1))
        before, after = page.getpixel(inside), marked.getpixel(inside)
        assert before != after and _nearer(after, colour, before), (
            keyword,
            before,
            after,
        )
    # The legend: a light panel with dark text where the page was blank or text.
    lx0, ly0, lx1, ly1 = legend_box(page.size, _matches(result.report))
    region = marked.crop((lx0, ly0, lx1, ly1))
    assert region.tobytes() != page.crop((lx0, ly0, lx1, ly1)).tobytes()
    colours = {c for _, c in region.getcolors(maxcolors=region.width * region.height)}
    for index in range(len(keywords)):  # one swatch per keyword, the absent one too
        assert PALETTE[index] in colours, index


def _matches(report):
    from marking.matching import Occurrence

    return {
        k: [Occurrence(tuple(b), t) for b, t in zip(v["boxes"], v["texts"], strict=True)]
        for k, v in report["keywords"].items()
    }


def _close(a, b, tolerance=10):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def _nearer(pixel, colour, original):
    def distance(p, q):
        return sum((x - y) ** 2 for x, y in zip(p, q, strict=True))

    return distance(pixel, colour) < distance(original, colour)


def _paper_pixel(page, box):
    """A pixel inside ``box`` that shows paper, not ink."""
    x0, y0, x1, y1 = box
    for y in range(y0 + 2, y1 - 2):
        for x in range(x0 + 2, x1 - 2):
            if min(page.getpixel((x, y))) > 200:
                return (x, y)
    raise AssertionError("no paper in the box")


def test_marking_is_deterministic(photos, page):
    data = photos.encode(page)
    first, second = mark_photo(data, ["photomark"]), mark_photo(data, ["photomark"])
    assert first.png == second.png
    assert {**first.report, "seconds": 0} == {**second.report, "seconds": 0}


def test_no_keywords_means_no_ocr_and_a_legend_anyway(photos, page):
    result = mark_photo(photos.encode(page), [])
    assert result.report["keywords"] == {}
    assert Image.open(io.BytesIO(result.png)).size == page.size


def test_the_demo_sample_marks_what_make_demo_shows():
    sample = Path(__file__).resolve().parents[2] / "samples" / "release-notes.png"
    report = mark_photo(sample.read_bytes(), KEYWORDS).report
    counts = {k: v["count"] for k, v in report["keywords"].items()}
    assert counts == {"photomark": 3, "keywords": 4, "marked photo": 1, "absent": 0}


def test_tiny_text_in_a_small_photo_is_upscaled_before_ocr_and_boxed_in_its_pixels(
    photos,
):
    image = photos.render_page(TEXT, face="serif", size=9, margin=10)
    assert max(image.size) < 400
    result = mark_photo(photos.encode(image), KEYWORDS)
    for keyword in ("photomark", "keywords"):
        found_all(photos, result, image, keyword)
