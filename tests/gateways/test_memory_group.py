"""The in-memory group keeps Spread's promises on one host: private names, views
on join, leave and disconnect, open groups, self-discard, one total order."""

from __future__ import annotations

import threading

import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorkit.messaging import tell_call
from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from ports.group import (
    GroupConnectionError,
    GroupError,
    GroupRejected,
    MessageReceived,
    ViewChanged,
)
from tests.dummies import GroupEventRecorder as Listener
from tests.polling import eventually

GROUP = "photomark.svcs"


def seen(listener: pykka.ActorProxy) -> list:
    return listener.seen().get()


def arrived(listener: pykka.ActorProxy, count: int) -> list:
    """Wait until ``listener`` holds at least ``count`` events; return them all."""

    def enough() -> list | None:
        events = seen(listener)
        return events if len(events) >= count else None

    return eventually(enough, what=f"{count} events")


def views(events: list) -> list[ViewChanged]:
    return [e for e in events if isinstance(e, ViewChanged)]


def messages(events: list) -> list[MessageReceived]:
    return [e for e in events if isinstance(e, MessageReceived)]


@pytest.fixture
def hub() -> pykka.ActorProxy:
    return MemoryGroupHub.start(liveness_interval=0.05).proxy()


def connect(hub: pykka.ActorProxy, user: str) -> tuple[pykka.ActorProxy, pykka.ActorProxy]:
    """A connection with one recording listener subscribed."""
    connection = MemoryGroupConnection.start(hub, user).proxy()
    listener = Listener.start().proxy()
    connection.subscribe(listener).get()
    return connection, listener


def test_a_connection_is_named_as_spread_names_it(hub):
    alice, _ = connect(hub, "alice")
    assert alice.private_name().get() == "#alice#localhost"
    other = MemoryGroupHub.start(daemon_name="spread1").proxy()
    bob, _ = connect(other, "bob")
    assert bob.private_name().get() == "#bob#spread1"


def test_a_user_name_taken_on_the_hub_is_rejected_until_it_is_free(hub):
    alice, _ = connect(hub, "alice")
    with pytest.raises(GroupRejected, match="REJECT_NOT_UNIQUE") as caught:
        MemoryGroupConnection.start(hub, "alice")
    assert caught.value.code == -6 and type(caught.value) is GroupRejected  # the port's own error, not Spread's
    alice.disconnect().get()
    again, _ = connect(hub, "alice")
    assert again.private_name().get() == "#alice#localhost"


@pytest.mark.parametrize("user", ["alicealice1", "bad#name", "bad name", "tab\there", "caf\u00e9"])
def test_an_illegal_user_name_is_rejected(hub, user):
    with pytest.raises(GroupRejected, match="REJECT_ILLEGAL_NAME") as caught:
        MemoryGroupConnection.start(hub, user)
    assert caught.value.code == -5 and type(caught.value) is GroupRejected


def test_a_ten_byte_user_name_is_accepted_and_an_empty_one_gets_a_made_up_name(hub):
    longest, _ = connect(hub, "alicealice")
    assert longest.private_name().get() == "#alicealice#localhost"
    anonymous, _ = connect(hub, "")
    name = anonymous.private_name().get()
    assert name.startswith("#r") and name.endswith("#localhost")


def test_a_join_is_seen_by_every_member_including_the_joiner(hub):
    bob, bob_sees = connect(hub, "bob")
    alice, alice_sees = connect(hub, "alice")
    bob.join(GROUP).get()
    alice.join(GROUP).get()

    both = (
        "#alice#localhost",
        "#bob#localhost",
    )  # sorted by private name, not by join order
    assert arrived(bob_sees, 2) == [
        ViewChanged(GROUP, ("#bob#localhost",), "join", ("#bob#localhost",), me="#bob#localhost"),
        ViewChanged(GROUP, both, "join", ("#alice#localhost",), me="#bob#localhost"),
    ]
    assert arrived(alice_sees, 1) == [ViewChanged(GROUP, both, "join", ("#alice#localhost",), me="#alice#localhost")]
    assert hub.members(GROUP).get() == both


def test_joining_twice_or_leaving_a_group_one_is_not_in_changes_nothing(hub):
    alice, alice_sees = connect(hub, "alice")
    alice.join(GROUP).get()
    alice.join(GROUP).get()
    alice.leave("other.group").get()
    alice.multicast(GROUP, 1, b"marker").get()
    events = arrived(alice_sees, 2)
    assert [type(e) for e in events] == [ViewChanged, MessageReceived]
    assert hub.members(GROUP).get() == ("#alice#localhost",)


def test_a_leave_is_seen_by_the_remaining_members_and_by_the_leaver_as_a_self_leave(
    hub,
):
    alice, alice_sees = connect(hub, "alice")
    bob, bob_sees = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    bob.leave(GROUP).get()

    assert arrived(alice_sees, 3)[-1] == ViewChanged(
        GROUP,
        ("#alice#localhost",),
        "leave",
        ("#bob#localhost",),
        me="#alice#localhost",
    )
    assert arrived(bob_sees, 2)[-1] == ViewChanged(GROUP, (), "leave", ("#bob#localhost",), me="#bob#localhost")
    assert hub.members(GROUP).get() == ("#alice#localhost",)
    alice.leave(GROUP).get()
    assert hub.members(GROUP).get() == ()


def test_a_multicast_reaches_every_member_including_the_sender(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, bob_sees = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    alice.multicast(GROUP, 4660, b'{"type":"hello"}', service="SAFE").get()

    for listener, me in (
        (alice_sees, "#alice#localhost"),
        (bob_sees, "#bob#localhost"),
    ):
        assert messages(eventually(lambda listener=listener: messages(seen(listener)) and seen(listener))) == [
            MessageReceived(GROUP, "#alice#localhost", 4660, b'{"type":"hello"}', me=me)
        ]


def test_self_discard_keeps_a_multicast_from_its_sender(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, bob_sees = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    alice.multicast(GROUP, 1, b"not for me", self_discard=True).get()
    alice.multicast(GROUP, 2, b"marker").get()

    assert [m.payload for m in messages(arrived(bob_sees, 3))] == [
        b"not for me",
        b"marker",
    ]
    assert [m.payload for m in messages(arrived(alice_sees, 3))] == [b"marker"]


def test_a_non_member_may_send_to_a_group_and_does_not_receive_it(hub):
    alice, alice_sees = connect(hub, "alice")
    carol, carol_sees = connect(hub, "carol")
    alice.join(GROUP).get()
    carol.multicast(GROUP, 1, b"from outside").get()
    carol.multicast("#carol#localhost", 2, b"marker").get()  # to her own private group

    assert arrived(alice_sees, 2)[-1] == MessageReceived(
        GROUP, "#carol#localhost", 1, b"from outside", me="#alice#localhost"
    )
    assert arrived(carol_sees, 1) == [
        MessageReceived("#carol#localhost", "#carol#localhost", 2, b"marker", me="#carol#localhost")
    ]


def test_a_private_name_reaches_that_connection_only(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, bob_sees = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    bob.multicast("#alice#localhost", 7, b"snapshot").get()
    bob.multicast(GROUP, 8, b"marker").get()

    assert [m.payload for m in messages(arrived(alice_sees, 4))] == [
        b"snapshot",
        b"marker",
    ]
    assert [m.payload for m in messages(arrived(bob_sees, 2))] == [b"marker"]
    with pytest.raises(GroupError, match="ILLEGAL_GROUP"):
        alice.join("#bob#localhost").get()


def test_messages_stay_in_their_group(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, bob_sees = connect(hub, "bob")
    alice.join("photomark.store").get()
    bob.join(GROUP).get()
    alice.multicast(GROUP, 1, b"for svcs").get()
    bob.multicast("photomark.store", 2, b"for store").get()

    assert [m.payload for m in messages(arrived(alice_sees, 2))] == [b"for store"]
    assert [m.payload for m in messages(arrived(bob_sees, 2))] == [b"for svcs"]


@pytest.mark.parametrize(
    ("group", "code"),
    [
        ("", "ILLEGAL_GROUP"),
        ("g" * 32, "ILLEGAL_GROUP"),
        ("with space", "ILLEGAL_GROUP"),
        ("gr\u00fcn", "ILLEGAL_GROUP"),
    ],
)
def test_an_illegal_group_name_is_refused(hub, group, code):
    alice, _ = connect(hub, "alice")
    with pytest.raises(GroupError, match=code):
        alice.join(group).get()
    with pytest.raises(GroupError, match=code):
        alice.multicast(group, 1, b"x").get()
    alice.join("g" * 31).get()  # the longest legal name
    assert hub.members("g" * 31).get() == ("#alice#localhost",)


@pytest.mark.parametrize(
    ("message_type", "payload", "service", "error"),
    [
        (-1, b"x", "AGREED", "ILLEGAL_MESSAGE"),
        (65536, b"x", "AGREED", "ILLEGAL_MESSAGE"),
        (1, b"x" * 143_121, "AGREED", "MESSAGE_TOO_LONG"),
        (1, b"x", "TOTAL", "ILLEGAL_SERVICE"),
    ],
)
def test_an_illegal_message_is_refused_and_reaches_nobody(hub, message_type, payload, service, error):
    alice, alice_sees = connect(hub, "alice")
    alice.join(GROUP).get()
    with pytest.raises(GroupError, match=error):
        alice.multicast(GROUP, message_type, payload, service=service).get()
    alice.multicast(GROUP, 65535, b"m" * 143_120, service="UNRELIABLE").get()  # the limits themselves pass
    assert [(m.message_type, len(m.payload)) for m in messages(arrived(alice_sees, 2))] == [(65535, 143_120)]


def test_a_payload_must_be_bytes(hub):
    alice, _ = connect(hub, "alice")
    with pytest.raises(TypeError):
        alice.multicast(GROUP, 1, "text").get()


def test_every_service_level_is_delivered(hub):
    alice, alice_sees = connect(hub, "alice")
    alice.join(GROUP).get()
    services = ["UNRELIABLE", "RELIABLE", "FIFO", "CAUSAL", "AGREED", "SAFE"]
    for i, service in enumerate(services):
        alice.multicast(GROUP, i, service.encode(), service=service).get()
    assert [m.payload.decode() for m in messages(arrived(alice_sees, 7))] == services


def test_a_disconnect_is_seen_by_the_others_as_cause_disconnect(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, bob_sees = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    bob.join("other.group").get()
    bob.disconnect().get()

    assert arrived(alice_sees, 3)[-1] == ViewChanged(
        GROUP,
        ("#alice#localhost",),
        "disconnect",
        ("#bob#localhost",),
        me="#alice#localhost",
    )
    assert hub.members("other.group").get() == ()
    with pytest.raises(GroupConnectionError, match="CONNECTION_CLOSED"):
        bob.multicast(GROUP, 1, b"too late").get()
    with pytest.raises(GroupConnectionError, match="CONNECTION_CLOSED"):
        bob.join(GROUP).get()
    bob.disconnect().get()  # once closed, closing again changes nothing
    alice.multicast(GROUP, 1, b"marker").get()
    assert len(arrived(alice_sees, 4)) == 4
    # the departing one hears nothing of it: its two join views, no disconnect view
    assert [(v.group, v.cause) for v in views(arrived(bob_sees, 2))] == [(GROUP, "join"), ("other.group", "join")]


def test_a_stopped_connection_disconnects(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, _ = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    bob.actor_ref.stop()
    assert arrived(alice_sees, 3)[-1].cause == "disconnect"
    assert hub.members(GROUP).get() == ("#alice#localhost",)


def test_a_crashed_connection_is_found_by_the_liveness_check(hub):
    alice, alice_sees = connect(hub, "alice")
    bob, _ = connect(hub, "bob")
    alice.join(GROUP).get()
    bob.join(GROUP).get()
    tell_call(bob, "no_such_method")  # bob's actor dies without a word to the hub
    eventually(lambda: not bob.actor_ref.is_alive())

    assert arrived(alice_sees, 3)[-1] == ViewChanged(
        GROUP,
        ("#alice#localhost",),
        "disconnect",
        ("#bob#localhost",),
        me="#alice#localhost",
    )
    connect(hub, "bob")  # and the name is free again


def test_several_listeners_each_get_every_event_in_order(hub):
    alice, first = connect(hub, "alice")
    second = Listener.start().proxy()
    alice.subscribe(second).get()
    alice.subscribe(second).get()  # subscribing twice does not double the events
    alice.join(GROUP).get()
    for i in range(20):
        alice.multicast(GROUP, i, b"%d" % i).get()
    assert arrived(first, 21) == arrived(second, 21)
    alice.is_connected().get()  # once the connection answers, it has passed every event on
    assert len(seen(second)) == 21


def test_events_wait_for_the_first_listener(hub):
    alice = MemoryGroupConnection.start(hub, "alice").proxy()
    alice.join(GROUP).get()
    alice.multicast(GROUP, 1, b"early").get()
    listener = Listener.start().proxy()
    alice.subscribe(listener).get()
    assert [type(e) for e in arrived(listener, 2)] == [ViewChanged, MessageReceived]


def test_a_dead_listener_is_dropped_and_the_connection_stays(hub):
    alice, dying = connect(hub, "alice")
    living = Listener.start().proxy()
    alice.subscribe(living).get()
    alice.join(GROUP).get()
    dying.actor_ref.stop()
    alice.multicast(GROUP, 1, b"after").get()
    assert [type(e) for e in arrived(living, 2)] == [ViewChanged, MessageReceived]
    for _ in range(3):  # several liveness checks, each run to its end: the session survives them
        hub.check_liveness().get()
    assert hub.members(GROUP).get() == ("#alice#localhost",)


def test_every_member_sees_the_same_order_under_concurrent_multicasts_and_churn(hub):
    senders = [connect(hub, f"svc{i}") for i in range(4)]
    for connection, _ in senders:
        connection.join(GROUP).get()
    churner, _ = connect(hub, "churner")

    def send(connection: pykka.ActorProxy, index: int) -> None:
        for n in range(60):
            connection.multicast(GROUP, index, b"%d-%d" % (index, n)).get()

    def churn() -> None:
        for _ in range(10):
            churner.join(GROUP).get()
            churner.leave(GROUP).get()

    threads = [threading.Thread(target=send, args=(c, i)) for i, (c, _) in enumerate(senders)]
    threads.append(threading.Thread(target=churn))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 4 initial-join views (fewer for later joiners), 240 messages, 20 churn views
    expected = 240 + 20
    sequences = []
    for i, (_, listener) in enumerate(senders):
        events = eventually(lambda listener=listener, i=i: len(e := seen(listener)) >= expected + 4 - i and e)
        events = events[4 - i :]  # from the moment everybody was in
        sequences.append(
            [
                (
                    type(e).__name__,
                    getattr(e, "payload", None),
                    getattr(e, "cause", None),
                )
                for e in events
            ]
        )
    assert len(sequences[0]) == expected
    assert all(s == sequences[0] for s in sequences)
    payloads = [p for kind, p, _ in sequences[0] if kind == "MessageReceived"]
    for index in range(4):  # each sender's messages in the order it sent them
        mine = [p for p in payloads if p.startswith(b"%d-" % index)]
        assert mine == [b"%d-%d" % (index, n) for n in range(60)]


def _liveness_threads(urn: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if urn in t.name]


def test_the_liveness_thread_stops_when_the_hub_stops():
    ref = MemoryGroupHub.start(liveness_interval=0.01)
    assert len(_liveness_threads(ref.actor_urn)) == 1
    ref.stop()
    assert _liveness_threads(ref.actor_urn) == []


def test_a_connection_to_a_stopped_hub_is_closed(hub):
    alice, _ = connect(hub, "alice")
    hub.actor_ref.stop()
    with pytest.raises(GroupError, match="CONNECTION_CLOSED"):
        alice.join(GROUP).get()
    alice.actor_ref.stop()  # stopping still works with the hub gone


# -- a model of Spread's membership and delivery, against the hub ------------------

USERS = ("a", "b", "c")
GROUPS = ("g1", "g2")
operations = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.sampled_from(USERS), st.sampled_from(GROUPS)),
        st.tuples(st.just("leave"), st.sampled_from(USERS), st.sampled_from(GROUPS)),
        st.tuples(
            st.just("send"),
            st.sampled_from(USERS),
            st.sampled_from(GROUPS + ("#a#localhost",)),
            st.booleans(),
        ),
        st.tuples(st.just("disconnect"), st.sampled_from(USERS)),
    ),
    max_size=25,
)


def model(script) -> dict[str, list]:
    """What each connection should receive, by Spread's rules, for a script run one step at a time."""
    name = {u: f"#{u}#localhost" for u in USERS}
    members: dict[str, set[str]] = {g: set() for g in GROUPS}
    connected = set(USERS)
    got: dict[str, list] = {u: [] for u in USERS}

    def view(group, cause, changed):
        listed = tuple(sorted(name[m] for m in members[group]))
        for m in sorted(members[group]):
            got[m].append(ViewChanged(group, listed, cause, (name[changed],), me=name[m]))

    for step in script:
        kind, user = step[0], step[1]
        if user not in connected:
            continue
        if kind == "join" and user not in members[step[2]]:
            members[step[2]].add(user)
            view(step[2], "join", user)
        elif kind == "leave" and user in members[step[2]]:
            members[step[2]].discard(user)
            got[user].append(ViewChanged(step[2], (), "leave", (name[user],), me=name[user]))
            view(step[2], "leave", user)
        elif kind == "send":
            group, self_discard = step[2], step[3]
            targets = ({"a"} & connected) if group.startswith("#") else members[group]
            for m in sorted(targets):
                if not (self_discard and m == user):
                    got[m].append(MessageReceived(group, name[user], 9, b"%d" % len(got[m]), me=name[m]))
        elif kind == "disconnect":
            connected.discard(user)
            for group in GROUPS:
                if user in members[group]:
                    members[group].discard(user)
                    view(group, "disconnect", user)
    return got


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=operations)
def test_the_hub_delivers_what_spreads_rules_say(script):
    hub = MemoryGroupHub.start().proxy()
    try:
        peers = {u: connect(hub, u) for u in USERS}
        expected = model(script)
        for step in script:
            kind, user = step[0], step[1]
            connection = peers[user][0]
            try:
                if kind == "join":
                    connection.join(step[2]).get()
                elif kind == "leave":
                    connection.leave(step[2]).get()
                elif kind == "send":
                    connection.multicast(step[2], 9, b"", self_discard=step[3]).get()
                else:
                    connection.disconnect().get()
            except GroupError as error:
                assert isinstance(error, GroupConnectionError) and error.code == -8
        for user in USERS:
            # every step waited for the hub, which had queued its deliveries to the connections by then;
            # once a connection answers, it has passed them all on to its listener: nothing is still coming
            peers[user][0].is_connected().get()
            got = seen(peers[user][1])
            # payloads are not modelled (the model numbers them); compare the rest
            strip = [e if isinstance(e, ViewChanged) else (e.group, e.sender, e.me) for e in got]
            want = [e if isinstance(e, ViewChanged) else (e.group, e.sender, e.me) for e in expected[user]]
            assert strip == want, user
    finally:
        pykka.ActorRegistry.stop_all()
