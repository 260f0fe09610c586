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
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
        self.manager_listen = config.manager.listen  # the port it got first, once it has one: kept by restarts
        self.table: ObjectTable | None = None
        self.manager: pykka.ActorRef | None = None
        self.nodes: dict[str, pykka.ActorRef] = {}
        self.node_listen: dict[str, str] = {}  # where each node listened last: a restarted node listens there again
        self.gave_up: dict[str, str] = {}

    # --- the manager ---------------------------------------------------------------------

    def start_manager(self) -> str:
        """Starts the manager (again, after ``stop_manager`` or ``kill_manager``) on the same table, spool,
        queue and address; returns where it listens.  A manager configured on port 0 gets a free port the
        first time and keeps it: nodes and clients know the manager by its address, as in a deployment,
        and a restart on another port would leave them calling the old one."""
        self.table = ObjectTable(self.base / "objects.sqlite")
        specs = store_manager_specs(
            replace(self.config.manager, listen=self.manager_listen),
            self.table,
            Spool(self.base / "spool"),
            group=lambda s: MemoryGroupConnection.start(self.hub, "manager"),
            broker=lambda s: declared(KillableBroker.start(STORE_QUEUE, STORE_DEAD_LETTERS, store=self.queue)),
        )
        self.manager = Supervisor.start(specs, name="store-manager", on_escalate=self._escalated("store-manager"))
        address = self.manager_address
        self.manager_listen = address
        return address

    @property
    def manager_address(self) -> str:
        return _poll(lambda: self.manager.proxy().child("server").get().listen_address().get(), "the store manager")

    def kill_manager(self) -> None:
        """As near to a SIGKILL of the manager as one process allows: its broker is cut from the durable queue
        first, so the queue keeps exactly what it held at this moment (messages consumed and not acked stay
        unacked, and are redelivered to the next manager), then the manager stops.  What the stopping actors
        still do reaches a copy of the queue nobody reads again, like the acks and publishes of a killed
        process that never left it; their table writes remain, as writes a kill came just after would."""
        self.sever_queue()
        self.stop_manager()

    def sever_queue(self) -> None:
        """Cuts the running manager's broker from the durable queue (the first half of ``kill_manager``), for a
        test that must let a held placement go on between the cut and the stop."""
        if self.manager is not None and self.manager.is_alive():
            self.manager.proxy().child("broker").get().sever().get(timeout=START_TIMEOUT)

    def stop_manager(self) -> None:
        if self.manager is not None and self.manager.is_alive():
            self.manager.stop(timeout=START_TIMEOUT)
        if self.table is not None:
            self.table.close()
            self.table = None

    # --- the nodes -----------------------------------------------------------------------

    def node_dir(self, number: int) -> Path:
        return self.base / f"node-{number}"

    def start_node(self, number: int, manager_address: str | None = None, **settings: Any) -> str:
        """Starts node ``n<number>`` on its directory (again, with its disk, after ``stop_node``).  ``settings``
        override fields of its ``StoreNodeConfig`` (a smaller ``max_object_bytes``, a quicker scrub).  The
        manager need not be running: the node is told the address the manager has, or will have again.  A node
        started again listens where it did before, as a deployed node would (the manager knows it there)."""
        name = f"n{number}"
        defaults = {
            "listen": self.node_listen.get(name, "127.0.0.1:0"),
            "max_object_bytes": self.config.manager.max_object_bytes,
            "give_up_after": self.config.give_up_after,
            "scrub_bytes_per_second": self.config.scrub_bytes_per_second,
        }
        config = StoreNodeConfig(manager=manager_address or self._known_manager_address(), **{**defaults, **settings})
        disk = NodeDisk(self.node_dir(number), config.max_object_bytes)
        specs = store_node_specs(
            config,
            disk,
            name,
            group=lambda s: MemoryGroupConnection.start(self.hub, name),
            give_up=lambda reason: self._escalated(name)(reason),
        )
        self.nodes[name] = Supervisor.start(specs, name=name, on_escalate=self._escalated(name))
        self.node_address(name)  # its server is up, and where it listens is kept for its next start
        return name

    def _known_manager_address(self) -> str:
        if self.manager is not None and self.manager.is_alive():
            return self.manager_address
        if self.manager_listen.rsplit(":", 1)[-1] == "0":
            raise RuntimeError("the store manager has not started yet: it has no address to give a node")
        return self.manager_listen

    def node_address(self, name: str) -> str:
        address = _poll(lambda: self.nodes[name].proxy().child("server").get().listen_address().get(), name)
        self.node_listen[name] = address
        return address

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
        """The manager first, then the nodes: nodes stopped first would be taken for lost ones, and the
        manager would spend its last moments re-protecting their objects onto nodes about to stop too."""
        self.stop_manager()
        for name in list(self.nodes):
            self.stop_node(name)
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


class KillableBroker(MemoryBroker):
    """The embedded manager's broker: a ``MemoryBroker`` that can be cut from its durable queue (``sever``)."""

    def sever(self) -> None:
        """From now on this broker works on a private copy of its queue; the durable ``QueueStore`` keeps what
        it held at this moment.  Runs in the broker's own thread, so the copy is of one consistent state."""
        self._store = replace(
            self._store, ready=deque(self._ready), dead=list(self._dead), unacked=dict(self._store.unacked)
        )
        self._ready, self._dead = self._store.ready, self._store.dead
        log.warning("store.broker_severed", queue=self.queue)


def _poll(read, what: str):
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return read()
        except (pykka.ActorDeadError, pykka.Timeout, KeyError) as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start: {error}") from None
            time.sleep(0.05)
