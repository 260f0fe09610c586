"""Repairer: makes the copies that are missing, and removes the ones that are too many.

Every ``interval`` seconds, and whenever the registry says the nodes changed,
it asks the table which objects have fewer than two good copies on live nodes
and which have a surplus or a stale copy, lets ``repair.plan_copies`` and
``repair.plan_removals`` decide, and runs the tasks on a small pool of threads
(``max_in_flight``: the throttle, so reads and puts are still served while a
dead node's objects are re-protected).  Objects left with one copy come first.

A copy comes from a node that holds a good one (``CopyTo``: the node streams
it to the target, which verifies the sha256 on arrival), or from the spool.
Spool copies are left to the placers while the replication queue is busy or
a placer holds the object; the repairer takes over what they could not finish
(too few nodes then, a publish that failed, a node that died mid-placement).
Results come back to the actor as told ``copy_done``/``removal_done`` calls, so
its state changes only in its own thread.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import grpc
import pykka
import structlog

from actorkit.messaging import tell_call
from actorkit.ticker import Ticker
from store.manager.metrics import StoreMetrics
from store.manager.node_clients import NodeClients
from store.manager.placer import deleted_meanwhile, release_spool
from store.manager.spool import Spool
from store.model import SPOOL, Node, StoredObject
from store.node_client import NodeCallFailed
from store.repair import CopyTask, RemoveTask, plan_copies, plan_removals
from store.table import ObjectTable

log = structlog.get_logger()

DEFAULT_MAX_IN_FLIGHT = 2
NEEDING_BATCH = 500  # objects needing copies read per plan: enough that the ones held back leave work for the rest


class Repairer(pykka.ThreadingActor):
    def __init__(
        self,
        registry: pykka.ActorProxy,
        table: ObjectTable,
        spool: Spool,
        clients: NodeClients,
        metrics: StoreMetrics,
        broker: pykka.ActorProxy | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        interval: float = 1.0,
        spool_grace: int = 3,
    ) -> None:
        super().__init__()
        self.registry, self.table, self.spool, self.clients = registry, table, spool, clients
        self.metrics, self.broker = metrics, broker
        self.max_in_flight, self.interval = max_in_flight, interval
        self.in_flight: dict[str, CopyTask | RemoveTask] = {}
        self.placing_ids: set[str] = set()
        self.spool_waits: dict[str, int] = {}  # ticks in a row each spool-only object was seen waiting
        self.spool_grace = spool_grace
        self.failed: dict[str, set[str]] = defaultdict(set)
        self.pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="store-repair")
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.registry.add_listener(self.actor_ref)
        self.ticker = Ticker(self.actor_ref, "tick", self.interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- told ----------------------------------------------------------------------------

    def nodes_changed(self) -> None:
        self.failed.clear()  # a node that failed may be back; one that left is not live anyway
        self.tick()

    def placing(self, object_id: str) -> None:
        """A placer works on this object: the repairer leaves it alone until ``placed``."""
        self.placing_ids.add(object_id)

    def placed(self, object_id: str) -> None:
        self.placing_ids.discard(object_id)

    def tick(self) -> None:
        """The ticker's beat (and a change of nodes): plan, counting one more wait of each spool-only object."""
        self._plan(count_waits=True)

    def slot_freed(self) -> None:
        """A task ended: plan the next at once (``_next``), without counting it as a tick of ``spool_grace``."""
        self._plan(count_waits=False)

    def _plan(self, count_waits: bool) -> None:
        room = self.max_in_flight - len(self.in_flight)
        if room <= 0:
            return
        nodes: dict[str, Node] = self.registry.nodes().get()
        live = frozenset(name for name, node in nodes.items() if node.live)
        busy = set(self.in_flight) | self.placing_ids
        needing = [obj for obj in self.table.needing_copies(live, limit=NEEDING_BATCH) if obj.id not in busy]
        needing = self._spool_only_left_to_placers(needing, live, count_waits)
        tasks = plan_copies(needing, nodes, limit=room, busy=busy, failed=self.failed)
        for task in tasks:
            self._start(task.object_id, task, self._copy, task, nodes)
        if count_waits:  # a sweep on the ticker's beat, not after every task
            for obj in self.table.spooled_but_protected(live, limit=100):
                if obj.id not in busy:  # placed, but the spool copy stayed: let it go now
                    release_spool(self.table, self.spool, obj)
        room = self.max_in_flight - len(self.in_flight)
        if room > 0:
            surplus = [obj for obj in self.table.with_surplus(live, limit=room * 20) if obj.id not in busy]
            for task in plan_removals(surplus, nodes)[:room]:
                if task.object_id not in self.in_flight:
                    self._start(task.object_id, task, self._remove, task, nodes[task.node].address)

    def copy_done(self, task: CopyTask, error: str | None, blame: str | None) -> None:
        self.in_flight.pop(task.object_id, None)
        try:
            self._copy_done(task, error, blame)
        finally:
            self._next()

    def _copy_done(self, task: CopyTask, error: str | None, blame: str | None) -> None:
        if error is None:
            self.registry.call_succeeded(task.target)
            if self.table.add_replica(task.object_id, task.target, task.sha256, task.version):
                self.failed.pop(task.object_id, None)
                obj = self.table.get(task.object_id)
                live = self.registry.live().get()
                if obj is not None and obj.spooled and len(obj.good_nodes(live)) >= 2:
                    release_spool(self.table, self.spool, obj)
            elif deleted_meanwhile(self.table, task.object_id):
                target = self.registry.nodes().get().get(task.target)
                if target is not None:
                    removal = RemoveTask(task.object_id, task.target, "the object was deleted while it was copied")
                    self.pool.submit(self._remove, removal, target.address, False)
            self.metrics.copies.labels(reason="repair", result="ok").inc()
            log.info("store.repaired", object_id=task.object_id, source=task.source, target=task.target)
            return
        self.metrics.copies.labels(reason="repair", result="failed").inc()
        log.warning(
            "store.repair_failed", object_id=task.object_id, source=task.source, target=task.target, error=error
        )
        if blame == "source-corrupt":
            self.table.drop_replica(task.object_id, task.source)
            self.metrics.corrupt.inc()
            source = self.registry.nodes().get().get(task.source)
            if source is not None:  # its copy is bad or gone: a copy from elsewhere replaces it
                self.pool.submit(
                    self._remove, RemoveTask(task.object_id, task.source, "corrupt"), source.address, False
                )
        elif blame == "source":
            self.registry.call_failed(task.source, error)
        else:
            self.failed[task.object_id].add(task.target)
            if blame == "target-unreachable":
                self.registry.call_failed(task.target, error)

    def removal_done(self, task: RemoveTask, error: str | None) -> None:
        self.in_flight.pop(task.object_id, None)
        if error is None:
            self.table.drop_replica(task.object_id, task.node)
            self.metrics.removals.inc()
            log.info("store.copy_removed", object_id=task.object_id, node=task.node, why=task.why)
        else:
            log.warning("store.removal_failed", object_id=task.object_id, node=task.node, error=error)
        self._next()

    # --- inside --------------------------------------------------------------------------

    def _next(self) -> None:
        """A task ended, so a slot is free: plan the next at once.  Waiting for the ticker instead made the
        throttle ``max_in_flight`` tasks per tick (2 copies a second), not ``max_in_flight`` at a time, and a
        dead node's objects took minutes to re-protect.  Told, not called, so the outcome is recorded first
        and several endings in the mailbox plan once each."""
        tell_call(self.actor_ref, "slot_freed")

    def _spool_only_left_to_placers(
        self, needing: list[StoredObject], live: frozenset[str], count_waits: bool = True
    ) -> list[StoredObject]:
        """A copy from the spool is the placers' work: the repairer takes one over only when the
        replication queue is idle (nothing waiting, nothing held by a placer) and the object has waited
        ``spool_grace`` ticks in a row (a put that was just recorded may not have reached the queue yet).
        Otherwise the two would place the same object at once, and a third copy would have to go again.

        The objects held back are left out *before* planning, and every spool-only object counts its
        waits at once: counting only the tasks planned (``max_in_flight`` of them) made the objects wait
        their grace two at a time, and twenty spooled puts took forty seconds to reach a node."""
        waiting = {obj.id for obj in needing if obj.spooled and not obj.good_nodes(live)}
        if count_waits:
            self.spool_waits = {i: self.spool_waits.get(i, 0) + 1 for i in waiting}
        if not waiting:
            return needing
        idle = self._queue_idle()
        held = {i for i in waiting if not (idle and self.spool_waits.get(i, 0) > self.spool_grace)}
        return [obj for obj in needing if obj.id not in held]

    def _queue_idle(self) -> bool:
        if self.broker is None:
            return True
        try:
            stats = self.broker.stats().get(timeout=5)
        except Exception:  # noqa: BLE001 - the broker is away: the placers cannot place either
            return True
        return stats["ready"] == 0 and stats["unacked"] == 0

    def _start(self, object_id: str, task, work, *args) -> None:
        self.in_flight[object_id] = task
        self.pool.submit(work, *args)

    def _copy(self, task: CopyTask, nodes: dict[str, Node]) -> None:
        error, blame = None, None
        target = nodes[task.target].address
        try:
            if task.source == SPOOL:
                self.clients(target).put_file(task.object_id, self.spool.path(task.sha256), task.size, task.sha256)
            else:
                self.clients(nodes[task.source].address).copy_to(task.object_id, target, task.sha256, task.size)
        except NodeCallFailed as failure:
            error, blame = str(failure), self._blame(task, failure)
        except OSError as failure:  # the spool file
            error, blame = str(failure), "source"
        except Exception as failure:  # noqa: BLE001 - reported to the actor, never lost in the pool
            error, blame = repr(failure), "target"
        tell_call(self.actor_ref, "copy_done", task, error, blame)

    @staticmethod
    def _blame(task: CopyTask, failure: NodeCallFailed) -> str:
        """Whose fault a failed copy is: the target's (try another), the source's copy (corrupt or gone:
        drop it), or the source node's (unreachable: the registry counts it)."""
        if task.source == SPOOL:
            return "target-unreachable" if failure.unreachable else "target"
        if failure.at_target:  # the source answered: what failed was its call to the target
            if failure.code == grpc.StatusCode.DATA_LOSS:
                return "source-corrupt"  # the target refused what the source sent
            return "target-unreachable" if failure.target_unreachable else "target"
        if failure.code in (grpc.StatusCode.DATA_LOSS, grpc.StatusCode.NOT_FOUND):
            return "source-corrupt"  # the source's copy is bad, or gone
        return "source" if failure.unreachable else "target"

    def _remove(self, task: RemoveTask, address: str, report: bool = True) -> None:
        try:
            self.clients(address).delete(task.object_id)
            error = None
        except Exception as failure:  # noqa: BLE001 - reported to the actor
            error = str(failure)
        if report:
            tell_call(self.actor_ref, "removal_done", task, error)
        elif error:
            log.warning("store.removal_failed", object_id=task.object_id, node=task.node, error=error)
