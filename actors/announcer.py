"""The Announcer: tells the group where this Svc listens and how loaded it is.

It multicasts ``svc.hello`` when it starts, whenever the view changes (so a
Register that just joined learns of every Svc), and every few seconds with the
current load.
"""

from __future__ import annotations

import pykka
import structlog

from actorkit.ticker import Ticker
from actors import group_messages
from actors.group_messages import SvcHello
from ports.group import GroupConnectionError, GroupListener, ViewChanged

log = structlog.get_logger()


class Announcer(GroupListener, pykka.ThreadingActor):
    def __init__(
        self, group: pykka.ActorProxy, pending: pykka.ActorProxy, ip: str, port: int, interval: float = 2.0
    ) -> None:
        super().__init__()
        self.group, self.pending = group, pending
        self.ip, self.port, self.interval = ip, port, interval
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.announce()
        self.ticker = Ticker(self.actor_ref, "announce", self.interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()

    def on_view_changed(self, event: ViewChanged) -> None:
        if event.group == group_messages.SVCS_GROUP and event.cause == "join":
            self.announce()

    def announce(self) -> None:
        try:
            group_messages.multicast(self.group, SvcHello(self.ip, self.port, self.pending.load().get()))
        except GroupConnectionError as error:  # the next tick says it again
            log.warning("announcer.hello_lost", error=str(error))
