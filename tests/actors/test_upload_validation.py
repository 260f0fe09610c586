"""What a Svc accepts before anything is written (``actors/upload_validation.py``): keywords, size, format."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from actors.upload_validation import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    BadUpload,
    Limits,
    TooLarge,
    ValidUpload,
    check_keywords,
    check_photo,
    check_size,
    validate,
)

LIMITS = Limits()


def photo(fmt: str = "PNG", size: tuple[int, int] = (64, 32), **params) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, fmt, **params)
    return buffer.getvalue()


def refusal(call, *args, kind=BadUpload) -> str:
    with pytest.raises(kind) as refused:
        call(*args)
    assert type(refused.value) is kind
    return str(refused.value)


# -- keywords ---------------------------------------------------------------------------------------


def test_the_limits_are_100_keywords_of_100_characters_50_mib_and_100_megapixels():
    assert (MAX_KEYWORDS, MAX_KEYWORD_LENGTH) == (100, 100)
    assert (DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS) == (50 * 1024 * 1024, 100_000_000)
    assert (LIMITS.max_bytes, LIMITS.max_pixels) == (DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS)


def test_keywords_are_trimmed_their_spaces_collapsed_and_duplicates_dropped_in_order():
    assert check_keywords(["  marked \t photo ", "alpha", "marked photo", "beta", "alpha"]) == (
        "marked photo",
        "alpha",
        "beta",
    )


def test_no_keywords_are_refused():
    assert refusal(check_keywords, []) == "no keywords: give at least one keyword to mark"


def test_100_keywords_are_accepted_and_101_refused():
    hundred = [f"k{i}" for i in range(100)]
    assert check_keywords(hundred) == tuple(hundred)
    assert refusal(check_keywords, [*hundred, "k100"]) == "101 keywords: at most 100 are allowed"


@pytest.mark.parametrize("keywords", [[""], ["alpha", "  "], ["\t\n", "beta"]])
def test_an_empty_keyword_is_refused_even_among_valid_ones(keywords):
    assert refusal(check_keywords, keywords) == "an empty keyword: every keyword needs a letter or digit"


def test_a_keyword_of_100_characters_is_accepted_and_101_refused():
    assert check_keywords(["k" * 100]) == ("k" * 100,)
    assert check_keywords([" " + "k" * 100 + " "]) == ("k" * 100,)  # counted after trimming
    assert refusal(check_keywords, ["alpha", "k" * 101]) == (
        f"keyword {'k' * 20!r}... has 101 characters: at most 100 are allowed"
    )


# -- size -----------------------------------------------------------------------------------------------


def test_exactly_max_bytes_is_accepted_and_one_more_refused():
    limits = Limits(max_bytes=1000)
    check_size(1000, 0, limits)
    check_size(0, 1000, limits)
    check_size(1000, 1000, limits)
    message = "photo of 1001 bytes or more is over the limit of 1000 bytes"
    assert refusal(check_size, 1001, 0, limits, kind=TooLarge) == message
    assert refusal(check_size, 10, 1001, limits, kind=TooLarge) == message


def test_the_refusal_names_the_larger_of_received_and_announced():
    limits = Limits(max_bytes=1000)
    assert refusal(check_size, 1500, 1200, limits, kind=TooLarge) == (
        "photo of 1500 bytes or more is over the limit of 1000 bytes"
    )


def test_too_large_is_a_bad_upload():
    assert issubclass(TooLarge, BadUpload) and issubclass(BadUpload, ValueError)


# -- the photo --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tiff"), ("WEBP", "webp")],
)
def test_each_accepted_format_is_stored_with_its_extension(fmt, ext):
    assert check_photo(photo(fmt, (64, 32)), LIMITS) == (ext, 64, 32)


def test_a_multi_picture_jpeg_is_stored_as_jpg():
    buffer = io.BytesIO()
    image = Image.new("RGB", (40, 30), "white")
    image.save(buffer, "MPO", save_all=True, append_images=[image])
    assert check_photo(buffer.getvalue(), LIMITS) == ("jpg", 40, 30)


def test_the_extensions_are_those_storage_knows():
    assert EXTENSIONS == {
        "PNG": "png",
        "JPEG": "jpg",
        "MPO": "jpg",
        "GIF": "gif",
        "BMP": "bmp",
        "TIFF": "tiff",
        "WEBP": "webp",
    }


@pytest.mark.parametrize("fmt", ["PCX", "ICO", "PPM", "TGA"])
def test_a_format_pillow_reads_but_the_service_does_not_accept_is_refused(fmt):
    assert refusal(check_photo, photo(fmt), LIMITS) == (
        f"unsupported photo format {fmt}: use PNG, JPEG, GIF, BMP, TIFF or WebP"
    )


def test_an_empty_upload_is_refused():
    assert refusal(check_photo, b"", LIMITS) == "empty upload: no photo bytes arrived"


@pytest.mark.parametrize("data", [b"not a photo at all", photo()[:60]])
def test_bytes_that_are_not_a_whole_image_are_refused(data):
    assert refusal(check_photo, data, LIMITS).startswith("not ")


def test_a_photo_of_exactly_max_bytes_is_accepted_and_one_byte_less_of_limit_refused():
    data = photo()
    assert check_photo(data, Limits(max_bytes=len(data))) == ("png", 64, 32)
    assert refusal(check_photo, data, Limits(max_bytes=len(data) - 1), kind=TooLarge) == (
        f"photo of {len(data)} bytes or more is over the limit of {len(data) - 1} bytes"
    )


def test_a_photo_of_exactly_max_pixels_is_accepted_and_one_pixel_more_refused():
    data = photo(size=(64, 32))
    assert check_photo(data, Limits(max_pixels=64 * 32)) == ("png", 64, 32)
    message = refusal(check_photo, data, Limits(max_pixels=64 * 32 - 1), kind=TooLarge)
    assert message.startswith("photo too large to decode: 64x32 = 2048 pixels")
    assert message.endswith(": over the limit of 2047 pixels")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns, then the Svc refuses
def test_the_pixel_limit_is_the_lower_of_the_svc_s_and_what_a_worker_decodes(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 32 - 1)  # what a worker decodes, here
    message = refusal(check_photo, photo(size=(64, 32)), Limits(max_pixels=10**8), kind=TooLarge)
    assert message.endswith(": over the limit of 2047 pixels")
    assert check_photo(photo(size=(64, 31)), Limits(max_pixels=10**8)) == ("png", 64, 31)
    assert refusal(check_photo, photo(size=(64, 31)), Limits(max_pixels=1000), kind=TooLarge).endswith(
        ": over the limit of 1000 pixels"
    )


# -- the whole upload ---------------------------------------------------------------------------------------


def test_a_valid_upload_holds_the_photo_its_format_size_keywords_and_name():
    data = photo("JPEG", (40, 30))
    assert validate(data, [" alpha ", "beta", "alpha"], "holiday.jpg", len(data), LIMITS) == ValidUpload(
        data, "jpg", 40, 30, ("alpha", "beta"), "holiday.jpg"
    )


def test_an_upload_without_an_announced_size_is_taken_as_it_is():
    data = photo()
    assert validate(data, ["alpha"], "a.png", 0, LIMITS).data == data


@pytest.mark.parametrize("announced", [1, -1])
def test_an_upload_shorter_or_longer_than_announced_is_refused(announced):
    data = photo()
    assert refusal(validate, data, ["alpha"], "a.png", len(data) + announced, LIMITS) == (
        f"truncated upload: {len(data)} bytes arrived of the {len(data) + announced} announced"
    )


def test_keywords_are_checked_before_the_photo():
    assert refusal(validate, b"", [], "a.png", 0, LIMITS) == "no keywords: give at least one keyword to mark"


def test_the_photo_is_checked_within_the_limits_given():
    data = photo()
    assert refusal(validate, data, ["alpha"], "a.png", 0, Limits(max_bytes=10), kind=TooLarge).startswith(
        f"photo of {len(data)} bytes"
    )


@pytest.mark.parametrize(
    ("filename", "ext", "name"),
    [
        ("", "png", "photo.png"),
        (None, "gif", "photo.gif"),
        ("C:\\Users\\me\\scan.png", "png", "scan.png"),
        ("../../etc/passwd", "png", "passwd"),
        ("dir/sub/page.bmp", "bmp", "page.bmp"),
        ("x" * 300, "png", "x" * 255),
        ("y" * 255, "png", "y" * 255),
    ],
)
def test_the_filename_kept_is_its_last_part_at_most_255_characters(filename, ext, name):
    data = photo({"png": "PNG", "gif": "GIF", "bmp": "BMP"}[ext])
    assert validate(data, ["alpha"], filename, 0, LIMITS).filename == name


def test_a_filename_without_a_last_part_becomes_photo_ext():
    assert validate(photo(), ["alpha"], "scans/", 0, LIMITS).filename == "photo.png"
