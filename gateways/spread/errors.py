"""The exceptions of the Spread gateway: every failure names its Spread code."""

from __future__ import annotations

from gateways.spread.constants import error_text


class SpreadError(Exception):
    """A Spread operation failed with one of Spread's error codes."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        message = error_text(code)
        super().__init__(f"{message}: {detail}" if detail else message)


class ProtocolError(SpreadError):
    """Bytes that are not a valid frame of the Spread 4 client protocol."""

    def __init__(self, detail: str, code: int = -13) -> None:  # ILLEGAL_MESSAGE
        super().__init__(code, detail)


class SpreadRejected(SpreadError):
    """The daemon refused the connection (a negative byte in the handshake)."""


class SpreadConnectionError(SpreadError, ConnectionError):
    """The connection to the daemon is closed or broken."""
