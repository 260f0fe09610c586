"""What runs in each role, in start order: one place per role.

Each function returns the child specs of that role's supervisor.  The
outside-world gateways (storage backend, broker, group connection) come in as
factories, so the embedded cluster passes fakes and the lab passes real ones,
and the actors cannot tell them apart.  A gateway shared by several roles of one
process (the embedded cluster's in-memory broker) comes in ``shared`` instead: the
role's actors see it like a sibling, but the role does not own or stop it.  Order: gateways, then the actors that use
them, then the servers and the group membership that let the world in.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping

import pykka

from actorkit.owner import Owner
from actorkit.supervisor import ChildSpec
from actors.announcer import Announcer
from actors.directory import Directory
from actors.group_messages import SVCS_GROUP
from actors.leader import Leader
from actors.marker import Marker
from actors.membership import Membership
from actors.notifier import Notifier
from actors.pending import PendingList
from actors.uploader import Uploader
from cli.roles.config import RegisterConfig, StoreManagerConfig, StoreNodeConfig, SvcConfig, WorkerConfig
from gateways.rpc.servers import GrpcServer, health_server, photo_server, register_server
from gateways.storage import StorageGateway
from protos import store_pb2, store_pb2_grpc
from storage.backend import Storage
from store.manager.metrics import MetricsHistory, StoreMetrics
from store.manager.node_clients import NodeClients
from store.manager.placer import PlacementLocks, Placer, sweep_spool
from store.manager.registry import STORE_GROUP, NodeRegistry
from store.manager.repairer import Repairer
from store.manager.service import StoreManagerService
from store.manager.spool import Spool
from store.manager_client import ManagerClient
from store.model import NodeState
from store.node.disk import NodeDisk
from store.node.reporter import InventoryReporter, hello_of
from store.node.scrubber import Scrubber, ScrubSettings
from store.node.service import SERVICE_NAME as NODE_SERVICE
from store.node.service import StoreNodeService
from store.table import ObjectTable

Siblings = Mapping[str, pykka.ActorProxy]
NONE_SHARED: Siblings = types.MappingProxyType({})  # a role that shares no gateway with another
GatewayFactory = Callable[[Siblings], pykka.ActorRef]


def declared(broker: pykka.ActorRef) -> pykka.ActorRef:
    """A started broker gateway once its exchange and queues are declared; stopped again if that
    fails, so a supervisor retrying the start leaves no gateway (and no connection) behind."""
    try:
        broker.proxy().declare().get()
    except Exception:
        broker.stop()
        raise
    return broker


def _child(name: str, start: Callable[[Siblings], pykka.ActorRef], shared: Siblings) -> ChildSpec:
    return ChildSpec(name, lambda siblings: start({**shared, **siblings}))


def _subscribed(name: str, start: Callable[[Siblings], pykka.ActorRef], shared: Siblings) -> ChildSpec:
    """A spec whose actor hears the group's events from the moment it starts."""

    def start_and_subscribe(siblings: Siblings) -> pykka.ActorRef:
        ref = start(siblings)
        siblings["group"].subscribe(ref).get()
        return ref

    return _child(name, start_and_subscribe, shared)


def _gateway(name: str, factory: GatewayFactory | None, shared: Siblings) -> list[ChildSpec]:
    if factory is None:
        if name not in shared:
            raise ValueError(f"the {name} gateway is neither started by the role nor shared with it")
        return []
    return [_child(name, factory, shared)]


def register_specs(config: RegisterConfig, group: GatewayFactory, shared: Siblings = NONE_SHARED) -> list[ChildSpec]:
    return [
        _child("group", group, shared),
        _subscribed("directory", lambda s: Directory.start(), shared),
        _child("server", lambda s: register_server(config.listen, s["directory"], [s["group"]]), shared),
        _child("membership", lambda s: Membership.start(s["group"], [SVCS_GROUP]), shared),
    ]


def svc_specs(
    config: SvcConfig,
    storage: Callable[[], Storage],
    group: GatewayFactory,
    broker: GatewayFactory | None = None,
    shared: Siblings = NONE_SHARED,
) -> list[ChildSpec]:
    return [
        _child("storage", lambda s: StorageGateway.start(storage()), shared),
        *_gateway("broker", broker, shared),
        _child("group", group, shared),
        _child("notifier", lambda s: Notifier.start(), shared),
        _subscribed("pending", lambda s: PendingList.start(s["group"], [s["notifier"]], s["storage"]), shared),
        _subscribed(
            "leader", lambda s: Leader.start(s["group"], s["pending"], s["broker"], s["storage"], config.leader), shared
        ),
        _child("uploader", lambda s: Uploader.start(s["storage"], s["broker"], s["group"]), shared),
        _child(
            "server",
            lambda s: photo_server(
                config.listen,
                s["uploader"],
                s["pending"],
                s["notifier"],
                s["storage"],
                config.limits,
                [s["broker"], s["group"]],
                s["leader"],
            ),
            shared,
        ),
        _child("membership", lambda s: Membership.start(s["group"], [SVCS_GROUP]), shared),
        _subscribed(
            "announcer",
            lambda s: Announcer.start(
                s["group"], s["pending"], config.announced_ip(), s["server"].port().get(), config.announce_interval
            ),
            shared,
        ),
    ]


def worker_specs(
    config: WorkerConfig,
    name: str,
    storage: Callable[[], Storage],
    group: GatewayFactory,
    broker: GatewayFactory | None = None,
    shared: Siblings = NONE_SHARED,
) -> list[ChildSpec]:
    specs = [
        _child("storage", lambda s: StorageGateway.start(storage()), shared),
        *_gateway("broker", broker, shared),
        _child("group", group, shared),
    ]
    for number in range(1, config.concurrency + 1):
        consumer = f"{name}-{number}"
        specs.append(
            _child(
                f"marker-{number}",
                lambda s, consumer=consumer: Marker.start(
                    consumer,
                    s["broker"],
                    s["group"],
                    s["storage"],
                    max_deliveries=config.max_deliveries,
                    ocr_timeout=config.ocr_timeout,
                ),
                shared,
            )
        )
    if config.health_listen:
        specs.append(
            _child("server", lambda s: health_server(config.health_listen, "worker", [s["broker"], s["group"]]), shared)
        )
    return specs


def store_manager_specs(
    config: StoreManagerConfig,
    table: ObjectTable,
    spool: Spool,
    group: GatewayFactory,
    broker: GatewayFactory,
    clients: NodeClients | None = None,
    metrics: StoreMetrics | None = None,
) -> list[ChildSpec]:
    """The store manager: the replication queue and the store group first, then who is live, the
    repairer and the placers, the metrics, the server, and last the group membership (so the
    registry hears the first view).  The table, the spool and the node clients outlive restarts."""
    clients = clients or NodeClients()
    metrics = metrics or StoreMetrics()
    sweep_spool(table, spool)
    metrics.watch(table, lambda: {name for name, node in table.nodes().items() if node.state is NodeState.LIVE})
    service_name = store_pb2.DESCRIPTOR.services_by_name["StoreManager"].full_name
    none: Siblings = NONE_SHARED

    def server(s: Siblings) -> pykka.ActorRef:
        service = StoreManagerService(
            table, spool, s["broker"], s["registry"], s["repairer"], clients, metrics, config.max_object_bytes
        )
        add = store_pb2_grpc.add_StoreManagerServicer_to_server
        return GrpcServer.start(
            config.listen, [(add, service, service_name)], "store-manager", [s["broker"], s["group"]]
        )

    locks = PlacementLocks()  # one per manager: two versions of an id are never placed at once
    placers = [
        _child(
            f"placer-{n}",
            lambda s, n=n: Placer.start(
                f"placer-{n}", s["broker"], s["registry"], table, spool, clients, metrics, s["repairer"], locks
            ),
            none,
        )
        for n in range(1, config.placers + 1)
    ]
    return [
        _child("node-clients", lambda s: Owner.start("the clients of the storage nodes", clients.close), none),
        _child("broker", broker, none),
        _child("group", group, none),
        _subscribed(
            "registry", lambda s: NodeRegistry.start(table, s["group"], clients, config.max_object_bytes), none
        ),
        _child(
            "repairer",
            lambda s: Repairer.start(
                s["registry"], table, spool, clients, metrics, s["broker"], max_in_flight=config.repair_in_flight
            ),
            none,
        ),
        *placers,
        _child(
            "metrics",
            lambda s: MetricsHistory.start(metrics, table, config.metrics_listen, config.metrics_interval),
            none,
        ),
        _child("server", server, none),
        _child("membership", lambda s: Membership.start(s["group"], [STORE_GROUP]), none),
    ]


def store_node_specs(
    config: StoreNodeConfig,
    disk: NodeDisk,
    node: str,
    group: GatewayFactory,
    give_up: Callable[[str], None],
    manager: ManagerClient | None = None,
) -> list[ChildSpec]:
    """A storage node: its group connection, its server, then it joins the store group (the manager
    sees it come) and reports its inventory (``give_up`` ends the role when the manager cannot be
    reached in time); the scrubber last.  The node's id is also its Spread user name."""
    manager = manager or ManagerClient(config.manager)
    service = StoreNodeService(disk, node)
    none: Siblings = NONE_SHARED
    address: dict[str, str] = {}

    def server(s: Siblings) -> pykka.ActorRef:
        add = store_pb2_grpc.add_StoreNodeServicer_to_server
        ref = GrpcServer.start(config.listen, [(add, service, NODE_SERVICE)], "store-node", [s["group"]])
        address["self"] = config.advertised(ref.proxy().port().get())
        return ref

    def scrub_report(items):
        return manager.report_inventory(hello_of(disk, node, address["self"], scrub=True), items)

    settings = ScrubSettings(
        rate=config.scrub_bytes_per_second,
        interval=config.scrub_interval,
        pass_every=config.scrub_every,
        first_pass_after=config.scrub_first_pass_after,
    )
    return [
        _child(
            "clients", lambda s: Owner.start("the node's clients", lambda: (service.close(), manager.close())), none
        ),
        _child("group", group, none),
        _child("server", server, none),
        _child("membership", lambda s: Membership.start(s["group"], [STORE_GROUP]), none),
        _child(
            "reporter",
            lambda s: InventoryReporter.start(
                disk, node, address["self"], manager.report_inventory, config.manager, config.give_up_after, give_up
            ),
            none,
        ),
        _child("scrubber", lambda s: Scrubber.start(disk, scrub_report, settings), none),
    ]
