"""The report of one marked photo, as DESIGN.md's storage layout gives it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from marking.matching import Occurrence

MAX_COUNT = 2**31 - 1


class UnreadableReport(ValueError):
    """Stored report bytes that are not a report: not JSON, or keywords without counts."""


def build_report(
    *,
    photo_id: str,
    filename: str,
    size: tuple[int, int],
    matches: Mapping[str, Sequence[Occurrence]],
    engine: dict,
    seconds: float,
) -> dict:
    """``{"id", "filename", "width", "height", "keywords": {kw: {"count",
    "boxes", "texts"}}, "engine", "seconds"}``: every keyword of ``matches`` in
    its order, a keyword not found with count 0; boxes [x0, y0, x1, y1] in
    pixels of the upright photo, x1 and y1 exclusive.  JSON-ready."""
    width, height = size
    return {
        "id": photo_id,
        "filename": filename,
        "width": width,
        "height": height,
        "keywords": {
            keyword: {
                "count": len(occurrences),
                "boxes": [[int(v) for v in o.box] for o in occurrences],
                "texts": [o.text for o in occurrences],
            }
            for keyword, occurrences in matches.items()
        },
        "engine": dict(engine),
        "seconds": round(seconds, 3),
    }


def counts_of(report: bytes | Mapping[str, Any]) -> dict[str, int]:
    """``{keyword: count}`` of a report (a dict, or its stored JSON bytes), in
    its keywords' order.  Raises ``UnreadableReport`` when it is not a report
    whose every keyword has a count (a non-negative integer)."""
    if isinstance(report, (bytes, bytearray)):
        try:
            report = json.loads(report)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise UnreadableReport(f"the report is not JSON: {error}") from None
    if not isinstance(report, Mapping) or not isinstance(report.get("keywords", {}), Mapping):
        raise UnreadableReport("the report is not an object with a 'keywords' object")
    counts = {}
    for keyword, found in report.get("keywords", {}).items():
        count = found.get("count") if isinstance(found, Mapping) else None
        if not keyword or isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
            raise UnreadableReport(f"keyword {str(keyword)[:40]!r} of the report has no count")
        counts[keyword] = count
    return counts
