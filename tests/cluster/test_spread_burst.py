"""A Svc on a daemon that cuts slow readers by message count, as Spread's MaxSessionMessages does.

The Svc is its real actors, wired by ``svc_specs`` over ``SpreadGroupConnection``, on photomark's Spread
daemon in-process with ``max_session_messages``; its PendingList (the actor that hears every message of the
Svc group) is slowed down, a millisecond more per message, so a burst piles up in its mailbox.  Another
session multicasts a burst of small messages to the group as fast as it can:

* the Svc keeps its session through the burst (the daemon never drops it, it never sees itself leave the
  group), and its PendingList hears every message of the burst, in order; a member that joined and never
  reads is dropped by the same burst, so the burst is one that cuts a slow reader;
* a Svc whose session is cut anyway (a daemon with a tiny limit, a flood to its private name) reconnects,
  rejoins the group, and gets the pending list again from the other Svc.
"""

from __future__ import annotations

import threading
import time

import pytest
import structlog.testing

import cli.roles.specs
from actorkit.supervisor import Supervisor
from actors import group_messages
from actors.group_messages import JobFailed
from actors.member_names import member_name
from actors.pending import PendingList
from cli.roles.config import SvcConfig
from gateways.broker.memory import MemoryBroker
from gateways.group.spread import SpreadGroupConnection
from gateways.rpc.client import PhotoClient
from ports.group import MessageReceived, ViewChanged
from spread.client import SpreadClient
from spread.daemon import SpreadDaemon
from storage.memory import MemoryStorage
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SVCS = group_messages.SVCS_GROUP
BURST = 5000
REASON = "r" * 150  # a JobFailed of about 260 bytes a frame: a small message, as Spread's limits go


class SlowPendingList(PendingList):
    """The Svc's own PendingList, slower by ``DELAY`` on every group message (a replica on a busy host);
    it notes, in order, the views it hears and the ids of the burst's messages."""

    DELAY = 0.001

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.views: list[ViewChanged] = []
        self.burst: list[str] = []

    def on_view_changed(self, event: ViewChanged) -> None:
        self.views.append(event)
        super().on_view_changed(event)

    def on_message_received(self, event: MessageReceived) -> None:
        time.sleep(self.DELAY)
        super().on_message_received(event)
        if event.message_type == group_messages.MESSAGE_TYPES[JobFailed.TYPE]:
            self.burst.append(group_messages.decode(event.message_type, event.payload).id)

    def heard(self) -> tuple[list[ViewChanged], list[str]]:
        return list(self.views), list(self.burst)


def burst_ids(count: int, start: int = 0) -> list[str]:
    return [f"{n:032x}" for n in range(start, start + count)]


def multicast_burst(client: SpreadClient, to: str, ids: list[str]) -> None:
    """As fast as the client sends: one small list message per id."""
    for photo_id in ids:
        message_type, payload = group_messages.encode(JobFailed(photo_id, REASON))
        client.multicast([to], "AGREED", message_type, payload)


def start_svc(daemon: SpreadDaemon, user: str, backend: MemoryStorage, broker) -> object:
    specs = cli.roles.specs.svc_specs(
        SvcConfig(listen="127.0.0.1:0", announce_interval=0.3),
        lambda: backend,
        lambda s: SpreadGroupConnection.start(daemon.address, user, reconnect_delays=(0.05, 0.1)),
        shared={"broker": broker},
    )
    return Supervisor.start(specs, name=f"svc {user}").proxy()


def private(user: str) -> str:
    return f"#{user}#localhost"


def dropped(logs: list[dict]) -> set[str]:
    """The sessions the daemon cut off for not reading."""
    return {entry["session"] for entry in logs if entry["event"] == "spread.slow_session_dropped"}


@pytest.fixture
def slow_pending_list(monkeypatch):
    """Every Svc started by ``svc_specs`` in this test has the slow PendingList."""
    monkeypatch.setattr(cli.roles.specs, "PendingList", SlowPendingList)


@pytest.fixture
def gateways():
    backend, broker = MemoryStorage(), MemoryBroker.start().proxy()
    broker.declare().get()
    return backend, broker


def synced(svc) -> bool:
    return svc.child("pending").get().is_synced().get()


def test_a_svc_with_slow_actors_keeps_its_session_through_a_burst_of_5000_messages(slow_pending_list, gateways):
    daemon = SpreadDaemon("127.0.0.1", 0, "localhost", max_session_messages=1000).start()
    clients: list[SpreadClient] = []
    try:
        with structlog.testing.capture_logs() as logs:
            user = member_name("svc")
            svc = start_svc(daemon, user, *gateways)
            eventually(lambda: synced(svc), 20, "the Svc to hold the list")
            silent = SpreadClient()  # a member that joined and never reads
            clients.append(silent)
            silent.connect(daemon.address, "silent")
            silent.join(SVCS)
            sender = SpreadClient()
            clients.append(sender)
            sender.connect(daemon.address, "sender")
            pending = svc.child("pending").get()
            ids = burst_ids(BURST)

            multicast_burst(sender, SVCS, ids)

            eventually(lambda: pending.heard().get(timeout=30)[1] == ids, 30, "the burst to reach the PendingList")
            assert eventually(lambda: dropped(logs), 10, "the silent member to be cut off") == {private("silent")}
            assert private(user) in daemon.members(SVCS)
            views, _ = pending.heard().get()
            assert [v for v in views if v.group == SVCS and private(user) not in v.members] == []
            said = [entry["event"] for entry in logs if entry.get("me") == private(user)]
            assert "spread.connection_lost" not in said
            assert pending.is_synced().get()
            svc.actor_ref.stop()
    finally:
        for client in clients:
            client.close_abruptly()
        daemon.stop()


def stall_reader(svc, until: threading.Event) -> None:
    """The Svc's group connection stops reading its session until ``until`` is set, as a paused process's
    would (its reader thread waits in the middle of passing a message on)."""
    gateway = svc.child("group").get().actor_ref._actor_weakref()
    pass_on = gateway._pass_on

    def stalled(message):
        until.wait(60)
        pass_on(message)

    gateway._pass_on = stalled


def test_a_svc_cut_off_by_the_daemon_reconnects_rejoins_and_gets_the_list_again(gateways, png):
    # A tiny limit: a flood to one Svc's private name, while that Svc reads nothing (as if paused), cuts it
    # off; the group's own traffic (views, hellos, a few list messages) never queues that much for anyone.
    daemon = SpreadDaemon("127.0.0.1", 0, "localhost", max_session_messages=50).start()
    flooder = SpreadClient()
    try:
        with structlog.testing.capture_logs() as logs:
            older, younger = member_name("svc"), member_name("svc")
            first = start_svc(daemon, older, *gateways)
            eventually(lambda: synced(first), 20, "the first Svc to hold the list")
            second = start_svc(daemon, younger, *gateways)
            eventually(lambda: synced(second), 20, "the second Svc to get the list")
            address = eventually(lambda: first.child("server").get().listen_address().get(), 10, "the server")
            client = PhotoClient(address, timeout=10)
            before = {client.upload(png, ["alpha"]) for _ in range(3)}
            eventually(lambda: entries(second) == before, 20, "the second replica to hold the uploads")

            flooder.connect(daemon.address, "flooder")
            resume = threading.Event()
            stall_reader(second, resume)
            start = 0
            while private(younger) not in dropped(logs):
                assert start < 10 * BURST, "a flood to its private name never cut the stalled Svc off"
                multicast_burst(flooder, private(younger), burst_ids(BURST, start))
                start += BURST
            resume.set()
            assert dropped(logs) == {private(younger)}
            after = before | {client.upload(png, ["alpha"]) for _ in range(2)}
            client.close()

            eventually(lambda: private(younger) in daemon.members(SVCS), 20, "the cut Svc to rejoin the group")
            eventually(lambda: synced(second) and entries(second) == after, 30, "the cut Svc to get the list again")
            assert entries(first) == after
            said = [(entry["event"], entry.get("me")) for entry in logs]
            assert ("spread.connection_lost", private(younger)) in said
            assert ("spread.reconnected", private(younger)) in said
            synced_from = [entry["source"] for entry in logs if entry["event"] == "pending.synced"]
            assert synced_from.count("snapshot") >= 2  # the second Svc at its start, and again after the cut
            second.actor_ref.stop()
            first.actor_ref.stop()
    finally:
        flooder.close_abruptly()
        daemon.stop()


def entries(svc) -> set[str]:
    pending = svc.child("pending").get()
    return {entry["id"] for entry in pending.snapshot().get()[1]}
