"""The Register's Directory: which Svcs are alive, where they listen, how loaded.

It learns Svcs from their ``svc.hello`` multicasts and forgets a Svc at the
first view that no longer holds it.  A Svc it has not heard from since the view
says hello (``Announcer``) on every join.
"""

from __future__ import annotations

import pykka
import structlog

from actors import group_messages, svc_choice
from actors.group_messages import SvcHello
from actors.svc_choice import SvcRecord
from ports.group import GroupListener, MessageReceived, ViewChanged

log = structlog.get_logger()


class Directory(GroupListener, pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.svcs: dict[str, SvcRecord] = {}
        self.members: set[str] | None = None  # None until the first view
        self.turn = 0

    def on_view_changed(self, event: ViewChanged) -> None:
        if event.group != group_messages.SVCS_GROUP:
            return
        self.members = set(event.members)
        for name in [name for name in self.svcs if name not in self.members]:
            log.info("directory.svc_left", svc=name)
            del self.svcs[name]

    def on_message_received(self, event: MessageReceived) -> None:
        if (
            event.group != group_messages.SVCS_GROUP
            or event.message_type != group_messages.MESSAGE_TYPES[SvcHello.TYPE]
        ):
            return
        try:
            hello = group_messages.decode(event.message_type, event.payload)
        except group_messages.BadPayload as error:
            log.warning("directory.bad_hello", sender=event.sender, error=str(error))
            return
        record = SvcRecord(event.sender, hello.ip, hello.port, hello.load)
        if self.members is not None and event.sender not in self.members:
            return  # a hello from a Svc the group already saw leave
        if event.sender not in self.svcs:
            log.info("directory.svc_joined", svc=event.sender, address=f"{record.ip}:{record.port}")
        self.svcs[event.sender] = record

    def announce(self, record: SvcRecord) -> None:
        """A Svc known without the group (a static ``--svc`` list)."""
        self.svcs[record.name] = record

    def choose(self) -> SvcRecord | None:
        self.turn += 1
        return svc_choice.choose(self.svcs.values(), self.turn)

    def list(self) -> list[SvcRecord]:
        return svc_choice.ranked(self.svcs.values())
