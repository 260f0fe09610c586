"""The exceptions of the Spread client: every failure names its Spread code.

Each is also the group port's error (``ports/group.py``), so an actor catches
the same exceptions from the Spread gateway and from its in-memory twin.
"""

from __future__ import annotations

from ports.group import GroupConnectionError, GroupError, GroupRejected
from spread.constants import error_text


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
