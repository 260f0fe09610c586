"""A timer thread that tells an actor to run a method every so often.

Actors must not sleep in their own thread; a Ticker tells ``method`` to the
target every ``interval`` seconds until stopped or until the target is dead.

A busy target gets no backlog: the Ticker tells the next tick only once the
target has handled the last one (and then waits ``interval`` again), so a tick
that takes longer than the interval (a leader's checkpoint to a slow volume, a
hub busy with deliveries) leaves at most one tick in the mailbox instead of a
pile that would run back to back once the target is free.  The tick stays a
told call, so an exception in it still crashes the target for its supervisor.
"""

from __future__ import annotations

import threading

import pykka
from pykka.messages import ProxyGetAttr

from actorkit.messaging import tell_call

# How often a ticker waiting for a busy target looks whether it was stopped meanwhile.
STOP_CHECK = 0.05


class Ticker:
    def __init__(self, target: pykka.ActorRef, method: str, interval: float) -> None:
        self._target, self._method, self._interval = target, method, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ticker {method} {target.actor_urn}", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            if not tell_call(self._target, self._method) or not self._handled():
                return

    def _handled(self) -> bool:
        """Waits until the target has handled the tick just told; False once it died or the ticker was stopped.

        The target's mailbox is handled in order, so the answer to a harmless
        question asked right after the tick (its urn) comes once the tick is done."""
        answered = self._target.ask(ProxyGetAttr(attr_path=("actor_urn",)), block=False)
        while not self._stopped.is_set():
            try:
                answered.get(timeout=STOP_CHECK)
            except pykka.Timeout:
                continue
            except pykka.ActorDeadError:
                return False
            return True
        return False
