"""Runs one role's supervisor as a process: until SIGTERM or Ctrl-C, or until it gives up.

On a signal the top supervisor stops its children in reverse order: the group
membership first (the Register stops handing this Svc out), then the servers, the
actors (a marker does not wait for OCR: it kills its Tesseract and hands back its
job, which returns to the queue unacked), and the gateways last, closing their
connections.  Tesseract also dies with the process when it is killed outright
(``marking/tesseract.py``).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

import pykka
import structlog

from actorkit.supervisor import ChildSpec, Supervisor

log = structlog.get_logger()
STOP_TIMEOUT = 60.0


class RoleExit:
    """Handed to an actor that may decide the whole role must end (a storage node that cannot
    reach its manager): ``give_up(reason)`` stops the role as an escalation does, with that reason."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reasons: list[str] = []

    def give_up(self, reason: str) -> None:
        self.reasons.append(reason)
        self.stop.set()


def run_role(role: str, specs: Sequence[ChildSpec], role_exit: RoleExit | None = None) -> None:
    role_exit = role_exit or RoleExit()
    stop = role_exit.stop
    escalation = role_exit.reasons

    def on_escalate(reason: str) -> None:
        role_exit.give_up(reason)

    def on_signal(signum, _frame) -> None:
        log.info("role.signal", role=role, signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    supervisor = Supervisor.start(specs, on_escalate=on_escalate, name=role)
    log.info("role.started", role=role)
    while not stop.wait(0.5):
        if not supervisor.is_alive():
            break
    if supervisor.is_alive():
        try:
            supervisor.stop(timeout=STOP_TIMEOUT)
        except pykka.Timeout:
            log.error("role.stop_timeout", role=role, seconds=STOP_TIMEOUT)
    # Actor threads keep a process alive: whatever a failed start left behind goes too.
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
    if escalation:
        log.error("role.gave_up", role=role, reason=escalation[0])
        print(f"error: photomark {role} gave up: {escalation[0]}", file=sys.stderr)
        sys.exit(1)
    log.info("role.stopped", role=role)
