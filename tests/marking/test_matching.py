"""Keyword matching on words as OCR reads them: no OCR, no images."""

from __future__ import annotations

from marking.matching import Occurrence, match, normalise
from marking.ocr import Word


def line(
    *texts: str, y: int = 100, line_no: int = 1, confidence: float = 60.0
) -> list[Word]:
    """Words of one line, 100 px wide each with 20 px between them."""
    return [
        Word(
            text=t,
            box=(i * 120, y, i * 120 + 100, y + 30),
            confidence=confidence,
            block=1,
            par=1,
            line=line_no,
            word=i + 1,
        )
        for i, t in enumerate(texts)
    ]


def boxes(found: list[Occurrence]) -> list[tuple[int, int, int, int]]:
    return [o.box for o in found]


def test_every_keyword_is_present_in_the_order_given_even_when_absent():
    found = match(line("a", "photo"), ["zebra", "photo", "absent"])
    assert list(found) == ["zebra", "photo", "absent"]
    assert found["zebra"] == [] and found["absent"] == []
    assert len(found["photo"]) == 1


def test_matching_ignores_case():
    found = match(line("PHOTO", "Photo", "photo"), ["pHoTo"])
    assert [o.text for o in found["pHoTo"]] == ["PHOTO", "Photo", "photo"]


def test_matching_ignores_accents_and_compatibility_forms():
    # a combining acute accent, a precomposed e-acute, and the "fi" ligature
    found = match(line("re\u0301sume\u0301", "RÉSUMÉ", "\ufb01le"), ["resume", "file"])
    assert len(found["resume"]) == 2
    assert len(found["file"]) == 1
    assert normalise("Straße") == normalise("STRASSE")


def test_matching_ignores_punctuation_around_a_word_but_not_inside():
    found = match(
        line("(network,", "network.", "“network”", "network-based", "network's"),
        ["network"],
    )
    assert boxes(found["network"]) == [
        (0, 100, 100, 130),
        (120, 100, 220, 130),
        (240, 100, 340, 130),
    ]


def test_keyword_with_punctuation_around_it_matches_the_bare_word():
    assert len(match(line("photomark"), ['"photomark!"'])['"photomark!"']) == 1


def test_near_miss_words_are_not_matched():
    words = line("networks", "network-based", "unmarked", "photos", "marker", "keyword")
    found = match(words, ["network", "marked", "photo", "marks", "keywords"])
    assert all(occurrences == [] for occurrences in found.values()), found


def test_small_ocr_errors_in_a_long_word_are_tolerated():
    found = match(
        line("environrnent", "docurnentation", "transparcnt"),
        ["environment", "documentation", "transparent"],
    )
    assert {k: len(v) for k, v in found.items()} == {
        "environment": 1,
        "documentation": 1,
        "transparent": 1,
    }
    assert found["transparent"][0].text == "transparcnt"


def test_errors_are_not_tolerated_in_short_words_or_confident_readings():
    assert match(line("phcto"), ["photo"])["photo"] == []
    assert (
        match(line("transparcnt", confidence=96.0), ["transparent"])["transparent"]
        == []
    )


def test_a_word_split_in_two_by_ocr_is_found_with_the_union_box():
    found = match(line("is", "requir", "ed,", "here"), ["required"])
    assert boxes(found["required"]) == [(120, 100, 340, 130)]


def test_a_multi_word_keyword_matches_consecutive_words_with_the_union_box():
    words = line("every", "Marked", "photo.", "marked", "and", "photo") + line(
        "marked", y=200, line_no=2
    )
    found = match(words, ["marked photo"])
    assert boxes(found["marked photo"]) == [(120, 100, 340, 130)]
    assert found["marked photo"][0].text == "Marked photo."


def test_a_multi_word_keyword_does_not_span_two_lines():
    words = line("the", "marked", y=100, line_no=1) + line(
        "photo", "is", y=150, line_no=2
    )
    assert match(words, ["marked photo"])["marked photo"] == []


def test_words_are_ordered_by_their_number_on_the_line_not_by_list_order():
    words = list(reversed(line("marked", "photo")))
    assert len(match(words, ["marked photo"])["marked photo"]) == 1


def test_a_keyword_of_only_punctuation_or_blank_matches_nothing():
    found = match(line("-", "...", "word"), ["--", "  "])
    assert found == {"--": [], "  ": []}
