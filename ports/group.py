"""The group port: one session with a group communication daemon (Spread's model).

Satisfied by ``gateways.group.spread.SpreadGroupConnection`` (a real or
Spread-compatible daemon) and ``gateways.group.memory.MemoryGroupConnection``
(its fake twin).  Views and messages reach listeners as told calls
(``on_view_changed``, ``on_message_received``), in one agreed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ViewChanged:
    """A new membership view of a group, delivered to every member in the same
    order relative to the group's messages (Spread's REG_MEMB_MESS)."""

    group: str
    members: tuple[str, ...]  # private names, sorted: the oldest member first
    cause: str  # "join" | "leave" | "disconnect" | "network"
    changed: tuple[str, ...] = ()  # who joined or left to cause this view
    me: str = ""  # the receiving connection's own private name


@dataclass(frozen=True)
class MessageReceived:
    """One multicast, delivered to every member of the group in one agreed order."""

    group: str
    sender: str  # the sender's private name (a non-member may send to an open group)
    message_type: int  # Spread's 16-bit mess_type: a small number per payload type
    payload: bytes
    me: str = ""


class GroupListener:
    """Mixin for an actor subscribed to a group connection: it hears every view and
    message, so it must have both methods; these defaults ignore them (Mopidy's
    listener classes are the model)."""

    def on_view_changed(self, event: ViewChanged) -> None:
        pass

    def on_message_received(self, event: MessageReceived) -> None:
        pass


# Spread's code for a session that is closed or broken (CONNECTION_CLOSED in sp.h).
CONNECTION_CLOSED = -8


class GroupError(Exception):
    """A group operation failed.  ``code`` is Spread's error code for it (every
    group connection follows Spread 4's model, and names its failures alike)."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"group error {self.code}: {self.detail}" if self.detail else f"group error {self.code}"


class GroupRejected(GroupError):
    """The daemon refused the session (a name that is illegal or in use, ...)."""


class GroupConnectionError(GroupError, ConnectionError):
    """The session is closed or broken: what was being sent is lost."""


@runtime_checkable
class GroupConnection(Protocol):
    """The methods of a group connection gateway actor (called through its proxy)."""

    def private_name(self) -> str:
        """This session's private name, ``#user#daemon``."""

    def is_connected(self) -> bool:
        """Whether the session is up (health reads this)."""

    def members(self, group: str) -> tuple[str, ...]:
        """The members of the last view of ``group`` received (empty if not joined)."""

    def subscribe(self, listener: Any) -> None:
        """Tell ``listener`` every view and message from now on."""

    def join(self, group: str) -> None: ...

    def leave(self, group: str) -> None: ...

    def multicast(
        self, group: str, message_type: int, payload: bytes, service: str = "AGREED", self_discard: bool = False
    ) -> None:
        """Send to every member of ``group`` (or to one private name).  Raises
        ``GroupConnectionError`` when the session is down: the message is lost."""

    def disconnect(self) -> None: ...
