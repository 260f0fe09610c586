"""Tesseract's other choices of each character: read from its hOCR, and taken
by matching only when one swap makes a word exactly a keyword."""

from __future__ import annotations

import pytest
from PIL import Image, ImageFilter

from marking import ocr
from marking import tesseract as tesseract_module
from marking.char_choices import choices_for, parse_hocr, second_guesses
from marking.matching import SECOND_GUESS_FLOOR, match
from marking.ocr import Word

HOCR = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <body>
  <div class='ocr_page' id='page_1' title='bbox 0 0 217 49'>
   <span class='ocr_line' id='line_1_1' title="bbox 0 0 212 49">
    <span class='ocrx_word' id='word_1_1' title='bbox 0 0 40 49; x_wconf 90'>
     <span class='ocrx_cinfo' title='x_bboxes 0 0 13 36; x_conf 99.5'>i</span>
      <span class='ocrx_cinfo' id='lstm_choices_1_1_1'>
       <span class='ocrx_cinfo' id='choice_1_1_1' title='x_confs 96.9'>i</span>
       <span class='ocrx_cinfo' id='choice_1_1_2' title='x_confs 26.1'>l</span>
      </span>
     <span class='ocrx_cinfo' title='x_bboxes 12 0 25 36; x_conf 99.4'>s</span>
      <span class='ocrx_cinfo' id='lstm_choices_1_1_2'>
       <span class='ocrx_cinfo' id='choice_1_1_3' title='x_confs 94.3'>s</span>
       <span class='ocrx_cinfo' id='choice_1_1_4' title='x_confs 71.6'>$</span>
       <span class='ocrx_cinfo' id='choice_1_1_5' title='x_confs 60.6'>S</span>
      </span>
    </span>
    <span class='ocrx_word' id='word_1_2' title='bbox 50 0 90 49; x_wconf 95'>
     <span class='ocrx_cinfo' title='x_bboxes 50 0 60 36; x_conf 99.0'>&#39;</span>
    </span>
    <span class='ocrx_word' id='word_1_3' title='bbox 100 0 140 49; x_wconf 95'>no</span>
   </span>
  </div>
 </body>
</html>"""


def test_each_character_is_read_with_its_other_choices_best_first():
    words = parse_hocr(HOCR)
    assert words[(0, 0, 40, 49)] == ("is", ((("i", 99.5), ("l", 26.1)), (("s", 99.4), ("$", 71.6), ("S", 60.6))))
    assert words[(50, 0, 90, 49)] == ("'", ((("'", 99.0),),))


def test_a_word_without_character_spans_has_no_choices():
    assert (100, 0, 140, 49) not in parse_hocr(HOCR)


@pytest.mark.parametrize("broken", ["", "<html", "not xml at all", HOCR[: len(HOCR) // 2]])
def test_an_unreadable_hocr_gives_no_choices(broken):
    assert parse_hocr(broken) == {}


def test_second_guesses_swap_one_character_most_confident_first_above_the_floor():
    (_, choices) = parse_hocr(HOCR)[(0, 0, 40, 49)]
    assert second_guesses(choices, 50.0) == ["i$", "iS"]
    assert second_guesses(choices, 65.0) == ["i$"]
    assert second_guesses(choices, 20.0) == ["i$", "iS", "ls"]
    assert second_guesses((), 50.0) == []
    assert second_guesses(((("a", 90.0),), ()), 0.0) == []


def test_choices_belong_to_the_tsv_word_only_when_box_and_spelling_agree():
    words = parse_hocr(HOCR)
    assert choices_for("is", (0, 0, 40, 49), words) == words[(0, 0, 40, 49)][1]
    assert choices_for("in", (0, 0, 40, 49), words) == ()
    assert choices_for("is", (1, 0, 40, 49), words) == ()


def word(text: str, choices, confidence: float = 80.0, x: int = 0) -> Word:
    return Word(text, (x, 0, x + 100, 30), confidence, 1, 1, 1, x // 100 + 1, choices)


def spelt(text: str, swaps: dict[int, tuple[str, float]] | None = None):
    """Choices for ``text``: every character read at 95, with ``swaps`` as second choices."""
    swaps = swaps or {}
    return tuple(((c, 95.0), *((swaps[i],) if i in swaps else ())) for i, c in enumerate(text))


def test_a_word_whose_second_guess_is_the_keyword_is_found_with_its_box_and_reading():
    read = word("duplicates", spelt("duplicates", {9: ("$", 71.6)}))
    (found,) = match([read], ["duplicate"])["duplicate"]
    assert found.box == read.box and found.text == "duplicates"


def test_a_second_guess_under_the_floor_is_not_taken():
    read = word("duplicates", spelt("duplicates", {9: ("$", SECOND_GUESS_FLOOR - 0.1)}))
    assert match([read], ["duplicate"])["duplicate"] == []
    at_floor = word("duplicates", spelt("duplicates", {9: ("$", SECOND_GUESS_FLOOR)}))
    assert len(match([at_floor], ["duplicate"])["duplicate"]) == 1


def test_a_second_guess_must_make_the_keyword_exactly():
    # swapping the g for an e gives "imaginf": near, but no error is forgiven on top of a swap
    read = word("imagfnf", spelt("imagfnf", {6: ("e", 80.0)}))
    assert match([read], ["imagine"])["imagine"] == []


def test_without_choices_a_plural_stays_another_word():
    assert match([word("duplicates", ())], ["duplicate"])["duplicate"] == []


def test_each_word_of_a_phrase_may_be_read_by_its_second_guess():
    first = word("mote", spelt("mote", {0: ("n", 70.0)}), x=0)
    second = word("pad", (), x=100)
    (found,) = match([first, second], ["note pad"])["note pad"]
    assert found.text == "mote pad" and found.box == (0, 0, 200, 30)


def fake_run(config_seen: list[str], data: dict):
    def fake(image, lang, config, timeout):
        config_seen.append(config)
        return data

    return fake


def test_choices_are_asked_for_on_a_photo_and_not_on_a_sharp_page(monkeypatch, photos):
    seen: list[str] = []
    monkeypatch.setattr(tesseract_module, "image_to_data", fake_run(seen, {"level": [], "text": []}))
    page = photos.render_page(["a sharp page of text, read as it is"] * 12, size=18)
    ocr.read_words(page, ocr.Settings(second_thresholding_method=None))
    ocr.read_words(page.filter(ImageFilter.GaussianBlur(2)), ocr.Settings(second_thresholding_method=None))
    assert "lstm_choice_mode" not in seen[0] and "lstm_choice_mode=2" in seen[1]
    seen.clear()
    ocr.read_words(
        page.filter(ImageFilter.GaussianBlur(2)), ocr.Settings(second_thresholding_method=None, char_choices=False)
    )
    assert "lstm_choice_mode" not in seen[0]


@pytest.mark.integration
def test_tesseract_gives_each_word_of_a_photo_its_character_choices(photos):
    page = photos.render_page(["Tesseract hesitates on blurred letters of a photo."] * 6, size=16)
    blurred = page.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")
    photo = Image.new("RGB", (blurred.width + 400, blurred.height + 400), (60, 60, 60))
    photo.paste(blurred, (200, 200))
    words = ocr.read_words(photo)
    assert words, "nothing read"
    with_choices = [w for w in words if w.choices]
    assert len(with_choices) >= len(words) // 2
    for w in with_choices:
        assert "".join(c[0][0] for c in w.choices) == w.text


def word_hocr(*children: str, title: str = "title='bbox 0 0 40 49; x_wconf 90'", tag: str = "span") -> str:
    inner = "".join(children)
    return (
        "<html xmlns='http://www.w3.org/1999/xhtml'><body>"
        f"<{tag} class='ocrx_word' {title}>{inner}</{tag}>"
        "<span class='ocrx_word' title='bbox 50 0 90 49'>"
        "<span class='ocrx_cinfo' title='x_bboxes 50 0 60 36; x_conf 90'>k</span></span>"
        "</body></html>"
    )


def char(text: str, conf: str = "; x_conf 90") -> str:
    return f"<span class='ocrx_cinfo' title='x_bboxes 0 0 9 9{conf}'>{text}</span>"


def alternatives(*pairs: tuple[str, str]) -> str:
    inner = "".join(f"<span class='ocrx_cinfo' {title}>{text}</span>" for text, title in pairs)
    return f"<span class='ocrx_cinfo' id='lstm_choices_1'>{inner}</span>"


def test_a_character_without_a_confidence_counts_zero():
    assert parse_hocr(word_hocr(char("a", conf="")))[(0, 0, 40, 49)] == ("a", ((("a", 0.0),),))


def test_empty_character_spans_and_other_elements_are_passed_over_not_the_end_of_the_word():
    hocr = word_hocr("<em>x</em>", alternatives(("z", "title='x_confs 80'")), char(""), char("a"), char("b"))
    assert parse_hocr(hocr)[(0, 0, 40, 49)] == ("ab", ((("a", 90.0),), (("b", 90.0),)))


def test_choices_without_a_confidence_or_a_character_are_left_out():
    hocr = word_hocr(
        char("a"),
        alternatives(("a", "title='x_confs 90'"), ("e", ""), ("", "title='x_confs 80'"), ("o", "title='x_confs 70'")),
    )
    assert parse_hocr(hocr)[(0, 0, 40, 49)] == ("a", ((("a", 90.0), ("o", 70.0)),))


def test_a_word_without_a_box_is_passed_over_and_the_next_one_read():
    assert list(parse_hocr(word_hocr(char("a"), title=""))) == [(50, 0, 90, 49)]


def test_only_word_spans_are_words():
    assert list(parse_hocr(word_hocr(char("a"), tag="div"))) == [(50, 0, 90, 49)]


def test_the_most_confident_swap_comes_first_whatever_its_place_then_the_earlier_place():
    choices = ((("a", 95.0), ("z", 70.0)), (("b", 95.0), ("y", 80.0)), (("c", 95.0), ("x", 70.0)))
    assert second_guesses(choices, 50.0) == ["ayc", "zbc", "abx"]


def test_a_character_without_a_title_counts_zero():
    hocr = word_hocr("<span class='ocrx_cinfo'>a</span>")
    assert parse_hocr(hocr)[(0, 0, 40, 49)] == ("a", ((("a", 0.0),),))
