"""The embedded cluster: a Register, a Svc and workers in one process.

The same role specs as the lab (``cli/roles/specs.py``): an in-memory broker
(``gateways/broker/memory.py``) and a local directory for storage; for the
group, by default the Spread-compatible daemon in-process with the real Spread
client (the lab's code path), or the in-memory group (``group="memory"``).  The
gRPC servers are real, on localhost.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pykka

from actors.member_names import member_name
from actorkit.supervisor import ChildSpec, Supervisor
from cli.roles.config import RegisterConfig, SvcConfig, WorkerConfig
from cli.roles.specs import declared, register_specs, svc_specs, worker_specs
from gateways.broker.memory import MemoryBroker
from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from gateways.group.spread import SpreadGroupConnection
from spread.daemon_actor import SpreadDaemonActor
from storage.fs import FsStorage

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class EmbeddedConfig:
    data_dir: Path = Path("photomark-data")
    register: RegisterConfig = field(default_factory=lambda: RegisterConfig(listen="127.0.0.1:0"))
    svc: SvcConfig = field(default_factory=lambda: SvcConfig(listen="127.0.0.1:0"))
    workers: int = 3
    worker: WorkerConfig = field(default_factory=lambda: WorkerConfig(concurrency=1))
    group: str = "spread"  # or "memory"


def _embedded_specs(config: EmbeddedConfig) -> list[ChildSpec]:
    storage = lambda: FsStorage(config.data_dir)  # noqa: E731 - a factory per role

    def connection(role: str):
        if config.group == "memory":
            return lambda siblings: MemoryGroupConnection.start(siblings["hub"], member_name(role))
        return lambda siblings: SpreadGroupConnection.start(siblings["hub"].address().get(), member_name(role))

    def role(specs_of):
        return lambda top: Supervisor.start(specs_of(top), name="role")

    specs = [
        ChildSpec("hub", lambda top: MemoryGroupHub.start() if config.group == "memory" else SpreadDaemonActor.start()),
        ChildSpec("broker", lambda top: declared(MemoryBroker.start())),
        ChildSpec("register", role(lambda top: register_specs(config.register, connection("register"),
                                                                    shared={"hub": top["hub"]}))),
        ChildSpec("svc", role(lambda top: svc_specs(config.svc, storage, connection("svc"),
                                                     shared={"hub": top["hub"], "broker": top["broker"]}))),
    ]
    for number in range(1, config.workers + 1):
        specs.append(ChildSpec(f"worker-{number}", role(
            lambda top, number=number: worker_specs(config.worker, f"worker-{number}", storage, connection("worker"),
                                                    shared={"hub": top["hub"], "broker": top["broker"]}))))
    return specs


class ClusterNotStarted(RuntimeError):
    """The embedded cluster could not bring a role up."""


class EmbeddedCluster:
    """Start with ``start()`` (or as a context manager); ``register_address`` is where clients begin."""

    def __init__(self, config: EmbeddedConfig = EmbeddedConfig()) -> None:
        self.config = config
        self.escalated = threading.Event()
        self.reason = ""
        self.supervisor: pykka.ActorRef | None = None

    def _on_escalate(self, reason: str) -> None:
        self.reason = reason
        self.escalated.set()

    def start(self) -> "EmbeddedCluster":
        self.supervisor = Supervisor.start(_embedded_specs(self.config), on_escalate=self._on_escalate,
                                           name="embedded")
        return self

    def _server_address(self, role: str) -> str:
        """Where ``role``'s gRPC server listens, once it is up (raises ``ClusterNotStarted``)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                top = self.supervisor.proxy()
                server = top.child(role).get(timeout=START_TIMEOUT).child("server").get(timeout=START_TIMEOUT)
                return server.listen_address().get(timeout=START_TIMEOUT)
            except (pykka.ActorDeadError, pykka.Timeout) as error:
                if self.escalated.is_set() or time.monotonic() > deadline:
                    raise ClusterNotStarted(self.reason or f"the {role} did not start: {error}") from None
                time.sleep(0.05)

    @property
    def register_address(self) -> str:
        return self._server_address("register")

    @property
    def svc_address(self) -> str:
        return self._server_address("svc")

    def stop(self) -> None:
        if self.supervisor is not None and self.supervisor.is_alive():
            self.supervisor.stop(timeout=60)

    def __enter__(self) -> "EmbeddedCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
