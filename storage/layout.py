"""Where things live in storage, and what a valid photo id looks like.

    photos/<id>.<ext>        the photo as uploaded
    photos/<id>_marks.png    the marked photo
    photos/<id>_marks.json   the report
    state/pending.json       the leader's checkpoint of the pending list

Ids are 128 random bits in lower-case hex, so they are unguessable and can never
name a path outside the storage root.
"""

from __future__ import annotations

import re
import secrets

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
EXTENSIONS = ("png", "jpg", "gif", "bmp", "tiff", "webp")
PENDING_STATE = "state/pending.json"


class InvalidId(ValueError):
    """The text is not a photo id (32 lower-case hex digits)."""


def new_id() -> str:
    return secrets.token_hex(16)


def check_id(photo_id: str) -> str:
    if not isinstance(photo_id, str) or not ID_PATTERN.fullmatch(photo_id):
        raise InvalidId(f"malformed id {photo_id!r}: an id is 32 hex digits")
    return photo_id


def photo_path(photo_id: str, ext: str) -> str:
    if ext not in EXTENSIONS:
        raise ValueError(f"unsupported photo extension {ext!r}")
    return f"photos/{check_id(photo_id)}.{ext}"


def marks_path(photo_id: str) -> str:
    return f"photos/{check_id(photo_id)}_marks.png"


def report_path(photo_id: str) -> str:
    return f"photos/{check_id(photo_id)}_marks.json"
