"""The JSON payloads multicast to ``photomark.svcs``, and their Spread message types.

Each payload has a ``"type"``; the 16-bit Spread ``mess_type`` carries a small
number per type, so a receiver can tell a payload it does not know from a
garbage one.  ``decode`` raises ``BadPayload``; receivers log and ignore it.
"""

from __future__ import annotations

import json

SVCS_GROUP = "photomark.svcs"

MESSAGE_TYPES = {
    "svc.hello": 1,
    "pending.add": 2,
    "job.done": 3,
    "job.failed": 4,
    "job.retry": 5,
    "pending.snapshot": 6,
    "pending.snapshot_request": 7,
}
TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}


class BadPayload(ValueError):
    """A group message that is not one of ours, or not well formed."""


def encode(payload: dict) -> tuple[int, bytes]:
    kind = payload["type"]
    return MESSAGE_TYPES[kind], json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def decode(message_type: int, data: bytes) -> dict:
    kind = TYPE_NAMES.get(message_type)
    if kind is None:
        raise BadPayload(f"unknown message type {message_type}")
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadPayload(f"{kind} payload is not JSON: {error}") from None
    if not isinstance(payload, dict) or payload.get("type") != kind:
        raise BadPayload(f"payload does not match message type {kind}")
    return payload
