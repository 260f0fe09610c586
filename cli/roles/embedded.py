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

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pykka
import structlog

from actorkit.supervisor import ONE_FOR_ONE, ChildSpec, Supervisor
from actors.member_names import member_name
from cli.roles.config import RegisterConfig, StoreManagerConfig, StoreNodeConfig, SvcConfig, WorkerConfig
from cli.roles.specs import declared, register_specs, store_manager_specs, store_node_specs, svc_specs, worker_specs
from gateways.broker.memory import MemoryBroker, QueueStore
from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from gateways.group.spread import SpreadGroupConnection
from spread.daemon_actor import SpreadDaemonActor
from storage.fs import FsStorage
from storage.replicated import ReplicatedStorage
from store.manager.replicate import STORE_DEAD_LETTERS, STORE_QUEUE
from store.manager.spool import Spool
from store.node.disk import NodeDisk
from store.table import ObjectTable

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
    storage: str = "fs"  # or "replicated": a store manager and store_nodes nodes in-process, under data_dir/store
    store_nodes: int = 3


def role_names(config: EmbeddedConfig) -> list[str]:
    """The roles of the cluster, in start order: ``register``, ``svc-1``.., ``worker-1``.."""
    return (
        ["register"]
        + [f"svc-{n}" for n in range(1, config.svcs + 1)]
        + [f"worker-{n}" for n in range(1, config.workers + 1)]
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_address(role: pykka.ActorProxy) -> str:
    """Where a started role's gRPC server listens, waiting for it to come up."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return role.child("server").get(timeout=START_TIMEOUT).listen_address().get(timeout=START_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _store_specs(config: EmbeddedConfig, connection: Callable, gave_up: Callable[[str, str], None]) -> list[ChildSpec]:
    """The replicated store in-process: its table, spool and node disks under ``data_dir/store``, its
    replication queue in memory but durable across restarts of the manager (as RabbitMQ's is)."""
    base = config.data_dir / "store"
    base.mkdir(parents=True, exist_ok=True)
    queue = QueueStore()
    # The nodes start before the manager and stop after it (a node that left while the manager ran would
    # be re-protected as lost), so they are told its address before it listens: a port chosen now.
    manager_config = StoreManagerConfig(listen=f"127.0.0.1:{free_port()}")

    def manager(top: Mapping[str, pykka.ActorProxy]) -> pykka.ActorRef:
        specs = store_manager_specs(
            manager_config,
            ObjectTable(base / "objects.sqlite"),
            Spool(base / "spool"),
            group=connection("manager", top),
            broker=lambda s: declared(MemoryBroker.start(STORE_QUEUE, STORE_DEAD_LETTERS, store=queue)),
        )
        return Supervisor.start(specs, name="store-manager", on_escalate=lambda r: gave_up("store-manager", r))

    def node(number: int):
        name = f"n{number}"

        def start(top: Mapping[str, pykka.ActorProxy]) -> pykka.ActorRef:
            node_config = StoreNodeConfig(listen="127.0.0.1:0", manager=manager_config.listen)
            disk = NodeDisk(base / f"node-{number}", node_config.max_object_bytes)
            role = f"store-node-{number}"
            specs = store_node_specs(node_config, disk, name, connection(name, top), give_up=lambda r: gave_up(role, r))
            return Supervisor.start(specs, name=role, on_escalate=lambda r: gave_up(role, r))

        return start

    nodes = [ChildSpec(f"store-node-{n}", node(n)) for n in range(1, config.store_nodes + 1)]
    return [*nodes, ChildSpec("store-manager", manager)]


def _embedded_specs(config: EmbeddedConfig, gave_up: Callable[[str, str], None]) -> list[ChildSpec]:
    queue = QueueStore()  # the job queue is durable: it outlives a restart of the broker actor

    def connection(role: str, top: Mapping[str, pykka.ActorProxy] | None = None, user: str | None = None):
        """A group connection factory; ``user`` (a store node's id) instead of a name made from the role."""

        def start(siblings: Mapping[str, pykka.ActorProxy]) -> pykka.ActorRef:
            hub = (top or siblings)["hub"]
            name = user or member_name(role)
            if config.group == "memory":
                return MemoryGroupConnection.start(hub, name)
            return SpreadGroupConnection.start(hub.address().get(), name)

        return start

    def store_connection(user: str, top: Mapping[str, pykka.ActorProxy]):
        return connection(user, top, user=user)

    def specs_of(name: str, shared: Mapping[str, pykka.ActorProxy], storage: Callable) -> list[ChildSpec]:
        if name == "register":
            return register_specs(config.register, connection("register"), shared={"hub": shared["hub"]})
        if name.startswith("svc-"):
            return svc_specs(config.svc, storage, connection("svc"), shared=shared)
        return worker_specs(config.worker, name, storage, connection("worker"), shared=shared)

    def role(name: str, shared: Mapping[str, pykka.ActorProxy], storage: Callable) -> ChildSpec:
        return ChildSpec(
            name,
            lambda _: Supervisor.start(
                specs_of(name, shared, storage), name=name, on_escalate=lambda reason: gave_up(name, reason)
            ),
        )

    def roles(top: Mapping[str, pykka.ActorProxy]) -> pykka.ActorRef:
        shared = {"hub": top["hub"], "broker": top["broker"]}
        if config.storage == "replicated":
            address = server_address(top["store-manager"])
            storage = lambda: ReplicatedStorage(address)  # noqa: E731 - a factory per role
        else:
            storage = lambda: FsStorage(config.data_dir)  # noqa: E731 - a factory per role
        return Supervisor.start(
            [role(name, shared, storage) for name in role_names(config)], name="roles", strategy=ONE_FOR_ONE
        )

    store = _store_specs(config, store_connection, gave_up) if config.storage == "replicated" else []
    return [
        ChildSpec("hub", lambda top: MemoryGroupHub.start() if config.group == "memory" else SpreadDaemonActor.start()),
        ChildSpec("broker", lambda top: declared(MemoryBroker.start(store=queue))),
        *store,
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
