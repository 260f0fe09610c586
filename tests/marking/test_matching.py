"""Keyword matching on words as OCR reads them: no OCR, no images."""

from __future__ import annotations

import pytest

from marking.matching import (
    FUZZY_MAX_CONFIDENCE,
    FUZZY_MIN_LENGTH,
    FUZZY_TWO_EDITS,
    MERGE_FUZZY_MIN_LENGTH,
    Occurrence,
    keyword_tokens,
    lines,
    match,
    normalise,
    token_matches,
    union,
)
from marking.ocr import Word


def line(*texts: str, y: int = 100, line_no: int = 1, confidence: float = 60.0) -> list[Word]:
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


def words(*pairs: tuple[str, float], y: int = 100, line_no: int = 1) -> list[Word]:
    """Words of one line like ``line``, each with its own confidence."""
    return [
        Word(text=t, box=(i * 120, y, i * 120 + 100, y + 30), confidence=c, block=1, par=1, line=line_no, word=i + 1)
        for i, (t, c) in enumerate(pairs)
    ]


def found_texts(words_read: list[Word], keyword: str) -> list[str]:
    return [o.text for o in match(words_read, [keyword])[keyword]]


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


@pytest.mark.parametrize("word", ["pseudo-random", "pseudo‐random", "pseudo–random", "pseudoran'dom", "pseudoran’dom"])
def test_a_compound_or_possessive_is_no_near_miss_of_a_keyword_without_one(word):
    # one edit apart, long enough for two, read without confidence: still another word
    assert not token_matches("pseudorandom", word, 50.0)


def test_a_keyword_with_a_hyphen_still_matches_its_near_misses():
    assert token_matches("pseudo-random", "pseudo-randorn", 50.0)


def test_errors_are_not_tolerated_in_short_words_or_confident_readings():
    assert match(line("phcto"), ["photo"])["photo"] == []
    assert match(line("transparcnt", confidence=96.0), ["transparent"])["transparent"] == []


def test_a_word_split_in_two_by_ocr_is_found_with_the_union_box():
    found = match(line("is", "requir", "ed,", "here"), ["required"])
    assert boxes(found["required"]) == [(120, 100, 340, 130)]


def test_a_multi_word_keyword_matches_consecutive_words_with_the_union_box():
    words = line("every", "Marked", "photo.", "marked", "and", "photo") + line("marked", y=200, line_no=2)
    found = match(words, ["marked photo"])
    assert boxes(found["marked photo"]) == [(120, 100, 340, 130)]
    assert found["marked photo"][0].text == "Marked photo."


def test_a_multi_word_keyword_does_not_span_two_lines():
    words = line("the", "marked", y=100, line_no=1) + line("photo", "is", y=150, line_no=2)
    assert match(words, ["marked photo"])["marked photo"] == []


def test_words_are_ordered_by_their_number_on_the_line_not_by_list_order():
    words = list(reversed(line("marked", "photo")))
    assert len(match(words, ["marked photo"])["marked photo"]) == 1


def test_a_keyword_of_only_punctuation_or_blank_matches_nothing():
    found = match(line("-", "...", "word"), ["--", "  "])
    assert found == {"--": [], "  ": []}


# -- the tolerance rules, one by one --------------------------------------------------------------------


def test_the_tolerances_are_one_error_from_6_characters_two_from_12_below_90_confidence():
    assert (FUZZY_MIN_LENGTH, FUZZY_TWO_EDITS, FUZZY_MAX_CONFIDENCE, MERGE_FUZZY_MIN_LENGTH) == (6, 12, 90.0, 8)


def test_an_exact_word_matches_at_any_length_and_confidence():
    assert token_matches("a", "a", 100.0) and token_matches("photo", "photo")
    assert not token_matches("photo", "photos", 0.0)


@pytest.mark.parametrize(
    ("token", "word", "matches"),
    [
        ("photo", "phcto", False),  # 5 characters: exact only
        ("marker", "markqr", True),  # 6: one substitution
        ("marker", "mXrkqr", False),  # 6: not two
        ("transparent", "trXnsparYnt", False),  # 11: still one
        ("transparent", "transparXnt", True),
        ("photomarking", "phXtomarkYng", True),  # 12: two substitutions
        ("photomarking", "phXtomYrkZng", False),  # 12: not three
    ],
)
def test_one_error_is_allowed_from_6_characters_and_two_from_12(token, word, matches):
    assert token_matches(token, word, 50.0) is matches


@pytest.mark.parametrize(
    ("token", "word", "matches"),
    [
        ("environment", "environent", True),  # a character dropped
        ("environment", "environmeent", True),  # a character inserted
        ("environment", "enviroment", True),
        ("environment", "envirnt", False),  # four dropped
        ("environment", "envirment", False),  # two dropped from an 11-character word
        ("photomarking", "phtomarkng", True),  # two dropped from a 12-character word
        ("photomarking", "photomarkingxxg", False),  # three longer
        ("photomarking", "phomarkng", False),  # three dropped
    ],
)
def test_an_inserted_or_dropped_character_counts_as_one_error(token, word, matches):
    assert token_matches(token, word, 50.0) is matches


@pytest.mark.parametrize(
    ("token", "word"),
    [
        ("document", "docurnent"),  # rn read for m
        ("hidden", "hiclden"),  # cl read for d
        ("network", "netvvork"),  # vv read for w
        ("photomark", "ph0t0mark"),  # 0 read for o
        ("parallel", "para11el"),  # 1 read for l
        ("parallel", "para||el"),  # | read for l
        ("sessions", "se55ions"),  # 5 read for s
    ],
)
def test_each_look_alike_pair_counts_as_no_error(token, word):
    assert token_matches(token, word, 50.0)
    assert found_texts(line(word), token) == [word]


def test_a_look_alike_pair_plus_one_error_still_matches_but_not_plus_two():
    assert token_matches("document", "docurnemt", 50.0)
    assert not token_matches("document", "dXcurnemt", 50.0)


@pytest.mark.parametrize(
    ("token", "word", "matches"),
    [
        ("network", "xetwork", False),  # first character differs
        ("network", "networx", False),  # last character differs
        ("network", "netwxrk", True),  # an inner one
        ("network", "etwork", False),  # first dropped
        ("network", "networ", False),  # last dropped
        ("unmarked", "marked", False),
    ],
)
def test_the_first_and_last_characters_must_agree(token, word, matches):
    assert token_matches(token, word, 50.0) is matches


@pytest.mark.parametrize(
    ("confidence", "matches"), [(-1.0, True), (0.0, True), (89.9, True), (90.0, False), (96.0, False)]
)
def test_words_read_with_90_confidence_or_more_are_taken_as_written(confidence, matches):
    assert token_matches("transparent", "transparcnt", confidence) is matches
    assert token_matches("transparent", "transparent", confidence)
    assert (found_texts(line("transparcnt", confidence=confidence), "transparent") == ["transparcnt"]) is matches


def test_a_fuzzy_token_defaults_to_an_unknown_confidence():
    assert token_matches("transparent", "transparcnt")


# -- a word split in two by OCR ---------------------------------------------------------------------------


def test_a_split_word_is_joined_into_one_occurrence_with_both_texts():
    found = match(line("requir", "ed,"), ["required"])["required"]
    assert found == [Occurrence(box=(0, 100, 220, 130), text="requir ed,")]


def test_a_split_long_keyword_is_joined_with_errors_unless_both_halves_were_read_confidently():
    assert found_texts(words(("requir", 50.0), ("cd", 50.0)), "required") == ["requir cd"]
    assert found_texts(words(("requir", 95.0), ("cd", 50.0)), "required") == ["requir cd"]
    assert found_texts(words(("requir", 50.0), ("cd", 95.0)), "required") == ["requir cd"]
    assert found_texts(words(("requir", 95.0), ("cd", 95.0)), "required") == []
    assert found_texts(words(("requir", 95.0), ("ed", 95.0)), "required") == ["requir ed"]


def test_a_shorter_keyword_needs_an_exact_join():
    assert found_texts(line("value", "is"), "values") == []  # "valueis" is one error from "values"
    assert found_texts(line("val", "ues"), "values") == ["val ues"]
    assert found_texts(line("hand", "ing"), "handling") == ["hand ing"]  # 8 characters: errors allowed
    assert found_texts(line("hand", "ing"), "handlin") == []  # 7: exact only


def test_a_keyword_below_6_characters_is_never_joined():
    assert found_texts(line("pho", "to"), "photo") == []
    assert found_texts(line("mark", "er"), "marker") == ["mark er"]


def test_the_last_word_of_a_line_has_no_neighbour_to_join():
    assert found_texts(line("the", "requir"), "required") == []
    assert found_texts(line("requir") + line("ed", y=200, line_no=2), "required") == []


def test_a_multi_word_keyword_is_not_joined_from_split_halves():
    assert found_texts(line("mark", "ed", "photo"), "marked photo") == []


def test_a_joined_word_takes_both_neighbours_and_the_search_goes_on_after_them():
    assert found_texts(line("requir", "ed", "required", "requir", "ed"), "required") == [
        "requir ed",
        "required",
        "requir ed",
    ]


# -- keywords, lines and occurrences ------------------------------------------------------------------------


def test_a_keyword_given_twice_is_answered_once():
    found = match(line("photo", "x", "photo"), ["photo", "Photo", "photo", "x"])
    assert list(found) == ["photo", "Photo", "x"]
    assert len(found["photo"]) == 2 and len(found["Photo"]) == 2


def test_occurrences_of_a_multi_word_keyword_do_not_overlap():
    assert found_texts(line("photo", "photo", "photo"), "photo photo") == ["photo photo"]
    assert found_texts(line("photo", "photo", "photo", "photo"), "photo photo") == ["photo photo", "photo photo"]


def test_a_multi_word_keyword_matches_with_an_error_in_each_long_word():
    assert found_texts(line("markcd", "photogrXph"), "marked photograph") == ["markcd photogrXph"]
    assert found_texts(line("mXrkcd", "photograph"), "marked photograph") == []
    assert found_texts(line("rnarked", "photo"), "marked photo") == ["rnarked photo"]


def test_a_multi_word_keyword_at_the_end_of_a_line_needs_all_its_words():
    assert found_texts(line("the", "marked"), "marked photo") == []


def test_words_of_another_block_or_paragraph_are_another_line():
    first = Word("marked", (0, 100, 100, 130), 60.0, block=1, par=1, line=1, word=1)
    other_par = Word("photo", (120, 100, 220, 130), 60.0, block=1, par=2, line=1, word=2)
    other_block = Word("photo", (120, 100, 220, 130), 60.0, block=2, par=1, line=1, word=2)
    assert match([first, other_par], ["marked photo"])["marked photo"] == []
    assert match([first, other_block], ["marked photo"])["marked photo"] == []
    assert [[w.text for w in ln] for ln in lines([other_block, first, other_par])] == [["photo"], ["marked"], ["photo"]]


def test_the_union_box_spans_every_box():
    assert union([(10, 20, 30, 40), (0, 25, 50, 35), (5, 5, 15, 60)]) == (0, 5, 50, 60)


def test_keyword_tokens_are_the_normalised_words_of_a_keyword():
    assert keyword_tokens("  Marked   PHOTO! ") == ["marked", "photo"]
    assert keyword_tokens("-- photo") == ["photo"]
    assert keyword_tokens("...") == []


def test_normalise_strips_underscores_and_symbols_around_a_word_only():
    assert normalise("__photo_mark__") == "photo_mark"
    assert normalise("«Photo»") == "photo"
    assert normalise("Cafe\u0301") == "cafe"
    assert normalise("\u00c9T\u00c9") == "ete"
