"""Group member names that sort by start time.

Spread allows at most 10 characters of user name.  A name is a role letter,
the start time in milliseconds as 8 base-36 digits (fixed width, so text order
is time order until the year 2059), and one random digit against collisions.
"""

from __future__ import annotations

import secrets
import string
import time

DIGITS = string.digits + string.ascii_lowercase


def base36(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        out.append(DIGITS[digit])
    if number:
        raise ValueError("number too large for the width")
    return "".join(reversed(out))


def member_name(role: str, started_ms: int | None = None) -> str:
    started_ms = int(time.time() * 1000) if started_ms is None else started_ms
    return f"{role[0]}{base36(started_ms, 8)}{secrets.choice(DIGITS)}"


def role_of(private_name: str) -> str:
    """The role letter of a private name such as ``#s0mhd1x2ka#localhost`` ("s")."""
    user = private_name.split("#")[1] if private_name.startswith("#") else private_name
    return user[:1]
