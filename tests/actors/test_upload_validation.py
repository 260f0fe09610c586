"""What a Svc accepts before anything is written (``actors/upload_validation.py``): keywords, size, format."""

from __future__ import annotations

import functools
import io
import random

import pytest
from PIL import Image

from actors.upload_validation import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    IDENTIFY_BYTES,
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    BadUpload,
    Limits,
    TooLarge,
    ValidUpload,
    check_keywords,
    check_photo,
    check_photo_file,
    check_photo_path,
    check_photo_stream,
    check_size,
    clean_filename,
    identify,
    sniff,
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


# -- odd bytes, for the streamed checks -------------------------------------------------------------------

ACCEPTED = [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tiff"), ("WEBP", "webp")]
TEXT = b"hello, this is not a photo"
BOMB = "Image size (2048 pixels) exceeds limit of 2000 pixels, could be decompression bomb DOS attack."


@functools.cache
def large_photo(fmt: str, **params) -> bytes:
    """A photo of noise (256x256, so most formats take well over ``IDENTIFY_BYTES``), the same every run."""
    noise = random.Random(7).randbytes(256 * 256 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (256, 256), noise).save(buffer, fmt, **params)
    return buffer.getvalue()


@functools.cache
def big_endian_tiff() -> bytes:
    """16-bit grey, stored big-endian (``MM``): the TIFF of many scanners."""
    noise = random.Random(8).randbytes(256 * 256 * 2)
    buffer = io.BytesIO()
    Image.frombytes("I;16B", (256, 256), noise).save(buffer, "TIFF")
    return buffer.getvalue()


def cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("CMYK", (64, 32), "white").save(buffer, "JPEG")
    return buffer.getvalue()


class FailingStream(io.BytesIO):
    """The bytes of a photo whose reading fails with ``error`` once a read would go past the first ``good``
    bytes: a disk or a connection gone while the photo is decoded."""

    def __init__(self, data: bytes, good: int, error: Exception) -> None:
        super().__init__(data)
        self.good, self.error = good, error

    def read(self, size: int | None = -1) -> bytes:
        end = len(self.getvalue()) if size is None or size < 0 else self.tell() + size
        if end > self.good:
            raise self.error
        return super().read(size)


def png_header_length(data: bytes) -> int:
    """How many bytes of a PNG come before its pixels (through the first IDAT chunk's length and name)."""
    return data.index(b"IDAT") + 4


def stored(tmp_path, data: bytes, name: str = "photo"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def lower_pixel_limit_once_opened(monkeypatch, limit: int) -> None:
    """Pillow's limit lowered between reading a photo's header and decoding its pixels: Pillow then finds
    the photo too large only as it decodes."""
    pillow_open = Image.open

    def open_then_lower(*args, **kwargs):
        image = pillow_open(*args, **kwargs)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        return image

    monkeypatch.setattr(Image, "open", open_then_lower)


# -- sniff: the format the first bytes announce ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "ext"),
    [
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpg"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"BM", "bmp"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"RIFF\x00\x00\x00\x00WEBP", "webp"),
    ],
)
def test_sniff_knows_each_accepted_format_by_its_magic_alone(prefix, ext):
    assert sniff(prefix) == ext
    assert sniff(prefix + b"\x00" * 40) == ext


@pytest.mark.parametrize(("fmt", "ext"), ACCEPTED)
def test_sniff_knows_the_first_bytes_of_each_accepted_format(fmt, ext):
    assert sniff(photo(fmt)[:32]) == ext


def test_sniff_knows_a_big_endian_tiff():
    assert sniff(big_endian_tiff()[:32]) == "tiff"


@pytest.mark.parametrize(
    "prefix",
    [
        b"",
        TEXT,
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00",  # a RIFF that is a sound
        b"RIFFWEBP\x00\x00\x00\x00VP8 ",  # WEBP at the wrong offset
        b"RIFF\x00\x00\x00\x00WEB",  # cut inside WEBP
        b"riff\x00\x00\x00\x00WEBPVP8 ",
        b"RIFX\x00\x00\x00\x00WEBPVP8 ",
        b"\x00RIFF\x00\x00\x00WEBPVP8 ",
        b"ABCD\x00\x00\x00\x00WEBPVP8 ",  # WEBP where a WebP has it, but no RIFF
        b"\x00\x00\x00\x00\x00\x00\x00\x00webpVP8 ",
        b"\x89PNG\r\n\x1a",  # the PNG magic cut short
        b"\x89png\r\n\x1a\n",
        b"\xff\xd8",
        b"GIF88a",
        b"gif89a",
        b"B",
        b"bm",
        b"II*\x01",
        b"MM*\x00",
        b"II\x00*",
        b" \x89PNG\r\n\x1a\n",  # the magic not at the start
    ],
)
def test_sniff_knows_no_format_in_near_misses(prefix):
    assert sniff(prefix) is None


# -- identify: the format of a streamed photo from its first bytes -----------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params", "ext"),
    [
        ("PNG", {}, "png"),
        ("JPEG", {"quality": 95}, "jpg"),
        ("GIF", {}, "gif"),
        ("BMP", {}, "bmp"),
        ("TIFF", {}, "tiff"),
        ("WEBP", {"quality": 100}, "webp"),
    ],
)
def test_identify_names_each_accepted_format_from_its_first_64_kib(fmt, params, ext):
    data = large_photo(fmt, **params)
    assert len(data) > IDENTIFY_BYTES
    assert identify(data[:IDENTIFY_BYTES], LIMITS) == ext


def test_identify_wants_64_kib():
    assert IDENTIFY_BYTES == 64 * 1024


@pytest.mark.parametrize(("fmt", "ext"), ACCEPTED)
def test_identify_names_each_accepted_format_of_a_small_photo_whole(fmt, ext):
    assert identify(photo(fmt), LIMITS, whole=True) == ext
    assert identify(photo(fmt), LIMITS) == ext


def test_identify_names_a_big_endian_tiff():
    data = big_endian_tiff()
    assert data[:4] == b"MM\x00*"
    assert identify(data[:IDENTIFY_BYTES], LIMITS) == "tiff"
    assert identify(data, LIMITS, whole=True) == "tiff"


@pytest.mark.parametrize(
    ("data", "ext"),
    [
        (large_photo("TIFF", compression="tiff_deflate"), "tiff"),  # its first directory is at the end
        (large_photo("WEBP", lossless=True), "webp"),  # Pillow decodes a WebP whole, or not at all
    ],
    ids=["tiff directory at the end", "lossless webp"],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow, reading the cut TIFF
def test_identify_names_by_its_magic_a_photo_whose_header_pillow_cannot_read_from_its_first_bytes(data, ext):
    prefix = data[:IDENTIFY_BYTES]
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever Pillow raises: it cannot
        Image.open(io.BytesIO(prefix))
    assert identify(prefix, LIMITS) == ext
    assert identify(data, LIMITS, whole=True) == ext


def test_identify_names_by_its_magic_the_first_bytes_of_a_photo_pillow_cannot_read():
    assert identify(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, LIMITS) == "png"
    assert identify(b"\xff\xd8\xff" + TEXT, LIMITS) == "jpg"


def test_identify_refuses_a_whole_photo_pillow_cannot_read_whatever_its_magic():
    assert refusal(identify, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, LIMITS, True) == (
        "not an image: 108 bytes in no format Pillow knows"
    )


def test_identify_refuses_first_bytes_in_no_format_it_knows_naming_them_the_first_bytes():
    assert refusal(identify, TEXT, LIMITS) == "not an image: the first 26 bytes in no format Pillow knows"
    assert refusal(identify, TEXT, LIMITS, False) == "not an image: the first 26 bytes in no format Pillow knows"


def test_identify_refuses_a_whole_file_in_no_format_it_knows_naming_all_its_bytes():
    assert refusal(identify, TEXT, LIMITS, True) == "not an image: 26 bytes in no format Pillow knows"


def test_identify_accepts_exactly_max_pixels_and_refuses_one_more_from_the_header():
    data = photo(size=(64, 32))
    assert identify(data, Limits(max_pixels=64 * 32)) == "png"
    assert refusal(identify, data, Limits(max_pixels=64 * 32 - 1), kind=TooLarge) == (
        "photo too large to decode: 64x32 = 2048 pixels (limit 2047, a possible decompression bomb)"
        ": over the limit of 2047 pixels"
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_identify_refuses_more_pixels_than_a_worker_decodes_whatever_the_svc_s_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 32 - 1)
    assert refusal(identify, photo(size=(64, 32)), Limits(max_pixels=10**8), kind=TooLarge) == (
        "photo too large to decode: 64x32 = 2048 pixels (limit 2047, a possible decompression bomb)"
        ": over the limit of 2047 pixels"
    )
    assert identify(photo(size=(64, 31)), Limits(max_pixels=10**8)) == "png"


def test_identify_refuses_a_decompression_bomb_pillow_will_not_open(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses over twice this: 2000
    assert refusal(identify, photo(size=(64, 32)), LIMITS, kind=TooLarge) == (
        f"photo too large to decode: {BOMB}: over the limit of 1000 pixels"
    )


@pytest.mark.parametrize("fmt", ["ICO", "PCX"])
def test_identify_refuses_a_format_pillow_reads_but_the_svc_does_not_accept(fmt):
    assert refusal(identify, photo(fmt), LIMITS) == (
        f"unsupported photo format {fmt}: use PNG, JPEG, GIF, BMP, TIFF or WebP"
    )


def test_identify_refuses_a_pixel_mode_no_worker_can_turn_into_colour(monkeypatch):
    monkeypatch.setattr("marking.photo.markable_mode", lambda mode: mode != "CMYK")
    assert (
        refusal(identify, cmyk_jpeg(), LIMITS) == "a JPEG image in pixel mode CMYK, which cannot be turned into colour"
    )
    assert identify(photo("JPEG"), LIMITS) == "jpg"


# -- the full decode of a stored photo: check_photo_path, check_photo_file, check_photo_stream -----------------


@pytest.mark.parametrize(("fmt", "ext"), ACCEPTED)
def test_a_stored_photo_in_each_accepted_format_is_checked_whole(tmp_path, fmt, ext):
    path = stored(tmp_path, photo(fmt, (64, 32)))
    assert check_photo_path(path, LIMITS) == (ext, 64, 32)
    assert check_photo_path(str(path), LIMITS) == (ext, 64, 32)
    with path.open("rb") as file:
        assert check_photo_file(file, LIMITS) == (ext, 64, 32)
    assert check_photo_stream(io.BytesIO(photo(fmt, (64, 32))), LIMITS) == (ext, 64, 32)


def test_a_stored_photo_larger_than_its_first_block_is_checked_whole(tmp_path):
    path = stored(tmp_path, large_photo("TIFF", compression="tiff_deflate"))
    assert check_photo_path(path, LIMITS) == ("tiff", 256, 256)


def test_a_stored_big_endian_tiff_is_checked_whole(tmp_path):
    assert check_photo_path(stored(tmp_path, big_endian_tiff()), LIMITS) == ("tiff", 256, 256)


def test_an_empty_stored_upload_is_refused(tmp_path):
    assert refusal(check_photo_path, stored(tmp_path, b""), LIMITS) == "empty upload: no photo bytes arrived"


def test_a_stored_photo_of_exactly_max_bytes_is_accepted_and_one_byte_less_of_limit_refused(tmp_path):
    data = photo()
    path = stored(tmp_path, data)
    assert check_photo_path(path, Limits(max_bytes=len(data))) == ("png", 64, 32)
    assert refusal(check_photo_path, path, Limits(max_bytes=len(data) - 1), kind=TooLarge) == (
        f"photo of {len(data)} bytes or more is over the limit of {len(data) - 1} bytes"
    )


def test_a_stored_file_in_no_format_pillow_knows_is_refused_naming_its_size(tmp_path):
    assert refusal(check_photo_path, stored(tmp_path, TEXT), LIMITS) == (
        "not an image: 26 bytes in no format Pillow knows"
    )


def test_a_stream_in_no_format_pillow_knows_is_refused_naming_what_it_is_told():
    assert refusal(check_photo_stream, io.BytesIO(TEXT), LIMITS) == (
        "not an image: the bytes in no format Pillow knows"
    )
    assert refusal(check_photo_stream, io.BytesIO(TEXT), LIMITS, "the upload") == (
        "not an image: the upload in no format Pillow knows"
    )


def test_a_photo_that_begins_as_one_format_and_is_another_is_refused(tmp_path):
    """The first bytes say PNG (``identify`` took it for one), the rest is a JPEG: no format reads it."""
    data = b"\x89PNG\r\n\x1a\n" + photo("JPEG")
    assert identify(data, LIMITS) == "png"
    assert refusal(check_photo_path, stored(tmp_path, data), LIMITS) == (
        f"not an image: {len(data)} bytes in no format Pillow knows"
    )


def test_a_photo_cut_inside_its_header_is_refused_as_not_decodable(tmp_path):
    assert refusal(check_photo_path, stored(tmp_path, photo()[:20]), LIMITS) == (
        "not a decodable image: Truncated File Read"
    )


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF"])
def test_a_photo_cut_inside_its_pixels_is_refused_naming_its_format(tmp_path, fmt):
    data = large_photo(fmt)
    message = refusal(check_photo_path, stored(tmp_path, data[: len(data) // 2]), LIMITS)
    assert message.startswith(f"not a decodable {fmt} image: image file is truncated")  # Pillow may say more


def test_a_stored_photo_of_exactly_max_pixels_is_accepted_and_one_pixel_more_refused(tmp_path):
    path = stored(tmp_path, photo(size=(64, 32)))
    assert check_photo_path(path, Limits(max_pixels=64 * 32)) == ("png", 64, 32)
    assert refusal(check_photo_path, path, Limits(max_pixels=64 * 32 - 1), kind=TooLarge) == (
        "photo too large to decode: 64x32 = 2048 pixels (limit 2047, a possible decompression bomb)"
        ": over the limit of 2047 pixels"
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_stored_photo_over_what_a_worker_decodes_is_refused_whatever_the_svc_s_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 32 - 1)
    assert refusal(
        check_photo_path, stored(tmp_path, photo(size=(64, 32))), Limits(max_pixels=10**8), kind=TooLarge
    ) == (
        "photo too large to decode: 64x32 = 2048 pixels (limit 2047, a possible decompression bomb)"
        ": over the limit of 2047 pixels"
    )
    assert check_photo_path(stored(tmp_path, photo(size=(64, 31)), "smaller"), Limits(max_pixels=10**8)) == (
        "png",
        64,
        31,
    )


def test_a_stored_decompression_bomb_pillow_will_not_open_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses over twice this: 2000
    assert refusal(check_photo_path, stored(tmp_path, photo(size=(64, 32))), LIMITS, kind=TooLarge) == (
        f"photo too large to decode: {BOMB}: over the limit of 1000 pixels"
    )


def test_a_photo_pillow_finds_too_large_only_as_it_decodes_is_refused(monkeypatch):
    lower_pixel_limit_once_opened(monkeypatch, 1000)
    data = io.BytesIO(photo("TIFF", (64, 32)))  # a TIFF's pixels are counted again as they are decoded
    assert refusal(check_photo_stream, data, Limits(max_pixels=5000), kind=TooLarge) == (
        f"photo too large to decode: {BOMB}: over the limit of 5000 pixels"
    )


@pytest.mark.parametrize("fmt", ["ICO", "PCX"])
def test_a_stored_photo_in_a_format_the_svc_does_not_accept_is_refused(tmp_path, fmt):
    assert refusal(check_photo_path, stored(tmp_path, photo(fmt)), LIMITS) == (
        f"unsupported photo format {fmt}: use PNG, JPEG, GIF, BMP, TIFF or WebP"
    )


def test_a_stored_photo_in_a_pixel_mode_no_worker_can_turn_into_colour_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("marking.photo.markable_mode", lambda mode: mode != "CMYK")
    assert refusal(check_photo_path, stored(tmp_path, cmyk_jpeg()), LIMITS) == (
        "a JPEG image in pixel mode CMYK, which cannot be turned into colour"
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [(OSError("the disk is gone"), "the disk is gone"), (ConnectionResetError(), "ConnectionResetError")],
)
def test_a_stream_failing_before_its_header_is_read_is_refused_with_the_reason(error, reason):
    assert refusal(check_photo_stream, FailingStream(photo(), 0, error), LIMITS) == f"not a decodable image: {reason}"


@pytest.mark.parametrize(
    ("error", "reason"),
    [(OSError("the disk is gone"), "the disk is gone"), (ConnectionResetError(), "ConnectionResetError")],
)
def test_a_stream_failing_while_its_pixels_are_decoded_is_refused_with_the_reason(error, reason):
    data = photo()
    stream = FailingStream(data, png_header_length(data), error)
    assert refusal(check_photo_stream, stream, LIMITS) == f"not a decodable PNG image: {reason}"


# -- the filename kept ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "ext", "name"),
    [
        ("holiday.jpg", "jpg", "holiday.jpg"),
        ("", "png", "photo.png"),
        (None, "gif", "photo.gif"),
        ("scans/", "tiff", "photo.tiff"),
        ("C:\\Users\\me\\scan.png", "png", "scan.png"),
        ("a\\b/c\\d.bmp", "bmp", "d.bmp"),
        ("../../etc/passwd", "png", "passwd"),
        ("x" * 300, "png", "x" * 255),
        ("dir/" + "y" * 256, "png", "y" * 255),
    ],
)
def test_clean_filename_keeps_the_last_part_at_most_255_characters_or_photo_ext(filename, ext, name):
    assert clean_filename(filename, ext) == name
