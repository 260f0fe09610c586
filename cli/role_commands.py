"""The lab roles, each its own process: register, svc, worker, spread-daemon."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

import click

from actors.leader import LeaderSettings
from actors.marker_decisions import DEFAULT_MAX_DELIVERIES
from actors.member_names import member_name
from actors.upload_validation import Limits
from cli.roles.config import (
    DEFAULT_REGISTER,
    DEFAULT_SVC,
    RegisterConfig,
    SvcConfig,
    WorkerConfig,
)
from cli.roles.process import run_role
from cli.roles.specs import declared, register_specs, svc_specs, worker_specs
from gateways.broker.rabbitmq import RabbitBroker
from gateways.group.spread import SpreadGroupConnection
from marking.ocr import OCR_TIMEOUT_BASE, OCR_TIMEOUT_PER_MEGAPIXEL
from spread.constants import MAX_SESSION_MESSAGES
from storage.open import open_storage, replicated_address

DEFAULT_SPREAD = "4803@127.0.0.1"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"

spread_option = click.option(
    "--spread",
    envvar="PHOTOMARK_SPREAD",
    default=DEFAULT_SPREAD,
    show_default=True,
    show_envvar=True,
    metavar="PORT@HOST|PORT",
    help="The Spread daemon to connect to, in Spread's notation: a real Spread 4.x daemon "
    "or `photomark spread-daemon`. PORT@HOST connects over TCP; a bare PORT connects to the daemon "
    "on this host through its Unix socket /tmp/PORT, as Spread's own library does.",
)
amqp_option = click.option(
    "--amqp",
    envvar="PHOTOMARK_AMQP",
    default=DEFAULT_AMQP,
    show_default=True,
    show_envvar=True,
    help="The RabbitMQ broker's AMQP URL.",
)
queue_type_option = click.option(
    "--queue-type",
    envvar="PHOTOMARK_QUEUE_TYPE",
    type=click.Choice(["classic", "quorum"]),
    default="classic",
    show_default=True,
    show_envvar=True,
    help="Type of the job queue: classic on one broker, quorum on a RabbitMQ cluster.",
)
heartbeat_option = click.option(
    "--heartbeat",
    envvar="PHOTOMARK_HEARTBEAT",
    type=click.IntRange(1, 600),
    default=3,
    show_default=True,
    show_envvar=True,
    help="AMQP heartbeat in seconds: a hung process's job returns to the queue after ~3 of them.",
)
storage_option = click.option(
    "--storage",
    "storage_spec",
    envvar="PHOTOMARK_STORAGE",
    default="photomark-data",
    show_default=True,
    show_envvar=True,
    metavar="DIR|replicated://HOST:PORT",
    callback=lambda ctx, param, value: _checked_storage(value),
    help="Where photos, marks and state live: a directory (the GlusterFS mount in the lab), or "
    "replicated://HOST:PORT for the replicated photo store's manager (every object on two storage nodes).",
)


def _checked_storage(spec: str) -> str:
    if "://" not in spec:
        return spec  # a directory
    try:
        replicated_address(spec)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return spec


def spread_connection(address: str, role: str):
    return lambda siblings: SpreadGroupConnection.start(address, member_name(role))


def rabbit_broker(url: str, queue_type: str, heartbeat: int):
    return lambda siblings: declared(RabbitBroker.start(url, queue_type=queue_type, heartbeat=heartbeat))


@click.command()
@click.option(
    "--listen",
    envvar="PHOTOMARK_REGISTER_LISTEN",
    default=DEFAULT_REGISTER,
    show_default=True,
    show_envvar=True,
    help="ip:port the Register's gRPC server listens on.",
)
@spread_option
def register(listen: str, spread: str) -> None:
    """Run the Register: hands clients the least-loaded live Svc, learned from the Svc group."""
    run_role("register", register_specs(RegisterConfig(listen=listen), spread_connection(spread, "register")))


@click.command()
@click.option(
    "--listen",
    envvar="PHOTOMARK_SVC_LISTEN",
    default=DEFAULT_SVC,
    show_default=True,
    show_envvar=True,
    help="ip:port the Svc's gRPC server listens on.",
)
@click.option(
    "--advertise-ip",
    envvar="PHOTOMARK_ADVERTISE_IP",
    default="",
    show_envvar=True,
    help="The ip the Register hands to clients [default: the --listen host].",
)
@spread_option
@amqp_option
@queue_type_option
@heartbeat_option
@storage_option
@click.option(
    "--max-upload-mb",
    envvar="PHOTOMARK_MAX_UPLOAD_MB",
    default=50,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 4096),
    help="Largest photo accepted, in MiB.",
)
@click.option(
    "--retry-after",
    envvar="PHOTOMARK_RETRY_AFTER",
    default=120.0,
    show_default=True,
    show_envvar=True,
    type=click.FloatRange(1),
    help="Seconds a job may stay pending before the leader publishes it again.",
)
@click.option(
    "--max-attempts",
    envvar="PHOTOMARK_MAX_ATTEMPTS",
    default=3,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 100),
    help="Publications of a job before the leader marks it failed.",
)
def svc(
    listen, advertise_ip, spread, amqp, queue_type, heartbeat, storage_spec, max_upload_mb, retry_after, max_attempts
) -> None:
    """Run a Svc: takes uploads, queues jobs, keeps a replica of the pending list, serves downloads."""
    config = replace(
        SvcConfig(listen=listen, advertise_ip=advertise_ip),
        limits=Limits(max_bytes=max_upload_mb * 1024 * 1024),
        leader=LeaderSettings(retry_after=retry_after, max_attempts=max_attempts),
    )
    run_role(
        "svc",
        svc_specs(
            config,
            lambda: open_storage(storage_spec),
            spread_connection(spread, "svc"),
            broker=rabbit_broker(amqp, queue_type, heartbeat),
        ),
    )


@click.command()
@click.option(
    "--concurrency",
    envvar="PHOTOMARK_CONCURRENCY",
    type=click.IntRange(1, 256),
    default=os.cpu_count() or 1,
    show_default=True,
    show_envvar=True,
    help="Markers in this worker, each running one OCR at a time (one per core is best).",
)
@click.option(
    "--health-listen",
    envvar="PHOTOMARK_HEALTH_LISTEN",
    default="",
    show_envvar=True,
    help="ip:port of a gRPC health service for this worker [default: none].",
)
@click.option(
    "--name",
    envvar="PHOTOMARK_WORKER_NAME",
    default=None,
    show_envvar=True,
    help="Name of this worker's consumers on the broker [default: worker-HOST-PID].",
)
@click.option(
    "--max-deliveries",
    envvar="PHOTOMARK_MAX_DELIVERIES",
    type=click.IntRange(1, 1000),
    default=DEFAULT_MAX_DELIVERIES,
    show_default=True,
    show_envvar=True,
    help="How many times a job may be handed to a worker: a job handed out more often (every earlier "
    "worker died or hung on it, or storage kept failing) is not marked but ends FAILED, so one "
    "photo cannot take down one worker after another.",
)
@click.option(
    "--ocr-timeout",
    envvar="PHOTOMARK_OCR_TIMEOUT",
    type=click.FloatRange(0, min_open=True),
    default=None,
    show_envvar=True,
    metavar="SECONDS",
    help="How long Tesseract may read one photo: a photo it has not read by then fails with that "
    f"reason (it is not retried) [default: {OCR_TIMEOUT_BASE:g} s plus {OCR_TIMEOUT_PER_MEGAPIXEL:g} s "
    "per megapixel of the photo].",
)
@spread_option
@amqp_option
@queue_type_option
@heartbeat_option
@storage_option
def worker(
    concurrency, health_listen, name, max_deliveries, ocr_timeout, spread, amqp, queue_type, heartbeat, storage_spec
) -> None:
    """Run a worker: consumes jobs, marks photos, reports results to the Svc group."""
    name = name or f"worker-{socket.gethostname()}-{os.getpid()}"
    config = WorkerConfig(
        concurrency=concurrency, health_listen=health_listen, max_deliveries=max_deliveries, ocr_timeout=ocr_timeout
    )
    run_role(
        "worker",
        worker_specs(
            config,
            name,
            lambda: open_storage(storage_spec),
            spread_connection(spread, "worker"),
            broker=rabbit_broker(amqp, queue_type, heartbeat),
        ),
    )


@click.command("spread-daemon")
@click.option(
    "--host",
    envvar="PHOTOMARK_SPREAD_HOST",
    default="127.0.0.1",
    show_default=True,
    show_envvar=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    envvar="PHOTOMARK_SPREAD_PORT",
    default=4803,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 65535),
    help="TCP port (Spread's default is 4803).",
)
@click.option(
    "--name",
    envvar="PHOTOMARK_SPREAD_NAME",
    default=None,
    show_envvar=True,
    help="Daemon name that ends private group names, like Spread's -n [default: the host name].",
)
@click.option(
    "--max-session-messages",
    envvar="PHOTOMARK_SPREAD_MAX_SESSION_MESSAGES",
    default=MAX_SESSION_MESSAGES,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(min=1),
    help="Messages queued for a client that does not read before it is cut off (Spread's MaxSessionMessages).",
)
@click.option(
    "--unix-socket",
    envvar="PHOTOMARK_SPREAD_UNIX_SOCKET",
    default=None,
    show_envvar=True,
    metavar="PATH",
    help="Unix socket served beside TCP, where Spread clients given a bare port connect; "
    "an empty value serves TCP only [default: /tmp/PORT, as Spread's].",
)
def spread_daemon(host: str, port: int, name: str | None, max_session_messages: int, unix_socket: str | None) -> None:
    """Run a Spread-compatible single-host daemon (the Spread 4 client protocol on TCP and a Unix socket)."""
    from spread.address import unix_socket_path
    from spread.daemon import main as run_daemon

    path = unix_socket_path(port) if unix_socket is None else unix_socket or None
    run_daemon(host, port, name, max_session_messages=max_session_messages, unix_socket=path)
