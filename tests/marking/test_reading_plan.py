"""The reading plan: how a photo is cropped, scaled and sharpened before OCR,
and when a reading is poor enough to try again (pure decisions)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marking.reading_plan import (
    GOOD_WORD_CONFIDENCE,
    MAX_OCR_SIDE,
    MIN_GOOD_WORDS,
    Measures,
    PlanRules,
    good_words,
    is_poor,
    plan_reading,
    size_scale,
)

RULES = PlanRules()
SHARP = 4.5  # a rendered page's edge steepness
SOFT = 2.4  # a phone photo's


def test_a_rendered_page_is_read_as_it_is():
    plan = plan_reading(Measures(size=(1241, 1754), page=None, text_height=11.0, edge_steepness=SHARP))
    assert plan.crop == (0, 0, 1241, 1754)
    assert plan.scale == 1.0 and plan.sharpen == 0.0 and not plan.photo


def test_small_sharp_text_is_upscaled_to_the_target_height_without_sharpening():
    plan = plan_reading(Measures(size=(745, 1052), page=None, text_height=8.0, edge_steepness=SHARP))
    assert plan.scale == pytest.approx(RULES.target_text_height / 8.0)
    assert plan.sharpen == 0.0 and not plan.photo


def test_sharp_text_at_the_small_text_height_is_not_upscaled():
    plan = plan_reading(
        Measures(size=(1241, 1754), page=None, text_height=RULES.small_text_height, edge_steepness=SHARP)
    )
    assert plan.scale == 1.0


def test_a_photo_of_a_page_is_read_from_the_page_upscaled_and_sharpened():
    page = (100, 300, 1400, 2000)  # 1300 x 1700: its long side is under min_page_side
    plan = plan_reading(Measures(size=(1546, 2127), page=page, text_height=14.0, edge_steepness=SOFT))
    assert plan.crop == page and plan.photo
    assert plan.sharpen == RULES.sharpen_amount
    assert plan.scale == pytest.approx(max(RULES.target_text_height / 14.0, RULES.min_page_side / 1700))


def test_a_page_small_in_the_frame_is_upscaled_by_its_size_when_its_text_measures_tall():
    # letters blurred together measure as tall as the text of a closer photo
    plan = plan_reading(Measures(size=(1500, 2000), page=(300, 500, 1200, 1700), text_height=11.0, edge_steepness=SOFT))
    assert plan.scale == pytest.approx(RULES.min_page_side / 1200)


def test_soft_edges_make_a_photo_even_without_a_page_found():
    plan = plan_reading(Measures(size=(1600, 2200), page=None, text_height=12.0, edge_steepness=SOFT))
    assert plan.photo and plan.crop == (0, 0, 1600, 2200)
    assert plan.scale == pytest.approx(RULES.target_text_height / 12.0)
    assert plan.sharpen == RULES.sharpen_amount


def test_a_photo_with_large_text_is_not_scaled_down():
    plan = plan_reading(Measures(size=(3000, 4000), page=None, text_height=40.0, edge_steepness=SOFT))
    assert plan.scale == 1.0 and plan.photo


def test_without_text_to_measure_the_size_rule_decides():
    thumbnail = plan_reading(Measures(size=(500, 400), page=None, text_height=None, edge_steepness=None))
    assert thumbnail.scale == 2.0 == size_scale((500, 400), RULES)
    banner = plan_reading(Measures(size=(40_000, 80), page=None, text_height=None, edge_steepness=None))
    assert banner.scale == pytest.approx(MAX_OCR_SIDE / 40_000)


def test_upscaling_stops_at_max_scale_and_at_the_pixel_budget():
    tiny_text = plan_reading(Measures(size=(1000, 1000), page=None, text_height=2.0, edge_steepness=SHARP))
    assert tiny_text.scale == RULES.max_scale
    huge = plan_reading(Measures(size=(8000, 6000), page=None, text_height=5.0, edge_steepness=SOFT))
    assert huge.scale == math.sqrt(RULES.max_megapixels * 1e6 / (8000 * 6000))


def test_a_mild_upscale_of_a_large_photo_is_held_to_the_pixel_budget_too():
    plan = plan_reading(Measures(size=(8000, 6000), page=None, text_height=12.0, edge_steepness=SOFT))
    assert plan.scale == math.sqrt(RULES.max_megapixels * 1e6 / (8000 * 6000))
    assert 1.0 < plan.scale < RULES.target_text_height / 12.0


def test_an_upscale_stops_at_tesseracts_side_limit():
    plan = plan_reading(Measures(size=(30_000, 40), page=None, text_height=4.0, edge_steepness=SHARP))
    assert plan.scale == pytest.approx(MAX_OCR_SIDE / 30_000)


def test_edges_exactly_at_the_soft_threshold_are_sharp():
    plan = plan_reading(Measures(size=(1241, 1754), page=None, text_height=11.0, edge_steepness=RULES.soft_edges_below))
    assert not plan.photo and plan.sharpen == 0.0


def test_the_size_rule_upscales_only_under_min_long_side_and_scales_down_past_tesseracts_limit():
    assert size_scale((RULES.min_long_side, 700), RULES) == 1.0
    assert size_scale((999, 700), RULES) == pytest.approx(1000 / 999)
    assert size_scale((2000, 1500), RULES) == 1.0
    assert size_scale((40_000, 80), RULES) == pytest.approx(MAX_OCR_SIDE / 40_000)
    assert size_scale((100, 50), PlanRules(min_long_side=0)) == 1.0


def test_the_rules_can_be_changed():
    rules = PlanRules(target_text_height=22.0, sharpen_amount=0.0)
    plan = plan_reading(Measures(size=(1600, 2200), page=None, text_height=11.0, edge_steepness=SOFT), rules)
    assert plan.scale == 2.0 and plan.sharpen == 0.0 and plan.photo


def test_the_plan_says_itself_for_the_report():
    plan = plan_reading(Measures(size=(1600, 2200), page=(8, 16, 1500, 2100), text_height=12.0, edge_steepness=SOFT))
    assert plan.as_dict() == {
        "crop": [8, 16, 1500, 2100],
        "scale": round(plan.scale, 3),
        "sharpen": RULES.sharpen_amount,
        "photo": True,
        "char_choices": True,
    }


def test_character_choices_are_asked_for_on_photos_and_small_text_only():
    sharp = plan_reading(Measures(size=(1241, 1754), page=None, text_height=11.0, edge_steepness=SHARP))
    small = plan_reading(Measures(size=(745, 1052), page=None, text_height=8.0, edge_steepness=SHARP))
    photo = plan_reading(Measures(size=(1600, 2200), page=None, text_height=40.0, edge_steepness=SOFT))
    assert not sharp.char_choices and small.char_choices and photo.char_choices


sizes = st.tuples(st.integers(1, 60_000), st.integers(1, 60_000))


@st.composite
def measures(draw):
    width, height = draw(sizes)
    page = None
    if draw(st.booleans()) and width > 1 and height > 1:
        x0, y0 = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
        page = (x0, y0, draw(st.integers(x0 + 1, width)), draw(st.integers(y0 + 1, height)))
    text = draw(st.none() | st.floats(1.0, 500.0))
    steepness = draw(st.none() | st.floats(0.0, 20.0))
    return Measures(size=(width, height), page=page, text_height=text, edge_steepness=steepness)


@given(measures())
def test_every_plan_reads_a_region_of_the_photo_within_tesseracts_and_the_budgets_limits(m):
    plan = plan_reading(m)
    x0, y0, x1, y1 = plan.crop
    assert 0 <= x0 < x1 <= m.size[0] and 0 <= y0 < y1 <= m.size[1]
    width, height = x1 - x0, y1 - y0
    assert plan.scale > 0
    assert max(width, height) * plan.scale <= MAX_OCR_SIDE + 1e-6
    if plan.scale > 1.0:
        assert plan.scale <= RULES.max_scale + 1e-9
        assert width * height * plan.scale**2 <= RULES.max_megapixels * 1e6 * (1 + 1e-9)
    assert plan.sharpen in (0.0, RULES.sharpen_amount)
    assert plan.photo == (m.page is not None or (m.edge_steepness is not None and m.edge_steepness < 3.3))


def test_good_words_are_confident_and_have_three_letters_or_digits():
    assert good_words([("word", GOOD_WORD_CONFIDENCE), ("abc", 99.0), ("a1b", 80.0)]) == 3
    assert good_words([("word", GOOD_WORD_CONFIDENCE - 0.1), ("ab", 99.0), ("a.b.", 99.0), ("--", 99.0)]) == 0


def test_a_reading_is_poor_under_the_minimum_of_good_words():
    assert is_poor(0) and is_poor(MIN_GOOD_WORDS - 1)
    assert not is_poor(MIN_GOOD_WORDS)
