"""The group port: one session with a group communication daemon (Spread's model).

Satisfied by ``gateways.group.spread.SpreadGroupConnection`` (a real or
Spread-compatible daemon) and ``gateways.group.memory.MemoryGroupConnection``
(its fake twin); ``tests/conformance/test_group_port.py`` runs one suite on both.
Views and messages reach listeners as told calls (``on_view_changed``,
``on_message_received``), in one agreed order.

The errors live here too, with the few Spread codes the port names, so an actor
catches the same exceptions, with the same codes and words, from either twin.
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
    message_type: int  # 0..65535: Spread's 16-bit mess_type, a small number per payload type
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


# -- what a multicast may carry ---------------------------------------------------------

SERVICES = ("UNRELIABLE", "RELIABLE", "FIFO", "CAUSAL", "AGREED", "SAFE")  # Spread's service levels
MESSAGE_TYPES = range(0x10000)  # a message type is an unsigned 16-bit number
MAX_PAYLOAD = 143_120  # what Spread 4.4.0 takes to one group: body + 32 <= 143,152 (spread.constants.max_body)


# -- errors -------------------------------------------------------------------------------

# The Spread 4 codes (sp.h) of the failures the port names.  The Spread client's
# table (``spread/constants.py``) starts from this one, so both twins word them alike.
REJECT_ILLEGAL_NAME = -5
REJECT_NOT_UNIQUE = -6
CONNECTION_CLOSED = -8
ILLEGAL_SERVICE = -12
ILLEGAL_MESSAGE = -13
ILLEGAL_GROUP = -14
MESSAGE_TOO_LONG = -17

ERROR_TEXTS: dict[int, tuple[str, str]] = {
    REJECT_ILLEGAL_NAME: (
        "REJECT_ILLEGAL_NAME",
        "the private name is illegal (at most 10 bytes, each above '#' and at most '~')",
    ),
    REJECT_NOT_UNIQUE: ("REJECT_NOT_UNIQUE", "another connection to this daemon already uses that private name"),
    CONNECTION_CLOSED: ("CONNECTION_CLOSED", "the connection to the daemon was closed"),
    ILLEGAL_SERVICE: ("ILLEGAL_SERVICE", "the service type is not a valid one"),
    ILLEGAL_MESSAGE: ("ILLEGAL_MESSAGE", "the message is malformed"),
    ILLEGAL_GROUP: ("ILLEGAL_GROUP", "the group name is illegal"),
    MESSAGE_TOO_LONG: ("MESSAGE_TOO_LONG", f"the message is longer than {MAX_PAYLOAD} bytes"),
}


def error_text(code: int) -> str:
    """``NAME (code): what it means`` for a code the port names, ``group error <code>`` for another."""
    if code not in ERROR_TEXTS:
        return f"group error {code}"
    name, text = ERROR_TEXTS[code]
    return f"{name} ({code}): {text}"


class GroupError(Exception):
    """A group operation failed.  ``code`` is Spread's error code for it (every
    group connection follows Spread 4's model, and names its failures alike)."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(self.describe())

    def describe(self) -> str:
        message = error_text(self.code)
        return f"{message}: {self.detail}" if self.detail else message


class GroupRejected(GroupError):
    """The daemon refused the session (a name that is illegal or in use, ...)."""


class GroupConnectionError(GroupError, ConnectionError):
    """The session is closed or broken: what was being sent is lost."""


def check_multicast(message_type: int, payload: bytes, service: str) -> None:
    """What every group connection refuses before sending: a message type that is not
    0..65535 (ILLEGAL_MESSAGE), a payload that is not bytes (TypeError) or is over
    ``MAX_PAYLOAD`` (MESSAGE_TOO_LONG), a service that is not one of ``SERVICES``
    (ILLEGAL_SERVICE)."""
    if isinstance(message_type, bool) or not isinstance(message_type, int) or message_type not in MESSAGE_TYPES:
        raise GroupError(ILLEGAL_MESSAGE, f"message type {message_type!r} is not in 0..65535")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"a payload is bytes, not {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD:
        raise GroupError(MESSAGE_TOO_LONG, f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    if service not in SERVICES:
        raise GroupError(ILLEGAL_SERVICE, f"service {service!r} is not one of {', '.join(SERVICES)}")


@runtime_checkable
class GroupConnection(Protocol):
    """The methods of a group connection gateway actor (called through its proxy).

    Names follow Spread's rules (``spread/names.py``): a user name is at most 10
    bytes, each '$'..'~' ("" asks the daemon to make one up); a group to join is
    1..31 such bytes; a destination is a group or a private name ``#user#daemon``.
    A broken rule raises ``GroupRejected`` (REJECT_ILLEGAL_NAME) when connecting,
    ``GroupError`` (ILLEGAL_GROUP) otherwise, before anything is sent.
    """

    def private_name(self) -> str:
        """This session's private name, ``#user#daemon``."""

    def is_connected(self) -> bool:
        """Whether the session is up (health reads this)."""

    def members(self, group: str) -> tuple[str, ...]:
        """The members of the last view of ``group`` received (empty if not joined)."""

    def subscribe(self, listener: Any) -> None:
        """Tell ``listener`` (a ``pykka`` ActorRef or ActorProxy) every view and message
        from now on; what arrived while nobody listened goes to the first listener.
        Subscribing a listener twice changes nothing; a listener that died is dropped."""

    def join(self, group: str) -> None:
        """Join ``group``: every member, the joiner too, sees a view with cause "join".
        Joining a group twice changes nothing."""

    def leave(self, group: str) -> None:
        """Leave ``group``: the leaver sees a view with no members, the others one with
        cause "leave".  Leaving a group one is not in changes nothing."""

    def multicast(
        self, group: str, message_type: int, payload: bytes, service: str = "AGREED", self_discard: bool = False
    ) -> None:
        """Send to every member of ``group`` (a non-member may send; it does not
        receive) or to one private name; the sender gets its own copy unless
        ``self_discard``.  Raises ``GroupConnectionError`` (CONNECTION_CLOSED) when
        the session is down: the message is lost."""

    def disconnect(self) -> None:
        """Close the session: every group it was in sees cause "disconnect".  Closing
        twice changes nothing; join, leave and multicast then raise ``GroupConnectionError``."""
