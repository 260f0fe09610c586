"""Supervisor: start a role's actors in order, restart them when they die, stop them in reverse.

Strategy: *rest_for_one* (Erlang's), the default.  Children are started in
order, and each child's factory receives the proxies of the children started
before it.  When child ``k`` dies unexpectedly, the children after ``k`` (which
may hold ``k``'s old, now dead, proxy) are stopped in reverse order, then ``k``
and everything after it are started again in order, so they get the new
proxies.  Children before ``k`` are left alone.  A factory that raises counts as
a failed start of its child and goes through the same policy.

Strategy *one_for_one*, for children that do not depend on each other (the
roles of the embedded cluster): only the child that died is restarted; the
others go on.

Restarts follow a :class:`~actorkit.restart_policy.RestartPolicy`: each restart is
delayed by an exponential backoff, and a child that needs more than
``max_restarts`` restarts within ``window_seconds`` makes the supervisor
*escalate*: it stops all its children in reverse order, calls
``on_escalate(reason)`` (a role process exits non-zero there) and stops itself.
A supervisor can be the child of another supervisor: its escalation is a stop,
which the parent sees as the death of that child.

Detecting deaths -- why a ticker.  Every way a Pykka actor can die (an exception
in a told message, an exception in ``on_start``, a ``stop()`` from someone
else) ends with its ``actor_stopped`` event set, which ``ActorRef.is_alive()``
reads.  Pykka 4 has no monitors or links and calls no hook of ours when a child
dies, and its ``on_failure`` is not called at all for an ``on_start`` failure,
so a hook inside the child class would miss cases and would force every child
to inherit from something.  Instead one small daemon thread per supervisor tells
the supervisor ``_check`` every ``check_interval`` seconds; ``_check`` runs in
the supervisor's own thread, looks at ``is_alive()`` of the current children and
performs any restart whose backoff has elapsed.  Consequences:

* All bookkeeping (which ref is current, what is being restarted) happens in
  the actor thread: no locks, and a stale observation cannot restart the wrong
  incarnation of a child.
* One thread per supervisor, whatever the number of children (a thread per
  child blocked on its ``actor_stopped`` event would detect faster but costs a
  thread each and needs the same hand-off into the actor anyway).
* Backoff needs no timer thread: a restart is *scheduled* (a due time) and the
  next tick at or after the due time performs it, so the supervisor never sleeps
  and its resolution is ``check_interval``.  A restart is never performed in the
  same message that detected the death, so a stop that is already queued
  behind it wins.
* The ticker queues at most one ``_check`` at a time, so a supervisor busy
  stopping a wedged child is not flooded.  It stops when the supervisor stops
  (``on_stop``/``on_failure`` signal and join it), and as a safety net it exits
  as soon as telling the supervisor fails.

Shutdown.  Stopping the supervisor (``ref.stop()``) stops its children in
reverse order, each stop blocking for at most ``stop_timeout`` seconds so a
wedged child cannot hang shutdown (it is logged and left behind).  No restart
happens during or after shutdown: restarts only run from ``_check`` in the actor
thread, and ``on_stop`` runs in that same thread.
Caveat: ``pykka.ActorRegistry.stop_all()`` stops actors in reverse order of
registration, so it stops the children *before* their supervisor, which sees
that as deaths and may restart some of them before its own stop arrives; its
``on_stop`` then stops the replacements, so nothing is left running, but a role
should shut down by stopping its top supervisor.

Do not ask the supervisor (``proxy.child(...).get()``) from a child's factory,
``on_start`` or ``on_stop``: the supervisor is busy starting or stopping that
child and the ask would wait for the stop timeout or forever.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pykka
import structlog

from actorkit.messaging import tell_call
from actorkit.restart_policy import Escalate, RestartPolicy, decide, recent

log = structlog.get_logger()

DEFAULT_POLICY = RestartPolicy()
REST_FOR_ONE, ONE_FOR_ONE = "rest_for_one", "one_for_one"
STRATEGIES = (REST_FOR_ONE, ONE_FOR_ONE)


@dataclass(frozen=True)
class ChildSpec:
    """A child of a supervisor.

    ``start`` is called (in the supervisor's thread) with the proxies of the
    children started before this one, by name, and returns the started child's
    ref (a proxy is accepted too).
    """

    name: str
    start: Callable[[Mapping[str, pykka.ActorProxy]], pykka.ActorRef]


@dataclass
class _Child:
    spec: ChildSpec
    # ref and proxy are None while the child is down (not started, or restarting).
    ref: pykka.ActorRef | None = None
    proxy: pykka.ActorProxy | None = None
    restarts: int = 0
    # When failures of this child were answered with a restart (pruned to the window).
    restart_times: list[float] = field(default_factory=list)


class Supervisor(pykka.ThreadingActor):
    """Runs its children with the rest_for_one strategy; see the module docstring."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        policy: RestartPolicy = DEFAULT_POLICY,
        on_escalate: Callable[[str], None] | None = None,
        check_interval: float = 0.05,
        name: str = "supervisor",
        stop_timeout: float = 5.0,
        strategy: str = REST_FOR_ONE,
    ) -> None:
        super().__init__()
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique, got {names}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self._strategy = strategy
        if not check_interval > 0:
            raise ValueError(f"check_interval must be > 0, got {check_interval}")
        self._children = [_Child(spec) for spec in specs]
        self._policy = policy
        self._on_escalate = on_escalate
        self._check_interval = check_interval
        self._name = name
        self._stop_timeout = stop_timeout
        self._log = log.bind(supervisor=name)
        # Children that are down, by index, and when each starts again.  With rest_for_one
        # there is at most one, and every child after it is down with it.
        self._due: dict[int, float] = {}
        self._escalated = False
        self._ticker_stop = threading.Event()
        self._check_queued = threading.Event()
        self._ticker: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def on_start(self) -> None:
        self._log.info("supervisor.started", children=[child.spec.name for child in self._children])
        self._start_from(0, restart=False)
        if self._escalated:
            return  # gave up already; the stop is queued
        self._ticker = threading.Thread(target=self._tick, name=f"{self._name}-check", daemon=True)
        self._ticker.start()

    def on_stop(self) -> None:
        self._stop_ticker()
        self._stop_children(0)
        self._log.info("supervisor.stopped")

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        # The supervisor itself crashed (a bug): leave nothing running behind it.
        self._log.error("supervisor.failed", error=repr(exception_value))
        self._stop_ticker()
        self._stop_children(0)

    # ----------------------------------------------------------------- queries

    def child(self, name: str) -> pykka.ActorProxy:
        """The current proxy of child ``name``; it changes when the child is restarted.

        Raises KeyError for an unknown name and ActorDeadError while the child is
        down waiting for its restart.
        """
        child = self._find(name)
        if child.proxy is None:
            raise pykka.ActorDeadError(f"child {name!r} of {self._name} is down, waiting for a restart")
        return child.proxy

    def children(self) -> dict[str, pykka.ActorProxy]:
        """Current proxies of the children that are up, by name, in start order."""
        return {child.spec.name: child.proxy for child in self._children if child.proxy is not None}

    def restarts(self) -> dict[str, int]:
        """How many times each child has been restarted (including rest_for_one restarts)."""
        return {child.spec.name: child.restarts for child in self._children}

    # ----------------------------------------------------------------- the check

    def _check(self) -> None:
        """Told by the ticker: notice dead children, perform a restart that is due."""
        self._check_queued.clear()
        if self._escalated:
            return
        # Restart first, detect after: a death is never answered within the same message.
        now = time.monotonic()
        for index, due in sorted(self._due.items()):
            if now >= due and index in self._due:
                del self._due[index]
                self._start_from(index, restart=True)
                if self._escalated:
                    return
        for index, child in enumerate(self._children):
            if self._is_down(index):
                continue
            if child.ref is not None and not child.ref.is_alive():
                self._child_failed(index, "died")
                return

    def _is_down(self, index: int) -> bool:
        if self._strategy == ONE_FOR_ONE:
            return index in self._due
        return any(down <= index for down in self._due)

    def _tick(self) -> None:
        while not self._ticker_stop.wait(self._check_interval):
            if self._check_queued.is_set():
                continue
            self._check_queued.set()
            if not tell_call(self.actor_ref, "_check"):
                return  # the supervisor is gone

    def _stop_ticker(self) -> None:
        self._ticker_stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=self._check_interval + 1.0)

    # ----------------------------------------------------------------- start, fail, stop

    def _start_from(self, start: int, *, restart: bool) -> None:
        """Start children ``start``, ``start + 1``, ... in order (with one_for_one, when restarting, only
        ``start``); a failed start goes through the policy."""
        end = start + 1 if restart and self._strategy == ONE_FOR_ONE else len(self._children)
        for index in range(start, end):
            child = self._children[index]
            siblings = types.MappingProxyType(
                {earlier.spec.name: earlier.proxy for earlier in self._children[:index] if earlier.proxy is not None}
            )
            try:
                started = child.spec.start(siblings)
                ref = started.actor_ref if isinstance(started, pykka.ActorProxy) else started
                if not isinstance(ref, pykka.ActorRef):
                    raise TypeError(f"start of {child.spec.name!r} returned {started!r}, not an ActorRef")
                child.ref = ref
                child.proxy = ref.proxy()  # raises ActorDeadError if it already died in on_start
            except Exception as error:  # noqa: BLE001 - any failure to start is this child's failure
                self._log.error("child.start_failed", child=child.spec.name, error=repr(error))
                self._child_failed(index, f"failed to start: {error!r}")
                if self._strategy == ONE_FOR_ONE and not self._escalated:
                    continue  # the others do not depend on it
                return
            if restart:
                child.restarts += 1
            self._log.info("child.started", child=child.spec.name, restarts=child.restarts)

    def _child_failed(self, index: int, how: str) -> None:
        """Child ``index`` died: (rest_for_one) stop the ones after it, then schedule the restart or escalate."""
        child = self._children[index]
        name = child.spec.name
        self._log.error("child.failed", child=name, how=how)
        later: list[_Child] = []
        if self._strategy == REST_FOR_ONE:
            later = self._children[index + 1 :]
            self._stop_children(index + 1)
            self._due = {down: due for down, due in self._due.items() if down < index}
        self._stop_child(child)  # a failed start may have left it half-alive
        now = time.monotonic()
        decision = decide(self._policy, child.restart_times, now, child=name)
        if isinstance(decision, Escalate):
            self._escalate(decision.reason)
            return
        child.restart_times = recent(self._policy, child.restart_times, now) + [now]
        self._due[index] = now + decision.delay
        self._log.warning("child.restarting", child=name, delay=decision.delay, rest=[c.spec.name for c in later])

    def _escalate(self, reason: str) -> None:
        self._escalated = True
        self._due.clear()
        self._log.error("supervisor.escalate", reason=reason)
        self._stop_ticker()
        self._stop_children(0)
        if self._on_escalate is not None:
            try:
                self._on_escalate(reason)
            except Exception as error:  # noqa: BLE001 - the supervisor stops anyway
                self._log.error("supervisor.on_escalate_failed", error=repr(error))
        self.stop()

    def _stop_children(self, start: int, end: int | None = None) -> None:
        """Stop children ``start`` .. ``end - 1`` in reverse order."""
        end = len(self._children) if end is None else end
        for child in reversed(self._children[start:end]):
            self._stop_child(child)

    def _stop_child(self, child: _Child) -> None:
        ref, child.ref, child.proxy = child.ref, None, None
        if ref is None or not ref.is_alive():
            return
        try:
            ref.stop(block=True, timeout=self._stop_timeout)
        except pykka.Timeout:
            self._log.error("child.stop_timeout", child=child.spec.name, timeout=self._stop_timeout)
            return
        self._log.info("child.stopped", child=child.spec.name)

    def _find(self, name: str) -> _Child:
        for child in self._children:
            if child.spec.name == name:
                return child
        raise KeyError(f"{self._name} has no child {name!r}")
