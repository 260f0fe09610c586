#!/usr/bin/env python3
"""Build an evaluation set in the dev set's format from the manifest beside this file (``holdout.toml``).

For each page of the manifest: render it with poppler at the variant's dpi, read its words and their boxes, shrink
every box to its ink, pick the page's five keywords (``truth.pick_keywords``, with the page's seed), and write the
image (a clean PNG, or a simulated phone photo as JPEG, ``phone.simulate``) and one line of ``cases.jsonl`` with
the expected box of every occurrence.  Before writing, checks that each keyword's boxes are as many as the words of
the page that normalise to it, that absent keywords have none and the others at least one, and that every box lies
inside its image.  The same manifest on the same poppler, Pillow and numpy gives the same bytes.

usage: python -m bench.evalset.build [--manifest FILE] --out tests/data/eval/holdout
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402 - after the path is set
import structlog  # noqa: E402

from bench.evalset import pdf, phone, truth  # noqa: E402
from marking.scoring import normalise_word  # noqa: E402

CLEAN_DPI = 150
VARIANTS = ("clean", "hard", "small")
MANIFEST = Path(__file__).with_name("holdout.toml")

log = structlog.get_logger()


@dataclass(frozen=True)
class PageEntry:
    """One page of the manifest, with its document's provenance."""

    name: str  # short document name, the image's prefix
    package: str
    version: str
    path: Path
    license: str
    page: int
    variant: str
    seed: int

    @property
    def source(self) -> str:
        return f"Debian package {self.package} {self.version}: {self.path}, page {self.page}"

    @property
    def image(self) -> str:
        suffix = ".png" if self.variant == "clean" else f"-{self.variant}.jpg"
        return f"images/{self.name}-p{self.page:03d}{suffix}"


@dataclass(frozen=True)
class BuiltPage:
    """A page ready to write: its ``cases.jsonl`` line and its image's bytes."""

    case: dict
    image_bytes: bytes


def read_manifest(path: Path) -> list[PageEntry]:
    """The pages of a manifest, in its order; a bad variant or a repeated image is an error."""
    data = tomllib.loads(Path(path).read_text())
    entries = []
    for document in data["document"]:
        for page in document["pages"]:
            entry = PageEntry(
                name=document["name"],
                package=document["package"],
                version=document["version"],
                path=Path(document["path"]),
                license=document["license"],
                page=int(page["page"]),
                variant=page["variant"],
                seed=int(page["seed"]),
            )
            if entry.variant not in VARIANTS:
                raise ValueError(f"{entry.source}: unknown variant {entry.variant!r}")
            entries.append(entry)
    images = [e.image for e in entries]
    if len(set(images)) != len(images):
        raise ValueError("the manifest names an image twice")
    return entries


def png_bytes(image) -> bytes:
    """A PNG with no metadata (Pillow writes no time chunk unless asked), fixed compression."""
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=9)
    return out.getvalue()


def build_page(entry: PageEntry, plain: Path, document_words: list[str]) -> BuiltPage:
    """One page's line and image, checked."""
    dpi = CLEAN_DPI if entry.variant == "clean" else phone.page_dpi(entry.variant, entry.seed)
    rendering = pdf.render_page(plain, entry.page, dpi)
    words = pdf.page_words(plain, entry.page, dpi)
    gray = np.asarray(rendering.convert("L"))
    inks = [truth.ink_points(gray, word.box) for word in words]
    uninked = {normalise_word(w.text) for w, ink in zip(words, inks, strict=True) if not len(ink)}
    roles = truth.pick_keywords(words, document_words, entry.seed, excluded=uninked)

    if entry.variant == "clean":
        image_bytes, size, simulation = png_bytes(rendering), rendering.size, None

        def box_of(index: int) -> list[int]:
            return list(truth.ink_box(gray, words[index].box))
    else:
        photo = phone.simulate(rendering, entry.seed, entry.variant)
        image_bytes, size, simulation = photo.jpeg, photo.size, photo.simulation.record()

        def box_of(index: int) -> list[int]:
            return phone.mapped_box(photo.homography, inks[index], photo.size)

    expected = {keyword: [box_of(i) for i in truth.occurrences(words, keyword)] for keyword in roles}
    case = {
        "image": entry.image,
        "source": entry.source,
        "license": entry.license,
        "variant": entry.variant,
        "dpi": dpi,
        "keywords": list(roles),
        "keyword_roles": roles,
        "expected": expected,
    }
    if simulation is not None:
        case["simulation"] = simulation
    check_case(case, [w.text for w in words], size)
    return BuiltPage(case, image_bytes)


def check_case(case: dict, page_words: list[str], size: tuple[int, int]) -> None:
    """Raises ValueError unless the page's expected boxes agree with its words (see the module's docstring)."""
    width, height = size
    counts: dict[str, int] = {}
    for text in page_words:
        form = normalise_word(text)
        counts[form] = counts.get(form, 0) + 1
    for keyword, role in case["keyword_roles"].items():
        boxes = case["expected"][keyword]
        if len(boxes) != counts.get(keyword.lower(), 0):
            raise ValueError(f"{case['image']}: {keyword!r} has {len(boxes)} boxes for {counts.get(keyword.lower())}")
        if (role == "absent") != (not boxes):
            raise ValueError(f"{case['image']}: the {role} keyword {keyword!r} has {len(boxes)} boxes")
        for x0, y0, x1, y1 in boxes:
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise ValueError(f"{case['image']}: box {[x0, y0, x1, y1]} of {keyword!r} outside {size}")


def build(entries: list[PageEntry]) -> list[BuiltPage]:
    """Every page of ``entries``, each document opened (and gunzipped) once."""
    built: dict[int, BuiltPage] = {}
    for path in dict.fromkeys(e.path for e in entries):
        with pdf.plain_pdf(path) as plain:
            document_words = pdf.document_text(plain).split()
            for index, entry in enumerate(entries):
                if entry.path == path:
                    built[index] = build_page(entry, plain, document_words)
                    log.info("page built", image=entry.image, keywords=built[index].case["keywords"])
    return [built[i] for i in range(len(entries))]


def write(pages: list[BuiltPage], out: Path) -> None:
    """``out/images/`` (emptied of older images first) and ``out/cases.jsonl``."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.iterdir():
        if old.suffix in (".png", ".jpg"):
            old.unlink()
    for page in pages:
        (out / page.case["image"]).write_bytes(page.image_bytes)
    (out / "cases.jsonl").write_text("".join(json.dumps(page.case) + "\n" for page in pages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=f"default: {MANIFEST.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, required=True, help="the set's directory (tests/data/eval/holdout)")
    args = parser.parse_args()
    pages = build(read_manifest(args.manifest))
    write(pages, args.out)
    log.info("set written", out=str(args.out), pages=len(pages))


if __name__ == "__main__":
    main()
