"""Score keyword boxes against an evaluation set: pure functions but the two loaders.

The conventions are those of ``tests/data/eval/README.md``.  An evaluation set
is a ``cases.jsonl`` (one page per line: its keywords, their roles, the
expected boxes); predictions are one JSON object per page, named after the
page's image (``images/x-p012.png`` -> ``x-p012.json``), mapping a keyword to
its boxes ``[x0, y0, x1, y1]`` (x1, y1 exclusive).  A missing file or keyword
means no boxes.  A predicted and an expected box of the same keyword match
when their IoU is at least 0.5, each box at most once, the pairs taken
greedily from the highest IoU down.  Reported: micro recall, precision and F1
overall (``ALL``), per variant (``variant=clean``) and per keyword role
(``role=rare``).

The figures are those of the reference scorer the set was published with
(``tests/marking/test_scoring.py`` pins them on recorded predictions), down to
its choices where the conventions are silent: a prediction under the
keyword's exact spelling wins over one under another case, a malformed box
is dropped, and IoU ties are taken later expected box first.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

Box = tuple[float, float, float, float]

IOU_THRESHOLD = 0.5
ALL = "ALL"

_EDGE_NON_ALPHANUMERIC = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass(frozen=True)
class Case:
    """One page of an evaluation set, as a line of ``cases.jsonl`` gives it."""

    image: str  # relative to the set's directory: "images/x-p012.png"
    variant: str  # "clean" or "hard" ("?" when the line says nothing)
    keywords: tuple[str, ...]
    roles: Mapping[str, str]  # keyword -> common, rare, capitalized, punct, absent
    expected: Mapping[str, tuple[Box, ...]]

    @property
    def stem(self) -> str:
        """The name of the page's prediction file, without ``.json``."""
        return PurePosixPath(self.image).stem

    def role(self, keyword: str) -> str:
        return self.roles.get(keyword, "?")

    @classmethod
    def decode(cls, line: Mapping) -> Case:
        return cls(
            image=line["image"],
            variant=line.get("variant", "?"),
            keywords=tuple(line["keywords"]),
            roles=dict(line.get("keyword_roles", {})),
            expected={k: tuple(tuple(b) for b in boxes) for k, boxes in line["expected"].items()},
        )


@dataclass(frozen=True)
class KeywordScore:
    """How the boxes of one keyword on one page fared."""

    image: str
    keyword: str
    role: str
    variant: str
    matched: int  # true positives
    expected: int
    predicted: int


@dataclass(frozen=True)
class Tally:
    """Micro counts of a group of keyword scores, and the rates they give
    (``None`` where the rate divides by zero: no expected box for recall,
    no predicted box for precision, neither for F1)."""

    keywords: int
    matched: int
    expected: int
    predicted: int

    @property
    def recall(self) -> float | None:
        return self.matched / self.expected if self.expected else None

    @property
    def precision(self) -> float | None:
        return self.matched / self.predicted if self.predicted else None

    @property
    def f1(self) -> float | None:
        total = self.expected + self.predicted
        return 2 * self.matched / total if total else None


@dataclass(frozen=True)
class Scores:
    """The scores of a set of predictions: per keyword, and summed per group."""

    per_keyword: tuple[KeywordScore, ...]
    groups: Mapping[str, Tally]  # ALL, then variant=..., then role=..., each sorted
    missing_predictions: int  # pages with no prediction file


def normalise_word(text: str) -> str:
    """A printed word as the evaluation sets count it: NFKC, lowercased,
    non-alphanumeric characters stripped from both ends (``(Network,`` ->
    ``network``; ``network's`` stays itself).  An occurrence of a keyword is
    a word whose normalised text equals the lowercased keyword."""
    return _EDGE_NON_ALPHANUMERIC.sub("", unicodedata.normalize("NFKC", text).lower())


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(
    expected: Sequence[Sequence[float]], predicted: Sequence[Sequence[float]], threshold: float = IOU_THRESHOLD
) -> int:
    """How many predicted boxes match an expected one: pairs with IoU >=
    ``threshold``, one-to-one, taken greedily by IoU, highest first (ties:
    the later expected box, then the later predicted box, first)."""
    pairs = sorted(((iou(e, p), i, j) for i, e in enumerate(expected) for j, p in enumerate(predicted)), reverse=True)
    used_expected: set[int] = set()
    used_predicted: set[int] = set()
    for value, i, j in pairs:
        if value < threshold:
            break
        if i in used_expected or j in used_predicted:
            continue
        used_expected.add(i)
        used_predicted.add(j)
    return len(used_expected)


def is_box(value: object) -> bool:
    """Four numbers; anything else in a prediction is dropped, not an error."""
    return isinstance(value, (list, tuple)) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)


def predicted_boxes(prediction: Mapping[str, object], keyword: str) -> list[Sequence[float]]:
    """The boxes a page's prediction gives ``keyword``: under its exact
    spelling, else under any spelling equal to it ignoring case (the last such
    key of the prediction); malformed boxes dropped."""
    if keyword in prediction:
        boxes = prediction[keyword]
    else:
        by_lower = {k.lower(): v for k, v in prediction.items()}
        boxes = by_lower.get(keyword.lower(), [])
    if not isinstance(boxes, (list, tuple)):
        return []
    return [b for b in boxes if is_box(b)]


def score_case(
    case: Case, prediction: Mapping[str, object] | None, threshold: float = IOU_THRESHOLD
) -> list[KeywordScore]:
    """The score of every keyword of one page (``prediction`` None: no file)."""
    prediction = prediction or {}
    scores = []
    for keyword in case.keywords:
        expected = case.expected.get(keyword, ())
        predicted = predicted_boxes(prediction, keyword)
        scores.append(
            KeywordScore(
                case.image,
                keyword,
                case.role(keyword),
                case.variant,
                match(expected, predicted, threshold),
                len(expected),
                len(predicted),
            )
        )
    return scores


def tally(scores: Iterable[KeywordScore]) -> Tally:
    scores = list(scores)
    return Tally(
        len(scores), sum(s.matched for s in scores), sum(s.expected for s in scores), sum(s.predicted for s in scores)
    )


def group_tallies(scores: Sequence[KeywordScore]) -> dict[str, Tally]:
    """``ALL``, then each ``variant=...``, then each ``role=...``, in that
    order, variants and roles sorted by name."""
    groups = {ALL: tally(scores)}
    for variant in sorted({s.variant for s in scores}):
        groups[f"variant={variant}"] = tally(s for s in scores if s.variant == variant)
    for role in sorted({s.role for s in scores}):
        groups[f"role={role}"] = tally(s for s in scores if s.role == role)
    return groups


def score(
    cases: Sequence[Case], predictions: Mapping[str, Mapping[str, object] | None], threshold: float = IOU_THRESHOLD
) -> Scores:
    """Score ``predictions`` (by page stem; a page absent or None has no
    prediction file) against ``cases``."""
    per_keyword = [s for case in cases for s in score_case(case, predictions.get(case.stem), threshold)]
    missing = sum(1 for case in cases if predictions.get(case.stem) is None)
    return Scores(tuple(per_keyword), group_tallies(per_keyword), missing)


# -- the two loaders --


def load_cases(path: Path) -> list[Case]:
    """The pages of a ``cases.jsonl`` file, in file order."""
    return [Case.decode(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]


def load_prediction(pred_dir: Path, case: Case) -> dict | None:
    """The prediction file of ``case`` in ``pred_dir``, or None if there is none."""
    path = Path(pred_dir) / f"{case.stem}.json"
    if not path.exists():
        return None
    prediction = json.loads(path.read_text())
    if not isinstance(prediction, dict):
        raise ValueError(f"{path}: expected a JSON object")  # noqa: TRY004 - bad file content, not a bad argument
    return prediction


def score_files(cases: Sequence[Case], pred_dir: Path, threshold: float = IOU_THRESHOLD) -> Scores:
    """Score the prediction files of ``pred_dir`` against ``cases``."""
    return score(cases, {case.stem: load_prediction(pred_dir, case) for case in cases}, threshold)
