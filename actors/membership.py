"""Group membership as an actor: joins its groups when started, leaves them when stopped.

A role starts it last, after every actor that listens to the group has
subscribed (so none misses the first view), and so stops it first: a Svc leaves
the group, and the Register stops handing it out, before its server closes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pykka
import structlog

from ports.group import GroupConnectionError

log = structlog.get_logger()


class Membership(pykka.ThreadingActor):
    def __init__(self, group: pykka.ActorProxy, groups: Sequence[str], leave_timeout: float = 5.0) -> None:
        super().__init__()
        self.group, self.groups, self.leave_timeout = group, tuple(groups), leave_timeout

    def on_start(self) -> None:
        for name in self.groups:
            self.group.join(name).get()

    def on_stop(self) -> None:
        """Leaves every group, newest first.  A connection that is gone, closed or does not answer
        within ``leave_timeout`` is not asked again: a dead session's groups are dropped by the
        daemon anyway, and a stop must not wait on a connection that will never answer."""
        for name in reversed(self.groups):
            try:
                self.group.leave(name).get(timeout=self.leave_timeout)
            except (pykka.ActorDeadError, pykka.Timeout, GroupConnectionError) as error:
                log.info("membership.leave_skipped", group=name, error=repr(error))
                return
