"""The Notifier: wakes the callers waiting for a photo to leave PROCESSING.

A gRPC handler that waits (``Status`` with ``wait_ms``) registers a waker with
``watch`` and then re-checks the status, so it cannot miss a job that finished
in between; the PendingList tells ``on_job_finished``.  A waker is anything
with ``set(value)``: a pykka future, or the asyncio handler's waker, which
hands the value to its event loop (``loop.call_soon_threadsafe``), so a waiting
``Status`` holds no thread.  A stopped (or crashed)
Notifier wakes every waiter with ``None``, so none waits out its whole timeout.
"""

from __future__ import annotations

import queue
from typing import Any, Protocol

import pykka


class Waker(Protocol):
    def set(self, value: str | None) -> None: ...


class Notifier(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.watchers: dict[str, list[Waker]] = {}

    def watch(self, photo_id: str, future: Waker) -> None:
        self.watchers.setdefault(photo_id, []).append(future)

    def unwatch(self, photo_id: str, future: Waker) -> None:
        futures = self.watchers.get(photo_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self.watchers.pop(photo_id, None)

    def on_job_finished(self, photo_id: str) -> None:
        for future in self.watchers.pop(photo_id, []):
            _wake(future, photo_id)

    def on_stop(self) -> None:
        self._release()

    def on_failure(self, *_exc_info: Any) -> None:
        self._release()

    def _release(self) -> None:
        for futures in self.watchers.values():
            for future in futures:
                _wake(future, None)
        self.watchers.clear()


def _wake(future: Waker, value: str | None) -> None:
    """Sets ``future`` unless it is set already (one future watched twice, or for two photos):
    a future can be set only once, and the error would crash the Notifier, leaving every other
    waiter asleep.  A waker whose event loop has closed (its server stopped) is past waking."""
    try:
        future.set(value)
    except (queue.Full, RuntimeError):
        pass
