"""What leaves a gateway: domain events, free of any protocol's frames.

Gateways tell these to their listeners with ``tell_call(listener, "on_<event>", event)``
(see ``actors/messaging.py``): ``on_job_delivered``, ``on_view_changed``,
``on_message_received``.  A listener implements only the ones it needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobDelivered:
    """The broker hands one job to one consumer; it stays unacked until the
    consumer acks or rejects it (prefetch 1 per consumer)."""

    consumer: str
    delivery_tag: int
    body: bytes  # the raw message; decoding it (and rejecting poison) is the consumer's job
    redelivered: bool = False


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
