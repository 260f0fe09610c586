"""The replicated store in one process: a manager and its storage nodes, as `photomark up
--storage replicated` runs them, and as the store's in-process tests drive them.

The same role specs as the lab (``store_manager_specs``, ``store_node_specs``)
with the embedded cluster's choices: an in-memory broker whose durable queue
outlives a restart of the manager (``QueueStore``), an in-memory group hub (or
any the caller passes), the object table and the spool in SQLite and files under
``base``, each node's disk in ``base/node-N``.  Every gRPC server is real, on
localhost.  Each role has its own supervisor, so a node can be stopped and
started again with its disk, and the manager killed and restarted, while the
others go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pykka
import structlog

from actorkit.supervisor import Supervisor
from cli.roles.config import StoreManagerConfig, StoreNodeConfig
from cli.roles.specs import declared, store_manager_specs, store_node_specs
from gateways.broker.memory import MemoryBroker, QueueStore
from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from store.manager.replicate import STORE_DEAD_LETTERS, STORE_QUEUE
from store.manager.spool import Spool
from store.node.disk import NodeDisk
from store.table import ObjectTable

log = structlog.get_logger()
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class EmbeddedStoreConfig:
    base: Path
    nodes: int = 3
    manager: StoreManagerConfig = StoreManagerConfig(listen="127.0.0.1:0", metrics_interval=5.0)
    give_up_after: float = 30.0
    scrub_bytes_per_second: int = 16 * 1024 * 1024


class EmbeddedStore:
    def __init__(self, config: EmbeddedStoreConfig, hub: pykka.ActorProxy | None = None) -> None:
        self.config = config
        self.base = Path(config.base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.own_hub = hub is None
        self.hub = hub or MemoryGroupHub.start().proxy()
        self.queue = QueueStore()
        self.table: ObjectTable | None = None
        self.manager: pykka.ActorRef | None = None
        self.nodes: dict[str, pykka.ActorRef] = {}
        self.gave_up: dict[str, str] = {}

    # --- the manager ---------------------------------------------------------------------

    def start_manager(self) -> str:
        """Starts the manager (again, after ``kill_manager``) on the same table, spool and queue;
        returns where it listens."""
        self.table = ObjectTable(self.base / "objects.sqlite")
        specs = store_manager_specs(
            self.config.manager,
            self.table,
            Spool(self.base / "spool"),
            group=lambda s: MemoryGroupConnection.start(self.hub, "manager"),
            broker=lambda s: declared(MemoryBroker.start(STORE_QUEUE, STORE_DEAD_LETTERS, store=self.queue)),
        )
        self.manager = Supervisor.start(specs, name="store-manager", on_escalate=self._escalated("store-manager"))
        return self.manager_address

    @property
    def manager_address(self) -> str:
        return _poll(lambda: self.manager.proxy().child("server").get().listen_address().get(), "the store manager")

    def stop_manager(self) -> None:
        if self.manager is not None and self.manager.is_alive():
            self.manager.stop(timeout=START_TIMEOUT)
        if self.table is not None:
            self.table.close()
            self.table = None

    # --- the nodes -----------------------------------------------------------------------

    def node_dir(self, number: int) -> Path:
        return self.base / f"node-{number}"

    def start_node(self, number: int, manager_address: str | None = None) -> str:
        """Starts node ``n<number>`` on its directory (again, with its disk, after ``stop_node``)."""
        name = f"n{number}"
        config = StoreNodeConfig(
            listen="127.0.0.1:0",
            manager=manager_address or self.manager_address,
            max_object_bytes=self.config.manager.max_object_bytes,
            give_up_after=self.config.give_up_after,
            scrub_bytes_per_second=self.config.scrub_bytes_per_second,
        )
        disk = NodeDisk(self.node_dir(number), config.max_object_bytes)
        specs = store_node_specs(
            config,
            disk,
            name,
            group=lambda s: MemoryGroupConnection.start(self.hub, name),
            give_up=lambda reason: self._escalated(name)(reason),
        )
        self.nodes[name] = Supervisor.start(specs, name=name, on_escalate=self._escalated(name))
        return name

    def node_address(self, name: str) -> str:
        return _poll(lambda: self.nodes[name].proxy().child("server").get().listen_address().get(), name)

    def stop_node(self, name: str) -> None:
        supervisor = self.nodes.pop(name, None)
        if supervisor is not None and supervisor.is_alive():
            supervisor.stop(timeout=START_TIMEOUT)

    # --- all -----------------------------------------------------------------------------

    def start(self) -> EmbeddedStore:
        address = self.start_manager()
        for number in range(1, self.config.nodes + 1):
            self.start_node(number, address)
        return self

    def stop(self) -> None:
        for name in list(self.nodes):
            self.stop_node(name)
        self.stop_manager()
        if self.own_hub:
            self.hub.actor_ref.stop()

    def _escalated(self, role: str):
        def record(reason: str) -> None:
            self.gave_up[role] = reason
            log.error("store.role_gave_up", role=role, reason=reason)

        return record

    def __enter__(self) -> EmbeddedStore:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _poll(read, what: str):
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return read()
        except (pykka.ActorDeadError, pykka.Timeout, KeyError) as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start: {error}") from None
            time.sleep(0.05)
