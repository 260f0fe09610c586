"""Reading whole frames from a byte stream whose TCP segments split them anywhere."""

from __future__ import annotations

import select
import socket
import time

from spread.constants import (
    CONNECTION_CLOSED,
    HEADER_SIZE,
    NET_ERROR_ON_SESSION,
)
from spread.errors import SpreadConnectionError
from spread.messages import Message, decode_header, decode_rest


class FrameReader:
    """Buffers what a socket delivers and hands out exact-length pieces.

    A timeout never loses bytes: what arrived stays buffered for the next call.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._buf) < n:
            self._fill(deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_message(self, timeout: float | None = None) -> Message:
        """One message frame; raises TimeoutError with nothing consumed if it has not all arrived."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._buf) < HEADER_SIZE:
            self._fill(deadline)
        header = decode_header(bytes(self._buf[:HEADER_SIZE]))
        size = HEADER_SIZE + header.rest_size
        while len(self._buf) < size:
            self._fill(deadline)
        rest = bytes(self._buf[HEADER_SIZE:size])
        del self._buf[:size]
        return decode_rest(header, rest)

    def _fill(self, deadline: float | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no whole Spread frame arrived in time")
            try:
                ready, _, _ = select.select([self._sock], [], [], remaining)
            except (OSError, ValueError) as exc:
                raise SpreadConnectionError(NET_ERROR_ON_SESSION, str(exc)) from None
            if not ready:
                raise TimeoutError("no whole Spread frame arrived in time")
        try:
            chunk = self._sock.recv(65536)
        except (ConnectionError, OSError) as exc:
            raise SpreadConnectionError(NET_ERROR_ON_SESSION, str(exc)) from None
        if not chunk:
            raise SpreadConnectionError(CONNECTION_CLOSED, "the peer closed the connection")
        self._buf += chunk
