"""The Announcer says where its Svc listens and how loaded it is: at start, at every join view of
the Svc group, and on every tick with the current load; a hello the group connection does not
take is logged, and the next tick says it again."""

from __future__ import annotations

import threading

import pykka
import pytest
from structlog.testing import capture_logs

from actors.announcer import Announcer
from actors.group_messages import SVCS_GROUP, SvcHello
from ports.group import CONNECTION_CLOSED, GroupConnectionError, GroupListener

pytestmark = pytest.mark.timeout(60)

IP, PORT = "127.0.0.1", 7001
OTHER_GROUP = "photomark.other"
NO_TICK = 3600.0  # an interval no test outlives: hellos come only from the start and from views
TICK = 0.01


class Pending(pykka.ThreadingActor):
    """The PendingList as the Announcer sees it: a load, set by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs = 0

    def load(self) -> int:
        return self.jobs

    def set_load(self, jobs: int) -> None:
        self.jobs = jobs


class Sibling(GroupListener, pykka.ThreadingActor):
    """The Svc's other listeners (PendingList, Leader), subscribed before it joins: what the
    connection hears before the Announcer subscribes is theirs, not kept for the Announcer."""


class LosingGroup(pykka.ThreadingActor):
    """A group connection whose first ``lose`` sends fail as a broken session's do, then go through."""

    def __init__(self, connection: pykka.ActorProxy, lose: int) -> None:
        super().__init__()
        self.connection, self.lose, self.tries = connection, lose, 0

    def multicast(self, group: str, message_type: int, payload: bytes, **kwargs) -> None:
        self.tries += 1
        if self.tries <= self.lose:
            raise GroupConnectionError(CONNECTION_CLOSED, "the session is down")
        self.connection.multicast(group, message_type, payload, **kwargs).get()

    def attempts(self) -> int:
        return self.tries


@pytest.fixture
def pending() -> pykka.ActorProxy:
    return Pending.start().proxy()


@pytest.fixture
def group(fakes) -> pykka.ActorProxy:
    """The Svc's group connection, already in the Svc group (Membership starts before the Announcer)."""
    connection = fakes.connection("svc")
    connection.subscribe(Sibling.start()).get()
    connection.join(SVCS_GROUP).get()
    return connection


def start(
    group: pykka.ActorProxy, pending: pykka.ActorProxy, interval: float = NO_TICK, subscribe: bool = True
) -> pykka.ActorProxy:
    """An Announcer, subscribed to ``group`` as its role subscribes it."""
    announcer = Announcer.start(group, pending, IP, PORT, interval).proxy()
    if subscribe:
        group.subscribe(announcer).get()
    return announcer


def announcer_events(logs: list[dict]) -> list[str]:
    return [entry["event"] for entry in logs if entry["event"].startswith("announcer.")]


def hellos(fakes) -> list[SvcHello]:
    return fakes.payloads(SvcHello.TYPE)


def ticker_threads(announcer: pykka.ActorProxy) -> list[threading.Thread]:
    name = f"ticker announce {announcer.actor_ref.actor_urn}"
    return [thread for thread in threading.enumerate() if thread.name == name and thread.is_alive()]


def test_it_says_hello_when_it_starts(fakes, group, pending, eventually):
    pending.set_load(3).get()

    start(group, pending)

    assert eventually(lambda: hellos(fakes), what="the hello") == [SvcHello(IP, PORT, 3)]


def test_it_says_hello_at_every_join_view_of_the_svc_group(fakes, group, pending, eventually):
    start(group, pending)
    eventually(lambda: len(hellos(fakes)) == 1, what="the first hello")

    pending.set_load(2).get()
    register = fakes.connection("register")
    register.join(SVCS_GROUP).get()

    eventually(lambda: len(hellos(fakes)) == 2, what="a hello for the Register that joined")
    assert hellos(fakes)[-1] == SvcHello(IP, PORT, 2)
    fakes.connection("s2").join(SVCS_GROUP).get()
    eventually(lambda: len(hellos(fakes)) == 3, what="a hello for the next join")


def test_leave_views_and_views_of_other_groups_bring_no_hello(fakes, group, pending, eventually):
    register = fakes.connection("register")
    register.join(SVCS_GROUP).get()
    gone = fakes.connection("gone")
    gone.join(SVCS_GROUP).get()
    start(group, pending)
    eventually(lambda: len(hellos(fakes)) == 1, what="the hello at start")

    register.leave(SVCS_GROUP).get()  # a leave view
    gone.actor_ref.stop(block=True, timeout=10)  # a disconnect view
    group.join(OTHER_GROUP).get()  # a join view, of another group
    fakes.connection("s2").join(OTHER_GROUP).get()
    fakes.connection("s3").join(SVCS_GROUP).get()  # a join view of the Svc group, after all of them

    eventually(lambda: len(hellos(fakes)) >= 2, what="the hello for the last join")
    assert len(hellos(fakes)) == 2


def test_it_says_hello_on_every_tick_with_the_current_load(fakes, group, pending, eventually):
    start(group, pending, interval=TICK)
    eventually(lambda: len(hellos(fakes)) >= 3, what="hellos on ticks")

    pending.set_load(7).get()
    eventually(lambda: SvcHello(IP, PORT, 7) in hellos(fakes), what="a hello with the new load")

    pending.set_load(0).get()
    eventually(lambda: hellos(fakes)[-1] == SvcHello(IP, PORT, 0), what="a hello with the load back at 0")


def test_a_hello_lost_with_the_group_connection_gone_is_logged_and_it_goes_on(fakes, group, pending, eventually):
    announcer = start(group, pending)
    eventually(lambda: hellos(fakes), what="the hello at start")  # said before the connection goes
    group.actor_ref.stop(block=True, timeout=10)

    with capture_logs() as logs:
        announcer.announce().get()  # does not raise

    assert announcer_events(logs) == ["announcer.hello_lost"]
    assert announcer.actor_ref.is_alive()


def test_a_hello_lost_with_the_session_closed_is_logged_and_it_goes_on(fakes, group, pending, eventually):
    announcer = start(group, pending)
    eventually(lambda: hellos(fakes), what="the hello at start")  # said before the session closes
    group.disconnect().get()

    with capture_logs() as logs:
        announcer.announce().get()

    assert announcer_events(logs) == ["announcer.hello_lost"]
    assert announcer.actor_ref.is_alive()


def test_a_lost_hello_is_said_again_on_the_next_tick(fakes, group, pending, eventually):
    losing = LosingGroup.start(group, lose=3).proxy()

    start(losing, pending, interval=TICK, subscribe=False)  # the hello at start and on the next two ticks are lost

    assert eventually(lambda: hellos(fakes), what="a hello that got through")[0] == SvcHello(IP, PORT, 0)
    assert losing.attempts().get() >= 4


def test_a_stopped_announcer_stops_its_ticker(fakes, group, pending, eventually):
    announcer = start(group, pending, interval=TICK)
    eventually(lambda: len(hellos(fakes)) >= 2, what="hellos on ticks")

    announcer.actor_ref.stop(block=True, timeout=10)

    assert ticker_threads(announcer) == []
