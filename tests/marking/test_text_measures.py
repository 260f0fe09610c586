"""What is measured of a photo before OCR: the page against its background
(``marking/page_crop.py``), the text's height and the edges' steepness
(``marking/text_measures.py``).  Synthetic pages, no Tesseract."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from marking.page_crop import page_box
from marking.text_measures import edge_steepness, text_height

LINES = [
    "Several readings of a page give one answer when the words",
    "are merged by the overlap of their boxes and their confidence,",
    "so that a keyword read in any good reading is found once.",
] * 4


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(ImageOps.grayscale(image))


def on_a_table(page: Image.Image, frame: tuple[int, int], at: tuple[int, int]) -> Image.Image:
    """``page`` laid at ``at`` on a dark, speckled table of size ``frame``."""
    rng = np.random.default_rng(7)
    table = rng.normal(70, 12, size=(frame[1], frame[0])).clip(0, 255).astype(np.uint8)
    photo = Image.fromarray(table).convert("RGB")
    photo.paste(page, at)
    return photo


def test_a_page_on_a_table_is_found_to_within_a_few_pixels(photos):
    page = photos.render_page(LINES, size=18)
    photo = on_a_table(page, (page.width + 500, page.height + 700), (180, 260))
    box = page_box(gray(photo))
    assert box is not None
    expected = (180, 260, 180 + page.width, 260 + page.height)
    for got, want in zip(box, expected, strict=True):
        assert abs(got - want) <= 40, (box, expected)
    assert box[0] <= expected[0] and box[1] <= expected[1] and box[2] >= expected[2] - 8 and box[3] >= expected[3] - 8


def test_a_page_with_paper_to_its_edges_has_nothing_to_crop(photos):
    assert page_box(gray(photos.render_page(LINES, size=18))) is None


@pytest.mark.parametrize("shade", [0, 128, 255])
def test_a_plain_photo_holds_no_page(shade):
    assert page_box(np.full((900, 700), shade, np.uint8)) is None


def test_a_page_filling_a_sliver_of_the_frame_is_not_taken_for_one(photos):
    page = photos.render_page(LINES[:2], size=10)
    photo = on_a_table(page.resize((page.width // 4, page.height // 4)), (2000, 2000), (50, 50))
    assert page_box(gray(photo)) is None


def test_a_photo_too_small_to_look_at_holds_no_page():
    assert page_box(np.full((100, 3000), 255, np.uint8)) is None


def test_the_text_height_grows_with_the_font_size(photos):
    small = text_height(gray(photos.render_page(LINES, size=14)))
    large = text_height(gray(photos.render_page(LINES, size=28)))
    assert small is not None and large is not None
    assert 1.7 <= large / small <= 2.3, (small, large)


def test_no_text_has_no_height():
    assert text_height(np.full((600, 800), 240, np.uint8)) is None
    assert text_height(np.full((20, 20), 0, np.uint8)) is None
    assert text_height(np.zeros((5,), np.uint8)) is None


def test_rules_and_pictures_are_not_letters():
    canvas = np.full((800, 800), 255, np.uint8)
    for y in range(20, 780, 20):
        canvas[y : y + 3, 20:780] = 0  # horizontal rules: far wider than tall
    canvas[300:700, 300:500] = 0  # a picture, taller than any letter
    assert text_height(canvas) is None


def test_a_blurred_page_has_softer_edges_than_a_sharp_one(photos):
    page = photos.render_page(LINES, size=18)
    sharp = edge_steepness(gray(page))
    soft = edge_steepness(gray(page.filter(ImageFilter.GaussianBlur(1.5))))
    assert sharp is not None and soft is not None
    assert soft < 3.3 < sharp, (soft, sharp)


def test_a_photo_without_contrast_has_no_edge_steepness():
    assert edge_steepness(np.full((300, 300), 200, np.uint8)) is None
    assert edge_steepness(np.full((2, 2), 0, np.uint8)) is None


def test_a_large_page_is_measured_on_its_middle_with_its_proportions():
    from marking.ocr import MEASURED_PIXELS, middle

    assert middle((0, 0, 1241, 1754), MEASURED_PIXELS) == (0, 0, 1241, 1754)
    x0, y0, x1, y1 = middle((10, 20, 4010, 3020), 3_000_000)
    assert (x1 - x0) * (y1 - y0) <= 3_000_000
    assert (x1 - x0) / (y1 - y0) == pytest.approx(4000 / 3000, rel=0.01)
    assert (x0 + x1) / 2 == pytest.approx(2010, abs=1) and (y0 + y1) / 2 == pytest.approx(1520, abs=1)
    assert middle((0, 0, 100_000, 1), 10) == (49_995, 0, 50_005, 1)
