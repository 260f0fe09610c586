"""A Svc's actors under their supervisor: a crashed Leader comes back and decides its role again."""

from __future__ import annotations

import json

import pykka

from actorkit.messaging import tell_call
from actorkit.supervisor import Supervisor
from actors.leader import LeaderSettings
from cli.roles.config import SvcConfig
from cli.roles.specs import svc_specs
from gateways.group.memory import MemoryGroupConnection
from gateways.rpc.client import PhotoClient
from storage import layout


def test_a_crashed_leader_is_restarted_and_leads_again(fakes, png, eventually):
    specs = svc_specs(
        SvcConfig(listen="127.0.0.1:0"),
        lambda: fakes.backend,
        lambda s: MemoryGroupConnection.start(fakes.hub, "s000000001"),
        shared={"broker": fakes.broker},
    )
    supervisor = Supervisor.start(specs, name="svc").proxy()
    first = supervisor.child("leader").get()
    eventually(lambda: first.is_leading().get(), what="the Svc to lead")

    tell_call(first, "no_such_message")  # an exception in a told message crashes the actor

    eventually(lambda: supervisor.restarts().get().get("leader", 0) >= 1, what="the restart")
    leader = eventually(lambda: _current(supervisor, "leader"), what="the new Leader")
    assert leader.actor_ref != first.actor_ref
    eventually(lambda: leader.is_leading().get(), what="the restarted Leader to lead again")
    address = eventually(
        lambda: _current(supervisor, "server") and supervisor.child("server").get().listen_address().get(),
        what="the server to be back",
    )
    client = PhotoClient(address, timeout=10)
    assert client.upload(png, ["alpha"])  # and the Svc serves again
    client.close()
    supervisor.actor_ref.stop()


def _current(supervisor, name):
    try:
        return supervisor.child(name).get()
    except Exception:  # noqa: BLE001 - down while restarting
        return None


def _svc(fakes, user: str, leader_tick: float = 0.05):
    specs = svc_specs(
        SvcConfig(listen="127.0.0.1:0", leader=LeaderSettings(tick=leader_tick)),
        lambda: fakes.backend,
        lambda s: MemoryGroupConnection.start(fakes.hub, user),
        shared={"broker": fakes.broker},
    )
    return Supervisor.start(specs, name=f"svc {user}").proxy()


def _entries(supervisor) -> list[str] | None:
    pending = _current(supervisor, "pending")
    if pending is None:
        return None
    try:
        if not pending.is_synced().get(timeout=5):
            return None
        return sorted(entry["id"] for entry in pending.snapshot().get(timeout=5)[1])
    except pykka.ActorDeadError:
        return None


def test_a_restarted_leader_replica_gets_the_list_from_the_other_svc_not_from_an_older_checkpoint(
    fakes, png, eventually
):
    """The leader's PendingList crashes with a checkpoint a few entries behind: it must not lead from it."""

    def _checkpointed() -> list[str] | None:
        if not fakes.backend.exists(layout.PENDING_STATE):
            return None
        return sorted(entry["id"] for entry in json.loads(fakes.backend.read(layout.PENDING_STATE))["entries"])

    # The younger never checkpoints, even while it leads during the older's restart: the saved list stays stale.
    older, younger = _svc(fakes, "s000000001"), _svc(fakes, "s000000002", leader_tick=3600)
    eventually(
        lambda: _current(older, "leader") and older.child("leader").get().is_leading().get(),
        what="the older Svc to lead",
    )
    eventually(lambda: _entries(younger) == [], what="the younger Svc to hold the list")
    client = PhotoClient(
        eventually(
            lambda: _current(older, "server") and older.child("server").get().listen_address().get(), what="the server"
        ),
        timeout=10,
    )
    photos = [client.upload(png, ["alpha"]) for _ in range(10)]
    client.close()
    eventually(lambda: _entries(younger) == sorted(photos), what="the younger replica to hold all 10")
    eventually(lambda: _checkpointed() == sorted(photos), what="the leader's checkpoint of all 10")
    # The checkpoint is up to a tick old: make it 5 entries behind (no change follows, so nobody rewrites it).
    saved = json.loads(fakes.backend.read(layout.PENDING_STATE))
    saved["entries"] = saved["entries"][:5]
    fakes.backend.write(layout.PENDING_STATE, json.dumps(saved).encode())
    before = older.restarts().get().get("pending", 0)

    tell_call(older.child("pending").get(), "no_such_message")  # the leader's replica crashes

    eventually(lambda: older.restarts().get().get("pending", 0) > before, what="the replica's restart")
    assert eventually(lambda: _entries(older), what="the restarted replica to hold the list") == sorted(photos)
    eventually(lambda: older.child("leader").get().is_leading().get(), what="the older Svc to lead again")
    assert _entries(younger) == sorted(photos)
    eventually(lambda: _checkpointed() == sorted(photos), what="the leader to checkpoint all 10 again")
    older.actor_ref.stop()
    younger.actor_ref.stop()
