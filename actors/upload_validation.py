"""What a Svc accepts: checks on an upload before anything is written.

``BadUpload`` maps to gRPC INVALID_ARGUMENT, ``TooLarge`` to RESOURCE_EXHAUSTED.

The rule: the Svc refuses what no worker could mark, and only that.  It decodes
the photo as a worker does (``marking.photo.open_photo``): undecodable bytes, a
pixel mode that cannot be turned into colour, and more pixels than a worker
decodes are refused here, with the reason.  A valid photo too small or too thin
to hold text (1x1, 2x2, 1xN, 10000x3) is accepted: a worker marks it without
OCR and reports every keyword 0 times, which is the true answer; refusing it
would tie uploads to the OCR's internals.  An animated photo is accepted and
its first frame marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from marking.photo import NotAnImage, PhotoTooLarge, open_photo, pixel_limit

MAX_KEYWORDS = 100
MAX_KEYWORD_LENGTH = 100
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 100_000_000

# Pillow format name -> extension in storage (storage/layout.py).
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff", "WEBP": "webp"}


class BadUpload(ValueError):
    """The upload is not something a Svc can mark."""


class TooLarge(BadUpload):
    """The upload is over a size limit (bytes or pixels)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class ValidUpload:
    data: bytes
    ext: str
    width: int
    height: int
    keywords: tuple[str, ...]
    filename: str


def check_keywords(keywords: list[str]) -> tuple[str, ...]:
    cleaned = [" ".join(keyword.split()) for keyword in keywords]
    if not cleaned:
        raise BadUpload("no keywords: give at least one keyword to mark")
    if len(cleaned) > MAX_KEYWORDS:
        raise BadUpload(f"{len(cleaned)} keywords: at most {MAX_KEYWORDS} are allowed")
    for keyword in cleaned:
        if not keyword:
            raise BadUpload("an empty keyword: every keyword needs a letter or digit")
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise BadUpload(
                f"keyword {keyword[:20]!r}... has {len(keyword)} characters: at most {MAX_KEYWORD_LENGTH} are allowed"
            )
    return tuple(dict.fromkeys(cleaned))  # duplicates dropped, order kept


def check_size(received: int, announced: int, limits: Limits) -> None:
    """Called as blocks arrive, so an oversized upload is refused before it is all in memory."""
    if received > limits.max_bytes or announced > limits.max_bytes:
        size = max(received, announced)
        raise TooLarge(f"photo of {size} bytes or more is over the limit of {limits.max_bytes} bytes")


def check_photo(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """(extension, width, height) of a complete, decodable image within the limits.

    Decoded the way a worker will decode it (``marking/photo.py``), so what
    the Svc accepts, a worker can mark: the pixel limit is the lower of
    ``limits.max_pixels`` and what a worker decodes (``pixel_limit``)."""
    if not data:
        raise BadUpload("empty upload: no photo bytes arrived")
    check_size(len(data), 0, limits)
    max_pixels = min(limits.max_pixels, pixel_limit())
    try:
        image = open_photo(data, max_pixels=max_pixels)
    except PhotoTooLarge as error:
        raise TooLarge(f"{error}: over the limit of {max_pixels} pixels") from None
    except NotAnImage as error:
        raise BadUpload(str(error)) from None
    fmt, (width, height) = image.format, image.size
    image.close()
    ext = EXTENSIONS.get(fmt or "")
    if ext is None:
        raise BadUpload(f"unsupported photo format {fmt}: use PNG, JPEG, GIF, BMP, TIFF or WebP")
    return ext, width, height


def validate(data: bytes, keywords: list[str], filename: str, announced_size: int, limits: Limits) -> ValidUpload:
    words = check_keywords(keywords)
    if announced_size and announced_size != len(data):
        raise BadUpload(f"truncated upload: {len(data)} bytes arrived of the {announced_size} announced")
    ext, width, height = check_photo(data, limits)
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255] or f"photo.{ext}"
    return ValidUpload(data, ext, width, height, words, name)
