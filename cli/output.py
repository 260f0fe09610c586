"""What the command line shows a person: progress bars, count tables, clear errors."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click
import grpc
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

console = Console(stderr=True)
stdout = Console()

# Exit codes the client commands use (also in --help).
EXIT_ERROR, EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_NOT_READY, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5
GRPC_EXIT = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_BAD_INPUT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: EXIT_BAD_INPUT,
    grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE: EXIT_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_UNAVAILABLE,
}


def fail(message: str, code: int = EXIT_ERROR) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


@contextmanager
def rpc_errors(what: str):
    """Turns a gRPC error into one clear line and an exit code."""
    try:
        yield
    except grpc.RpcError as error:
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else str(error)
        if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in (details or "").lower():
            details = f"cannot reach the server ({details})"
        fail(f"{what}: {details} [{code.name if code else 'error'}]", GRPC_EXIT.get(code, EXIT_ERROR))


@contextmanager
def transfer(description: str, total: int | None):
    """A progress bar for an upload or download; silent when stderr is not a terminal."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda moved: progress.advance(task, moved)


def counts_table(counts: list[tuple[str, int]]) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("keyword")
    table.add_column("count", justify="right")
    for keyword, count in counts:
        table.add_row(keyword, str(count), style=None if count else "dim")
    return table


def echo(text: str) -> None:
    click.echo(text)
