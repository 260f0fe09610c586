"""One page of a PDF as poppler sees it: its rendering at a dpi and its printed words with their boxes.

``pdftoppm`` renders (``-r DPI -f N -l N -png``), ``pdftotext -bbox-layout`` gives the words with their boxes in
PDF points, line by line (XHTML, parsed here with ``xml.etree``); the boxes are converted to pixels of the rendering
at the same dpi.  A gzipped PDF (``.pdf.gz``, as Debian ships many manuals) is gunzipped to a temporary file first.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

POINTS_PER_INCH = 72.0
GLUE_GAP = 0.1  # words closer than this (in line heights) were printed without a space between them
_XHTML = "{http://www.w3.org/1999/xhtml}"


@dataclass(frozen=True)
class Word:
    """A printed word of a page, as ``pdftotext`` splits them (at spaces)."""

    text: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the rendering (x1, y1 exclusive)
    line: int  # the index of its line on the page, in reading order
    ends_line: bool  # the last word of its line
    hyphenated: bool  # ends its line with a hyphen: a word split across lines (or a compound broken there)


@contextmanager
def plain_pdf(path: Path) -> Iterator[Path]:
    """``path`` itself, or for a ``.gz`` file a temporary gunzipped copy, removed on exit."""
    path = Path(path)
    if path.suffix != ".gz":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="photomark-evalset-") as tmp:
        plain = Path(tmp) / path.stem
        with gzip.open(path, "rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        yield plain


def render_page(pdf: Path, page: int, dpi: int) -> Image.Image:
    """Page ``page`` (1-based) of ``pdf`` rendered at ``dpi``, RGB."""
    done = subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", str(pdf)],
        capture_output=True,
        check=True,
    )
    image = Image.open(io.BytesIO(done.stdout))
    image.load()
    return image.convert("RGB")


def bbox_layout(pdf: Path, first: int, last: int | None = None) -> str:
    """``pdftotext -bbox-layout`` of pages ``first`` to ``last`` (default: that one page), as XHTML text."""
    last = first if last is None else last
    done = subprocess.run(
        ["pdftotext", "-bbox-layout", "-f", str(first), "-l", str(last), str(pdf), "-"],
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("utf-8")


def page_words(pdf: Path, page: int, dpi: int) -> list[Word]:
    """The words of page ``page`` of ``pdf``, boxes in pixels of its rendering at ``dpi``."""
    pages = words_of_layout(bbox_layout(pdf, page), dpi)
    return pages[0] if pages else []


def document_text(pdf: Path) -> str:
    """The whole document's text (``pdftotext``, reading order): where absent keywords are drawn from."""
    done = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def page_count(pdf: Path) -> int:
    """How many pages ``pdf`` has (``pdfinfo``)."""
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise ValueError(f"{pdf}: pdfinfo gives no page count")


def words_of_layout(xhtml: str, dpi: int) -> list[list[Word]]:
    """The words of each page of a ``pdftotext -bbox-layout`` output, boxes scaled from points to pixels at
    ``dpi``; within a page in reading order (flow, block, line, word).  Pure: the parsing half of ``page_words``."""
    scale = dpi / POINTS_PER_INCH
    root = ET.fromstring(xhtml)
    pages = []
    for page in root.iter(f"{_XHTML}page"):
        words: list[Word] = []
        for index, line in enumerate(page.iter(f"{_XHTML}line")):
            printed = _glued(
                [
                    (w.text.strip(), tuple(float(w.get(k)) * scale for k in ("xMin", "yMin", "xMax", "yMax")))
                    for w in line.iter(f"{_XHTML}word")
                    if (w.text or "").strip()
                ]
            )
            for position, (text, box) in enumerate(printed):
                last = position == len(printed) - 1
                words.append(Word(text, box, index, last, last and len(text) > 1 and text.endswith("-")))
        pages.append(words)
    return pages


def _glued(words: list[tuple[str, tuple[float, ...]]]) -> list[tuple[str, tuple[float, ...]]]:
    """A line's words with those printed without a space between them joined into one: ``pdftotext`` splits a word
    where the font changes (``<hash value>-<arch>``: ``value>`` in one font, ``-<arch>`` in another), but a reader,
    and Tesseract, see one whitespace-separated word."""
    joined: list[tuple[str, tuple[float, ...]]] = []
    for text, box in words:
        if joined:
            before, (x0, y0, x1, y1) = joined[-1]
            if box[0] - x1 < GLUE_GAP * (y1 - y0):
                joined[-1] = (before + text, (x0, min(y0, box[1]), max(x1, box[2]), max(y1, box[3])))
                continue
        joined.append((text, box))
    return joined
