"""``photomark store``: the replicated photo store from a person's side, through its manager.

    stats            the store's figures, and each node's: a table, or --json
    put FILE         store a file (streamed in blocks, with a progress bar when it is large)
    get ID           fetch an object into a file (streamed, verified by its sha256, then renamed)
    delete ID        remove every copy of an object
    stat ID          what the manager records of one object
    ls [PREFIX]      the ids that start with PREFIX

Errors are one line on stderr and an exit code, as for the other client commands:
1 any other failure, 2 malformed input or refused by the manager, 3 no such object,
5 manager unreachable.
"""

from __future__ import annotations

import json
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path, PurePosixPath

import click
from rich.filesize import decimal
from rich.table import Table

from cli import output
from store.ids import InvalidObjectId, check_object_id
from store.manager_client import ManagerClient, ObjectMissing, ObjectStat, StoreCallFailed, StoreStats

DEFAULT_MANAGER = "127.0.0.1:50071"
PROGRESS_FROM = 4 * 1024 * 1024  # smaller files go by too fast for a progress bar to mean anything

manager_option = click.option(
    "--manager",
    envvar="PHOTOMARK_STORE_MANAGER",
    default=DEFAULT_MANAGER,
    show_default=True,
    show_envvar=True,
    metavar="HOST:PORT",
    help="The store manager's gRPC address.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table.")


@contextmanager
def store_errors():
    """A store call's failure as one clear line on stderr and the exit code of the other client commands."""
    try:
        yield
    except InvalidObjectId as error:
        output.fail(str(error), output.EXIT_BAD_INPUT)
    except ObjectMissing as error:
        output.fail(f"no object {error.args[0]} in the store", output.EXIT_NOT_FOUND)
    except StoreCallFailed as error:
        output.fail(str(error), output.GRPC_EXIT.get(error.code, output.EXIT_ERROR))


def transfer(description: str, size: int):
    """A progress bar (``output.transfer``) for a large object; None for a small one."""
    return output.transfer(description, size) if size >= PROGRESS_FROM else nullcontext(None)


def checked_id(object_id: str) -> str:
    with store_errors():
        return check_object_id(object_id)


def stats_json(stats: StoreStats) -> str:
    return json.dumps(asdict(stats), indent=1)


def summary_table(stats: StoreStats) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("objects", str(stats.objects))
    table.add_row("bytes", decimal(stats.bytes))
    style = "bold red" if stats.under_replicated else None
    table.add_row("fewer than two good copies", str(stats.under_replicated), style=style)
    table.add_row("waiting in the spool", str(stats.spooled))
    table.add_row("live nodes", str(stats.live_nodes), style="bold red" if stats.live_nodes < 2 else None)
    return table


def nodes_table(stats: StoreStats) -> Table:
    table = Table(show_header=True, header_style="bold")
    for name, justify in [
        ("node", "left"),
        ("address", "left"),
        ("state", "left"),
        ("objects", "right"),
        ("bytes", "right"),
        ("disk used", "right"),
        ("disk total", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for node in stats.nodes:
        table.add_row(
            node.node,
            node.address,
            node.state,
            str(node.objects),
            decimal(node.bytes),
            decimal(node.disk_used) if node.disk_total else "-",  # never reported
            decimal(node.disk_total) if node.disk_total else "-",
            style=None if node.state == "live" else "dim",
        )
    return table


def stat_lines(stat: ObjectStat) -> list[str]:
    return [
        f"id       {stat.id}",
        f"size     {stat.size} ({decimal(stat.size)})",
        f"sha256   {stat.sha256}",
        f"version  {stat.version}",
        f"nodes    {', '.join(stat.nodes) or '-'}",
        f"spooled  {'yes' if stat.spooled else 'no'}",
    ]


def default_output(object_id: str) -> Path:
    return Path(PurePosixPath(object_id).name)


@click.group()
def store() -> None:
    """The replicated photo store: every object on two storage nodes, through its manager."""


@store.command()
@manager_option
@json_option
def stats(manager: str, as_json: bool) -> None:
    """The store's figures: objects, bytes, objects with fewer than two good copies, objects waiting in the
    spool, live nodes, and per node its state, objects, bytes and disk.

    Exit codes: 0 shown, 1 other failure, 5 manager unreachable.
    """
    with ManagerClient(manager) as client, store_errors():
        figures = client.stats()
    if as_json:
        output.echo(stats_json(figures))
        return
    output.stdout.print(summary_table(figures))
    if figures.note:
        output.stdout.print(f"[bold yellow]note:[/] {figures.note}", highlight=False)
    if figures.nodes:
        output.stdout.print(nodes_table(figures))
    else:
        output.stdout.print("no storage nodes known", style="dim")


@store.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--id",
    "object_id",
    default=None,
    metavar="ID",
    help="The object's id [default: files/ followed by FILE's name].",
)
@manager_option
def put(file: Path, object_id: str | None, manager: str) -> None:
    """Store FILE, streamed in blocks; prints the id, size, sha256 and version once it is durable.

    \b
    Exit codes: 0 stored, 1 other failure, 2 malformed id or refused (empty, over the size limit),
    5 manager unreachable.
    """
    object_id = checked_id(object_id if object_id is not None else f"files/{file.name}")
    size = file.stat().st_size
    with ManagerClient(manager) as client, store_errors():
        with transfer(f"putting {file.name}", size) as moved:
            result = client.put_file(object_id, file, progress=moved)
    output.echo(f"{result.id} {result.size} {result.sha256} {result.version}")


@store.command()
@click.argument("object_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the object [default: the last part of ID, in the current directory].",
)
@manager_option
def get(object_id: str, out: Path | None, manager: str) -> None:
    """Fetch object ID into a file, verified by its sha256; prints the file's path.

    The file appears whole and verified, or not at all.

    Exit codes: 0 written, 1 other failure (also a reply that fails verification), 2 malformed id,
    3 no such object, 5 manager unreachable.
    """
    object_id = checked_id(object_id)
    out = out or default_output(object_id)
    with ManagerClient(manager) as client, store_errors():
        stat = client.stat(object_id)
        if stat is None:
            raise ObjectMissing(object_id)
        with transfer(f"getting {out.name}", stat.size) as moved:
            client.get_to_file(object_id, out, progress=moved)
    output.echo(str(out))


@store.command()
@click.argument("object_id", metavar="ID")
@manager_option
def delete(object_id: str, manager: str) -> None:
    """Remove every copy of object ID.

    Exit codes: 0 deleted, 1 other failure, 2 malformed id, 3 no such object, 5 manager unreachable.
    """
    object_id = checked_id(object_id)
    with ManagerClient(manager) as client, store_errors():
        if not client.delete(object_id):
            raise ObjectMissing(object_id)
    output.echo(f"deleted {object_id}")


@store.command()
@click.argument("object_id", metavar="ID")
@manager_option
@json_option
def stat(object_id: str, manager: str, as_json: bool) -> None:
    """What the manager records of object ID: size, sha256, version, the nodes with a good copy
    (primary first), and whether its spool still holds it.

    Exit codes: 0 shown, 1 other failure, 2 malformed id, 3 no such object, 5 manager unreachable.
    """
    object_id = checked_id(object_id)
    with ManagerClient(manager) as client, store_errors():
        found = client.stat(object_id)
        if found is None:
            raise ObjectMissing(object_id)
    output.echo(json.dumps(asdict(found), indent=1) if as_json else "\n".join(stat_lines(found)))


@store.command(name="ls")
@click.argument("prefix", default="")
@manager_option
def list_ids(prefix: str, manager: str) -> None:
    """Print the ids that start with PREFIX (a plain string prefix, not a directory), one a line, sorted.

    Exit codes: 0 listed, 1 other failure, 5 manager unreachable.
    """
    with ManagerClient(manager) as client, store_errors():
        ids = client.list(prefix)
    for object_id in ids:
        output.echo(object_id)
