"""Decoding uploaded bytes: orientation, modes, and what is not a photo."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from marking import NotAnImage, PhotoTooLarge, decode_photo, mark_photo


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` 1-bit pixels: a few bytes that
    would decode into gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not a photo",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
        b"\xff\xd8\xff" + b"\0" * 100,
    ],
    ids=["empty", "text", "broken-png-header", "broken-jpeg"],
)
def test_bytes_that_are_not_an_image_raise_not_an_image(data):
    with pytest.raises(NotAnImage):
        decode_photo(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_photo_raises_not_an_image(photos, page, fmt):
    data = photos.encode(page, fmt)
    with pytest.raises(NotAnImage, match="truncated|broken|decod"):
        decode_photo(data[: len(data) // 2])


def test_not_an_image_is_a_value_error_with_a_clear_message():
    with pytest.raises(ValueError, match="not an image"):
        decode_photo(b"garbage")


def test_mark_photo_refuses_garbage_before_any_ocr():
    with pytest.raises(NotAnImage):
        mark_photo(b"garbage", ["word"])


def test_a_decompression_bomb_is_refused():
    # 20000 x 20000 is over twice Pillow's limit: Pillow itself refuses it.
    with pytest.raises(PhotoTooLarge, match="too large"):
        decode_photo(png_header_only(20_000, 20_000))


def test_a_photo_over_the_limit_but_under_pillows_hard_limit_is_refused_too():
    # 10000 x 10000 is over Pillow's limit but under twice it: Pillow only warns.
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(PhotoTooLarge, match="10000x10000"),
    ):
        decode_photo(png_header_only(10_000, 10_000))


def test_a_smaller_limit_can_be_given():
    with pytest.raises(PhotoTooLarge):
        decode_photo(png_header_only(200, 200), max_pixels=100 * 100)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(photos, orientation):
    upright = Image.new("RGB", (60, 40), "white")
    upright.paste((255, 0, 0), (0, 0, 20, 20))  # a red square top-left when upright
    image = decode_photo(photos.with_orientation(upright, orientation))
    assert image.size == (60, 40)
    r, g, b = image.getpixel((5, 5))
    assert r > 200 and g < 60 and b < 60
    r, g, b = image.getpixel((55, 35))
    assert min(r, g, b) > 200


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "CMYK", "I;16"])
def test_every_mode_becomes_rgb(photos, mode):
    source = Image.new("RGB", (30, 20), (255, 255, 255))
    source.paste((0, 0, 0), (0, 0, 10, 10))
    image = source.convert(mode) if mode != "I;16" else source.convert("L").convert("I;16")
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    decoded = decode_photo(photos.encode(image, fmt))
    assert decoded.mode == "RGB" and decoded.size == (30, 20)
    assert max(decoded.getpixel((2, 2))) < 60
    assert min(decoded.getpixel((25, 15))) > 200


def test_transparency_is_composited_over_white(photos):
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert decode_photo(photos.encode(image)).getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["I;16B", "I;16L", "I", "F"])
def test_a_16_bit_32_bit_or_float_grey_tiff_of_any_byte_order_becomes_rgb(photos, mode):
    source = Image.new("L", (30, 20), 255)
    source.paste(0, (0, 0, 10, 10))
    decoded = decode_photo(photos.encode(source.convert("I").point(lambda v: v * 257).convert(mode), "TIFF"))
    assert decoded.mode == "RGB" and decoded.size == (30, 20)
    assert max(decoded.getpixel((2, 2))) < 60
    assert min(decoded.getpixel((25, 15))) > 200


def test_every_mode_a_photo_file_can_have_is_markable():
    from marking.photo import markable_mode

    for mode in [
        "1",
        "L",
        "LA",
        "La",
        "P",
        "PA",
        "RGB",
        "RGBA",
        "RGBa",
        "RGBX",
        "CMYK",
        "YCbCr",
        "LAB",
        "HSV",
        "I",
        "F",
        "I;16",
        "I;16L",
        "I;16B",
        "I;16N",
    ]:
        assert markable_mode(mode), mode
    assert not markable_mode("no such mode")


def test_an_odd_exception_from_pillow_is_not_an_image(monkeypatch):
    import struct

    def broken_open(*args, **kwargs):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(Image, "open", broken_open)
    with pytest.raises(NotAnImage, match="not a decodable image: unpack requires"):
        decode_photo(b"\x89PNG\r\n\x1a\n odd")


def test_unreadable_exif_leaves_the_photo_as_stored(photos, monkeypatch):
    from PIL import ImageOps

    def broken_exif(image):
        raise TypeError("unreadable EXIF")

    stored = photos.with_orientation(Image.new("RGB", (60, 40), "white"), 6)
    monkeypatch.setattr(ImageOps, "exif_transpose", broken_exif)
    assert decode_photo(stored).size == (40, 60)  # as stored, not turned
