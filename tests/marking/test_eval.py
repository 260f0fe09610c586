"""A few pages of each evaluation set (tests/data/eval/dev and
tests/data/eval/holdout), scored with marking.scoring: floors a little under
what was measured, to catch a regression without failing on noise.
(bench/quality.py measures the whole sets.)"""

from __future__ import annotations

import pytest

from marking import mark_photo, scoring

pytestmark = pytest.mark.integration  # needs Tesseract

# Measured (Tesseract 5.3.0): every expected box found and nothing else on
# these pages, but for the first small page (9 of 9 found, one false box:
# the page is about 900 pixels tall in a 2,000-pixel photo).
PAGES = {
    "dev": [
        "images/usrguide-p009.png",
        "images/maint-guide-p017.png",
        "images/maint-guide-p024-hard.jpg",
        "images/groff-pdfmark-p006-hard.jpg",  # the plain baseline: 11 of 14
        "images/tugboat-babelbib-p007-hard.jpg",  # 5 of 10 before character choices (duplicate$ read duplicates)
    ],
    "holdout": [
        "images/nettle-p012.png",
        "images/valgrind-manual-p036-hard.jpg",
        "images/fontconfig-user-p005-hard.jpg",
        "images/nettle-p074-small.jpg",  # the plain baseline: 5 of 9; before the reading plan: 2 of 9
        "images/bzip2-manual-p010-small.jpg",  # the plain baseline: 1 of 6; before: 0
    ],
}
FLOORS = {  # variant: (recall, precision)
    "clean": (0.95, 0.95),
    "hard": (0.93, 0.93),
    "small": (0.80, 0.80),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_recall_and_precision_on_a_few_pages_of_each_set(eval_dir, name):
    cases = {c.image: c for c in scoring.load_cases(eval_dir / name / "cases.jsonl")}
    totals: dict[str, list[int]] = {}  # variant: tp, expected, predicted
    for image in PAGES[name]:
        case = cases[image]
        report = mark_photo((eval_dir / name / image).read_bytes(), list(case.keywords), filename=image).report
        assert list(report["keywords"]) == list(case.keywords)
        for keyword in case.keywords:
            expected, predicted = case.expected[keyword], report["keywords"][keyword]["boxes"]
            t = totals.setdefault(case.variant, [0, 0, 0])
            t[0] += scoring.match(expected, predicted)
            t[1] += len(expected)
            t[2] += len(predicted)
            if case.role(keyword) == "absent":
                assert predicted == [], (image, keyword)
    for variant, (tp, expected, predicted) in totals.items():
        recall, precision = tp / expected, tp / max(1, predicted)
        floor_recall, floor_precision = FLOORS[variant]
        assert recall >= floor_recall and precision >= floor_precision, (variant, tp, expected, predicted)
