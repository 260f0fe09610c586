"""The exceptions of the Spread client: every failure names its Spread code.

Each is also the group port's error (``ports/group.py``), so an actor catches
the same exceptions from the Spread gateway and from its in-memory twin.
"""

from __future__ import annotations

from ports.group import GroupConnectionError, GroupError, GroupRejected
from spread.constants import MAX_MULTICAST_SIZE, MESSAGE_TOO_LONG, error_text


class SpreadError(GroupError):
    """A Spread operation failed with one of Spread's error codes."""

    def describe(self) -> str:
        message = error_text(self.code)
        return f"{message}: {self.detail}" if self.detail else message


class ProtocolError(SpreadError):
    """Bytes that are not a valid frame of the Spread 4 client protocol."""

    def __init__(self, detail: str, code: int = -13) -> None:  # ILLEGAL_MESSAGE
        super().__init__(code, detail)


class SpreadRejected(SpreadError, GroupRejected):
    """The daemon refused the connection (a negative byte in the handshake)."""


class SpreadConnectionError(SpreadError, GroupConnectionError):
    """The connection to the daemon is closed or broken."""


class MessageTooLong(SpreadError):
    """A multicast over what a real Spread 4.4.0 daemon accepts (body + 32 x groups <= 143,152 bytes):
    refused by the client before it is sent, since the real daemon crashes or closes the session."""

    def __init__(self, size: int, groups: int, limit: int) -> None:
        super().__init__(
            MESSAGE_TOO_LONG,
            f"a body of {size} bytes to {groups} group(s) is over {limit} bytes, the most a Spread 4.4.0 "
            f"daemon accepts (body + 32 x groups <= {MAX_MULTICAST_SIZE})",
        )
        self.size = size
        self.groups = groups
        self.limit = limit
