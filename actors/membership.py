"""Group membership as an actor: joins its groups when started, leaves them when stopped.

A role starts it last, after every actor that listens to the group has
subscribed (so none misses the first view), and so stops it first: a Svc leaves
the group, and the Register stops handing it out, before its server closes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pykka


class Membership(pykka.ThreadingActor):
    def __init__(self, group: pykka.ActorProxy, groups: Sequence[str]) -> None:
        super().__init__()
        self.group, self.groups = group, tuple(groups)

    def on_start(self) -> None:
        for name in self.groups:
            self.group.join(name).get()

    def on_stop(self) -> None:
        for name in reversed(self.groups):
            try:
                self.group.leave(name).get(timeout=5)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
