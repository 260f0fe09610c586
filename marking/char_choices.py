"""Tesseract's second guesses, character by character: read from the hOCR it
writes with ``lstm_choice_mode=2`` and ``hocr_char_boxes=1``.  Pure
functions, no Tesseract.

Where OCR hesitates between look-alike glyphs, its best reading is often a
word and its second guess the word that was printed: in a typewriter font
``duplicate$`` is read ``duplicates`` with ``$`` a close second for the
last letter; on a blurred small page ``imaging`` has ``e`` close behind
the ``g``.  Matching (``marking/matching.py``) may take such a second guess
when it makes the word exactly a keyword.

The hOCR of a word, with those settings, lists each character as a span
(its box and confidence) followed by a span of its choices, best first::

    <span class='ocrx_word' title='bbox 0 0 125 49; x_wconf 90'>
      <span class='ocrx_cinfo' title='x_bboxes 0 0 13 36; x_conf 99.5'>s</span>
      <span class='ocrx_cinfo' id='lstm_choices_1_1_10'>
        <span class='ocrx_cinfo' id='choice_1_1_55' title='x_confs 94.3'>s</span>
        <span class='ocrx_cinfo' id='choice_1_1_56' title='x_confs 71.6'>$</span>
      </span>
      ...
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

Box = tuple[int, int, int, int]
# Per character of a word: the character read, then its other choices, each
# (character, confidence 0-100).
Choices = tuple[tuple[tuple[str, float], ...], ...]

_BBOX = re.compile(r"bbox (-?\d+) (-?\d+) (-?\d+) (-?\d+)")
_CONF = re.compile(r"x_confs? ([-\d.]+)")
_XHTML = "{http://www.w3.org/1999/xhtml}"


def parse_hocr(hocr: str) -> dict[Box, tuple[str, Choices]]:
    """Every word of ``hocr`` by its box (x0, y0, x1, y1 in the read image's
    pixels): its text as the characters spell it, and each character's
    choices.  A word without character spans, or an hOCR that is not well
    formed, gives nothing (the words are still read from the TSV; they only
    lose their second guesses)."""
    try:
        root = ET.fromstring(hocr)
    except ET.ParseError:
        return {}
    words: dict[Box, tuple[str, Choices]] = {}
    for span in root.iter(f"{_XHTML}span"):
        if span.get("class") != "ocrx_word":
            continue
        box = _BBOX.search(span.get("title", ""))
        if box is None:
            continue
        text, choices = _characters(span)
        if text:
            words[(int(box[1]), int(box[2]), int(box[3]), int(box[4]))] = (text, choices)
    return words


def _characters(word: ET.Element) -> tuple[str, Choices]:
    text: list[str] = []
    choices: list[tuple[tuple[str, float], ...]] = []
    for child in word:
        if child.get("class") != "ocrx_cinfo":
            continue
        if (child.get("id") or "").startswith("lstm_choices"):
            if choices:  # the other choices of the character just read, after it
                read = choices[-1][0]
                others = (c for c in map(_choice, child) if c is not None and c[0] != read[0])
                choices[-1] = (read, *others)
            continue
        character = child.text or ""
        if not character:
            continue
        conf = _CONF.search(child.get("title", ""))
        text.append(character)
        choices.append(((character, float(conf[1]) if conf else 0.0),))
    return "".join(text), tuple(choices)


def _choice(span: ET.Element) -> tuple[str, float] | None:
    conf = _CONF.search(span.get("title", ""))
    if conf is None or not span.text:
        return None
    return (span.text, float(conf[1]))


def second_guesses(choices: Choices, floor: float) -> list[str]:
    """The readings of a word that swap one character for one of its other
    choices of at least ``floor`` confidence, most confident swap first."""
    if not all(choices):
        return []
    best = [c[0][0] for c in choices]  # the characters read
    swaps = [
        (confidence, i, alternative)
        for i, character_choices in enumerate(choices)
        for alternative, confidence in character_choices[1:]
        if confidence >= floor and alternative != best[i]
    ]
    swaps.sort(key=lambda s: (-s[0], s[1]))
    return ["".join(best[:i]) + alternative + "".join(best[i + 1 :]) for _, i, alternative in swaps]


def choices_for(text: str, box: Box, words: Mapping[Box, tuple[str, Choices]]) -> Choices:
    """The choices of the TSV word ``text`` at ``box``, when the hOCR has a
    word there spelt the same (else none)."""
    found = words.get(box)
    if found is None or found[0] != text:
        return ()
    return found[1]
