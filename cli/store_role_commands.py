"""The replicated store's roles, each its own process: store-manager and store-node."""

from __future__ import annotations

from pathlib import Path

import click

from cli.role_commands import amqp_option, heartbeat_option, queue_type_option, spread_option
from cli.roles.config import DEFAULT_STORE_MANAGER, DEFAULT_STORE_NODE, StoreManagerConfig, StoreNodeConfig
from cli.roles.process import RoleExit, run_role
from cli.roles.specs import declared, store_manager_specs, store_node_specs
from gateways.broker.rabbitmq import RabbitBroker
from gateways.group.spread import SpreadGroupConnection
from store.manager.replicate import STORE_DEAD_LETTERS, STORE_QUEUE
from store.manager.spool import Spool
from store.node.disk import NodeDisk, node_id
from store.table import ObjectTable

MIB = 1024 * 1024

max_object_option = click.option(
    "--max-object-mb",
    envvar="PHOTOMARK_STORE_MAX_OBJECT_MB",
    default=64,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 4096),
    help="Largest object the store takes, in MiB (a photo, its marks or its report).",
)


@click.command("store-manager")
@click.option(
    "--listen",
    envvar="PHOTOMARK_STORE_MANAGER_LISTEN",
    default=DEFAULT_STORE_MANAGER,
    show_default=True,
    show_envvar=True,
    help="ip:port of the StoreManager gRPC service (what --storage replicated://HOST:PORT names).",
)
@click.option(
    "--spool",
    envvar="PHOTOMARK_STORE_SPOOL",
    default="photomark-store/spool",
    show_default=True,
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory where each put is kept, fsynced, until two nodes hold it.",
)
@click.option(
    "--db",
    envvar="PHOTOMARK_STORE_DB",
    default="photomark-store/objects.sqlite",
    show_default=True,
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The object table (SQLite, WAL mode): objects, copies, nodes and the metrics history.",
)
@spread_option
@amqp_option
@queue_type_option
@heartbeat_option
@max_object_option
@click.option(
    "--placers",
    envvar="PHOTOMARK_STORE_PLACERS",
    default=4,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 64),
    help="Objects placed at once (each placer takes one replication message at a time).",
)
@click.option(
    "--repair-in-flight",
    envvar="PHOTOMARK_STORE_REPAIR_IN_FLIGHT",
    default=2,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 64),
    help="Copies made at once when re-protecting a lost node's objects: the throttle that keeps reads served.",
)
@click.option(
    "--metrics-listen",
    envvar="PHOTOMARK_STORE_METRICS_LISTEN",
    default="127.0.0.1:9471",
    show_default=True,
    show_envvar=True,
    help="ip:port of the Prometheus /metrics endpoint; empty for none.",
)
def store_manager(
    listen, spool, db, spread, amqp, queue_type, heartbeat, max_object_mb, placers, repair_in_flight, metrics_listen
) -> None:
    """Run the store manager: spools each put, places it on two storage nodes, re-protects and
    reconciles when nodes leave and return, and serves reads from the best copy."""
    config = StoreManagerConfig(
        listen=listen,
        max_object_bytes=max_object_mb * MIB,
        placers=placers,
        repair_in_flight=repair_in_flight,
        metrics_listen=metrics_listen,
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    table = ObjectTable(db)
    try:
        run_role(
            "store-manager",
            store_manager_specs(
                config,
                table,
                Spool(spool),
                group=lambda s: SpreadGroupConnection.start(spread, "manager"),
                broker=lambda s: declared(
                    RabbitBroker.start(
                        amqp, STORE_QUEUE, STORE_DEAD_LETTERS, queue_type=queue_type, heartbeat=heartbeat
                    )
                ),
            ),
        )
    finally:
        table.close()


@click.command("store-node")
@click.option(
    "--dir",
    "directory",
    envvar="PHOTOMARK_STORE_NODE_DIR",
    required=True,
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of this node's objects (and of its id, kept in DIR/node-id across restarts).",
)
@click.option(
    "--manager",
    envvar="PHOTOMARK_STORE_MANAGER",
    default=DEFAULT_STORE_MANAGER,
    show_default=True,
    show_envvar=True,
    help="ip:port of the store manager this node reports to.",
)
@click.option(
    "--listen",
    envvar="PHOTOMARK_STORE_NODE_LISTEN",
    default=DEFAULT_STORE_NODE,
    show_default=True,
    show_envvar=True,
    help="ip:port of this node's StoreNode gRPC service (port 0: any free port; the manager is told which).",
)
@click.option(
    "--advertise-ip",
    envvar="PHOTOMARK_ADVERTISE_IP",
    default="",
    show_envvar=True,
    help="The ip the manager and other nodes reach this node at [default: the --listen host].",
)
@click.option(
    "--name",
    envvar="PHOTOMARK_STORE_NODE_NAME",
    default=None,
    show_envvar=True,
    help="This node's id, 1..10 of [a-z0-9-], also its Spread user name [default: the one in DIR/node-id, "
    "else a new random one].",
)
@spread_option
@max_object_option
@click.option(
    "--give-up-after",
    envvar="PHOTOMARK_STORE_GIVE_UP_AFTER",
    default=60.0,
    show_default=True,
    show_envvar=True,
    type=click.FloatRange(0),
    help="Seconds a starting node keeps trying to report its inventory to the manager before it exits.",
)
@click.option(
    "--scrub-mb-per-s",
    envvar="PHOTOMARK_STORE_SCRUB_RATE",
    default=16.0,
    show_default=True,
    show_envvar=True,
    type=click.FloatRange(0.01),
    help="How fast the scrubber re-hashes this node's objects looking for corrupt ones, in MiB/s.",
)
@click.option(
    "--scrub-every",
    envvar="PHOTOMARK_STORE_SCRUB_EVERY",
    default=300.0,
    show_default=True,
    show_envvar=True,
    type=click.FloatRange(0),
    help="Seconds from the start of one scrub pass over every object to the start of the next, at least.",
)
@click.option(
    "--scrub-first-pass-after",
    envvar="PHOTOMARK_STORE_SCRUB_FIRST_PASS_AFTER",
    default=60.0,
    show_default=True,
    show_envvar=True,
    type=click.FloatRange(0),
    help="Seconds from the node's start to its first scrub pass (the start itself re-hashes every object "
    "for its inventory).",
)
def store_node(
    directory,
    manager,
    listen,
    advertise_ip,
    name,
    spread,
    max_object_mb,
    give_up_after,
    scrub_mb_per_s,
    scrub_every,
    scrub_first_pass_after,
):
    """Run a storage node: holds copies for the store manager, reports what it holds when it starts,
    and scrubs its disk for corrupt copies."""
    config = StoreNodeConfig(
        listen=listen,
        advertise_ip=advertise_ip,
        manager=manager,
        max_object_bytes=max_object_mb * MIB,
        give_up_after=give_up_after,
        scrub_bytes_per_second=int(scrub_mb_per_s * MIB),
        scrub_every=scrub_every,
        scrub_first_pass_after=scrub_first_pass_after,
    )
    directory.mkdir(parents=True, exist_ok=True)
    try:
        node = node_id(directory, name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--name") from None
    disk = NodeDisk(directory, config.max_object_bytes)
    role_exit = RoleExit()
    run_role(
        "store-node",
        store_node_specs(
            config, disk, node, lambda s: SpreadGroupConnection.start(spread, node), give_up=role_exit.give_up
        ),
        role_exit,
    )
