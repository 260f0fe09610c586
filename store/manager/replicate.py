"""The replication message: the manager queues one per put, durably, and consumes it itself.

It names the object and the version the put created; a placer that finds the
table at another version (a newer put, or a delete) drops the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from store.ids import check_object_id, check_sha256

STORE_QUEUE = "photomark.store.replicate"
STORE_DEAD_LETTERS = "photomark.store.replicate.dead"


class InvalidReplicate(ValueError):
    """A queued body that is not a replication message."""


@dataclass(frozen=True)
class Replicate:
    object_id: str
    version: int
    sha256: str

    def __post_init__(self) -> None:
        check_object_id(self.object_id)
        check_sha256(self.sha256)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"a version is a positive integer, not {self.version!r}")

    def encode(self) -> bytes:
        return json.dumps({"id": self.object_id, "version": self.version, "sha256": self.sha256}).encode()

    @classmethod
    def decode(cls, body: bytes) -> Replicate:
        try:
            fields = json.loads(body)
            if not isinstance(fields, dict) or set(fields) != {"id", "version", "sha256"}:
                raise InvalidReplicate(f"a replication message has id, version and sha256: {body[:200]!r}")
            return cls(fields["id"], fields["version"], fields["sha256"])
        except InvalidReplicate:
            raise
        except (ValueError, TypeError) as error:  # JSON, UTF-8, id or digest rules
            raise InvalidReplicate(f"not a replication message ({error}): {body[:200]!r}") from None
