"""The Notifier: wakes the callers waiting for a photo to leave PROCESSING.

A gRPC handler that waits (``Status`` with ``wait_ms``) registers a future with
``watch`` and then re-checks the status, so it cannot miss a job that finished
in between; the PendingList tells ``on_job_finished``.
"""

from __future__ import annotations

import pykka


class Notifier(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.watchers: dict[str, list[pykka.Future]] = {}

    def watch(self, photo_id: str, future: pykka.Future) -> None:
        self.watchers.setdefault(photo_id, []).append(future)

    def unwatch(self, photo_id: str, future: pykka.Future) -> None:
        futures = self.watchers.get(photo_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self.watchers.pop(photo_id, None)

    def on_job_finished(self, photo_id: str) -> None:
        for future in self.watchers.pop(photo_id, []):
            future.set(photo_id)

    def on_stop(self) -> None:
        for futures in self.watchers.values():
            for future in futures:
                future.set(None)
        self.watchers.clear()
