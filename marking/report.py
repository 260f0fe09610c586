"""The report of one marked photo, as DESIGN.md's storage layout gives it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from marking.matching import Occurrence


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
