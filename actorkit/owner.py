"""Owner: an actor whose only job is to close a resource when its role stops.

Some things a role shares are not actors (the store manager's gRPC clients of
its nodes, a node's clients of copy targets): they outlive restarts of the
actors that use them, and must still be closed when the role ends, so that a
call in flight is cancelled instead of holding a thread (and the process's
exit) until its deadline.  Put an Owner first in the role's specs: started
first, it is stopped last, after everything that uses the resource.
"""

from __future__ import annotations

from collections.abc import Callable

import pykka
import structlog

log = structlog.get_logger()


class Owner(pykka.ThreadingActor):
    def __init__(self, what: str, close: Callable[[], None]) -> None:
        super().__init__()
        self.what, self.close = what, close

    def on_stop(self) -> None:
        try:
            self.close()
        except Exception as error:  # noqa: BLE001 - a role that stops must not fail on a close
            log.warning("owner.close_failed", what=self.what, error=repr(error))
