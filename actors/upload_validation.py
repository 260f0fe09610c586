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

A streamed upload is checked in three steps, so no photo is ever whole in memory:
the keywords and the announced size with the header (``check_keywords``,
``check_size``); the format, dimensions and pixel limit from the first block(s)
(``identify``: a decompression bomb or a text file is refused before the rest
arrives, and the format names the stored file); and the full decode, the
worker's, on the stored bytes once they are all there (``check_photo_file``).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from marking.photo import NotAnImage, PhotoTooLarge, check_header, open_photo, pixel_limit

MAX_KEYWORDS = 100
MAX_KEYWORD_LENGTH = 100
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 100_000_000

IDENTIFY_BYTES = 64 * 1024  # what ``identify`` wants to see of a photo (all of a smaller one)
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


# The first bytes of each accepted format, for a photo whose header Pillow cannot read from its first
# block alone (a TIFF whose first directory sits at the end of the file, a JPEG with a long EXIF).
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff(prefix: bytes) -> str | None:
    """The extension the first bytes of a photo announce, or None."""
    if prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP":
        return "webp"
    return next((ext for magic, ext in MAGIC if prefix.startswith(magic)), None)


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__


def _checked_header(image: Image.Image, max_pixels: int) -> tuple[str, int, int]:
    """Extension, width and height of an opened (not yet decoded) photo: the checks a worker makes before
    it decodes (``marking.photo.check_header``), then a format the Svc takes."""
    try:
        check_header(image, max_pixels)
    except PhotoTooLarge as error:
        raise TooLarge(f"{error}: over the limit of {max_pixels} pixels") from None
    except NotAnImage as error:
        raise BadUpload(str(error)) from None
    ext = EXTENSIONS.get(image.format or "")
    if ext is None:
        raise BadUpload(f"unsupported photo format {image.format}: use PNG, JPEG, GIF, BMP, TIFF or WebP")
    return ext, *image.size


def identify(prefix: bytes, limits: Limits, whole: bool = False) -> str:
    """The extension of the photo whose first bytes are ``prefix`` (at least ``IDENTIFY_BYTES`` of it, or
    all of it when ``whole``), refusing early what its header already condemns: too many pixels, a format
    the Svc does not accept, no image at all.  The full decode comes later (``check_photo_file``)."""
    max_pixels = min(limits.max_pixels, pixel_limit())
    try:
        image = Image.open(io.BytesIO(prefix))
    except Image.DecompressionBombError as error:
        raise TooLarge(f"photo too large to decode: {error}: over the limit of {max_pixels} pixels") from None
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - Pillow cannot read the header from the first bytes alone
        ext = None if whole else sniff(prefix)
        if ext is None:
            what = f"{len(prefix)} bytes" if whole else f"the first {len(prefix)} bytes"
            raise BadUpload(f"not an image: {what} in no format Pillow knows") from None
        return ext
    with image:
        return _checked_header(image, max_pixels)[0]


def check_photo_file(file: BinaryIO, limits: Limits) -> tuple[str, int, int]:
    """``check_photo`` of the photo in ``file`` (open for reading, at its start), which Pillow reads as it
    decodes: the bytes are never all in memory (the pixels are, as a worker's decode holds them)."""
    size = os.fstat(file.fileno()).st_size
    if not size:
        raise BadUpload("empty upload: no photo bytes arrived")
    check_size(size, 0, limits)
    return check_photo_stream(file, limits, f"{size} bytes")


def check_photo_stream(file: BinaryIO, limits: Limits, what: str = "the bytes") -> tuple[str, int, int]:
    """The full decode of ``check_photo_file`` on a readable, seekable ``file`` whose size is not known
    yet (still arriving, and checked as it arrives); ``what`` names its bytes in the error of a file in no
    format Pillow knows."""
    max_pixels = min(limits.max_pixels, pixel_limit())
    try:
        image = Image.open(file)
    except Image.DecompressionBombError as error:
        raise TooLarge(f"photo too large to decode: {error}: over the limit of {max_pixels} pixels") from None
    except UnidentifiedImageError:
        raise BadUpload(f"not an image: {what} in no format Pillow knows") from None
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - Pillow's parsers raise many kinds on odd files
        raise BadUpload(f"not a decodable image: {_describe(error)}") from None
    with image:
        ext, width, height = _checked_header(image, max_pixels)
        try:
            image.load()
        except Image.DecompressionBombError as error:
            raise TooLarge(f"photo too large to decode: {error}: over the limit of {max_pixels} pixels") from None
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001 - truncated or corrupt data, in any of Pillow's ways
            raise BadUpload(f"not a decodable {image.format} image: {_describe(error)}") from None
    return ext, width, height


def check_photo_path(path: str | os.PathLike[str], limits: Limits) -> tuple[str, int, int]:
    """``check_photo_file`` of the file at ``path``."""
    with open(path, "rb") as file:
        return check_photo_file(file, limits)


def clean_filename(filename: str, ext: str) -> str:
    return (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255] or f"photo.{ext}"


def validate(data: bytes, keywords: list[str], filename: str, announced_size: int, limits: Limits) -> ValidUpload:
    words = check_keywords(keywords)
    if announced_size and announced_size != len(data):
        raise BadUpload(f"truncated upload: {len(data)} bytes arrived of the {announced_size} announced")
    ext, width, height = check_photo(data, limits)
    return ValidUpload(data, ext, width, height, words, clean_filename(filename, ext))
