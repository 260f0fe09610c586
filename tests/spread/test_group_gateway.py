"""SpreadGroupConnection against the daemon: views and messages as domain events, reconnects."""

from __future__ import annotations

import queue
import time
from itertools import count

import pykka
import pytest
import structlog
import structlog.testing

from gateways.group.spread import SpreadGroupConnection
from ports.group import CONNECTION_CLOSED, MessageReceived, ViewChanged
from spread.daemon import SpreadDaemon
from spread.errors import SpreadConnectionError
from tests.polling import eventually

GROUP = "photomark.svcs"
MARKER = 32767  # the message type of the markers that close a negative assertion
_markers = count()


class Recorder(pykka.ThreadingActor):
    def __init__(self, events: queue.Queue):
        super().__init__()
        self.events = events

    def on_view_changed(self, event):
        self.events.put(event)

    def on_message_received(self, event):
        self.events.put(event)


@pytest.fixture
def daemon():
    d = SpreadDaemon("127.0.0.1", 0, "localhost").start()
    yield d
    d.stop()


def member(daemon, user):
    events: queue.Queue = queue.Queue()
    gateway = SpreadGroupConnection.start(daemon.address, user, reconnect_delays=(0.05, 0.1)).proxy()
    gateway.subscribe(Recorder.start(events)).get()
    return gateway, events


def next_event(events, kind=object, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(event, kind):
            return event


def next_is_marker(gateway, events):
    """Sends ``gateway`` a marker to its own private name and checks it is the next event it hears:
    whatever was ordered before the marker (all ``gateway`` sent before it) would have come first."""
    payload = b"marker %d" % next(_markers)
    gateway.multicast(gateway.private_name().get(), MARKER, payload).get()
    event = next_event(events)
    assert (type(event), getattr(event, "message_type", None), getattr(event, "payload", None)) == (
        MessageReceived,
        MARKER,
        payload,
    ), event


def test_private_name_is_user_at_daemon(daemon):
    gateway, _ = member(daemon, "svc1")
    assert gateway.private_name().get() == "#svc1#localhost"


def test_members_see_views_and_agreed_messages_as_domain_events(daemon):
    alice, alice_events = member(daemon, "alice")
    bob, bob_events = member(daemon, "bob")
    alice.join(GROUP).get()
    assert next_event(alice_events) == ViewChanged(
        GROUP, ("#alice#localhost",), "join", ("#alice#localhost",), "#alice#localhost"
    )
    bob.join(GROUP).get()
    want = (GROUP, ("#alice#localhost", "#bob#localhost"), "join", ("#bob#localhost",))
    for events, me in ((alice_events, "#alice#localhost"), (bob_events, "#bob#localhost")):
        view = next_event(events)
        assert (view.group, view.members, view.cause, view.changed, view.me) == (*want, me)
    alice.multicast(GROUP, 7, b'{"type":"pending.add"}').get()
    for events, me in ((alice_events, "#alice#localhost"), (bob_events, "#bob#localhost")):
        assert next_event(events) == MessageReceived(GROUP, "#alice#localhost", 7, b'{"type":"pending.add"}', me)
    bob.multicast(GROUP, 8, b"x", service="SAFE", self_discard=True).get()
    assert next_event(alice_events) == MessageReceived(GROUP, "#bob#localhost", 8, b"x", "#alice#localhost")
    bob.leave(GROUP).get()
    assert next_event(bob_events) == ViewChanged(GROUP, (), "leave", ("#bob#localhost",), "#bob#localhost")
    assert next_event(alice_events) == ViewChanged(
        GROUP, ("#alice#localhost",), "leave", ("#bob#localhost",), "#alice#localhost"
    )
    next_is_marker(bob, bob_events)  # its own self-discarded message never came back


def test_a_member_that_stops_is_a_disconnect_view_for_the_others(daemon):
    alice, alice_events = member(daemon, "alice")
    bob, _ = member(daemon, "bob")
    alice.join(GROUP).get()
    next_event(alice_events)
    bob.join(GROUP).get()
    next_event(alice_events)
    bob.actor_ref.stop()
    view = next_event(alice_events)
    assert (view.cause, view.members, view.changed) == ("disconnect", ("#alice#localhost",), ("#bob#localhost",))


def test_a_sender_need_not_join(daemon):
    alice, alice_events = member(daemon, "alice")
    worker, _ = member(daemon, "worker")
    alice.join(GROUP).get()
    next_event(alice_events)
    worker.multicast(GROUP, 3, b'{"type":"job.done"}').get()
    assert next_event(alice_events).sender == "#worker#localhost"


@pytest.mark.timeout(30)
def test_reconnects_and_rejoins_when_the_daemon_comes_back():
    first = SpreadDaemon("127.0.0.1", 0, "localhost").start()
    port = first.port
    second = None
    try:
        with structlog.testing.capture_logs() as logs:
            alice, events = member(first, "alice")
            alice.join(GROUP).get()
            next_event(events)
            first.stop()
            assert next_event(events) == ViewChanged(GROUP, (), "network", ("#alice#localhost",), "#alice#localhost")
            with pytest.raises(SpreadConnectionError) as caught:
                alice.multicast(GROUP, 1, b"lost").get()
            assert caught.value.code == CONNECTION_CLOSED
            second = SpreadDaemon("127.0.0.1", port, "localhost").start()
            view = next_event(events, timeout=10)
            assert (view.group, view.members, view.cause) == (GROUP, ("#alice#localhost",), "join")
            alice.multicast(GROUP, 1, b"back").get()
            assert next_event(events, MessageReceived).payload == b"back"
            alice.actor_ref.stop()
        said = [(e["event"], e["log_level"], e.get("me")) for e in logs if e["event"].startswith("spread.")]
        assert ("spread.connection_lost", "warning", "#alice#localhost") in said
        assert ("spread.reconnected", "info", "#alice#localhost") in said
    finally:
        pykka.ActorRegistry.stop_all()
        if second is not None:
            second.stop()


def test_stop_disconnects_and_the_daemon_forgets_the_session(daemon):
    gateway, _ = member(daemon, "gone")
    assert daemon.session_names() == ["#gone#localhost"]
    gateway.actor_ref.stop()
    assert eventually(lambda: daemon.session_names() == [], what="the daemon to forget the session")


def test_members_is_the_last_view_and_events_wait_for_the_first_listener(daemon):
    gateway = SpreadGroupConnection.start(daemon.address, "early").proxy()
    gateway.join(GROUP).get()
    eventually(lambda: gateway.members(GROUP).get(), what="the first view")
    assert gateway.members(GROUP).get() == ("#early#localhost",)
    events: queue.Queue = queue.Queue()
    listener = Recorder.start(events)
    gateway.subscribe(listener).get()
    gateway.subscribe(listener.proxy()).get()  # once is enough
    assert next_event(events).cause == "join"
    next_is_marker(gateway, events)  # the join view came once
    gateway.leave(GROUP).get()
    assert next_event(events).members == ()
    assert gateway.members(GROUP).get() == ()
