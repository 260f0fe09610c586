"""Processes the tests start: is one still running, and waiting for one to be gone.

Liveness is read from /proc: the init process of a sandbox may reap late or never,
and a zombie answers ``kill(pid, 0)`` although it is dead.
"""

from __future__ import annotations

import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Running, and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pid: int, timeout: float) -> bool:
    """True once ``pid`` is no longer running, False if it still runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
