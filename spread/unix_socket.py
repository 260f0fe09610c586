"""The daemon's local socket: a Unix stream socket at a path (``/tmp/PORT``, as Spread's).

Spread 4.4.0 serves one beside TCP, and libspread uses it for a bare port.  The
real daemon unlinks whatever is at the path before binding; this one replaces
only a stale socket file (nothing answers on it: a daemon that was killed), so
a second daemon never steals a running one's socket.
"""

from __future__ import annotations

import errno
import os
import socket
import stat

import structlog

log = structlog.get_logger()

__all__ = ["bind_unix_socket", "remove_unix_socket", "unix_socket_answers"]


def unix_socket_answers(path: str) -> bool:
    """Whether something accepts connections on the Unix socket ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def bind_unix_socket(path: str) -> socket.socket:
    """A Unix socket listening at ``path``, readable and writable by every user as Spread's is.

    A socket file already there is stale when nothing answers on it (a daemon that was killed):
    it is replaced.  One that answers belongs to a running daemon, and anything but a socket is
    not ours to remove: both are errors."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(errno.EEXIST, "exists and is not a socket", path)
        if unix_socket_answers(path):
            raise OSError(errno.EADDRINUSE, "a daemon already answers on this socket", path)
        os.unlink(path)
        log.info("spread.stale_unix_socket_replaced", path=path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        os.chmod(path, 0o666)
        listener.listen(128)
    except BaseException:
        listener.close()
        raise
    return listener


def remove_unix_socket(path: str, inode: int) -> None:
    """Remove the socket file at ``path`` if it is still the one bound (``inode``), not a successor's."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass
