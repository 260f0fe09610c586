"""The ground truth of a page: pure decisions, no poppler, no files.

Two jobs, both by the conventions of ``tests/data/eval/README.md``:

- ``ink_box``/``ink_points``: a word's box as the PDF's text layer gives it spans the font's ascent and descent and
  the advance of its last letter; Tesseract boxes the ink.  So each box is shrunk to the pixels actually darker
  than a threshold inside it, on the clean rendering.
- ``pick_keywords``: the five keywords of a page, one per role (common, rare, capitalized, punct, absent), drawn
  with ``random.Random(seed)`` from sorted candidates so that a seed always gives the same words.  An occurrence is a
  word that normalises to the keyword (``marking.scoring.normalise_word``); a keyword is never a word that also
  appears on its page inside a compound (``network-based``), with an apostrophe (``network's``), or in a word
  hyphenated or split across a line end, so that the count of occurrences is what a careful reader would count.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from marking.scoring import normalise_word

ROLES = ("common", "rare", "capitalized", "punct", "absent")
MIN_LETTERS = 4
INK_THRESHOLD = 170  # a pixel is ink when its grey level (0 black, 255 white) is below this
INK_REACH = 0.5  # how far ink may stick out of a word's box, in box heights

STOP_WORDS = frozenset(
    """
    about above after again against also although among another because been before being below between both
    cannot could does doing down during each either else even ever every from further have having here hers
    herself himself however into itself just least less more most much must neither never none nothing often only
    other others ours ourselves over same shall should since some such than that their theirs them themselves then
    there therefore these they this those though through thus under until upon very want what whatever when where
    whether which while whom whose will with within without would your yours yourself yourselves also always
    already almost anyone anything cannot many make made makes like well still used uses using instead rather
    """.split()
)

_PARTS = re.compile(r"[\W_]+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


class PrintedWord(Protocol):
    """What the picker needs of a word of the page (``bench.evalset.pdf.Word`` has it)."""

    text: str
    hyphenated: bool  # ends its line with a hyphen


# -- ink --


def _pixel_window(shape: tuple[int, ...], box: Sequence[float]) -> tuple[int, int, int, int]:
    """The whole pixels a box touches, clipped to an image of ``shape`` (rows, columns)."""
    height, width = shape[0], shape[1]
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    return x0, y0, x1, y1


def _grow_within(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Every pixel of ``mask`` 8-connected through ``mask`` to a pixel of ``seed`` (a morphological
    reconstruction by repeated 3 x 3 dilation, enough for the few pixels a glyph reaches)."""
    grown = seed & mask
    while True:
        padded = np.pad(grown, 1)
        dilated = np.zeros_like(grown)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                dilated |= padded[dy : dy + grown.shape[0], dx : dx + grown.shape[1]]
        dilated &= mask
        if np.array_equal(dilated, grown):
            return grown
        grown = dilated


def ink_points(
    gray: np.ndarray, box: Sequence[float], threshold: int = INK_THRESHOLD, reach: float = INK_REACH
) -> np.ndarray:
    """The ink pixels of the word boxed by ``box`` in the grey image ``gray`` (rows, columns), as an (N, 2) array of
    (x, y): the pixels darker than ``threshold`` inside the box, and those connected to them within ``reach`` times
    the box's height around it.  The text layer's box spans the font's nominal height, so descenders, a comma's tail
    or an italic overhang stick out of it; glyphs of the lines above and below, which do not touch it, stay out."""
    x0, y0, x1, y1 = _pixel_window(gray.shape, box)
    margin = int(np.ceil(reach * (box[3] - box[1])))
    wx0, wy0, wx1, wy1 = _pixel_window(gray.shape, (x0 - margin, y0 - margin, x1 + margin, y1 + margin))
    mask = gray[wy0:wy1, wx0:wx1] < threshold
    seed = np.zeros_like(mask)
    seed[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = True
    ys, xs = np.nonzero(_grow_within(seed, mask))
    return np.stack([xs + wx0, ys + wy0], axis=1)


def ink_box(gray: np.ndarray, box: Sequence[float], threshold: int = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """``box`` fitted to its word's ink (``ink_points``): the smallest box of whole pixels (x1, y1 exclusive) holding
    every ink pixel of the word; None when the box holds no ink (a word printed in white)."""
    points = ink_points(gray, box, threshold)
    if not len(points):
        return None
    return (
        int(points[:, 0].min()),
        int(points[:, 1].min()),
        int(points[:, 0].max()) + 1,
        int(points[:, 1].max()) + 1,
    )


# -- keywords --


def _lower(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def parts_of(text: str) -> list[str]:
    """The alphanumeric runs of a printed word, lowercased: ``network-based,`` -> ``["network", "based"]``."""
    return [p for p in _PARTS.split(_lower(text)) if p]


def split_or_compound(words: Sequence[PrintedWord]) -> set[str]:
    """Every word form of the page that a keyword must not be, because some occurrence of it would be ambiguous:
    the parts of a word with punctuation inside it (a compound, an apostrophe, a path), both halves of a word
    hyphenated at a line end, and the word they join into."""
    tainted: set[str] = set()
    for index, word in enumerate(words):
        parts = parts_of(word.text)
        if len(parts) > 1:
            tainted.update(parts)
        if word.hyphenated:
            tainted.update(parts)
            if index + 1 < len(words):
                after = parts_of(words[index + 1].text)
                tainted.update(after)
                if parts and after:
                    tainted.add(parts[-1] + after[0])
    return tainted


def is_content_word(form: str) -> bool:
    """A keyword candidate: plain ASCII letters, at least ``MIN_LETTERS`` of them, not a stop word."""
    return form.isascii() and form.isalpha() and len(form) >= MIN_LETTERS and form not in STOP_WORDS


def occurrences(words: Sequence[PrintedWord], keyword: str) -> list[int]:
    """The indices of the words of the page that are occurrences of ``keyword`` (ignoring case)."""
    target = keyword.lower()
    return [i for i, word in enumerate(words) if normalise_word(word.text) == target]


def _core(text: str) -> str:
    """The printed word without the punctuation at its two ends, case kept."""
    return _EDGES.sub("", unicodedata.normalize("NFKC", text))


def _is_capitalized(core: str) -> bool:
    return len(core) > 1 and core[0].isupper() and core[1:].islower()


def pick_keywords(
    words: Sequence[PrintedWord],
    document_words: Iterable[str],
    seed: int,
    excluded: Iterable[str] = (),
) -> dict[str, str]:
    """The page's five keywords, keyword -> role, in the order of ``ROLES``.

    ``words`` are the page's printed words in reading order, ``document_words`` every word of the whole document
    (where the absent keyword comes from), ``excluded`` word forms never to pick (a word printed without ink, say).
    Raises ValueError when the page has no candidate for a role."""
    rng = random.Random(seed)
    forms = [normalise_word(w.text) for w in words]
    counts = Counter(forms)
    banned = split_or_compound(words) | {e.lower() for e in excluded}
    candidates = sorted(f for f in counts if is_content_word(f) and f not in banned)
    picked: dict[str, str] = {}
    taken: set[str] = set()

    def choose(role: str, pool: Iterable[str]) -> str:
        pool = sorted(set(pool) - taken)
        if not pool:
            raise ValueError(f"no candidate for the {role} keyword")
        choice = rng.choice(pool)
        taken.add(choice.lower())
        return choice

    common = [f for f in candidates if counts[f] >= 3] or [f for f in candidates if counts[f] == 2]
    picked[choose("common", common)] = "common"
    picked[choose("rare", [f for f in candidates if counts[f] == 1])] = "rare"

    printed_capitalized = {}
    for word, form in zip(words, forms, strict=True):
        core = _core(word.text)
        if form in candidates and _is_capitalized(core):
            printed_capitalized.setdefault(form, core)
    form = choose("capitalized", printed_capitalized)
    picked[printed_capitalized[form]] = "capitalized"

    punctuated = {
        form
        for word, form in zip(words, forms, strict=True)
        if form in candidates and _core(word.text) != unicodedata.normalize("NFKC", word.text)
    }
    picked[choose("punct", punctuated)] = "punct"

    page_text = [_lower(w.text) for w in words]
    absent = {
        f
        for f in (normalise_word(t) for t in document_words)
        if is_content_word(f) and f not in counts and f not in banned and not any(f in t for t in page_text)
    }
    picked[choose("absent", absent)] = "absent"
    return picked
