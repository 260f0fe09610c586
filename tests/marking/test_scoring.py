"""The evaluation scorer: the reference scorer's figures on recorded predictions, and its matching rules.

The recorded predictions and what the reference scorer (the ``score.py`` the
evaluation set was published with) printed for them are in tests/data/scoring
(see its README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marking import scoring
from marking.scoring import Case, Tally, iou, match, normalise_word, predicted_boxes

DATA = Path(__file__).resolve().parents[1] / "data"
DEV_CASES = DATA / "eval" / "dev" / "cases.jsonl"
RECORDED = DATA / "scoring"


def reference(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.reference-scores.json").read_text())


def figures(tally: Tally) -> dict:
    """A tally as the reference scorer writes it in its JSON output."""
    return {
        "keywords": tally.keywords,
        "tp": tally.matched,
        "n_gt": tally.expected,
        "n_pred": tally.predicted,
        "recall": tally.recall,
        "precision": tally.precision,
        "f1": tally.f1,
    }


def scored(name: str) -> scoring.Scores:
    return scoring.score_files(scoring.load_cases(DEV_CASES), RECORDED / name)


def case(**expected) -> Case:
    return Case.decode(
        {
            "image": "images/page-p001.png",
            "variant": "clean",
            "keywords": list(expected),
            "keyword_roles": {k: "common" for k in expected},
            "expected": expected,
        }
    )


# -- the reference scorer's figures --


def test_the_plain_baseline_scores_on_the_dev_set_what_the_reference_scorer_printed():
    groups = scored("baseline-dev").groups
    # tp, expected, predicted; recall, precision, F1 as printed (3 decimals)
    pinned = {
        "ALL": (199, 212, 199, 0.939, 1.000, 0.968),
        "variant=clean": (155, 157, 155, 0.987, 1.000, 0.994),
        "variant=hard": (44, 55, 44, 0.800, 1.000, 0.889),
        "role=absent": (0, 0, 0, None, None, None),
        "role=capitalized": (49, 54, 49, 0.907, 1.000, 0.951),
        "role=common": (90, 96, 90, 0.938, 1.000, 0.968),
        "role=punct": (42, 42, 42, 1.000, 1.000, 1.000),
        "role=rare": (18, 20, 18, 0.900, 1.000, 0.947),
    }
    assert list(groups) == list(pinned)
    for name, (tp, expected, predicted, *rates) in pinned.items():
        tally = groups[name]
        assert (tally.matched, tally.expected, tally.predicted) == (tp, expected, predicted), name
        got = [tally.recall, tally.precision, tally.f1]
        assert got == [None if r is None else pytest.approx(r, abs=5e-4) for r in rates], name


def test_the_markers_recorded_predictions_score_what_the_reference_scorer_printed():
    groups = scored("photomark-dev").groups
    pinned = {"ALL": (205, 212, 206), "variant=clean": (157, 157, 157), "variant=hard": (48, 55, 49)}
    assert {name: (groups[name].matched, groups[name].expected, groups[name].predicted) for name in pinned} == pinned
    assert [round(groups["ALL"].recall, 3), round(groups["ALL"].precision, 3), round(groups["ALL"].f1, 3)] == [
        0.967,
        0.995,
        0.981,
    ]


def test_perturbed_predictions_score_what_the_reference_scorer_printed():
    scores = scored("perturbed-dev")
    tally = scores.groups["ALL"]
    assert (tally.matched, tally.expected, tally.predicted) == (102, 212, 171)
    assert (round(tally.recall, 3), round(tally.precision, 3), round(tally.f1, 3)) == (0.481, 0.596, 0.533)
    absent = scores.groups["role=absent"]
    assert (absent.predicted, absent.recall, absent.precision, absent.f1) == (6, None, 0.0, 0.0)
    assert scores.missing_predictions == 2


@pytest.mark.parametrize("name", ["baseline-dev", "photomark-dev", "perturbed-dev"])
def test_every_figure_and_keyword_row_equals_the_reference_scorers_output(name):
    scores, expected = scored(name), reference(name)
    assert {group: figures(t) for group, t in scores.groups.items()} == expected["summary"]
    assert list(scores.groups) == list(expected["summary"])
    rows = [
        {
            "image": s.image,
            "keyword": s.keyword,
            "role": s.role,
            "variant": s.variant,
            "tp": s.matched,
            "n_gt": s.expected,
            "n_pred": s.predicted,
        }
        for s in scores.per_keyword
    ]
    assert rows == expected["per_keyword"]
    assert scores.missing_predictions == expected["missing_predictions"]


# -- the matching rules --


def test_iou_is_intersection_over_union_and_zero_for_empty_boxes():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    assert iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0  # x1 is exclusive: they touch, no overlap
    assert iou([5, 5, 5, 5], [5, 5, 5, 5]) == 0.0


def test_a_box_at_iou_exactly_one_half_matches_and_one_just_under_does_not():
    word = [0, 0, 30, 10]
    assert iou(word, [10, 0, 40, 10]) == 0.5
    assert match([word], [[10, 0, 40, 10]]) == 1
    assert iou(word, [11, 0, 41, 10]) < 0.5
    assert match([word], [[11, 0, 41, 10]]) == 0


def test_the_threshold_can_be_raised():
    assert match([[0, 0, 30, 10]], [[10, 0, 40, 10]], threshold=0.6) == 0
    assert match([[0, 0, 30, 10]], [[1, 0, 31, 10]], threshold=0.9) == 1


def test_each_box_matches_at_most_once():
    word = [0, 0, 30, 10]
    assert match([word], [word, [1, 0, 31, 10]]) == 1  # two predictions on one word
    assert match([word, [1, 0, 31, 10]], [word]) == 1  # one prediction over two expected words


def test_pairs_are_taken_greedily_from_the_highest_iou_not_to_maximise_matches():
    first, second = [0, 0, 100, 10], [20, 0, 110, 10]
    close, wide = [0, 0, 90, 10], [-30, 0, 70, 10]
    assert iou(first, close) > iou(second, close) > iou(first, wide) >= 0.5 > iou(second, wide)
    # first-close goes first and leaves second and wide apart; first-wide plus second-close would have made 2
    assert match([first, second], [close, wide]) == 1


def test_iou_ties_are_taken_later_expected_box_first_then_later_predicted_box_first():
    # "tall" overlaps both predictions at IoU 0.5, "low" only the lower one
    top, bottom = [0, 0, 10, 10], [0, 10, 10, 20]
    tall, low = [0, 0, 10, 20], [0, 10, 10, 30]
    assert [iou(e, p) for e in (tall, low) for p in (top, bottom)] == [0.5, 0.5, 0.0, 0.5]
    assert match([tall, low], [top, bottom]) == 2  # low-bottom first, then tall-top
    assert match([low, tall], [top, bottom]) == 1  # tall-bottom first: low is left with nothing
    assert match([low, tall], [bottom, top]) == 2  # tall-top first, then low-bottom


def test_a_missing_prediction_file_means_no_boxes_and_is_counted(tmp_path):
    pages = [
        Case.decode(
            {
                "image": "images/a-p001.png",
                "variant": "clean",
                "keywords": ["word"],
                "keyword_roles": {"word": "rare"},
                "expected": {"word": [[0, 0, 30, 10]]},
            }
        ),
        Case.decode(
            {
                "image": "images/b-p002-hard.jpg",
                "variant": "hard",
                "keywords": ["word"],
                "keyword_roles": {"word": "rare"},
                "expected": {"word": [[0, 0, 30, 10]]},
            }
        ),
    ]
    (tmp_path / "a-p001.json").write_text(json.dumps({"word": [[0, 0, 30, 10]]}))
    scores = scoring.score_files(pages, tmp_path)
    assert scores.missing_predictions == 1
    assert [(s.matched, s.expected, s.predicted) for s in scores.per_keyword] == [(1, 1, 1), (0, 1, 0)]
    assert scores.groups["variant=hard"].recall == 0.0
    assert scores.groups["variant=hard"].precision is None


def test_an_empty_prediction_object_is_not_a_missing_file():
    scores = scoring.score([case(word=[[0, 0, 30, 10]])], {"page-p001": {}})
    assert scores.missing_predictions == 0
    assert scores.groups["ALL"].predicted == 0


def test_a_prediction_file_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "page-p001.json").write_text("[]")
    with pytest.raises(ValueError, match="JSON object"):
        scoring.score_files([case(word=[])], tmp_path)


def test_keyword_lookup_prefers_the_exact_spelling_then_any_case():
    assert predicted_boxes({"testing": [[1, 1, 2, 2]]}, "Testing") == [[1, 1, 2, 2]]
    assert predicted_boxes({"testing": [[1, 1, 2, 2]], "Testing": [[3, 3, 4, 4]]}, "Testing") == [[3, 3, 4, 4]]
    # among other spellings, the last one in the file (as the reference's lower-cased dict keeps it)
    assert predicted_boxes({"TESTING": [[1, 1, 2, 2]], "testing": [[3, 3, 4, 4]]}, "Testing") == [[3, 3, 4, 4]]
    assert predicted_boxes({"Testing": [[1, 1, 2, 2]]}, "testing") == [[1, 1, 2, 2]]
    assert predicted_boxes({"tests": [[1, 1, 2, 2]]}, "testing") == []


def test_malformed_boxes_are_dropped_not_counted():
    boxes = [[0, 0, 30, 10], [1, 2, 3], "box", [0, 0, "a", 1], [0.5, 0, 30.5, 10.0], None]
    assert predicted_boxes({"word": boxes}, "word") == [[0, 0, 30, 10], [0.5, 0, 30.5, 10.0]]
    assert predicted_boxes({"word": "no boxes"}, "word") == []
    assert predicted_boxes({"word": {"x": 1}}, "word") == []


def test_rates_are_undefined_where_they_would_divide_by_zero():
    assert (Tally(1, 0, 0, 0).recall, Tally(1, 0, 0, 0).precision, Tally(1, 0, 0, 0).f1) == (None, None, None)
    absent_hit = Tally(1, 0, 0, 3)
    assert (absent_hit.recall, absent_hit.precision, absent_hit.f1) == (None, 0.0, 0.0)
    assert Tally(2, 3, 4, 3).f1 == 2 * 3 / (4 + 3)


def test_groups_are_all_then_variants_then_roles_each_sorted():
    page = Case.decode(
        {
            "image": "images/x-p001-hard.jpg",
            "variant": "hard",
            "keywords": ["b", "a"],
            "keyword_roles": {"b": "rare", "a": "absent"},
            "expected": {"b": [[0, 0, 9, 9]], "a": []},
        }
    )
    other = Case.decode(
        {
            "image": "images/y-p002.png",
            "variant": "clean",
            "keywords": ["c"],
            "keyword_roles": {"c": "common"},
            "expected": {"c": []},
        }
    )
    scores = scoring.score([page, other], {})
    assert list(scores.groups) == ["ALL", "variant=clean", "variant=hard", "role=absent", "role=common", "role=rare"]
    assert scores.groups["ALL"].keywords == 3
    assert scores.missing_predictions == 2


def test_a_word_counts_for_a_keyword_as_the_evaluation_conventions_say():
    assert {normalise_word(w) for w in ["network,", "(network", "Network", "NETWORK.)"]} == {"network"}
    for other in ["networks", "network-based", "network's", "net-"]:
        assert normalise_word(other) != "network"
    assert normalise_word("ﬁle") == "file"  # NFKC: the ligature is two letters
    assert normalise_word("--") == ""
