"""Decode the bytes of an uploaded photo into an upright RGB image."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's default limit (about 89.5 megapixels, a 1 GB RGBA bomb), used when a
# process disabled Pillow's (Image.MAX_IMAGE_PIXELS = None).  Pillow warns
# above its limit and refuses above twice it; a photo is refused above it.
MAX_PIXELS = 89_478_485


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
    decompression-bomb limit).
    """
    image = open_photo(data, max_pixels=max_pixels)
    try:
        return _to_rgb(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise NotAnImage(f"not a decodable {image.format or ''} image: {e}".replace("  ", " ")) from e


def open_photo(data: bytes, *, max_pixels: int | None = None) -> Image.Image:
    """The photo in ``data``, fully decoded (so a truncated one fails here), as stored:
    no rotation, its own mode, ``format`` set.  The Svc checks an upload with this,
    the worker decodes with it, so both refuse the same photos.

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
        raise NotAnImage(
            f"not an image: {len(data)} bytes in no format Pillow knows"
        ) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise NotAnImage(f"not a decodable image: {e}") from e
    width, height = image.size
    if width * height > max_pixels:
        raise PhotoTooLarge(
            f"photo too large to decode: {width}x{height} = {width * height} pixels "
            f"(limit {max_pixels}, a possible decompression bomb)"
        )
    if width == 0 or height == 0:
        raise NotAnImage(f"not a decodable image: {width}x{height} pixels")
    try:
        image.load()
        return image
    except Image.DecompressionBombError as e:
        raise PhotoTooLarge(f"photo too large to decode: {e}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Truncated or corrupt data: Pillow says "image file is truncated",
        # "broken data stream", ...
        raise NotAnImage(
            f"not a decodable {image.format or ''} image: {e}".replace("  ", " ")
        ) from e


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, transparency composited over white (a transparent PNG's text stays
    readable), 16-bit and float greys scaled to 8 bits."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        lo, hi = image.getextrema()
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        image = image.convert("F").point(lambda v: (v - lo) * scale).convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
