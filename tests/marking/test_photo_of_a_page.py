"""A phone photo of a page: read from the page alone, scaled, sharpened, and
read again when the first reading is poor; every box lands on the photo's
own pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from marking import mark_photo, ocr
from marking import tesseract as tesseract_module
from marking.ocr import read_words, words_from_data

TEXT = [
    "A phone photo of a page holds the page and the table under it.",
    "The marker reads the page alone, so that its keywords are found",
    "where the photo shows them, and nothing on the table is read.",
] * 3
KEYWORDS = ["keywords", "table", "marker", "absent"]


def photo_of(page: Image.Image, at: tuple[int, int], frame: tuple[int, int]) -> Image.Image:
    """``page`` blurred a little and laid at ``at`` on a dark, speckled table."""
    rng = np.random.default_rng(11)
    table = rng.normal(60, 10, size=(frame[1], frame[0])).clip(0, 255).astype(np.uint8)
    photo = Image.fromarray(table).convert("RGB")
    photo.paste(page.filter(ImageFilter.GaussianBlur(0.8)), at)
    return photo


@pytest.mark.integration
def test_keywords_on_a_page_lying_on_a_table_are_boxed_in_the_photos_pixels(photos):
    page = photos.render_page(TEXT, face="serif", size=16)
    at = (240, 310)
    photo = photo_of(page, at, (page.width + 480, page.height + 700))
    prepared, plan = ocr.prepare(photo)
    assert plan.photo and plan.crop[0] <= at[0] and plan.crop[1] <= at[1] and plan.crop[2] < photo.width

    report = mark_photo(photos.encode(photo), KEYWORDS).report
    for keyword in ("keywords", "table", "marker"):
        expected = [
            (x0 + at[0], y0 + at[1], x1 + at[0], y1 + at[1]) for x0, y0, x1, y1 in photos.boxes_of(page, keyword)
        ]
        got = report["keywords"][keyword]["boxes"]
        assert len(got) == len(expected), (keyword, got, expected)
        for box in expected:
            assert max(photos.iou(box, g) for g in got) >= 0.5, (keyword, box, got)
    assert report["keywords"]["absent"]["count"] == 0


def tesseract_data(*words: tuple[str, tuple[int, int, int, int], float]) -> dict:
    """``image_to_data``'s columns for ``words`` (text, (left, top, width, height), confidence)."""
    columns = {k: [] for k in ("level", "text", "left", "top", "width", "height", "conf")}
    columns.update(block_num=[], par_num=[], line_num=[], word_num=[])
    for i, (text, (left, top, width, height), confidence) in enumerate(words):
        for key, value in (
            ("level", 5),
            ("text", text),
            ("left", left),
            ("top", top),
            ("width", width),
            ("height", height),
            ("conf", confidence),
            ("block_num", 1),
            ("par_num", 1),
            ("line_num", 1),
            ("word_num", i + 1),
        ):
            columns[key].append(value)
    return columns


def test_a_box_read_on_the_scaled_crop_is_moved_back_onto_the_photo():
    data = tesseract_data(("page", (100, 50, 60, 20), 96.0))
    (word,) = words_from_data(data, 2.0, (2000, 3000), offset=(300, 400))
    assert word.box == (350, 425, 380, 435)


def test_a_box_falling_outside_the_photo_once_moved_is_clipped_or_dropped():
    data = tesseract_data(("edge", (0, 0, 100, 10), 96.0), ("out", (500, 500, 10, 10), 96.0))
    words = words_from_data(data, 1.0, (350, 400), offset=(300, 0))
    assert [(w.text, w.box) for w in words] == [("edge", (300, 0, 350, 10))]


def many(text: str, count: int, confidence: float) -> list:
    return [(text, (10 + 60 * (i % 15), 10 + 30 * (i // 15), 50, 20), confidence) for i in range(count)]


def run_with(monkeypatch, readings: dict[int, dict]) -> tuple[list, list[str]]:
    """read_words on a plain page where Tesseract answers ``readings[method]``;
    returns the words and the configs Tesseract was called with."""
    calls = []

    def fake_image_to_data(image, lang, config, timeout):
        calls.append(config)
        method = int(config.split("thresholding_method=")[1].split()[0]) if "thresholding_method=" in config else 0
        return readings[method]

    monkeypatch.setattr(tesseract_module, "image_to_data", fake_image_to_data)
    return read_words(Image.new("RGB", (1200, 1600), "white")), calls


def test_a_poor_first_reading_is_read_again_with_otsu_and_the_better_kept(monkeypatch):
    words, calls = run_with(
        monkeypatch, {2: tesseract_data(*many("s0me", 3, 40.0)), 0: tesseract_data(*many("word", 25, 90.0))}
    )
    assert len(calls) == 2 and "thresholding_method=2" in calls[0] and "thresholding_method" not in calls[1]
    assert {w.text for w in words} == {"word"} and len(words) == 25


def test_a_second_reading_no_better_than_the_first_is_not_kept(monkeypatch):
    words, calls = run_with(
        monkeypatch, {2: tesseract_data(*many("word", 5, 90.0)), 0: tesseract_data(*many("w0rd", 4, 90.0))}
    )
    assert len(calls) == 2 and {w.text for w in words} == {"word"}


def test_a_good_first_reading_is_read_once(monkeypatch):
    words, calls = run_with(monkeypatch, {2: tesseract_data(*many("word", 20, 90.0))})
    assert len(calls) == 1 and len(words) == 20


class Clock:
    """``time.monotonic`` for ``marking.ocr``: moved on only by the fake Tesseract runs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timed_runs(monkeypatch, seconds: list[float]) -> tuple[list[float], Clock]:
    """Fake Tesseract runs that take ``seconds[n]`` each on a fake clock (a poor reading, then a good one,
    or an OcrTimeout when a run needs more than it was given); returns the timeouts each run was given."""
    clock, given = Clock(), []

    def fake_image_to_data(image, lang, config, timeout):
        given.append(timeout)
        needed = seconds[len(given) - 1]
        clock.now += min(needed, timeout)
        if needed > timeout:
            raise RuntimeError("Tesseract process timeout")
        return tesseract_data(*(many("s0me", 3, 40.0) if len(given) == 1 else many("word", 25, 90.0)))

    monkeypatch.setattr(tesseract_module, "image_to_data", fake_image_to_data)
    monkeypatch.setattr(ocr, "monotonic", clock)
    return given, clock


def test_the_second_reading_gets_the_time_the_first_left(monkeypatch):
    given, _ = timed_runs(monkeypatch, [30.0, 5.0])
    words = read_words(Image.new("RGB", (1200, 1600), "white"), timeout=100.0)
    assert given == [100.0, 70.0] and {w.text for w in words} == {"word"}


def test_a_second_reading_out_of_time_leaves_the_first_reading_as_the_answer(monkeypatch):
    given, clock = timed_runs(monkeypatch, [30.0, 500.0])
    words = read_words(Image.new("RGB", (1200, 1600), "white"), timeout=100.0)
    assert given == [100.0, 70.0] and clock.now == 1100.0  # the whole reading took the timeout, no more
    assert {w.text for w in words} == {"s0me"} and len(words) == 3


def test_no_second_reading_when_the_first_used_all_the_time(monkeypatch):
    given, _ = timed_runs(monkeypatch, [100.0])
    words = read_words(Image.new("RGB", (1200, 1600), "white"), timeout=100.0)
    assert given == [100.0] and {w.text for w in words} == {"s0me"}


def test_a_first_reading_out_of_time_is_an_ocr_timeout(monkeypatch):
    timed_runs(monkeypatch, [500.0])
    with pytest.raises(ocr.OcrTimeout, match=r"in 100 s"):
        read_words(Image.new("RGB", (1200, 1600), "white"), timeout=100.0)


def test_no_second_reading_when_the_settings_say_none(monkeypatch):
    calls = []

    def fake_image_to_data(image, lang, config, timeout):
        calls.append(config)
        return tesseract_data()

    monkeypatch.setattr(tesseract_module, "image_to_data", fake_image_to_data)
    settings = ocr.Settings(second_thresholding_method=None)
    assert read_words(Image.new("RGB", (1200, 1600), "white"), settings) == []
    assert len(calls) == 1
