"""What an object id, a node id and a sha256 digest look like in the store.

An object id is a storage name (``storage/layout.py``): 1 to 200 bytes of
``[A-Za-z0-9._-]`` in slash-separated parts, none empty, none starting with a
dot, so an id can never name a path outside a node's directory nor collide
with a node's hidden files.  A node id is also its Spread user name: 1 to 10
bytes of ``[a-z0-9-]``.  A digest is a sha256 in lower-case hex.
"""

from __future__ import annotations

import re

MAX_OBJECT_ID = 200
_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
NODE_ID = re.compile(r"[a-z0-9-]{1,10}")
SHA256 = re.compile(r"[0-9a-f]{64}")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class InvalidObjectId(ValueError):
    """Not an object id."""


class InvalidNodeId(ValueError):
    """Not a node id."""


class InvalidDigest(ValueError):
    """Not a sha256 in lower-case hex."""


def check_object_id(object_id: object) -> str:
    if (
        not isinstance(object_id, str)
        or not 0 < len(object_id) <= MAX_OBJECT_ID
        or not all(_PART.fullmatch(part) for part in object_id.split("/"))
    ):
        raise InvalidObjectId(
            f"malformed object id {object_id!r}: 1..{MAX_OBJECT_ID} characters of [A-Za-z0-9._-] "
            "in slash-separated parts, none empty or starting with a dot"
        )
    return object_id


def check_node_id(node: object) -> str:
    if not isinstance(node, str) or not NODE_ID.fullmatch(node):
        raise InvalidNodeId(f"malformed node id {node!r}: 1..10 characters of [a-z0-9-]")
    return node


def check_sha256(digest: object) -> str:
    if not isinstance(digest, str) or not SHA256.fullmatch(digest):
        raise InvalidDigest(f"malformed sha256 {digest!r}: 64 lower-case hex digits")
    return digest
