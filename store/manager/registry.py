"""NodeRegistry: which storage nodes are live, learned from the store group and from calls.

It hears the views of the store group (Spread group ``photomark.store``, which
every node joins under its node id), the hello of each node that reports its
inventory, and the outcome of calls other actors make to nodes.  The decision
is ``liveness.py``; this actor applies it, writes each node's state to the
table, and tells its listeners (the repairer) ``nodes_changed``.

When a node the table knows rejoins the view, the registry pulls its inventory
itself (the node may have been cut off, not restarted, and will not push one),
on a small pool of threads so the mailbox never waits on a node.  A node that
is down because its calls failed, but is still in the view, is probed every
``probe_interval`` seconds and comes back at the first answer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pykka
import structlog

from actorkit.messaging import tell_call
from actorkit.ticker import Ticker
from ports.group import GroupListener, ViewChanged
from store.ids import InvalidNodeId, check_node_id
from store.manager import liveness
from store.manager.inventory import apply_inventory
from store.manager.node_clients import NodeClients
from store.model import Node, NodeState
from store.table import ObjectTable

log = structlog.get_logger()

STORE_GROUP = "photomark.store"


def node_of(private_name: str) -> str | None:
    """The node id in a private name ``#node#daemon``; None for a name that is not a node's."""
    parts = private_name.split("#")
    if len(parts) != 3 or parts[0]:
        return None
    try:
        return check_node_id(parts[1])
    except InvalidNodeId:
        return None


class NodeRegistry(pykka.ThreadingActor, GroupListener):
    def __init__(
        self,
        table: ObjectTable,
        group: pykka.ActorProxy,
        clients: NodeClients,
        max_size: int,
        max_failures: int = liveness.DEFAULT_MAX_FAILURES,
        probe_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.table, self.group, self.clients, self.max_size = table, group, clients, max_size
        self.state = liveness.Liveness(max_failures=max_failures)
        self.probe_interval = probe_interval
        self.listeners: list[pykka.ActorRef] = []
        self.me = ""
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-nodes")
        self.probing: set[str] = set()
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.me = self.group.private_name().get()
        for name in self.table.nodes():
            self.table.set_node_state(name, NodeState.DOWN)  # until a view and an inventory say otherwise
        self.ticker = Ticker(self.actor_ref, "probe", self.probe_interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- what it is told ----------------------------------------------------------------

    def add_listener(self, listener: pykka.ActorRef) -> None:
        self.listeners.append(listener)
        tell_call(listener, "nodes_changed")

    def on_view_changed(self, event: ViewChanged) -> None:
        if event.group != STORE_GROUP:
            return
        members = {node_of(m) for m in event.members if m not in (self.me, event.me)} - {None}
        joined = members - self.state.in_view
        self.state = liveness.view(self.state, members)
        log.info("store.view", nodes=sorted(members), joined=sorted(joined), cause=event.cause)
        known = self.table.nodes()
        for node in sorted(joined):
            if node in known and known[node].address:
                self._pull(node, known[node].address)
        self._changed()

    def hello(self, node: str, address: str, disk_used: int, disk_total: int) -> None:
        """A node says where it serves (before its inventory is applied)."""
        self.table.upsert_node(node, address, self.state.state(node), disk_used or None, disk_total or None)
        log.info("store.node_hello", node=node, address=address, in_view=node in self.state.in_view)

    def reconciled(self, node: str) -> None:
        self.state = liveness.reconciled(self.state, node)
        self._changed()

    def call_failed(self, node: str, error: str = "") -> None:
        was = self.state.state(node)
        self.state = liveness.call_failed(self.state, node)
        if self.state.state(node) is not was:
            log.warning("store.node_failing", node=node, error=error, failures=self.state.failed_calls(node))
            self._changed()

    def call_succeeded(self, node: str) -> None:
        was = self.state.state(node)
        self.state = liveness.call_succeeded(self.state, node)
        if self.state.state(node) is not was:
            log.info("store.node_answers_again", node=node)
            self._changed()

    def probe(self) -> None:
        """Ask each node that is down by failed calls, but still in the view, whether it answers."""
        known = self.table.nodes()
        for node in sorted(self.state.in_view - self.probing):
            if self.state.failed_calls(node) >= self.state.max_failures and node in known:
                self.probing.add(node)
                self.pool.submit(self._probe, node, known[node].address)

    def probed(self, node: str, answered: bool) -> None:
        self.probing.discard(node)
        if answered:
            self.call_succeeded(node)

    # --- what it is asked ----------------------------------------------------------------

    def live(self) -> frozenset[str]:
        return self.state.live()

    def nodes(self) -> dict[str, Node]:
        """Every node the table knows, with the state this registry holds now."""
        return {
            name: Node(node.name, node.address, self.state.state(name), node.used_bytes, node.disk_free)
            for name, node in self.table.nodes().items()
        }

    # --- inside ------------------------------------------------------------------------

    def _changed(self) -> None:
        for name, node in self.table.nodes().items():
            state = self.state.state(name)
            if node.state is not state:
                self.table.set_node_state(name, state)
                log.info("store.node_state", node=name, state=state.value)
        for listener in self.listeners:
            tell_call(listener, "nodes_changed")

    def _pull(self, node: str, address: str) -> None:
        me = self.actor_ref

        def pull() -> None:
            try:
                client = self.clients(address)
                taken_after = self.table.last_seq()
                items = client.inventory()
                outcome = apply_inventory(
                    self.table, node, items, complete=True, max_size=self.max_size, taken_after=taken_after
                )
                for object_id in outcome.delete:
                    client.delete(object_id)
            except Exception as error:  # noqa: BLE001 - the node may be gone again; it reports when it returns
                log.warning("store.inventory_pull_failed", node=node, address=address, error=str(error))
                tell_call(me, "call_failed", node, str(error))
                return
            tell_call(me, "reconciled", node)

        log.info("store.inventory_pull", node=node, address=address)
        self.pool.submit(pull)

    def _probe(self, node: str, address: str) -> None:
        try:
            self.clients(address).usage()
            answered = True
        except Exception:  # noqa: BLE001 - still not answering
            answered = False
        tell_call(self.actor_ref, "probed", node, answered)
