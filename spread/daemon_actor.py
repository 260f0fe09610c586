"""The Spread-compatible daemon as an actor, so the embedded cluster's supervisor
starts it first and stops it last, like any other gateway."""

from __future__ import annotations

import pykka

from spread.daemon import SpreadDaemon


class SpreadDaemonActor(pykka.ThreadingActor):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, name: str = "embedded") -> None:
        super().__init__()
        self.daemon = SpreadDaemon(host, port, name)

    def on_start(self) -> None:
        self.daemon.start()

    def on_stop(self) -> None:
        self.daemon.stop()

    def on_failure(self, *_exc_info) -> None:
        self.daemon.stop()  # a crashed actor must not leave a daemon serving behind it

    def address(self) -> str:
        """Where clients connect, in Spread's PORT@HOST notation."""
        return self.daemon.address
