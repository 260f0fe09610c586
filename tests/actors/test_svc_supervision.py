"""A Svc's actors under their supervisor: a crashed Leader comes back and decides its role again."""

from __future__ import annotations

from actorkit.messaging import tell_call
from actorkit.supervisor import Supervisor
from cli.roles.config import SvcConfig
from cli.roles.specs import svc_specs
from gateways.group.memory import MemoryGroupConnection
from gateways.rpc.client import PhotoClient


def test_a_crashed_leader_is_restarted_and_leads_again(fakes, png, eventually):
    specs = svc_specs(SvcConfig(listen="127.0.0.1:0"), lambda: fakes.backend,
                      lambda s: MemoryGroupConnection.start(fakes.hub, "s000000001"), shared={"broker": fakes.broker})
    supervisor = Supervisor.start(specs, name="svc").proxy()
    first = supervisor.child("leader").get()
    eventually(lambda: first.is_leading().get(), what="the Svc to lead")

    tell_call(first, "no_such_message")  # an exception in a told message crashes the actor

    eventually(lambda: supervisor.restarts().get().get("leader", 0) >= 1, what="the restart")
    leader = eventually(lambda: _current(supervisor, "leader"), what="the new Leader")
    assert leader.actor_ref != first.actor_ref
    eventually(lambda: leader.is_leading().get(), what="the restarted Leader to lead again")
    address = eventually(lambda: _current(supervisor, "server") and supervisor.child("server").get()
                         .listen_address().get(), what="the server to be back")
    client = PhotoClient(address, timeout=10)
    assert client.upload(png, ["alpha"])  # and the Svc serves again
    client.close()
    supervisor.actor_ref.stop()


def _current(supervisor, name):
    try:
        return supervisor.child(name).get()
    except Exception:  # noqa: BLE001 - down while restarting
        return None
