"""The pending list in chunks, for the state transfer from the leader to a newcomer.

A Spread message holds at most about 144 kB, and a list may hold 100,000 entries,
so a snapshot travels as numbered chunks of compressed JSON.  ``chunks`` cuts,
``Assembler`` puts back together; neither does I/O.
"""

from __future__ import annotations

import base64
import json
import zlib

CHUNK_BYTES = 96_000  # of base64 text per message, well under Spread's limit with the JSON around it


def chunks(entries: list[dict], nonce: str, to: str, chunk_bytes: int = CHUNK_BYTES) -> list[dict]:
    packed = base64.b64encode(zlib.compress(json.dumps(entries, separators=(",", ":")).encode(), 6)).decode()
    parts = [packed[i:i + chunk_bytes] for i in range(0, len(packed), chunk_bytes)] or [""]
    return [{"type": "pending.snapshot", "to": to, "nonce": nonce, "index": i, "total": len(parts), "data": part}
            for i, part in enumerate(parts)]


class BadSnapshot(ValueError):
    """Chunks that do not add up to a snapshot."""


class Assembler:
    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.parts: dict[int, str] = {}
        self.total: int | None = None

    def add(self, chunk: dict) -> list[dict] | None:
        """Adds one chunk; returns the entries once every chunk is in, else None."""
        if chunk.get("nonce") != self.nonce:
            return None
        total, index = int(chunk["total"]), int(chunk["index"])
        if self.total not in (None, total) or not 0 <= index < total:
            raise BadSnapshot(f"chunk {index} of {total} does not fit a snapshot of {self.total}")
        self.total = total
        self.parts[index] = chunk["data"]
        if len(self.parts) < total:
            return None
        packed = "".join(self.parts[i] for i in range(total))
        try:
            entries = json.loads(zlib.decompress(base64.b64decode(packed)))
        except (ValueError, zlib.error) as error:
            raise BadSnapshot(f"snapshot does not decode: {error}") from None
        if not isinstance(entries, list):
            raise BadSnapshot("snapshot is not a list of entries")
        return entries
