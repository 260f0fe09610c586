#!/usr/bin/env python3
"""Marking quality against the plain baseline, measured in the same run.

For every page of an evaluation set (default ``tests/data/eval/dev``), runs
the plain baseline (one ``image_to_data`` call on the file, words whose
normalised text equals the keyword, as the evaluation conventions count an
occurrence) and photomark's marker (``marking``: decoding, preprocessing, one
``image_to_data`` call, matching, drawing, PNG), one after the other on the
same page so both see the same machine load.  Writes both predictions in the
scorer's format, scores them with ``marking.scoring`` (greedy one-to-one
matching at IoU >= 0.5) and prints recall, precision and F1 overall, per
variant and per keyword role, and seconds per page, side by side.

usage: python bench/quality.py [--eval-dir DIR] [--set dev|holdout|PATH] [--limit N] [--keep DIR]
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"  # as the baseline's reference and the marker: one core per OCR

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytesseract  # noqa: E402 - after the path is set

from marking import decode_photo, draw_marks, match, read_words, scoring  # noqa: E402
from marking.drawing import to_png  # noqa: E402
from marking.ocr import DEFAULT_SETTINGS, engine_info  # noqa: E402


def default_eval_dir() -> Path:
    return Path(os.environ.get("PHOTOMARK_EVAL_DIR", ROOT / "tests" / "data" / "eval"))


def set_directory(eval_dir: Path, name_or_path: str) -> Path:
    """The directory of an evaluation set: ``name_or_path`` inside ``eval_dir``
    when it is a set's name there, else the path itself; it must hold a
    ``cases.jsonl``."""
    candidates = list(dict.fromkeys((eval_dir / name_or_path, Path(name_or_path))))  # one, for an absolute path
    for candidate in candidates:
        if (candidate / "cases.jsonl").is_file():
            return candidate
    where = " or ".join(str(c) for c in candidates)
    raise SystemExit(f"no evaluation set {name_or_path!r}: no cases.jsonl in {where}")


def baseline_predict(path: Path, keywords: list[str]) -> dict:
    """What the plain baseline predicts for one page: one ``image_to_data``
    call (eng, default page segmentation), and every word whose normalised
    text equals a keyword, boxed as Tesseract boxed it."""
    data = pytesseract.image_to_data(str(path), lang="eng", output_type=pytesseract.Output.DICT)
    want = {k.lower(): k for k in keywords}
    pred = {k: [] for k in keywords}
    for text, x, y, w, h in zip(data["text"], data["left"], data["top"], data["width"], data["height"], strict=True):
        k = want.get(scoring.normalise_word(text or ""))
        if k is not None:
            pred[k].append([x, y, x + w, y + h])
    return pred


def marker_predict(path: Path, keywords: list[str]) -> tuple[dict, float]:
    """What photomark's marker finds on one page, and the seconds of OCR
    (preprocessing and the image_to_data call) alone."""
    image = decode_photo(path.read_bytes())
    started = time.perf_counter()
    words = read_words(image)
    ocr_seconds = time.perf_counter() - started
    matches = match(words, keywords)
    marked = draw_marks(image, matches)
    to_png(marked)  # the marked photo is part of the job
    return {k: [list(o.box) for o in v] for k, v in matches.items()}, ocr_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=default_eval_dir(),
        help="default: $PHOTOMARK_EVAL_DIR or tests/data/eval",
    )
    parser.add_argument(
        "--set",
        default="dev",
        help="the evaluation set: a name inside --eval-dir (dev, holdout), or the path of any directory"
        " holding a cases.jsonl in the dev format (default dev)",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages")
    parser.add_argument(
        "--keep",
        type=Path,
        help="write the predictions here (default: a temporary directory)",
    )
    args = parser.parse_args()

    set_dir = set_directory(args.eval_dir, args.set)
    cases = scoring.load_cases(set_dir / "cases.jsonl")
    if args.limit:
        cases = cases[: args.limit]
    out = args.keep or Path(tempfile.mkdtemp(prefix="photomark-quality-"))

    dirs = {"baseline": out / "baseline", "photomark": out / "photomark"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, dict[str, list[float]]] = {
        "baseline": {},
        "photomark": {},
        "photomark-ocr": {},
    }
    print(
        f"{len(cases)} pages of {set_dir}; marker settings: {engine_info(DEFAULT_SETTINGS)}",
        flush=True,
    )
    for case in cases:
        path = set_dir / case.image
        stem = case.stem
        variant = case.variant
        keywords = list(case.keywords)
        started = time.perf_counter()
        pred = baseline_predict(path, keywords)
        seconds["baseline"].setdefault(variant, []).append(time.perf_counter() - started)
        (dirs["baseline"] / f"{stem}.json").write_text(json.dumps(pred))
        started = time.perf_counter()
        pred, ocr_seconds = marker_predict(path, keywords)
        seconds["photomark"].setdefault(variant, []).append(time.perf_counter() - started)
        seconds["photomark-ocr"].setdefault(variant, []).append(ocr_seconds)
        (dirs["photomark"] / f"{stem}.json").write_text(json.dumps(pred))
        base, ours = seconds["baseline"][variant][-1], seconds["photomark"][variant][-1]
        print(f"  {stem:38s} baseline {base:5.2f} s   photomark {ours:5.2f} s", flush=True)

    scores = {name: scoring.score_files(cases, d).groups for name, d in dirs.items()}
    print()
    print(f"{'':16s} {'baseline':>26s}   {'photomark':>26s}")
    print(f"{'':16s} {'recall':>8s} {'prec':>8s} {'F1':>8s}   {'recall':>8s} {'prec':>8s} {'F1':>8s}")
    groups = ["ALL"] + sorted(k for k in scores["baseline"] if k.startswith("variant="))
    groups += sorted(k for k in scores["baseline"] if k.startswith("role="))
    for group in groups:
        row = f"{group:16s}"
        for name in ("baseline", "photomark"):
            s = scores[name].get(group)
            rates = (s.recall, s.precision, s.f1) if s else (None, None, None)
            row += " " + " ".join(_fmt(r) for r in rates) + "  "
        print(row)
    print()

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    def per_page(name: str, variant: str | None = None) -> float:
        runs = seconds[name]
        return mean(runs.get(variant, []) if variant else [t for ts in runs.values() for t in ts])

    print(
        f"{'seconds/page':16s} {'baseline':>8s} {'marker':>8s} {'its OCR':>8s}"
        f" {'marker/baseline':>16s} {'OCR/baseline':>13s}"
    )
    for variant in [None, *sorted(seconds["baseline"])]:
        b, m, o = (
            per_page("baseline", variant),
            per_page("photomark", variant),
            per_page("photomark-ocr", variant),
        )
        label = "ALL" if variant is None else f"variant={variant}"
        print(f"{label:16s} {b:8.2f} {m:8.2f} {o:8.2f} {m / b if b else 0:15.2f}x {o / b if b else 0:12.2f}x")
    print(f"\npredictions: {out}")


def _fmt(value) -> str:
    return "     n/a" if value is None else f"{value:8.3f}"


if __name__ == "__main__":
    main()
