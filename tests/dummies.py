"""Dummy actors for tests: listeners that record what gateways tell them (Mopidy's dummies are the model)."""

from __future__ import annotations

import pykka

from actors import group_messages
from ports.broker import JobDelivered
from ports.group import GroupListener, MessageReceived, ViewChanged


class JobRecorder(pykka.ThreadingActor):
    """A broker consumer's listener that only records what it is handed (and acks nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[JobDelivered] = []

    def on_job_delivered(self, event: JobDelivered) -> None:
        self.events.append(event)

    def seen(self) -> list[JobDelivered]:
        return list(self.events)


class JobAcker(JobRecorder):
    """Records each job and acks it at once, with a proxy call whose future nobody waits on
    (the way a worker acks); ``hold_first`` keeps the first job unacked, as a worker busy with it."""

    def __init__(self, broker: pykka.ActorProxy, hold_first: bool = False) -> None:
        super().__init__()
        self.broker = broker
        self.hold_first = hold_first

    def on_job_delivered(self, event: JobDelivered) -> None:
        super().on_job_delivered(event)
        if self.hold_first and len(self.events) == 1:
            return
        self.broker.ack(event.consumer, event.delivery_tag)


class GroupRecorder(GroupListener, pykka.ThreadingActor):
    """Listens to a group and keeps every decoded payload and view, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list = []
        self.views: list = []

    def on_message_received(self, event) -> None:
        self.payloads.append(group_messages.decode(event.message_type, event.payload))

    def on_view_changed(self, event) -> None:
        self.views.append(event)

    def seen(self) -> list:
        return list(self.payloads)


class GroupEventRecorder(pykka.ThreadingActor):
    """Records every view and message a group connection tells it, raw, in the order it was told them."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[ViewChanged | MessageReceived] = []

    def on_view_changed(self, event: ViewChanged) -> None:
        self.events.append(event)

    def on_message_received(self, event: MessageReceived) -> None:
        self.events.append(event)

    def seen(self) -> list[ViewChanged | MessageReceived]:
        return list(self.events)
