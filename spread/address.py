"""Spread's daemon address notation: ``PORT@HOST`` (``4803@127.0.0.1``), or a bare ``PORT``.

A bare ``PORT`` names the daemon on this host through its local socket, as
libspread reads it: ``spuser -s 4803`` connects to the Unix socket ``/tmp/4803``,
which the real daemon (and ``photomark spread-daemon``) serves beside TCP.
``PORT@HOST`` always means TCP, ``4803@127.0.0.1`` included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from spread.constants import ILLEGAL_SPREAD, UNIX_SOCKET_DIR
from spread.errors import SpreadError

DEFAULT_PORT = 4803


@dataclass(frozen=True)
class SpreadAddress:
    host: str  # 127.0.0.1 for a bare port (where the daemon's TCP listener would be)
    port: int
    local: bool = False  # no host given: connect through the Unix socket ``<dir>/PORT``

    def __str__(self) -> str:
        return str(self.port) if self.local else f"{self.port}@{self.host}"


def unix_socket_path(port: int, directory: str = UNIX_SOCKET_DIR) -> str:
    """Where the daemon of ``port`` serves its local socket: ``/tmp/4803`` for 4803."""
    return os.path.join(directory, str(port))


def parse_address(text: str) -> SpreadAddress:
    text = text.strip()
    port_text, at, host = text.partition("@")
    host = host.strip()
    if not port_text.strip().isdigit():
        raise SpreadError(ILLEGAL_SPREAD, f"{text!r} is not PORT@HOST (for example 4803@127.0.0.1) or PORT")
    port = int(port_text)
    if not 0 < port < 65536:
        raise SpreadError(ILLEGAL_SPREAD, f"port {port} in {text!r} is not 1..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return SpreadAddress(host or "127.0.0.1", port, local=not at)
