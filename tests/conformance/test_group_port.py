"""Both twins of the group port keep the same promises (ports/group.py).

Every test runs twice: on ``MemoryGroupConnection`` with a ``MemoryGroupHub``,
and on ``SpreadGroupConnection`` with the project's own Spread daemon, started
here on a free loopback port and stopped at the end (so that run is an
integration test).  A test that passes on both says the fake means something.

A negative assertion ("X was not delivered") never waits for silence: a marker
message, sent after X had its chance, arrives after anything the daemon ordered
before it, so a member's whole story up to the marker is known.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from itertools import count

import pykka
import pytest

from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from gateways.group.spread import SpreadGroupConnection
from ports.group import (
    CONNECTION_CLOSED,
    ILLEGAL_GROUP,
    ILLEGAL_MESSAGE,
    ILLEGAL_SERVICE,
    MAX_PAYLOAD,
    MESSAGE_TOO_LONG,
    REJECT_ILLEGAL_NAME,
    REJECT_NOT_UNIQUE,
    GroupConnection,
    GroupConnectionError,
    GroupError,
    GroupRejected,
    MessageReceived,
    ViewChanged,
)
from spread.daemon import SpreadDaemon
from tests.dummies import GroupEventRecorder as Listener
from tests.polling import eventually

GROUP = "photomark.svcs"
MARKER = 0x7FFF  # the message type of markers, left out of every story
_markers = count()


def is_marker(event: object, payload: bytes | None = None) -> bool:
    return (
        isinstance(event, MessageReceived)
        and event.message_type == MARKER
        and (payload is None or event.payload == payload)
    )


class Member:
    """A connection with one recording listener subscribed."""

    def __init__(self, connection: pykka.ActorProxy, listener: pykka.ActorProxy | None = None) -> None:
        self.connection = connection
        self.listener = listener
        self.name: str = connection.private_name().get()

    def listen(self) -> Member:
        self.listener = Listener.start().proxy()
        self.connection.subscribe(self.listener).get()
        return self

    def seen(self) -> list:
        return [e for e in self.listener.seen().get() if not is_marker(e)]

    def arrived(self, count: int) -> list:
        """Waits until at least ``count`` events arrived; returns them all."""

        def enough() -> list | None:
            events = self.seen()
            return events if len(events) >= count else None

        return eventually(enough, what=f"{count} events")

    def own_views(self, cause: str, group: str = GROUP) -> int:
        """How many views of ``group`` this member has heard that its own join or leave caused."""
        return sum(
            1
            for e in self.seen()
            if isinstance(e, ViewChanged) and e.group == group and e.cause == cause and e.changed == (self.name,)
        )

    def story(self, sender: Member | None = None) -> list:
        """Everything this member heard, up to a marker that ``sender`` (by default the member
        itself) sends to its private name now: whatever was ordered before it came first."""
        payload = b"marker %d" % next(_markers)
        (sender or self).connection.multicast(self.name, MARKER, payload).get()

        def marked() -> tuple[list] | None:  # in a tuple: an empty story is an answer too
            events = self.listener.seen().get()
            ends = [i for i, e in enumerate(events) if is_marker(e, payload)]
            return ([e for e in events[: ends[0]] if not is_marker(e)],) if ends else None

        return eventually(marked, what=f"the marker at {self.name}")[0]


class Twin:
    """One side of the port: opens connections on its daemon, stops them at the end."""

    def __init__(self, kind: str, cls: type, start: Callable[[str], pykka.ActorRef]) -> None:
        self.kind, self.cls, self._start = kind, cls, start
        self._refs: list[pykka.ActorRef] = []

    def connect(self, user: str) -> Member:
        """A connection with no listener yet."""
        ref = self._start(user)
        self._refs.append(ref)
        return Member(ref.proxy())

    def member(self, user: str) -> Member:
        return self.connect(user).listen()

    def stop(self) -> None:
        for ref in reversed(self._refs):
            ref.stop()


@pytest.fixture(params=["memory", pytest.param("spread", marks=pytest.mark.integration)])
def twin(request) -> Iterator[Twin]:
    if request.param == "memory":
        hub = MemoryGroupHub.start(daemon_name="localhost").proxy()
        side = Twin("memory", MemoryGroupConnection, lambda user: MemoryGroupConnection.start(hub, user))
        try:
            yield side
        finally:
            side.stop()
            hub.actor_ref.stop()
    else:
        daemon = SpreadDaemon("127.0.0.1", 0, "localhost").start()
        side = Twin("spread", SpreadGroupConnection, lambda user: SpreadGroupConnection.start(daemon.address, user))
        try:
            yield side
        finally:
            side.stop()
            daemon.stop()


def view(members: tuple[str, ...], cause: str, changed: str, me: str, group: str = GROUP) -> ViewChanged:
    return ViewChanged(group, members, cause, (changed,), me=me)


def join_in_turn(*members: Member, group: str = GROUP) -> None:
    """Join one after the other, each waiting for its own view (joins from two sessions race)."""
    for m in members:
        before = m.own_views("join", group)
        m.connection.join(group).get()
        eventually(lambda m=m, before=before: m.own_views("join", group) > before, what=f"{m.name} in {group}")


# -- the promises ------------------------------------------------------------------------


def test_both_twins_satisfy_the_protocol(twin):
    assert issubclass(twin.cls, GroupConnection)
    promised = {n: f for n, f in vars(GroupConnection).items() if inspect.isfunction(f) and not n.startswith("_")}
    for name, method in promised.items():
        want = [(p.name, p.default) for p in inspect.signature(method).parameters.values()]
        got = [(p.name, p.default) for p in inspect.signature(getattr(twin.cls, name)).parameters.values()]
        assert got == want, name
    alice = twin.member("alice")
    assert alice.connection.is_connected().get() is True


def test_a_private_name_is_hash_user_hash_daemon(twin):
    assert twin.member("alice").name == "#alice#localhost"
    anonymous = twin.member("").name  # the daemon makes one up
    assert anonymous.startswith("#r") and anonymous.endswith("#localhost")


@pytest.mark.parametrize("user", ["alicealice1", "bad#name", "bad name", "tab\there", "caf\u00e9"])
def test_an_illegal_user_name_is_rejected(twin, user):
    with pytest.raises(GroupRejected, match="REJECT_ILLEGAL_NAME") as caught:
        twin.connect(user)
    assert caught.value.code == REJECT_ILLEGAL_NAME
    assert twin.member("alicealice").name == "#alicealice#localhost"  # ten bytes is the limit


def test_a_user_name_in_use_is_rejected_until_it_is_free(twin):
    alice = twin.member("alice")
    with pytest.raises(GroupRejected, match="REJECT_NOT_UNIQUE") as caught:
        twin.connect("alice")
    assert caught.value.code == REJECT_NOT_UNIQUE
    alice.connection.disconnect().get()

    def connects():
        try:
            return twin.connect("alice")
        except GroupRejected:
            return None  # the daemon has not closed the old session yet

    assert eventually(connects, what="the name to be free").name == "#alice#localhost"


def test_views_are_sorted_and_seen_by_every_member_including_the_joiner(twin):
    bob, alice = twin.member("bob"), twin.member("alice")
    join_in_turn(bob, alice)
    both = ("#alice#localhost", "#bob#localhost")  # sorted by private name, not by join order
    assert bob.story() == [
        view(("#bob#localhost",), "join", bob.name, bob.name),
        view(both, "join", alice.name, bob.name),
    ]
    assert alice.story() == [view(both, "join", alice.name, alice.name)]


def test_a_leaver_sees_a_self_leave_and_the_others_a_leave(twin):
    alice, bob = twin.member("alice"), twin.member("bob")
    join_in_turn(alice, bob)
    bob.connection.leave(GROUP).get()
    assert bob.story()[-1] == view((), "leave", bob.name, bob.name)  # no members
    assert alice.story(sender=bob)[-1] == view((alice.name,), "leave", bob.name, alice.name)


@pytest.mark.parametrize("how", ["disconnect", "stop"])
def test_a_disconnect_is_seen_by_the_others_with_cause_disconnect(twin, how):
    alice, bob = twin.member("alice"), twin.member("bob")
    join_in_turn(alice, bob)
    bob_before = bob.story()
    if how == "disconnect":
        bob.connection.disconnect().get()
    else:
        bob.connection.actor_ref.stop()
    assert alice.arrived(3)[-1] == view((alice.name,), "disconnect", bob.name, alice.name)
    assert alice.story() == [
        view((alice.name,), "join", alice.name, alice.name),
        view((alice.name, bob.name), "join", bob.name, alice.name),
        view((alice.name,), "disconnect", bob.name, alice.name),
    ]
    if how == "disconnect":  # the one that left hears nothing of its own going: once its connection
        assert bob.connection.is_connected().get() is False  # answers, it has told its listener all it had
        assert bob.seen() == bob_before


def test_a_non_member_may_send_to_a_group_and_does_not_receive_it(twin):
    alice, carol = twin.member("alice"), twin.member("carol")
    join_in_turn(alice)
    carol.connection.multicast(GROUP, 1, b"from outside").get()
    assert carol.story() == []
    assert alice.story(sender=carol)[-1] == MessageReceived(GROUP, carol.name, 1, b"from outside", me=alice.name)


def test_self_discard_keeps_a_multicast_from_its_sender(twin):
    alice, bob = twin.member("alice"), twin.member("bob")
    join_in_turn(alice, bob)
    alice.connection.multicast(GROUP, 1, b"not for me", self_discard=True).get()
    alice.connection.multicast(GROUP, 2, b"for all").get()
    assert [e.payload for e in alice.story() if isinstance(e, MessageReceived)] == [b"for all"]
    assert [e.payload for e in bob.story(sender=alice) if isinstance(e, MessageReceived)] == [b"not for me", b"for all"]


def test_a_private_name_reaches_that_connection_only(twin):
    alice, bob = twin.member("alice"), twin.member("bob")
    join_in_turn(alice, bob)
    bob.connection.multicast(alice.name, 7, b"snapshot").get()
    assert alice.story(sender=bob)[-1] == MessageReceived(alice.name, bob.name, 7, b"snapshot", me=alice.name)
    assert [e for e in bob.story() if isinstance(e, MessageReceived)] == []
    with pytest.raises(GroupError, match="ILLEGAL_GROUP") as caught:
        alice.connection.join(bob.name).get()  # a private name is a destination, never a group to join
    assert caught.value.code == ILLEGAL_GROUP


@pytest.mark.parametrize("group", ["", "g" * 32, "with space", "gr\u00fcn", "#bob"])
def test_an_illegal_group_name_is_refused(twin, group):
    alice = twin.member("alice")
    for call in (
        lambda: alice.connection.join(group).get(),
        lambda: alice.connection.leave(group).get(),
        lambda: alice.connection.multicast(group, 1, b"x").get(),
    ):
        with pytest.raises(GroupError, match="ILLEGAL_GROUP") as caught:
            call()
        assert caught.value.code == ILLEGAL_GROUP
    join_in_turn(alice, group="g" * 31)  # the longest legal name
    assert alice.connection.members("g" * 31).get() == (alice.name,)


@pytest.mark.parametrize(
    ("message_type", "payload", "service", "code"),
    [
        (-1, b"x", "AGREED", ILLEGAL_MESSAGE),
        (65536, b"x", "AGREED", ILLEGAL_MESSAGE),
        (1, bytes(MAX_PAYLOAD + 1), "AGREED", MESSAGE_TOO_LONG),
        (1, b"x", "TOTAL", ILLEGAL_SERVICE),
    ],
)
def test_an_illegal_message_is_refused_and_the_limits_pass(twin, message_type, payload, service, code):
    alice = twin.member("alice")
    join_in_turn(alice)
    with pytest.raises(GroupError) as caught:
        alice.connection.multicast(GROUP, message_type, payload, service=service).get()
    assert caught.value.code == code
    for sent_type in (0, 32768, 65535):  # message types are unsigned 16-bit both ways
        alice.connection.multicast(GROUP, sent_type, b"t", service="UNRELIABLE").get()
    alice.connection.multicast(GROUP, 2, bytes(MAX_PAYLOAD), service="SAFE").get()
    got = [(e.message_type, len(e.payload)) for e in alice.story() if isinstance(e, MessageReceived)]
    assert got == [(0, 1), (32768, 1), (65535, 1), (2, MAX_PAYLOAD)]


def test_joining_twice_or_leaving_a_group_not_joined_changes_nothing(twin):
    alice = twin.member("alice")
    join_in_turn(alice)
    alice.connection.join(GROUP).get()
    alice.connection.leave("other.group").get()
    alice.connection.multicast(GROUP, 1, b"after").get()
    assert alice.story() == [
        view((alice.name,), "join", alice.name, alice.name),
        MessageReceived(GROUP, alice.name, 1, b"after", me=alice.name),
    ]
    assert alice.connection.members(GROUP).get() == (alice.name,)
    assert alice.connection.members("other.group").get() == ()


def test_members_reflects_the_last_view(twin):
    alice, bob = twin.member("alice"), twin.member("bob")
    assert alice.connection.members(GROUP).get() == ()
    join_in_turn(alice, bob)
    alice.story(sender=bob)  # alice has heard bob's join
    assert alice.connection.members(GROUP).get() == (alice.name, bob.name)
    bob.connection.leave(GROUP).get()
    bob.story()
    alice.story(sender=bob)
    assert bob.connection.members(GROUP).get() == ()
    assert alice.connection.members(GROUP).get() == (alice.name,)


def test_after_a_disconnect_sends_and_joins_raise_connection_closed(twin):
    alice = twin.member("alice")
    join_in_turn(alice)
    alice.connection.disconnect().get()
    assert alice.connection.is_connected().get() is False
    for call in (
        lambda: alice.connection.multicast(GROUP, 1, b"lost").get(),
        lambda: alice.connection.join("other.group").get(),
    ):
        with pytest.raises(GroupConnectionError, match="CONNECTION_CLOSED") as caught:
            call()
        assert caught.value.code == CONNECTION_CLOSED
    alice.connection.disconnect().get()  # closing twice changes nothing


def test_events_wait_for_a_listener_that_subscribes_late(twin):
    alice = twin.connect("alice")
    alice.connection.join(GROUP).get()
    alice.connection.multicast(GROUP, 1, b"early").get()
    alice.listen()
    alice.connection.subscribe(alice.listener).get()  # subscribing twice changes nothing
    assert alice.story() == [
        view((alice.name,), "join", alice.name, alice.name),
        MessageReceived(GROUP, alice.name, 1, b"early", me=alice.name),
    ]


@pytest.mark.timeout(60)
def test_every_member_sees_one_order_of_messages_and_views(twin):
    senders = [twin.member(f"svc{i}") for i in range(3)]
    join_in_turn(*senders)
    churner = twin.member("churner")
    per_sender = 40

    def send(member: Member, index: int) -> None:
        for n in range(per_sender):
            member.connection.multicast(GROUP, index, b"%d-%d" % (index, n)).get()

    def churn() -> None:
        for _ in range(5):
            join_in_turn(churner)
            before = churner.own_views("leave")
            churner.connection.leave(GROUP).get()
            eventually(lambda before=before: churner.own_views("leave") > before, what="the churner's self-leave")

    threads = [threading.Thread(target=send, args=(m, i)) for i, m in enumerate(senders)]
    threads.append(threading.Thread(target=churn))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)

    def told(e):
        return ("message", e.sender, e.payload) if isinstance(e, MessageReceived) else ("view", e.cause, e.members)

    stories = []
    for m in senders:
        story = m.story()
        everybody_in = next(i for i, e in enumerate(story) if isinstance(e, ViewChanged) and len(e.members) == 3)
        stories.append([told(e) for e in story[everybody_in + 1 :]])
    assert len(stories[0]) == 3 * per_sender + 10  # every message, 5 joins and 5 leaves of the churner
    assert stories[0] == stories[1] == stories[2]
    payloads = [e[2] for e in stories[0] if e[0] == "message"]
    for index in range(3):  # and each sender's messages in the order it sent them
        assert [p for p in payloads if p.startswith(b"%d-" % index)] == [
            b"%d-%d" % (index, n) for n in range(per_sender)
        ]
