"""The holdout set's generator (bench/evalset) and the committed set it built (tests/data/eval/holdout).

Fast and without poppler: the simulator, the keyword picker and the ink boxes are pure functions, tried on
synthetic pages; the committed set is read as it is."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.evalset import pdf, phone, truth
from marking import scoring

ROOT = Path(__file__).resolve().parents[2]
HOLDOUT = ROOT / "tests" / "data" / "eval" / "holdout"
DEV_KEYS = {"image", "source", "license", "variant", "dpi", "keywords", "keyword_roles", "expected"}


def words(*lines: str) -> list[pdf.Word]:
    """Printed words, one string per line, a line's words split at spaces (boxes do not matter here)."""
    out = []
    for index, line in enumerate(lines):
        texts = line.split()
        for position, text in enumerate(texts):
            last = position == len(texts) - 1
            out.append(pdf.Word(text, (0, 0, 1, 1), index, last, last and text.endswith("-")))
    return out


# -- the simulator --


def page_of_rectangles(size: tuple[int, int], block: tuple[int, int]) -> tuple[Image.Image, list[tuple]]:
    """A white page with a grid of black rectangles of ``block`` pixels, and their boxes."""
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    boxes = []
    for i in range(4):
        for j in range(6):
            x = 80 + i * (size[0] - 160 - block[0]) // 3
            y = 80 + j * (size[1] - 160 - block[1]) // 5
            draw.rectangle([x, y, x + block[0] - 1, y + block[1] - 1], fill="black")
            boxes.append((x, y, x + block[0], y + block[1]))
    return page, boxes


def dark_box_near(photo: np.ndarray, box: list[int], margin: int = 8) -> tuple[int, int, int, int]:
    """The box of the dark pixels of the photo around ``box``: darker than half way between the window's ink and
    paper levels."""
    x0, y0 = max(0, box[0] - margin), max(0, box[1] - margin)
    window = photo[y0 : box[3] + margin, x0 : box[2] + margin]
    threshold = (np.percentile(window, 2) + np.percentile(window, 98)) / 2
    ys, xs = np.nonzero(window < threshold)
    return (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)


@pytest.mark.parametrize(("kind", "seed"), [("hard", 1), ("hard", 2), ("small", 1), ("small", 2)])
def test_mapped_boxes_cover_the_ink_of_rectangles_in_the_photo(kind, seed):
    size, block = ((900, 1160), (80, 20)) if kind == "hard" else ((850, 1100), (56, 13))
    page, boxes = page_of_rectangles(size, block)
    photo = phone.simulate(page, seed, kind)
    gray = np.asarray(Image.open(io.BytesIO(photo.jpeg)).convert("L"), dtype=float)
    assert gray.shape == (photo.size[1], photo.size[0])
    for x0, y0, x1, y1 in boxes:
        ys, xs = np.mgrid[y0:y1, x0:x1]
        mapped = phone.mapped_box(photo.homography, np.stack([xs.ravel(), ys.ravel()], axis=1), photo.size)
        assert scoring.iou(mapped, dark_box_near(gray, mapped)) >= 0.8, (x0, y0, mapped)


@pytest.mark.parametrize("kind", phone.KINDS)
def test_the_simulator_gives_the_same_bytes_for_the_same_seed(kind):
    page, _ = page_of_rectangles((600, 780), (50, 12))
    first, again, other = phone.simulate(page, 5, kind), phone.simulate(page, 5, kind), phone.simulate(page, 6, kind)
    assert first.jpeg == again.jpeg
    assert np.array_equal(first.homography, again.homography)
    assert first.simulation == again.simulation
    assert first.jpeg != other.jpeg


def test_simulation_parameters_stay_in_their_ranges_and_are_json():
    for seed in range(20):
        for kind in phone.KINDS:
            sim = phone.draw_simulation((1445, 1870) if kind == "hard" else (850, 1100), kind, seed)
            assert 1.0 <= abs(sim.rotation_deg) <= 3.0
            assert phone.BLUR_PX[0] <= sim.blur_px <= phone.BLUR_PX[1]
            assert phone.JPEG_QUALITY[0] <= sim.jpeg_quality <= phone.JPEG_QUALITY[1]
            json.dumps(sim.record())
        assert 1950 <= max(phone.draw_simulation((850, 1100), "small", seed).frame) <= 2050
        assert phone.SMALL_DPI[0] <= phone.page_dpi("small", seed) <= phone.SMALL_DPI[1]
    assert phone.page_dpi("hard", 3) == phone.HARD_DPI


def test_the_homography_takes_the_page_corners_to_the_given_corners():
    source = np.array([[0, 0], [100, 0], [100, 200], [0, 200]], dtype=float)
    target = np.array([[10, 12], [108, 9], [112, 215], [7, 209]], dtype=float)
    assert np.allclose(phone.map_points(phone.homography(source, target), source), target)


# -- ink boxes --


def test_a_word_box_is_shrunk_to_its_ink_with_what_sticks_out_and_without_the_next_line():
    gray = np.full((60, 100), 255, dtype=np.uint8)
    gray[20:30, 12:40] = 0  # the word's letters
    gray[30:34, 14:16] = 40  # a descender below the text layer's box
    gray[36:40, 12:30] = 0  # the next line's letters, not touching the word
    gray[22:28, 45:50] = 200  # light grey: paper, not ink
    assert truth.ink_box(gray, (10.4, 18.2, 52.0, 30.0)) == (12, 20, 40, 34)
    assert truth.ink_box(gray, (60.0, 5.0, 90.0, 15.0)) is None
    assert len(truth.ink_points(gray, (10.4, 18.2, 52.0, 30.0))) == 10 * 28 + 4 * 2


# -- keywords --


PAGE = words(
    "The marker with the key syntax: Testing,",
    "marker with key value, the compres-",
    "sion with key network-based testing",
    "The buffer's value compression marker",
    "compression network network network",
    "compression",
)
DOCUMENT = ["declaring", "mark", "syntax", "network", "the", "key", "sion", "based"]


@pytest.mark.parametrize("seed", [0, 1, 2, 17])
def test_each_keyword_is_picked_by_its_role(seed):
    assert truth.pick_keywords(PAGE, DOCUMENT, seed) == {
        "marker": "common",  # 3 times; compression and network (3 times too) also occur split or in a compound
        "syntax": "rare",  # once; buffer, compres, sion are split or have an apostrophe
        "Testing": "capitalized",  # printed with a capital, and counted with its lower-case occurrence
        "value": "punct",  # "value," once
        "declaring": "absent",  # mark is inside marker, sion and based inside split words, network on the page
    }


def test_split_hyphenated_and_compound_words_are_never_keywords():
    tainted = truth.split_or_compound(PAGE)
    assert {"compres", "sion", "compression", "network", "based", "buffer"} <= tainted
    assert "marker" not in tainted


def test_the_absent_keyword_is_no_part_of_a_longer_word_of_the_page():
    page = words("marker marker marker syntax Testing testing value, value")
    for seed in range(10):
        assert truth.pick_keywords(page, ["mark", "arke", "declaring"], seed)["declaring"] == "absent"


def test_the_picker_is_deterministic_and_the_seed_matters():
    page = words(
        "alpha alpha alpha bravo bravo bravo charlie charlie charlie delta echo foxtrot golf hotel",
        "India Juliet Kilo Lima, mike, november, oscar. papa; quebec alpha bravo charlie",
    )
    document = ["romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"]
    picks = [truth.pick_keywords(page, document, seed) for seed in range(12)]
    assert picks == [truth.pick_keywords(page, document, seed) for seed in range(12)]
    assert len({tuple(p) for p in picks}) > 1
    for pick in picks:
        assert list(pick.values()) == list(truth.ROLES)
        assert len({k.lower() for k in pick}) == 5


def test_a_page_without_a_candidate_for_a_role_is_refused():
    with pytest.raises(ValueError, match="rare"):
        truth.pick_keywords(words("marker marker marker Testing Testing value, value"), ["declaring"], 0)


# -- reading pdftotext's output --


LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title></title></head><body><doc>
<page width="612.000000" height="792.000000"><flow><block xMin="72" yMin="72" xMax="300" yMax="100">
<line xMin="72" yMin="72" xMax="300" yMax="82">
<word xMin="72.000000" yMin="72.000000" xMax="108.000000" yMax="82.000000">Split</word>
<word xMin="110.000000" yMin="72.000000" xMax="144.000000" yMax="82.000000">com-</word>
</line>
<line xMin="72" yMin="84" xMax="300" yMax="94">
<word xMin="72.000000" yMin="84.000000" xMax="100.000000" yMax="94.000000">pound</word>
<word xMin="102.000000" yMin="84.000000" xMax="120.000000" yMax="94.000000">-</word>
</line></block></flow></page></doc></body></html>
"""


def test_pdftotext_words_are_read_with_pixel_boxes_and_line_ends():
    (page,) = pdf.words_of_layout(LAYOUT, 144)
    assert [w.text for w in page] == ["Split", "com-", "pound", "-"]
    assert page[0].box == (144.0, 144.0, 216.0, 164.0)
    assert [w.line for w in page] == [0, 0, 1, 1]
    assert [w.ends_line for w in page] == [False, True, False, True]
    assert [w.hyphenated for w in page] == [False, True, False, False]


# -- the committed set --


def holdout_lines() -> list[dict]:
    return [json.loads(line) for line in (HOLDOUT / "cases.jsonl").read_text().splitlines() if line.strip()]


def test_the_committed_holdout_set_is_well_formed():
    lines = holdout_lines()
    assert len(lines) >= 15
    assert {line["variant"] for line in lines} == {"clean", "hard", "small"}
    assert len({line["source"].split(":")[0] + line["source"].split(":")[1].split(",")[0] for line in lines}) >= 4
    for line in lines:
        name = line["image"]
        assert set(line) == DEV_KEYS | ({"simulation"} if line["variant"] != "clean" else set()), name
        assert line["source"].startswith("Debian package ") and line["license"], name
        with Image.open(HOLDOUT / name) as image:
            width, height = image.size
        assert line["dpi"] == 150 if line["variant"] == "clean" else line["dpi"] <= 170, name
        assert list(line["expected"]) == line["keywords"] == list(line["keyword_roles"]), name
        assert sorted(line["keyword_roles"].values()) == sorted(truth.ROLES), name
        for keyword, boxes in line["expected"].items():
            role = line["keyword_roles"][keyword]
            assert (boxes == []) == (role == "absent"), (name, keyword)
            for x0, y0, x1, y1 in boxes:
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (name, keyword)
        if line["variant"] != "clean":
            assert line["simulation"]["kind"] == line["variant"]
            assert tuple(line["simulation"]["frame"]) == (width, height), name


def test_the_holdout_set_scores_one_against_its_own_boxes():
    cases = scoring.load_cases(HOLDOUT / "cases.jsonl")
    scores = scoring.score(
        cases, {case.stem: {k: list(map(list, v)) for k, v in case.expected.items()} for case in cases}
    )
    everything = scores.groups[scoring.ALL]
    assert everything.recall == everything.precision == 1.0
    assert scores.missing_predictions == 0
    assert set(scores.groups) >= {"variant=clean", "variant=hard", "variant=small", "role=absent", "role=punct"}
