"""The Ticker tells a method to an actor every interval, stops when told or when the actor died,
and never piles ticks up in the mailbox of a busy actor."""

from __future__ import annotations

import threading

import pykka
import pytest

from actorkit.ticker import Ticker
from tests.polling import eventually

pytestmark = pytest.mark.timeout(60)

INTERVAL = 0.01


class Counter(pykka.ThreadingActor):
    """Counts its ticks; a tick may be held (the actor is busy) or crash it."""

    def __init__(
        self, hold: threading.Event | None = None, busy: threading.Event | None = None, crash: bool = False
    ) -> None:
        super().__init__()
        self.ticks = 0
        self.hold, self.busy, self.crash = hold, busy, crash  # busy: set while the held first tick runs

    def tick(self) -> None:
        self.ticks += 1
        if self.crash:
            raise RuntimeError("a tick that crashes its actor")
        if self.hold is not None and self.ticks == 1:
            self.busy.set()
            self.hold.wait(30)

    def count(self) -> int:
        return self.ticks


class Owner(pykka.ThreadingActor):
    """An actor that runs its own ticker from start to stop, as the Announcer and the Leader do."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.ticker = Ticker(self.actor_ref, "tick", INTERVAL).start()

    def on_stop(self) -> None:
        self.ticker.stop()

    def tick(self) -> None:
        self.ticks += 1

    def count(self) -> int:
        return self.ticks


def ticker_threads(ref: pykka.ActorRef, method: str = "tick") -> list[threading.Thread]:
    """The running ticker threads aimed at ``ref`` (a Ticker names its thread after method and target)."""
    name = f"ticker {method} {ref.actor_urn}"
    return [thread for thread in threading.enumerate() if thread.name == name and thread.is_alive()]


def ticks_waiting(ref: pykka.ActorRef) -> int:
    """Ticks told to ``ref`` and still in its mailbox."""
    return sum(
        1
        for envelope in list(ref.actor_inbox.queue)
        if isinstance(envelope.message, pykka.messages.ProxyCall) and envelope.message.attr_path == ("tick",)
    )


def test_the_method_is_told_every_interval():
    counter = Counter.start()
    ticker = Ticker(counter, "tick", INTERVAL).start()
    try:
        eventually(lambda: counter.proxy().count().get() >= 5, what="five ticks")
    finally:
        ticker.stop()


def test_a_stopped_ticker_tells_nothing_more():
    counter = Counter.start()
    ticker = Ticker(counter, "tick", INTERVAL).start()
    eventually(lambda: counter.proxy().count().get() >= 2, what="ticks")

    ticker.stop()

    assert ticker_threads(counter) == []  # stop() returns once the ticker's thread has ended
    told = counter.proxy().count().get()  # handled after every tick told before the stop
    assert counter.proxy().count().get() == told


def test_a_ticker_stopped_before_its_first_tick_ends_at_once():
    counter = Counter.start()
    ticker = Ticker(counter, "tick", 3600).start()

    ticker.stop()

    assert ticker_threads(counter) == []
    assert counter.proxy().count().get() == 0


def test_a_ticker_whose_target_stopped_ends_by_itself():
    counter = Counter.start()
    Ticker(counter, "tick", INTERVAL).start()
    eventually(lambda: counter.proxy().count().get() >= 1, what="a tick")

    counter.stop()

    eventually(lambda: ticker_threads(counter) == [], what="the ticker to end")


def test_a_tick_that_crashes_the_target_ends_the_ticker():
    counter = Counter.start(crash=True)
    Ticker(counter, "tick", INTERVAL).start()

    eventually(lambda: not counter.is_alive(), what="the told tick to crash the target")
    eventually(lambda: ticker_threads(counter) == [], what="the ticker to end")


def test_a_busy_target_gets_no_backlog_of_ticks():
    hold, busy = threading.Event(), threading.Event()
    counter = Counter.start(hold=hold, busy=busy)
    ticker = Ticker(counter, "tick", INTERVAL).start()
    try:
        assert busy.wait(10), "the first tick never ran"
        # A second ticker of the same interval, on a free actor: once it has ticked 20 times,
        # the first one has had 20 intervals to tell the busy target more ticks.
        clock = Counter.start()
        clock_ticker = Ticker(clock, "tick", INTERVAL).start()
        eventually(lambda: clock.proxy().count().get() >= 20, what="20 intervals")
        clock_ticker.stop()

        assert ticks_waiting(counter) == 0
    finally:
        hold.set()
    eventually(lambda: counter.proxy().count().get() >= 3, what="ticks again once the target is free")
    ticker.stop()


def test_a_busy_target_is_not_told_more_ticks_after_a_stop():
    hold, busy = threading.Event(), threading.Event()
    counter = Counter.start(hold=hold, busy=busy)
    ticker = Ticker(counter, "tick", INTERVAL).start()
    try:
        assert busy.wait(10), "the first tick never ran"

        ticker.stop()  # while the ticker waits for the busy target

        assert ticker_threads(counter) == []
    finally:
        hold.set()
    assert counter.proxy().count().get() == 1


def test_an_actor_stops_its_own_ticker_when_it_stops():
    owner = Owner.start()
    eventually(lambda: owner.proxy().count().get() >= 3, what="ticks")

    owner.stop(block=True, timeout=10)

    assert ticker_threads(owner) == []
