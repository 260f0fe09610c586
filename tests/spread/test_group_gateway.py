"""SpreadGroupConnection against the daemon: views and messages as domain events, reconnects."""

from __future__ import annotations

import queue
import threading
import time
from itertools import count

import pykka
import pytest
import structlog
import structlog.testing

from gateways.group.spread import SpreadGroupConnection
from ports.group import CONNECTION_CLOSED, MessageReceived, ViewChanged
from spread.client import SpreadClient
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


# -- the reader keeps reading whatever the actors do -------------------------------------------------

BURST = 5000
BURST_TYPE = 9


class Blocked(pykka.ThreadingActor):
    """A listener whose every event waits for ``gate``: an actor that is slow for as long as a test likes."""

    def __init__(self, gate: threading.Event, events: queue.Queue):
        super().__init__()
        self.gate, self.events = gate, events

    def on_view_changed(self, event):
        self.gate.wait()
        self.events.put(event)

    def on_message_received(self, event):
        self.gate.wait()
        self.events.put(event)


@pytest.fixture
def limited_daemon():
    """A daemon that cuts a session with more than 1,000 messages unread, as Spread 4.4.0 does."""
    d = SpreadDaemon("127.0.0.1", 0, "localhost", max_session_messages=1000).start()
    yield d
    d.stop()


def silent_member(daemon) -> SpreadClient:
    """A member of GROUP that never reads: the burst must be one that cuts it off."""
    silent = SpreadClient()
    silent.connect(daemon.address, "silent")
    silent.join(GROUP)
    return silent


def multicast_burst(daemon, count: int = BURST) -> list[bytes]:
    """``count`` small messages to GROUP, as fast as a client sends them; returns their payloads."""
    payloads = [b"%06d " % n + b"x" * 200 for n in range(count)]
    sender = SpreadClient()
    sender.connect(daemon.address, "sender")
    for payload in payloads:
        sender.multicast([GROUP], "AGREED", BURST_TYPE, payload)
    sender.disconnect()
    return payloads


def burst_payloads(events: queue.Queue, count: int) -> list[bytes]:
    return [next_event(events, MessageReceived, timeout=30).payload for _ in range(count)]


def dropped(logs) -> set[str]:
    return {entry["session"] for entry in logs if entry["event"] == "spread.slow_session_dropped"}


@pytest.mark.timeout(60)
def test_the_reader_keeps_reading_while_a_listener_is_blocked(limited_daemon):
    gate = threading.Event()
    try:
        with structlog.testing.capture_logs() as logs:
            gateway, fast = member(limited_daemon, "svc")
            slow: queue.Queue = queue.Queue()
            gateway.subscribe(Blocked.start(gate, slow)).get()
            gateway.join(GROUP).get()
            next_event(fast)
            silent = silent_member(limited_daemon)

            payloads = multicast_burst(limited_daemon)

            assert burst_payloads(fast, BURST) == payloads  # while the other listener has not taken one
            assert slow.empty()
            assert eventually(lambda: dropped(logs), 10, "the silent member to be cut off") == {"#silent#localhost"}
            gate.set()
            assert next_event(slow).cause == "join"
            assert burst_payloads(slow, BURST) == payloads
            assert "#svc#localhost" in limited_daemon.members(GROUP)
            assert ("spread.connection_lost", "#svc#localhost") not in [(e["event"], e.get("me")) for e in logs]
            silent.close_abruptly()
    finally:
        gate.set()


@pytest.mark.timeout(60)
def test_the_reader_keeps_reading_while_the_actor_thread_is_stuck_in_a_send(limited_daemon, monkeypatch):
    stuck, release = threading.Event(), threading.Event()
    send = SpreadClient._send

    def slow_send(client, message):  # a send the socket takes a long time to accept, holding the send lock
        if message.mess_type == MARKER - 1:
            with client._send_lock:
                stuck.set()
                release.wait(30)
        send(client, message)

    monkeypatch.setattr(SpreadClient, "_send", slow_send)
    try:
        with structlog.testing.capture_logs() as logs:
            gateway, events = member(limited_daemon, "svc")
            gateway.join(GROUP).get()
            next_event(events)
            silent = silent_member(limited_daemon)
            sending = gateway.multicast(GROUP, MARKER - 1, b"slow")
            assert stuck.wait(10)

            payloads = multicast_burst(limited_daemon)

            assert burst_payloads(events, BURST) == payloads
            with pytest.raises(pykka.Timeout):  # the actor thread was in its send all along
                sending.get(timeout=0)
            assert eventually(lambda: dropped(logs), 10, "the silent member to be cut off") == {"#silent#localhost"}
            release.set()
            sending.get(timeout=10)
            assert next_event(events, MessageReceived).payload == b"slow"
            assert ("spread.connection_lost", "#svc#localhost") not in [(e["event"], e.get("me")) for e in logs]
            silent.close_abruptly()
    finally:
        release.set()


@pytest.mark.timeout(30)
def test_an_error_while_passing_a_message_on_starts_the_session_again(daemon, monkeypatch):
    import gateways.group.spread as spread_gateway

    translate = spread_gateway.events_of

    def failing(message, me, joined):
        if message.data == b"boom":
            raise RuntimeError("a bug in the translation")
        return translate(message, me, joined)

    monkeypatch.setattr(spread_gateway, "events_of", failing)
    with structlog.testing.capture_logs() as logs:
        alice, events = member(daemon, "alice")
        alice.join(GROUP).get()
        next_event(events)
        alice.multicast(GROUP, 1, b"boom").get()
        assert next_event(events) == ViewChanged(GROUP, (), "network", ("#alice#localhost",), "#alice#localhost")
        view = next_event(events, timeout=10)
        assert (view.group, view.members, view.cause) == (GROUP, ("#alice#localhost",), "join")
        alice.multicast(GROUP, 1, b"after").get()
        assert next_event(events, MessageReceived).payload == b"after"
    assert "spread.reader_failed" in [entry["event"] for entry in logs]


@pytest.mark.timeout(30)
def test_groups_joined_and_left_while_reconnecting_are_caught_up(daemon):
    port = daemon.port
    alice, events = member(daemon, "alice")
    alice.join(GROUP).get()
    next_event(events)
    daemon.stop()
    assert next_event(events).cause == "network"
    assert not alice.is_connected().get()
    alice.join("photomark.other").get()
    alice.leave(GROUP).get()
    second = SpreadDaemon("127.0.0.1", port, "localhost").start()
    try:
        view = next_event(events, ViewChanged, timeout=10)
        assert (view.group, view.members, view.cause) == ("photomark.other", ("#alice#localhost",), "join")
        assert alice.is_connected().get()
        assert second.members(GROUP) == []
        next_is_marker(alice, events)  # no view of GROUP came back
    finally:
        alice.actor_ref.stop()
        second.stop()
