"""The Register's Directory: learns live Svcs from their hellos, forgets them at the first view
without them, ignores what is not a hello of the Svc group, and hands out the least loaded Svc,
equally loaded ones in turn."""

from __future__ import annotations

from collections import Counter

import pykka
import pytest

from actors import group_messages
from actors.directory import Directory
from actors.group_messages import SVCS_GROUP, JobDone, SvcHello
from actors.svc_choice import SvcRecord
from ports.group import MessageReceived

pytestmark = pytest.mark.timeout(60)

IP = "127.0.0.1"
OTHER_GROUP = "photomark.other"
PHOTO = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def register(fakes) -> pykka.ActorProxy:
    """The Register's group connection, subscribed by a Directory, then joined (as its role starts them)."""
    return fakes.connection("register")


@pytest.fixture
def directory(register) -> pykka.ActorProxy:
    directory = Directory.start().proxy()
    register.subscribe(directory).get()
    register.join(SVCS_GROUP).get()
    return directory


def svc(fakes, user: str, groups: tuple[str, ...] = (SVCS_GROUP,)) -> pykka.ActorProxy:
    connection = fakes.connection(user)
    for group in groups:
        connection.join(group).get()
    return connection


def hello(connection: pykka.ActorProxy, port: int, load: int = 0, to: str = SVCS_GROUP) -> None:
    group_messages.multicast(connection, SvcHello(IP, port, load), to=to)


def name_of(connection: pykka.ActorProxy) -> str:
    return connection.private_name().get()


def known(directory: pykka.ActorProxy) -> dict[str, SvcRecord]:
    return {record.name: record for record in directory.list().get()}


def test_a_svc_is_known_from_its_hello(fakes, directory, eventually):
    s1 = svc(fakes, "s1")

    hello(s1, 7001, load=2)

    records = eventually(lambda: known(directory), what="the Svc")
    assert list(records.values()) == [SvcRecord(name_of(s1), IP, 7001, 2)]


def test_nothing_is_handed_out_before_a_hello(directory):
    assert directory.choose().get() is None
    assert directory.list().get() == []


@pytest.mark.parametrize("goes", ["leaves", "disconnects"])
def test_a_svc_is_forgotten_at_the_first_view_without_it(fakes, directory, eventually, goes):
    s1, s2 = svc(fakes, "s1"), svc(fakes, "s2")
    hello(s1, 7001)
    hello(s2, 7002)
    eventually(lambda: len(known(directory)) == 2, what="both Svcs")

    if goes == "leaves":
        s1.leave(SVCS_GROUP).get()
    else:
        s1.actor_ref.stop(block=True, timeout=10)

    eventually(lambda: list(known(directory)) == [name_of(s2)], what="the Svc to be forgotten")
    assert directory.choose().get().name == name_of(s2)


def test_a_hello_from_a_svc_the_view_no_longer_holds_is_ignored(fakes, directory, eventually):
    s1, s2 = svc(fakes, "s1"), svc(fakes, "s2")
    hello(s1, 7001)
    eventually(lambda: known(directory), what="the first Svc")
    s1.leave(SVCS_GROUP).get()
    eventually(lambda: not known(directory), what="the first Svc to be forgotten")

    hello(s1, 7001)  # a late hello: the group is open, a non-member may still send to it
    hello(s2, 7002)  # delivered after it, in the one agreed order

    eventually(lambda: known(directory), what="the second Svc")
    assert list(known(directory)) == [name_of(s2)]


def test_the_register_forgets_every_svc_when_it_leaves_the_group(fakes, register, directory, eventually):
    s1 = svc(fakes, "s1")
    hello(s1, 7001)
    eventually(lambda: known(directory), what="the Svc")

    register.leave(SVCS_GROUP).get()  # its own leave: a view with no members

    eventually(lambda: not known(directory), what="every Svc to be forgotten")


def test_garbage_and_other_messages_are_ignored(fakes, directory, eventually):
    s1, s2 = svc(fakes, "s1"), svc(fakes, "s2")
    hello_type = group_messages.MESSAGE_TYPES[SvcHello.TYPE]
    for data in (
        b"{garbage",
        b'{"type": "svc.hello", "ip": "", "port": 7001}',
        b'{"type": "svc.hello", "ip": "127.0.0.1", "port": 0}',
        b'{"type": "svc.hello", "ip": "127.0.0.1", "port": 7001, "load": -1}',
        b'{"type": "job.done", "id": "0123456789abcdef0123456789abcdef"}',
        b"\xff" * 10,
    ):
        s1.multicast(SVCS_GROUP, hello_type, data).get()
    s1.multicast(SVCS_GROUP, 999, b'{"type": "svc.hello", "ip": "127.0.0.1", "port": 7001}').get()
    group_messages.multicast(s1, JobDone(PHOTO))

    hello(s2, 7002)  # delivered after all of them

    eventually(lambda: known(directory), what="the well-formed hello")
    assert list(known(directory).values()) == [SvcRecord(name_of(s2), IP, 7002, 0)]
    assert directory.actor_ref.is_alive()


def test_hellos_and_views_of_other_groups_are_ignored(fakes, register, directory, eventually):
    register.join(OTHER_GROUP).get()
    s1 = svc(fakes, "s1", (SVCS_GROUP, OTHER_GROUP))
    s2 = svc(fakes, "s2", (OTHER_GROUP,))
    hello(s1, 7001)
    eventually(lambda: known(directory), what="the Svc")

    hello(s2, 7002, to=OTHER_GROUP)  # a hello, but in another group
    hello(s1, 7009, to=name_of(register))  # a hello to the Register's private name
    s1.leave(OTHER_GROUP).get()  # a view of the other group without s1
    s3 = svc(fakes, "s3")
    hello(s3, 7003)  # delivered after all of them

    eventually(lambda: len(known(directory)) == 2, what="the third Svc")
    assert known(directory) == {
        name_of(s1): SvcRecord(name_of(s1), IP, 7001, 0),
        name_of(s3): SvcRecord(name_of(s3), IP, 7003, 0),
    }


def test_a_later_hello_updates_the_load(fakes, directory, eventually):
    s1 = svc(fakes, "s1")
    hello(s1, 7001, load=0)
    eventually(lambda: known(directory), what="the Svc")

    hello(s1, 7001, load=5)

    eventually(lambda: known(directory)[name_of(s1)].load == 5, what="the new load")
    assert len(known(directory)) == 1


def test_the_least_loaded_svc_is_handed_out(fakes, directory, eventually):
    busy, idle = svc(fakes, "s1"), svc(fakes, "s2")
    hello(busy, 7001, load=3)
    hello(idle, 7002, load=1)
    eventually(lambda: len(known(directory)) == 2, what="both Svcs")

    assert {directory.choose().get().name for _ in range(6)} == {name_of(idle)}
    assert [record.name for record in directory.list().get()] == [name_of(idle), name_of(busy)]


def test_equally_loaded_svcs_are_handed_out_in_turn(fakes, directory, eventually):
    svcs = [svc(fakes, f"s{n}") for n in (1, 2, 3)]
    for port, connection in enumerate(svcs, 7001):
        hello(connection, port, load=1)
    hello(svc(fakes, "s4"), 7004, load=2)
    eventually(lambda: len(known(directory)) == 4, what="every Svc")

    chosen = [directory.choose().get().name for _ in range(9)]

    assert Counter(chosen) == {name_of(connection): 3 for connection in svcs}
    assert chosen[:3] == chosen[3:6] == chosen[6:]  # in turn: each once before any twice


def test_a_svc_known_without_the_group_is_handed_out(directory):
    static = SvcRecord("static-1", IP, 7100)

    directory.announce(static).get()

    assert directory.choose().get() == static
    assert directory.list().get() == [static]


def test_a_hello_heard_before_any_view_is_kept():
    """A Directory told a hello before its first view (it subscribed late) has no view to check it against."""
    directory = Directory.start().proxy()
    message_type, data = group_messages.encode(SvcHello(IP, 7001, 4))

    directory.on_message_received(MessageReceived(SVCS_GROUP, "#s1#localhost", message_type, data)).get()

    assert directory.list().get() == [SvcRecord("#s1#localhost", IP, 7001, 4)]
