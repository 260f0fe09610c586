"""A timer thread that tells an actor to run a method every so often.

Actors must not sleep in their own thread; a Ticker tells ``method`` to the
target every ``interval`` seconds until stopped or until the target is dead.
"""

from __future__ import annotations

import threading

import pykka

from actorkit.messaging import tell_call


class Ticker:
    def __init__(self, target: pykka.ActorRef, method: str, interval: float) -> None:
        self._target, self._method, self._interval = target, method, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ticker {method} {target.actor_urn}", daemon=True)

    def start(self) -> "Ticker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            if not tell_call(self._target, self._method):
                return
