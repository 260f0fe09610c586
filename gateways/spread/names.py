"""Spread's rules for private names, daemon names and group names (pure functions)."""

from __future__ import annotations

from gateways.spread.constants import MAX_GROUP_NAME, MAX_PRIVATE_NAME, MAX_PROC_NAME


def legal_name_bytes(raw: bytes) -> bool:
    """Every byte above '#' (0x23) and at most '~' (0x7e): no space, no '#', no control bytes."""
    return all(0x23 < b <= 0x7E for b in raw)


def legal_private_name(raw: bytes) -> bool:
    """A user's name as sent in the connect request (empty is legal: the daemon invents one)."""
    return len(raw) <= MAX_PRIVATE_NAME and legal_name_bytes(raw)


def legal_group_name(raw: bytes) -> bool:
    """A group one can join: 1..31 legal bytes (so never a private group, which holds '#')."""
    return 0 < len(raw) < MAX_GROUP_NAME and legal_name_bytes(raw)


def legal_daemon_name(name: str) -> bool:
    raw = name.encode("latin-1", errors="replace")
    # "#" + 10-byte user + "#" + daemon name must leave room for the NUL of a 32-byte field
    return 0 < len(raw) < MAX_PROC_NAME and len(raw) <= MAX_GROUP_NAME - 3 - MAX_PRIVATE_NAME and legal_name_bytes(raw)


def private_group(user: str, daemon: str) -> str:
    return f"#{user}#{daemon}"


def user_of(private_group_name: str) -> str:
    """``#alice#localhost`` -> ``alice``."""
    parts = private_group_name.split("#")
    return parts[1] if len(parts) == 3 and not parts[0] else private_group_name
