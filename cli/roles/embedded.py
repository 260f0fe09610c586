"""The embedded cluster: a Register, Svcs and workers in one process.

The same role specs as the lab (``cli/roles/specs.py``): an in-memory broker
(``gateways/broker/memory.py``) and a local directory for storage; for the
group, by default the Spread-compatible daemon in-process with the real Spread
client (the lab's code path), or the in-memory group (``group="memory"``).  The
gRPC servers are real, on localhost.

Supervision: the top supervisor runs the shared gateways (the group hub, the
broker) and then the ``roles`` supervisor, rest-for-one, since every role needs
both.  The broker's queue is durable as RabbitMQ's is: its jobs live in a
``QueueStore`` that a restarted broker takes over.  The roles do not need each
other, so ``roles`` restarts one for one: a crashed worker role never takes a
Svc down.  A role whose own supervisor gives
up (a child that keeps dying) is not hidden behind restarts either: the cluster
records which role gave up and why, sets ``escalated``, and whoever runs it
(``photomark up``, ``photomark mark``) stops and says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pykka
import structlog

from actorkit.supervisor import ONE_FOR_ONE, ChildSpec, Supervisor
from actors.member_names import member_name
from cli.roles.config import RegisterConfig, SvcConfig, WorkerConfig
from cli.roles.specs import declared, register_specs, svc_specs, worker_specs
from gateways.broker.memory import MemoryBroker, QueueStore
from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from gateways.group.spread import SpreadGroupConnection
from spread.daemon_actor import SpreadDaemonActor
from storage.fs import FsStorage

START_TIMEOUT = 30.0
log = structlog.get_logger()


@dataclass(frozen=True)
class EmbeddedConfig:
    data_dir: Path = Path("photomark-data")
    register: RegisterConfig = field(default_factory=lambda: RegisterConfig(listen="127.0.0.1:0"))
    svc: SvcConfig = field(default_factory=lambda: SvcConfig(listen="127.0.0.1:0"))
    svcs: int = 1  # each listens on svc.listen (port 0: each its own free port)
    workers: int = 3
    worker: WorkerConfig = field(default_factory=lambda: WorkerConfig(concurrency=1))
    group: str = "spread"  # or "memory"


def role_names(config: EmbeddedConfig) -> list[str]:
    """The roles of the cluster, in start order: ``register``, ``svc-1``.., ``worker-1``.."""
    return (
        ["register"]
        + [f"svc-{n}" for n in range(1, config.svcs + 1)]
        + [f"worker-{n}" for n in range(1, config.workers + 1)]
    )


def _embedded_specs(config: EmbeddedConfig, gave_up: Callable[[str, str], None]) -> list[ChildSpec]:
    storage = lambda: FsStorage(config.data_dir)  # noqa: E731 - a factory per role
    queue = QueueStore()  # the job queue is durable: it outlives a restart of the broker actor

    def connection(role: str):
        if config.group == "memory":
            return lambda siblings: MemoryGroupConnection.start(siblings["hub"], member_name(role))
        return lambda siblings: SpreadGroupConnection.start(siblings["hub"].address().get(), member_name(role))

    def specs_of(name: str, shared: Mapping[str, pykka.ActorProxy]) -> list[ChildSpec]:
        if name == "register":
            return register_specs(config.register, connection("register"), shared={"hub": shared["hub"]})
        if name.startswith("svc-"):
            return svc_specs(config.svc, storage, connection("svc"), shared=shared)
        return worker_specs(config.worker, name, storage, connection("worker"), shared=shared)

    def role(name: str, shared: Mapping[str, pykka.ActorProxy]) -> ChildSpec:
        return ChildSpec(
            name,
            lambda _: Supervisor.start(
                specs_of(name, shared), name=name, on_escalate=lambda reason: gave_up(name, reason)
            ),
        )

    def roles(top: Mapping[str, pykka.ActorProxy]) -> pykka.ActorRef:
        shared = {"hub": top["hub"], "broker": top["broker"]}
        return Supervisor.start([role(name, shared) for name in role_names(config)], name="roles", strategy=ONE_FOR_ONE)

    return [
        ChildSpec("hub", lambda top: MemoryGroupHub.start() if config.group == "memory" else SpreadDaemonActor.start()),
        ChildSpec("broker", lambda top: declared(MemoryBroker.start(store=queue))),
        ChildSpec("roles", roles),
    ]


class ClusterNotStarted(RuntimeError):
    """The embedded cluster could not bring a role up."""


class EmbeddedCluster:
    """Start with ``start()`` (or as a context manager); ``register_address`` is where clients begin.

    ``escalated`` is set when the cluster, or one of its roles, gave up; ``reason`` says which and why."""

    def __init__(self, config: EmbeddedConfig = EmbeddedConfig()) -> None:
        self.config = config
        self.escalated = threading.Event()
        self.reason = ""
        self.supervisor: pykka.ActorRef | None = None

    def _on_escalate(self, reason: str) -> None:
        self._gave_up("cluster", reason)

    def _gave_up(self, role: str, reason: str) -> None:
        if not self.escalated.is_set():
            self.reason = f"the {role} role gave up: {reason}" if role != "cluster" else reason
            log.error("cluster.gave_up", role=role, reason=reason)
        self.escalated.set()

    def start(self) -> EmbeddedCluster:
        self.supervisor = Supervisor.start(
            _embedded_specs(self.config, self._gave_up), on_escalate=self._on_escalate, name="embedded"
        )
        return self

    def role(self, name: str) -> pykka.ActorProxy:
        """The supervisor of role ``name`` (``register``, ``svc-1``, ``worker-2``, ...); raises
        ``pykka.ActorDeadError`` while it is down."""
        return self.supervisor.proxy().child("roles").get(timeout=START_TIMEOUT).child(name).get(timeout=START_TIMEOUT)

    def _server_address(self, role: str) -> str:
        """Where ``role``'s gRPC server listens, once it is up (raises ``ClusterNotStarted``)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                server = self.role(role).child("server").get(timeout=START_TIMEOUT)
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
        """Where the first Svc listens."""
        return self._server_address("svc-1")

    def svc_addresses(self) -> list[str]:
        return [self._server_address(f"svc-{n}") for n in range(1, self.config.svcs + 1)]

    def stop(self) -> None:
        if self.supervisor is not None and self.supervisor.is_alive():
            self.supervisor.stop(timeout=60)

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
