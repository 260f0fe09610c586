"""``photomark up`` and ``photomark mark``: the embedded cluster, for a first try."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import click

from actors.upload_validation import Limits
from cli import output
from cli.client_commands import download_to, keyword_option, upload_photo
from cli.roles.config import DEFAULT_REGISTER, RegisterConfig, SvcConfig
from cli.roles.embedded import ClusterNotStarted, EmbeddedCluster, EmbeddedConfig
from gateways.rpc.client import STATE_NAMES, PhotoClient

data_option = click.option(
    "--data",
    "data_dir",
    envvar="PHOTOMARK_DATA",
    default="photomark-data",
    show_default=True,
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory where photos, marks and state are stored.",
)
workers_option = click.option(
    "--workers",
    envvar="PHOTOMARK_WORKERS",
    default=3,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 64),
    help="Workers (each one marker) in the embedded cluster.",
)
group_option = click.option(
    "--group",
    envvar="PHOTOMARK_GROUP",
    type=click.Choice(["spread", "memory"]),
    default="spread",
    show_default=True,
    show_envvar=True,
    help="Group communication inside the cluster: the Spread-compatible daemon in-process (as in the lab) "
    "or an in-memory group.",
)
storage_kind_option = click.option(
    "--storage",
    "storage",
    envvar="PHOTOMARK_EMBEDDED_STORAGE",
    type=click.Choice(["fs", "replicated"]),
    default="fs",
    show_default=True,
    show_envvar=True,
    help="Where the cluster keeps photos: fs, the --data directory; replicated, a store manager and "
    "--store-nodes storage nodes in this process (under DATA/store), every object on two nodes.",
)
store_nodes_option = click.option(
    "--store-nodes",
    envvar="PHOTOMARK_STORE_NODES",
    default=3,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 16),
    help="Storage nodes of the in-process replicated store (with --storage replicated).",
)
max_upload_option = click.option(
    "--max-upload-mb",
    envvar="PHOTOMARK_MAX_UPLOAD_MB",
    default=50,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 4096),
    help="Largest photo a Svc accepts, in MiB.",
)


def _config(
    data_dir: Path,
    workers: int,
    max_upload_mb: int,
    group: str,
    register_listen: str = "127.0.0.1:0",
    svc_listen: str = "127.0.0.1:0",
    svcs: int = 1,
    storage: str = "fs",
    store_nodes: int = 3,
) -> EmbeddedConfig:
    limits = Limits(max_bytes=max_upload_mb * 1024 * 1024)
    return EmbeddedConfig(
        data_dir=data_dir,
        register=RegisterConfig(listen=register_listen),
        svc=replace(SvcConfig(listen=svc_listen), limits=limits),
        svcs=svcs,
        workers=workers,
        group=group,
        storage=storage,
        store_nodes=store_nodes,
    )


@click.command()
@data_option
@workers_option
@max_upload_option
@group_option
@click.option(
    "--listen",
    envvar="PHOTOMARK_REGISTER_LISTEN",
    default=DEFAULT_REGISTER,
    show_default=True,
    show_envvar=True,
    help="ip:port the embedded Register listens on.",
)
@click.option(
    "--svc-listen",
    envvar="PHOTOMARK_SVC_LISTEN",
    default="127.0.0.1:0",
    show_default=True,
    show_envvar=True,
    help="ip:port the embedded Svcs listen on (port 0: each its own free port; give port 0 with --svcs > 1).",
)
@click.option(
    "--svcs",
    envvar="PHOTOMARK_SVCS",
    default=1,
    show_default=True,
    show_envvar=True,
    type=click.IntRange(1, 5),
    help="Svcs in the embedded cluster: with 2 or more, the oldest leads and the others keep replicas "
    "of the pending list, so stopping or crashing one can be tried.",
)
@storage_kind_option
@store_nodes_option
def up(data_dir, workers, max_upload_mb, group, listen, svc_listen, svcs, storage, store_nodes) -> None:
    """Run a whole cluster in this process until Ctrl-C: a Register, Svcs and workers.

    Uses an in-memory broker and the Spread-compatible daemon in-process, and stores
    under --data.  Then, from another terminal: photomark upload PHOTO -w WORD
    --register <the address printed>.
    """
    if svcs > 1 and not svc_listen.endswith(":0"):
        raise click.BadParameter("several Svcs cannot share one port: give port 0", param_hint="--svc-listen")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = _config(data_dir, workers, max_upload_mb, group, listen, svc_listen, svcs, storage, store_nodes)
    cluster = EmbeddedCluster(config).start()
    try:
        try:
            output.echo(f"register listening on {cluster.register_address}")
            for address in cluster.svc_addresses():
                output.echo(f"svc listening on {address}")
        except ClusterNotStarted as error:
            stop.set()
            output.console.print(f"[bold red]error:[/] the embedded cluster did not start: {error}", soft_wrap=True)
            cluster.reason = cluster.reason or f"it did not start: {error}"
            cluster.escalated.set()
        where = "the replicated store under " if storage == "replicated" else ""
        output.echo(f"storage in {where}{data_dir.resolve()}; stop with Ctrl-C")
        while not stop.is_set() and not cluster.escalated.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        output.console.print("stopping...")
        cluster.stop()
    if cluster.escalated.is_set():
        output.fail(f"the embedded cluster stopped: {cluster.reason}")


def _wait_unless_given_up(cluster: EmbeddedCluster, client: PhotoClient, photo_id: str, timeout: float):
    """Waits for the photo like ``client.wait``, a second at a time, and stops with the reason as soon
    as a role of the cluster gave up (a worker that keeps dying would otherwise leave it PROCESSING)."""
    deadline = time.monotonic() + timeout
    while True:
        if cluster.escalated.is_set():
            output.fail(f"the embedded cluster gave up while {photo_id} was being marked: {cluster.reason}")
        with output.rpc_errors(f"waiting for {photo_id}"):
            reply = client.wait(photo_id, min(1.0, max(0.0, deadline - time.monotonic())))
        if STATE_NAMES[reply.state] != "PROCESSING" or time.monotonic() >= deadline:
            return reply


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@keyword_option
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the marked photo [default: PHOTO_marks.png beside the photo].",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON report (counts, boxes, what OCR read) to this file.",
)
@click.option(
    "--timeout",
    type=float,
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the photo to be marked.",
)
@data_option
@workers_option
@max_upload_option
@group_option
@storage_kind_option
@store_nodes_option
def mark(
    photo: Path, keywords, out, report, timeout, data_dir, workers, max_upload_mb, group, storage, store_nodes
) -> None:
    """Mark KEYWORDS on PHOTO in one go: start the embedded cluster, upload, wait, download, stop."""
    out = out or photo.with_name(f"{photo.stem}_marks.png")
    config = _config(data_dir, workers, max_upload_mb, group, storage=storage, store_nodes=store_nodes)
    with EmbeddedCluster(config) as cluster:
        try:
            register_address = cluster.register_address
        except ClusterNotStarted as error:
            output.fail(f"the embedded cluster did not start: {error}")
        with output.rpc_errors("finding a Svc"):
            client = PhotoClient.via_register(register_address, wait=30)
        try:
            photo_id = upload_photo(client, photo, keywords)
            reply = _wait_unless_given_up(cluster, client, photo_id, timeout)
            state = STATE_NAMES[reply.state]
            if state != "READY":
                output.fail(
                    f"{photo} was not marked: {state} {reply.message}",
                    output.EXIT_NOT_READY if state == "PROCESSING" else output.EXIT_ERROR,
                )
            download_to(client, photo_id, out)
            if report:
                download_to(client, photo_id, report, report=True)
        finally:
            client.close()
    output.stdout.print(output.counts_table([(c.keyword, c.count) for c in reply.counts]))
    output.echo(f"marked photo: {out}")
    if report:
        output.echo(f"report: {report}")
