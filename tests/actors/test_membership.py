"""Membership joins its groups in order when started and leaves them in reverse when stopped;
its stop never hangs on a group connection that is gone, closed or silent."""

from __future__ import annotations

import threading

import pykka
import pytest

from actors.group_messages import SVCS_GROUP
from actors.membership import Membership
from ports.group import GroupListener, ViewChanged

pytestmark = pytest.mark.timeout(60)

OTHER_GROUP = "photomark.other"
STOP_DEADLINE = 10.0  # seconds a stop may take before the test calls it hung


class ViewRecorder(GroupListener, pykka.ThreadingActor):
    """Records (group, cause, who changed) of every view, in the order the hub delivered them."""

    def __init__(self) -> None:
        super().__init__()
        self.views: list[tuple[str, str, tuple[str, ...]]] = []

    def on_view_changed(self, event: ViewChanged) -> None:
        self.views.append((event.group, event.cause, event.changed))

    def seen(self) -> list[tuple[str, str, tuple[str, ...]]]:
        return list(self.views)


class SilentGroup(pykka.ThreadingActor):
    """A group connection that answers joins and then hangs on a leave, as one stuck on its socket."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release
        self.calls: list[tuple[str, str]] = []

    def join(self, group: str) -> None:
        self.calls.append(("join", group))

    def leave(self, group: str) -> None:
        self.calls.append(("leave", group))
        self.release.wait(30)

    def seen(self) -> list[tuple[str, str]]:
        return list(self.calls)


@pytest.fixture
def observer(fakes) -> pykka.ActorProxy:
    """A member of both groups that records every view of them."""
    connection = fakes.connection("observer")
    recorder = ViewRecorder.start().proxy()
    connection.subscribe(recorder).get()
    connection.join(SVCS_GROUP).get()
    connection.join(OTHER_GROUP).get()
    return recorder


def views_of(observer: pykka.ActorProxy, name: str) -> list[tuple[str, str]]:
    """(group, cause) of each view the observer saw that ``name`` caused."""
    return [(group, cause) for group, cause, changed in observer.seen().get() if changed == (name,)]


def joined(fakes, name: str, groups: list[str]) -> bool:
    return all(name in fakes.hub.members(group).get() for group in groups)


def test_it_joins_its_groups_in_order_and_leaves_them_in_reverse(fakes, observer, eventually):
    connection = fakes.connection("svc")
    name = connection.private_name().get()

    membership = Membership.start(connection, [SVCS_GROUP, OTHER_GROUP])

    eventually(lambda: len(views_of(observer, name)) == 2, what="both joins")
    assert views_of(observer, name) == [(SVCS_GROUP, "join"), (OTHER_GROUP, "join")]
    assert joined(fakes, name, [SVCS_GROUP, OTHER_GROUP])

    membership.stop(block=True, timeout=STOP_DEADLINE)

    eventually(lambda: len(views_of(observer, name)) == 4, what="both leaves")
    assert views_of(observer, name)[2:] == [(OTHER_GROUP, "leave"), (SVCS_GROUP, "leave")]
    assert connection.is_connected().get()  # it leaves the groups; the session is not its to close


def test_its_stop_does_not_hang_when_the_group_connection_is_gone(fakes, observer, eventually):
    connection = fakes.connection("svc")
    name = connection.private_name().get()
    membership = Membership.start(connection, [SVCS_GROUP, OTHER_GROUP])
    eventually(lambda: joined(fakes, name, [SVCS_GROUP, OTHER_GROUP]), what="the joins")

    connection.actor_ref.stop(block=True, timeout=STOP_DEADLINE)
    membership.stop(block=True, timeout=STOP_DEADLINE)

    assert not membership.is_alive()
    # The hub saw the session go: the others heard a disconnect, not a leave.
    eventually(lambda: len(views_of(observer, name)) == 4, what="the disconnect views")
    assert {cause for _, cause in views_of(observer, name)[2:]} == {"disconnect"}


def test_its_stop_after_the_session_closed_is_quiet(fakes, caplog, eventually):
    connection = fakes.connection("svc")
    name = connection.private_name().get()
    membership = Membership.start(connection, [SVCS_GROUP, OTHER_GROUP])
    eventually(lambda: joined(fakes, name, [SVCS_GROUP, OTHER_GROUP]), what="the joins")
    connection.disconnect().get()  # the actor lives on; every call now fails with a connection error

    membership.stop(block=True, timeout=STOP_DEADLINE)

    assert not membership.is_alive()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pykka") and r.levelname == "ERROR"] == []


def test_its_stop_does_not_wait_on_a_connection_that_never_answers():
    release = threading.Event()
    group = SilentGroup.start(release).proxy()
    membership = Membership.start(group, [SVCS_GROUP, OTHER_GROUP], leave_timeout=0.05)
    try:
        membership.stop(block=True, timeout=STOP_DEADLINE)

        assert not membership.is_alive()
    finally:
        release.set()
    # One unanswered leave is enough: the other group is not asked for.
    assert group.seen().get() == [("join", SVCS_GROUP), ("join", OTHER_GROUP), ("leave", OTHER_GROUP)]


def test_a_membership_whose_connection_is_gone_at_start_stops(fakes, eventually):
    connection = fakes.connection("svc")
    connection.actor_ref.stop(block=True, timeout=STOP_DEADLINE)

    membership = Membership.start(connection, [SVCS_GROUP])

    eventually(lambda: not membership.is_alive(), what="the membership to stop")
