"""The pending list in chunks, for the state transfer from the leader to a newcomer.

A Spread message to one group holds at most 143,120 bytes (``ports.group.MAX_PAYLOAD``,
the real Spread 4.4.0's limit), and a list may hold 100,000 entries,
so a snapshot travels as numbered chunks of compressed JSON.  ``chunks`` cuts,
``Assembler`` puts back together and checks every entry; neither does I/O.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable

from actors.group_messages import SnapshotChunk
from actors.pending_state import BadEntry, Entry

CHUNK_BYTES = 96_000  # of base64 text per message, well under Spread's limit with the JSON around it


def chunks(entries: Iterable[Entry], nonce: str, to: str, chunk_bytes: int = CHUNK_BYTES) -> list[SnapshotChunk]:
    listed = [entry.as_dict() for entry in entries]  # never empty once packed: "[]" compresses to bytes
    packed = base64.b64encode(zlib.compress(json.dumps(listed, separators=(",", ":")).encode(), 6)).decode()
    parts = [packed[i : i + chunk_bytes] for i in range(0, len(packed), chunk_bytes)]
    return [SnapshotChunk(to, nonce, i, len(parts), part) for i, part in enumerate(parts)]


class BadSnapshot(ValueError):
    """Chunks that do not add up to a snapshot."""


class Assembler:
    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.parts: dict[int, str] = {}
        self.total: int | None = None

    def add(self, chunk: SnapshotChunk) -> list[Entry] | None:
        """Adds one chunk; returns the entries once every chunk is in, else None.
        A chunk of another snapshot is ignored; one that does not fit raises ``BadSnapshot``."""
        if chunk.nonce != self.nonce:
            return None
        if self.total not in (None, chunk.total) or not 0 <= chunk.index < chunk.total:
            raise BadSnapshot(f"chunk {chunk.index} of {chunk.total} does not fit a snapshot of {self.total}")
        self.total = chunk.total
        self.parts[chunk.index] = chunk.data
        if len(self.parts) < chunk.total:
            return None
        packed = "".join(self.parts[i] for i in range(chunk.total))
        try:
            listed = json.loads(zlib.decompress(base64.b64decode(packed, validate=True)))
        except (ValueError, zlib.error) as error:
            raise BadSnapshot(f"snapshot does not decode: {error}") from None
        if not isinstance(listed, list):
            raise BadSnapshot("snapshot is not a list of entries")
        try:
            return [Entry.from_dict(data) for data in listed]
        except BadEntry as error:
            raise BadSnapshot(f"snapshot holds a bad entry: {error}") from None
