"""Spread's daemon address notation: ``PORT@HOST`` (``4803@127.0.0.1``).

A bare ``PORT`` means the local host.  (libspread would use the Unix socket
``/tmp/PORT`` for it; this client always speaks TCP, so it uses 127.0.0.1.)
"""

from __future__ import annotations

from dataclasses import dataclass

from spread.constants import ILLEGAL_SPREAD
from spread.errors import SpreadError

DEFAULT_PORT = 4803


@dataclass(frozen=True)
class SpreadAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.port}@{self.host}"


def parse_address(text: str) -> SpreadAddress:
    text = text.strip()
    port_text, _, host = text.partition("@")
    host = host.strip() or "127.0.0.1"
    if not port_text.strip().isdigit():
        raise SpreadError(ILLEGAL_SPREAD, f"{text!r} is not PORT@HOST (for example 4803@127.0.0.1)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise SpreadError(ILLEGAL_SPREAD, f"port {port} in {text!r} is not 1..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return SpreadAddress(host, port)
