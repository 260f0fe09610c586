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
        if code == grpc.StatusCode.UNAVAILABLE and (details or "").lower().startswith("failed to connect"):
            # gRPC's own words for a server it could not reach (a server's UNAVAILABLE says why itself)
            details = f"cannot reach the server ({details})"
        fail(f"{what}: {details} [{code.name if code else 'error'}]", GRPC_EXIT.get(code, EXIT_ERROR))


@contextmanager
def os_errors(what: str):
    """Turns a failure to read or write a local file into one clear line and exit code 1."""
    try:
        yield
    except OSError as error:
        fail(f"{what}: {error}")


PROGRESS_FROM = 4 * 1024 * 1024  # smaller transfers go by too fast for a progress bar to mean anything


class Meter:
    """What a transfer reports to: call it with the bytes moved since the last call; ``expect(total)`` once the
    size is known (a download learns it from the Svc's first reply).  The bar appears only on a terminal, for a
    transfer of ``PROGRESS_FROM`` bytes or more; otherwise the meter counts and shows nothing."""

    def __init__(self, description: str, on: Console, minimum: int) -> None:
        self.description, self.on, self.minimum = description, on, minimum
        self.moved = 0
        self._progress: Progress | None = None
        self._task = None

    def expect(self, total: int) -> None:
        if self._progress is not None or total < self.minimum or not self.on.is_terminal:
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.on,
            transient=True,
        )
        self._task = self._progress.add_task(self.description, total=total, completed=self.moved)
        self._progress.start()

    def __call__(self, moved: int) -> None:
        self.moved += moved
        if self._progress is not None:
            self._progress.advance(self._task, moved)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def transfer(description: str, total: int | None = None, on: Console | None = None, minimum: int = PROGRESS_FROM):
    """A ``Meter`` for an upload or download, with a progress bar on ``on`` (stderr by default) when it is a
    terminal and the transfer is large; ``total`` None until the meter is told (``Meter.expect``)."""
    meter = Meter(description, on or console, minimum)
    if total is not None:
        meter.expect(total)
    try:
        yield meter
    finally:
        meter.close()


def counts_table(counts: list[tuple[str, int]]) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("keyword")
    table.add_column("count", justify="right")
    for keyword, count in counts:
        table.add_row(keyword, str(count), style=None if count else "dim")
    return table


def echo(text: str) -> None:
    click.echo(text)
