"""Find keywords among the words OCR read: pure functions, no I/O.

A word matches a keyword token when both, normalised (NFKC, casefold,
combining marks stripped) and stripped of the punctuation around them, are
equal, or, for longer tokens, when they differ by what OCR typically gets
wrong (one or two substituted characters, or a character split or merged
inside the word) and not by what a language changes (a plural ``s``, a
prefix: ``networks`` is not ``network``).  A keyword of several words matches
consecutive words of one line; its box is the union of theirs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from marking.char_choices import second_guesses
from marking.ocr import Word

Box = tuple[int, int, int, int]

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")

# Fuzzy matching: tokens at least this long may differ by one edit, at least
# FUZZY_TWO_EDITS long by two; never at the first or last character (that is
# where a language changes a word: networks, unmarked, ...).  Words OCR read
# confidently are taken as written.
FUZZY_MIN_LENGTH = 6
FUZZY_TWO_EDITS = 12
FUZZY_MAX_CONFIDENCE = 90.0
# A one-word keyword may also match two neighbours OCR split it into
# ("requir ed," for "required,"); joined exactly, or, for keywords this long,
# with the errors above (shorter ones would take "value is" for "values").
MERGE_SPLIT_WORDS = True
MERGE_FUZZY_MIN_LENGTH = 8
# A word OCR hesitated on also matches a keyword exactly equal to it with
# one character swapped for another choice of at least this confidence
# (``marking/char_choices.py``): "duplicates" with "$" a close second for
# its last letter is the printed "duplicate$".  Only exact: no error is
# forgiven on top of a swap.
SECOND_GUESS_FLOOR = 50.0


@dataclass(frozen=True)
class Occurrence:
    """One place a keyword was found: its box (x0, y0, x1, y1; x1, y1
    exclusive) and the text OCR read there."""

    box: Box
    text: str


def normalise(text: str) -> str:
    """Case- and accent-insensitive form of ``text``: NFKC, casefold, combining
    marks removed, punctuation around it stripped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return _EDGE_PUNCTUATION.sub("", unicodedata.normalize("NFC", text))


def keyword_tokens(keyword: str) -> list[str]:
    """The normalised words of a keyword (empty when it holds no letter or digit)."""
    return [t for t in (normalise(part) for part in keyword.split()) if t]


def token_matches(token: str, word: str, confidence: float = -1.0) -> bool:
    """Whether a normalised OCR ``word`` is the keyword ``token``, allowing
    OCR-like errors in longer words read without high confidence."""
    if word == token:
        return True
    if len(token) < FUZZY_MIN_LENGTH or confidence >= FUZZY_MAX_CONFIDENCE:
        return False
    if _joins_words(word) and not _joins_words(token):
        return False
    allowed = 2 if len(token) >= FUZZY_TWO_EDITS else 1
    token, word = _fold_confusions(token), _fold_confusions(word)
    if abs(len(word) - len(token)) > allowed:
        return False
    if Levenshtein.distance(token, word, score_cutoff=allowed) > allowed:
        return False
    # The ends must agree: OCR errors fall anywhere, but a different first or
    # last character is more often a different word (networks, unmarked).
    return word[0] == token[0] and word[-1] == token[-1]


# Shapes OCR confuses, folded alike on both sides before counting edits, so
# "environrnent" is one edit from "environment", not two.
_CONFUSIONS = (
    ("rn", "m"),
    ("cl", "d"),
    ("vv", "w"),
    ("0", "o"),
    ("1", "l"),
    ("|", "l"),
    ("5", "s"),
)


# What joins two words into a compound or a possessive inside a word
# ("pseudo-random", "network's"): such a word is another word than the
# keyword, however close its letters are (the evaluation conventions count
# "network-based" and a "net-" / "work" split as no "network").
_WORD_JOINERS = frozenset("-‐‑–'’")


def _joins_words(text: str) -> bool:
    return any(c in _WORD_JOINERS for c in text)


def _fold_confusions(text: str) -> str:
    for seen, meant in _CONFUSIONS:
        text = text.replace(seen, meant)
    return text


def lines(words: Iterable[Word]) -> list[list[Word]]:
    """Words grouped by line, each line in reading order."""
    by_line: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        by_line.setdefault(word.line_key, []).append(word)
    return [sorted(line, key=lambda w: w.word) for line in by_line.values()]


def union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def match(words: Iterable[Word], keywords: Sequence[str]) -> dict[str, list[Occurrence]]:
    """Every keyword (in the order given, duplicates once) with the list of its
    occurrences, in reading order; an absent keyword maps to an empty list."""
    grouped = [[(normalise(w.text), w, _second_readings(w)) for w in line] for line in lines(words)]
    found: dict[str, list[Occurrence]] = {}
    for keyword in keywords:
        if keyword in found:
            continue
        tokens = keyword_tokens(keyword)
        found[keyword] = _find(tokens, grouped) if tokens else []
    return found


Reading = tuple[str, Word, frozenset[str]]  # normalised text, the word, its normalised second readings


def _second_readings(word: Word) -> frozenset[str]:
    return frozenset(normalise(text) for text in second_guesses(word.choices, SECOND_GUESS_FLOOR))


def _find(tokens: list[str], grouped: list[list[Reading]]) -> list[Occurrence]:
    occurrences = []
    for line in grouped:
        i = 0
        while i < len(line):
            taken = _match_at(tokens, line, i)
            if taken:
                window = [w for _, w, _ in line[i : i + taken]]
                occurrences.append(
                    Occurrence(
                        box=union([w.box for w in window]),
                        text=" ".join(w.text for w in window),
                    )
                )
                i += taken  # occurrences do not overlap
            else:
                i += 1
    return occurrences


def _match_at(tokens: list[str], line: list[Reading], i: int) -> int:
    """How many words of ``line`` from ``i`` on make the keyword (0: none)."""
    n = len(tokens)
    window = line[i : i + n]
    if len(window) == n and all(
        token_matches(t, text, w.confidence) or t in seconds
        for t, (text, w, seconds) in zip(tokens, window, strict=True)
    ):
        return n
    # A single long word OCR split in two ("requir ed,", "mes ages").
    if MERGE_SPLIT_WORDS and n == 1 and len(tokens[0]) >= FUZZY_MIN_LENGTH and i + 1 < len(line):
        (_, a, _), (_, b, _) = line[i], line[i + 1]
        joined = normalise(a.text + b.text)
        # Two real words can join into a near miss ("value is" ~ "values"):
        # a shorter keyword must be joined exactly.
        confidence = min(a.confidence, b.confidence) if len(tokens[0]) >= MERGE_FUZZY_MIN_LENGTH else 100.0
        if token_matches(tokens[0], joined, confidence):
            return 2
    return 0
