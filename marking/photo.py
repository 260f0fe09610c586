"""Decode the bytes of an uploaded photo into an upright RGB image.

Every way a photo can fail to decode ends in ``NotAnImage`` or
``PhotoTooLarge`` (both ``ValueError``), whatever Pillow raised on the way:
hostile or odd files make Pillow raise more than ``OSError`` (``struct.error``,
``IndexError``, ...), and the worker must tell "this photo cannot be marked"
from its own failures.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's default limit (about 89.5 megapixels, a 1 GB RGBA bomb), used when a
# process disabled Pillow's (Image.MAX_IMAGE_PIXELS = None).  Pillow warns
# above its limit and refuses above twice it; a photo is refused above it.
MAX_PIXELS = 89_478_485

# Pixel modes whose values are numbers rather than colours: scaled to 8-bit grey.
_NUMERIC_MODES = ("I", "F")


def pixel_limit() -> int:
    return Image.MAX_IMAGE_PIXELS or MAX_PIXELS


class NotAnImage(ValueError):
    """The bytes are not a photo Pillow can decode (empty, garbage, truncated)."""


class PhotoTooLarge(ValueError):
    """The photo declares more pixels than a worker decodes (decompression bomb)."""


def decode_photo(data: bytes, *, max_pixels: int | None = None) -> Image.Image:
    """The photo in ``data``, EXIF orientation applied, as an RGB image.

    Raises ``NotAnImage`` for bytes that are not a decodable image and
    ``PhotoTooLarge`` for a photo over ``max_pixels`` pixels (default: Pillow's
    decompression-bomb limit).  An animated photo (GIF, APNG, WebP) is its
    first frame.  Unreadable EXIF leaves the photo as stored (not turned):
    the pixels are fine, only the hint how to turn them is lost.
    """
    image = open_photo(data, max_pixels=max_pixels)
    return _to_rgb(_upright(image))


def open_photo(data: bytes, *, max_pixels: int | None = None) -> Image.Image:
    """The photo in ``data``, fully decoded (so a truncated one fails here), as stored:
    no rotation, its own mode, ``format`` set.  The Svc checks an upload with this,
    the worker decodes with it, so both refuse the same photos (a pixel mode that
    cannot be turned into colour too).

    Raises ``NotAnImage`` or ``PhotoTooLarge`` as ``decode_photo`` does.
    """
    max_pixels = max_pixels or pixel_limit()
    if not data:
        raise NotAnImage("empty photo: 0 bytes")
    try:
        # Over Pillow's limit, this warns (DecompressionBombWarning, left
        # alone); over twice the limit it raises.  The check below turns the
        # warning's case into an error too.
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise PhotoTooLarge(f"photo too large to decode: {e}") from e
    except UnidentifiedImageError as e:
        raise NotAnImage(f"not an image: {len(data)} bytes in no format Pillow knows") from e
    except MemoryError:
        raise
    except Exception as e:  # Pillow's parsers raise many kinds on odd files
        raise NotAnImage(f"not a decodable image: {_describe(e)}") from e
    check_header(image, max_pixels)
    try:
        image.load()
        return image
    except Image.DecompressionBombError as e:
        raise PhotoTooLarge(f"photo too large to decode: {e}") from e
    except MemoryError:
        raise
    except Exception as e:  # truncated or corrupt data, in any of Pillow's ways
        # Pillow says "image file is truncated", "broken data stream", ...
        raise NotAnImage(f"not a decodable {image.format or ''} image: {_describe(e)}".replace("  ", " ")) from e


def check_header(image: Image.Image, max_pixels: int) -> None:
    """The checks an opened photo's header allows before its pixels are decoded: ``PhotoTooLarge`` over
    ``max_pixels``, ``NotAnImage`` for a size of zero or a pixel mode that cannot be turned into colour.
    The Svc makes them on an upload's first bytes (``actors/upload_validation.py``), a worker before it
    decodes."""
    width, height = image.size
    if width * height > max_pixels:
        raise PhotoTooLarge(
            f"photo too large to decode: {width}x{height} = {width * height} pixels "
            f"(limit {max_pixels}, a possible decompression bomb)"
        )
    if width == 0 or height == 0:
        raise NotAnImage(f"not a decodable image: {width}x{height} pixels")
    if not markable_mode(image.mode):
        kind = f"{image.format} image" if image.format else "image"
        raise NotAnImage(f"a {kind} in pixel mode {image.mode}, which cannot be turned into colour")


@functools.cache
def markable_mode(mode: str) -> bool:
    """Whether a photo in pixel ``mode`` can be turned into RGB (tried on one pixel)."""
    try:
        _convert(Image.new(mode, (1, 1)))
    except (ValueError, TypeError, KeyError, OSError):
        return False
    return True


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - unreadable EXIF: the photo as stored
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    try:
        return _convert(image)
    except MemoryError:
        raise
    except Exception as e:  # an odd palette or mode, in any of Pillow's ways
        raise NotAnImage(
            f"not a decodable {image.format or ''} image: pixel mode {image.mode}: {_describe(e)}".replace("  ", " ")
        ) from e


def _convert(image: Image.Image) -> Image.Image:
    """RGB, transparency composited over white (a transparent PNG's text stays
    readable), 16-bit, 32-bit and float greys (any byte order) scaled to 8 bits."""
    if image.mode.startswith(_NUMERIC_MODES):
        grey = image.convert("F")
        lo, hi = grey.getextrema()
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        image = grey.point(lambda v: (v - lo) * scale).convert("L")
    if image.mode == "La":  # premultiplied: Pillow converts it only to LA
        image = image.convert("LA")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__
