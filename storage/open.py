"""Which backend a ``--storage`` value names.

    replicated://HOST:PORT    the replicated store, through its manager at HOST:PORT
    anything else             a directory (or a GlusterFS mount): the fs backend

A value that looks like a URL (``scheme://...``) but is not a well-formed
``replicated://HOST:PORT`` is refused with a ``ValueError``, rather than taken for
a directory of that odd name.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from storage.backend import Storage
from storage.fs import FsStorage
from storage.replicated import ReplicatedStorage

REPLICATED = "replicated"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def replicated_address(spec: str) -> str:
    """The HOST:PORT of a ``replicated://HOST:PORT`` value; ``ValueError`` when it is not one."""
    usage = f"malformed storage {spec!r}: expected replicated://HOST:PORT, e.g. replicated://127.0.0.1:50071"
    parts = urlsplit(spec)
    if parts.scheme.lower() != REPLICATED:
        raise ValueError(f"{usage} (unknown scheme {parts.scheme!r})")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in spec or "#" in spec:
        raise ValueError(f"{usage} (nothing may follow the port)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{usage} (no user name or password)")
    if not parts.hostname:
        raise ValueError(f"{usage} (no host)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{usage} (the port is not a number from 1 to 65535)") from None
    if port is None or not 0 < port < 65536:
        raise ValueError(f"{usage} ({'no port' if port is None else 'the port is not a number from 1 to 65535'})")
    return parts.netloc


def open_storage(spec: str) -> Storage:
    """The backend ``spec`` names (see the module's docstring)."""
    if _URL.match(spec):
        return ReplicatedStorage(replicated_address(spec))
    return FsStorage(spec)
