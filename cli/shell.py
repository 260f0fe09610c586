"""``photomark shell``: an interactive client with history, completion and tables.

Each line is one command (``help`` lists them); ``.`` stands for the last photo id
seen, and ids complete from the ones this session has seen.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import click
import grpc
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import (
    Completer,
    Completion,
    PathCompleter,
    WordCompleter,
)
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, InMemoryHistory
from rich.console import Console
from rich.table import Table

from cli.client_commands import register_option
from cli.output import counts_table, transfer
from gateways.rpc.client import STATE_NAMES, PhotoClient, RegisterClient

HELP = {
    "upload": 'upload PHOTO WORD [WORD ...]   upload a photo; quote a phrase: "due date"',
    "status": "status ID [SECONDS]            where the photo stands; wait up to SECONDS",
    "download": "download ID [FILE]             write the marked photo (default ID_marks.png)",
    "report": "report ID [FILE]               write the JSON report (default ID_marks.json)",
    "svcs": "svcs                           the live Svcs, least loaded first",
    "pending": "pending                        the pending list of the Svc in use",
    "help": "help                           this list",
    "quit": "quit                           leave (Ctrl-D too)",
}


class ShellError(Exception):
    """A command the shell cannot carry out; shown as one line."""


class Shell:
    def __init__(self, register_address: str, console: Console | None = None) -> None:
        self.register_address = register_address
        self.console = console or Console()
        self.ids: list[str] = []
        self._client: PhotoClient | None = None

    @property
    def client(self) -> PhotoClient:
        if self._client is None:
            self._client = PhotoClient.via_register(self.register_address, wait=5)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _id(self, text: str) -> str:
        if text == ".":
            if not self.ids:
                raise ShellError("no photo yet: upload one first")
            return self.ids[-1]
        return text

    def _seen(self, photo_id: str) -> str:
        if photo_id in self.ids:
            self.ids.remove(photo_id)
        self.ids.append(photo_id)
        return photo_id

    def run_line(self, line: str) -> bool:
        """Carries out one line; returns False when the shell should end."""
        try:
            words = shlex.split(line)
        except ValueError as error:
            self.console.print(f"[red]error:[/] {error}")
            return True
        if not words:
            return True
        command, args = words[0].lower(), words[1:]
        if command in ("quit", "exit"):
            return False
        handler: Callable[[list[str]], None] | None = getattr(self, f"do_{command}", None)
        if handler is None:
            self.console.print(f"[red]error:[/] unknown command {command!r}; try help")
            return True
        try:
            handler(args)
        except ShellError as error:
            self.console.print(f"[red]error:[/] {error}")
        except grpc.RpcError as error:
            self.console.print(f"[red]error:[/] {error.details()} [{error.code().name}]")
            if error.code() == grpc.StatusCode.UNAVAILABLE and self._client is not None:
                self._client.close()
                self._client = None  # ask the Register for another Svc next time
        except OSError as error:
            self.console.print(f"[red]error:[/] {error}")
        return True

    def do_help(self, args: list[str]) -> None:
        for text in HELP.values():
            self.console.print(text, highlight=False)

    def do_upload(self, args: list[str]) -> None:
        if len(args) < 2:
            raise ShellError("usage: " + HELP["upload"])
        photo = Path(args[0]).expanduser()
        with transfer(f"uploading {photo.name}", photo.stat().st_size, on=self.console) as meter:
            photo_id = self.client.upload_file(photo, args[1:], progress=meter)
        self.console.print(self._seen(photo_id))

    def do_status(self, args: list[str]) -> None:
        if not args:
            raise ShellError("usage: " + HELP["status"])
        photo_id = self._seen(self._id(args[0]))
        seconds = float(args[1]) if len(args) > 1 else 0.0
        reply = self.client.wait(photo_id, seconds) if seconds else self.client.status(photo_id)
        self.console.print(f"{photo_id} [bold]{STATE_NAMES[reply.state]}[/] {reply.message}", highlight=False)
        if reply.counts:
            self.console.print(counts_table([(c.keyword, c.count) for c in reply.counts]))

    def _download(self, args: list[str], report: bool) -> None:
        if not args:
            raise ShellError("usage: " + HELP["report" if report else "download"])
        photo_id = self._seen(self._id(args[0]))
        out = Path(args[1]) if len(args) > 1 else Path(f"{photo_id}_marks.{'json' if report else 'png'}")
        with transfer(f"downloading {out.name}", on=self.console) as meter:
            result = self.client.download_to(photo_id, out, report=report, on_size=meter.expect, progress=meter)
        if result.state != "READY":
            raise ShellError(f"{photo_id} is {result.state}: {result.message}")
        self.console.print(f"wrote {out} ({result.size} bytes)")

    def do_download(self, args: list[str]) -> None:
        self._download(args, report=False)

    def do_report(self, args: list[str]) -> None:
        self._download(args, report=True)

    def do_svcs(self, args: list[str]) -> None:
        register = RegisterClient(self.register_address)
        try:
            svcs = register.list_svcs()
        finally:
            register.close()
        table = Table("address", "member", "load")
        for svc in svcs:
            table.add_row(f"{svc.address.ip}:{svc.address.port}", svc.name, str(svc.load))
        self.console.print(table)

    def do_pending(self, args: list[str]) -> None:
        reply = self.client.pending()
        self.console.print(
            f"{reply.member} leader={reply.leader} synced={reply.synced} entries={len(reply.entries)}", highlight=False
        )
        for entry in reply.entries[:50]:
            self.console.print(
                f"  {entry.id} {entry.status} attempt {entry.attempts} {entry.reason}".rstrip(), highlight=False
            )


class ShellCompleter(Completer):
    """Commands first; then paths for upload, and the ids seen so far for the rest."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.commands = WordCompleter(list(HELP))
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        before = document.text_before_cursor
        if " " not in before:
            yield from self.commands.get_completions(document, complete_event)
            return
        command, _, rest = before.partition(" ")
        if command == "upload" and " " not in rest:
            yield from self.paths.get_completions(Document(rest), complete_event)
        elif command in ("status", "download", "report") and " " not in rest:
            for photo_id in reversed(self.shell.ids):
                if photo_id.startswith(rest):
                    yield Completion(photo_id, start_position=-len(rest))


def run(shell: Shell, session: PromptSession) -> None:
    shell.console.print("photomark shell: help lists the commands, Ctrl-D leaves", highlight=False)
    while True:
        try:
            line = session.prompt("photomark> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            if not shell.run_line(line):
                break
        except KeyboardInterrupt:  # Ctrl-C stops the command (a transfer leaves no partial file), not the shell
            shell.console.print("interrupted")
    shell.close()


@click.command("shell")
@register_option
@click.option(
    "--history",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path.home() / ".photomark_history",
    show_default=True,
    help="File that keeps the command history between sessions.",
)
def shell_command(register_address: str, history: Path) -> None:
    """An interactive client: upload, status, download and report, with history and completion."""
    try:
        saved = FileHistory(str(history))
    except OSError:
        saved = InMemoryHistory()
    shell = Shell(register_address)
    run(shell, PromptSession(history=saved, completer=ShellCompleter(shell), complete_while_typing=False))
