"""Spread's rules for user names, daemon names, group names and private names (pure functions).

One place for them: the daemon applies them to the bytes a client sends, the
client and the group gateway to what an application asks for, and the gateway's
in-memory twin (``gateways/group/memory.py``) to the same, so all of them agree.

* a name byte is above '#' (0x23) and at most '~' (0x7e): no space, no '#', no
  control byte, nothing outside ASCII;
* a user name (Spread's "private name" in SP_connect) is 0..10 such bytes; an
  empty one asks the daemon to make one up;
* a daemon name is 1..19 such bytes, so ``#<user>#<daemon>`` fits a 32-byte field;
* a group one joins is 1..31 such bytes (so never a private group, which holds '#');
* a destination of a multicast is such a group or a private group
  ``#<user>#<daemon>`` (a connection's own name).

The ``*_problem`` functions say why a name breaks a rule (``None`` when it keeps
them), so each caller raises its own error with Spread's code.
"""

from __future__ import annotations

from spread.constants import MAX_GROUP_NAME, MAX_PRIVATE_NAME, MAX_PROC_NAME

MAX_DAEMON_NAME = MAX_GROUP_NAME - 3 - MAX_PRIVATE_NAME  # 19: "#" + user + "#" + daemon + NUL in 32 bytes


def legal_name_bytes(raw: bytes) -> bool:
    """Every byte above '#' (0x23) and at most '~' (0x7e): no space, no '#', no control bytes."""
    return all(0x23 < b <= 0x7E for b in raw)


def legal_user_name(raw: bytes) -> bool:
    """A user name as sent in the connect request (empty is legal: the daemon invents one)."""
    return len(raw) <= MAX_PRIVATE_NAME and legal_name_bytes(raw)


def legal_group_name(raw: bytes) -> bool:
    """A group one can join: 1..31 legal bytes (so never a private group, which holds '#')."""
    return 0 < len(raw) < MAX_GROUP_NAME and legal_name_bytes(raw)


def legal_daemon_name(name: str) -> bool:
    raw = _bytes(name)
    return 0 < len(raw) < MAX_PROC_NAME and len(raw) <= MAX_DAEMON_NAME and legal_name_bytes(raw)


def private_group(user: str, daemon: str) -> str:
    """The private group (the connection's own name) of ``user`` on ``daemon``: ``#user#daemon``."""
    return f"#{user}#{daemon}"


def is_private_group(name: str) -> bool:
    """``#user#daemon`` with a legal, non-empty user and a legal daemon name."""
    parts = name.split("#")
    return (
        len(parts) == 3
        and not parts[0]
        and bool(parts[1])
        and legal_user_name(_bytes(parts[1]))
        and legal_daemon_name(parts[2])
    )


def user_of(private_group_name: str) -> str:
    """``#alice#localhost`` -> ``alice``."""
    parts = private_group_name.split("#")
    return parts[1] if len(parts) == 3 and not parts[0] else private_group_name


def user_name_problem(user: str) -> str | None:
    """Why ``user`` cannot be a user name, or None.  (libspread cuts a longer name to
    10 bytes; the group gateways refuse it instead, so two long names that would
    collide once cut fail loudly.)"""
    raw = _bytes(user)
    if len(raw) > MAX_PRIVATE_NAME:
        return f"user name {user!r} is longer than {MAX_PRIVATE_NAME} bytes"
    if not legal_name_bytes(raw):
        return f"user name {user!r} may only hold the characters '$' to '~'"
    return None


def group_name_problem(group: str) -> str | None:
    """Why ``group`` cannot be joined or left, or None."""
    raw = _bytes(group)
    if not 0 < len(raw) < MAX_GROUP_NAME:
        return f"group name {group!r} is not 1 to {MAX_GROUP_NAME - 1} bytes"
    if not legal_name_bytes(raw):
        return f"group name {group!r} may only hold the characters '$' to '~' (a private name cannot be joined)"
    return None


def destination_problem(name: str) -> str | None:
    """Why ``name`` cannot be where a multicast goes (a group, or a private group), or None."""
    if name.startswith("#"):
        if is_private_group(name):
            return None
        return f"{name!r} is neither a group name nor a private name #user#daemon"
    return group_name_problem(name)


def _bytes(name: str) -> bytes:
    """A name's bytes as they would go on the wire; a character outside ASCII becomes
    bytes above '~', so it is illegal rather than quietly replaced."""
    return name.encode("utf-8", errors="surrogatepass")
