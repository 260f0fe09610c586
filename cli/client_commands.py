"""One-shot client commands against a running cluster: upload, status, download."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import click
import grpc
from rich.markup import escape

from cli import output
from cli.roles.config import DEFAULT_REGISTER
from gateways.rpc.client import STATE_NAMES, PhotoClient, RegisterClient
from protos import photos_pb2

# A wait whose Svc goes away (stopped, crashed, unreachable) asks the Register for another Svc for this long,
# pausing FIRST_PAUSE, then twice as long each time up to LONGEST_PAUSE; every Svc answers Status for any photo.
FAILOVER_SECONDS = 30.0
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 2.0
REGISTER_TIMEOUT = 5.0
# What a Svc that went away looks like: no connection, a connection dropped, a call cut by its stop.
GONE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED})

register_option = click.option(
    "--register",
    "register_address",
    envvar="PHOTOMARK_REGISTER",
    default=DEFAULT_REGISTER,
    show_default=True,
    show_envvar=True,
    help="ip:port of the Register that hands out a Svc.",
)
svc_option = click.option(
    "--svc",
    "svc_address",
    envvar="PHOTOMARK_SVC",
    default=None,
    show_envvar=True,
    help="ip:port of a Svc to use directly, skipping the Register.",
)
keyword_option = click.option(
    "-w",
    "--word",
    "keywords",
    multiple=True,
    required=True,
    metavar="WORD",
    help="A keyword to mark; repeat for several (up to 100, each up to 100 characters). "
    "A phrase in quotes is found as consecutive words.",
)

failover_option = click.option(
    "--failover",
    type=click.FloatRange(min=0),
    default=FAILOVER_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="While waiting, if the Svc goes away, ask the Register for another Svc (not the one gone) and go on "
    "waiting there, retrying with backoff for up to this long before giving up with exit code 5.",
)


def connect(register_address: str, svc_address: str | None, wait: float = 5.0) -> PhotoClient:
    with output.rpc_errors(f"asking the Register at {register_address} for a Svc"):
        return PhotoClient(svc_address) if svc_address else PhotoClient.via_register(register_address, wait=wait)


def pauses(first: float = FIRST_PAUSE, longest: float = LONGEST_PAUSE) -> Iterator[float]:
    """The pauses between two looks for a Svc: ``first``, then doubling, capped at ``longest``."""
    pause = first
    while True:
        yield pause
        pause = min(pause * 2, longest)


def choose_svc(listed: Iterable[str], gone: set[str]) -> tuple[str | None, set[str]]:
    """The first listed Svc (the Register lists the least loaded first) not seen gone, and the Svcs still to
    avoid: a gone Svc the Register no longer lists is forgotten, so one back later at the same address (a
    restarted Svc, listed again) may be chosen; one still listed is the Register not yet knowing it died."""
    listed = list(listed)
    still_gone = gone & set(listed)
    return next((address for address in listed if address not in still_gone), None), still_gone


def listed_svcs(register_address: str, timeout: float) -> list[str]:
    """The addresses of the Svcs the Register knows, least loaded first."""
    register = RegisterClient(register_address, timeout=timeout)
    try:
        return [f"{svc.address.ip}:{svc.address.port}" for svc in register.list_svcs()]
    finally:
        register.close()


def _describe(error: grpc.RpcError) -> str:
    return f"{error.details()} [{error.code().name}]" if hasattr(error, "code") else str(error)


class SvcsGone(Exception):
    """No Svc answered within the failover time; the message says since when and the last reason."""


class FailoverWait:
    """Waits for a photo to leave PROCESSING on a Svc, and when that Svc goes away (``GONE_CODES``) asks the
    Register for another (``choose_svc``), with backoff (``pauses``), for up to ``failover`` seconds each time
    no Svc answers; the photo's id is known to every Svc.  With ``svc_address`` (no Register) the same Svc is
    tried again for that long, as it may be restarting.  ``on_switch(old, new, why)`` is told of each switch."""

    def __init__(
        self,
        client: PhotoClient,
        register_address: str,
        svc_address: str | None = None,
        failover: float = FAILOVER_SECONDS,
        on_switch: Callable[[str, str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.register_address, self.svc_address = client, register_address, svc_address
        self.failover, self.on_switch, self.clock, self.sleep = failover, on_switch, clock, sleep

    def wait(self, photo_id: str, seconds: float) -> photos_pb2.StatusReply:
        """The photo's status once it left PROCESSING, or when ``seconds`` passed; raises ``SvcsGone``."""
        deadline = self.clock() + seconds
        reply: photos_pb2.StatusReply | None = None
        while True:
            try:
                if reply is None or reply.state == photos_pb2.PROCESSING:
                    reply = self.client.wait(photo_id, max(0.0, deadline - self.clock()))
                return reply
            except grpc.RpcError as error:
                if error.code() not in GONE_CODES:
                    raise
                reply = self._another_svc(photo_id, _describe(error))

    def _another_svc(self, photo_id: str, why: str) -> photos_pb2.StatusReply:
        """Switch to a Svc that answers Status for the photo; its reply.  ``SvcsGone`` past the failover time."""
        lost = self.client.address
        self.client.close()
        gone, give_up = {lost}, self.clock() + self.failover
        for pause in pauses():
            address, gone, why = self._look(gone, why)
            if address is not None:
                client = PhotoClient(address, self.client.timeout)
                try:
                    reply = client.status(photo_id, timeout=max(1.0, give_up - self.clock()))
                except grpc.RpcError as error:
                    client.close()
                    if error.code() not in GONE_CODES:
                        raise
                    gone.add(address)
                    why = f"the Svc at {address}: {_describe(error)}"
                else:
                    if self.on_switch:
                        self.on_switch(lost, address, why)
                    self.client = client
                    return reply
            if self.clock() + pause > give_up:
                raise SvcsGone(f"no Svc answered within {self.failover:g} s after {lost} went away (last: {why})")
            self.sleep(pause)
        raise AssertionError("pauses() never ends")

    def _look(self, gone: set[str], why: str) -> tuple[str | None, set[str], str]:
        """(a Svc to try or None, the Svcs still to avoid, the reason to give if none answers)."""
        if self.svc_address:
            return self.svc_address, gone, why  # no Register to ask: the same Svc, which may be restarting
        try:
            listed = listed_svcs(self.register_address, timeout=REGISTER_TIMEOUT)
        except grpc.RpcError as error:  # the Register may be restarting too: ask again after the pause
            return None, gone, f"the Register at {self.register_address}: {_describe(error)}"
        address, gone = choose_svc(listed, gone)
        if address is None:
            why = f"the Register lists only {', '.join(listed)}" if listed else "the Register lists no Svc"
        return address, gone, why


def say_switch(lost: str, found: str, why: str) -> None:
    line = escape(f"the Svc at {lost} went away ({why}); waiting on {found}")
    output.console.print(f"[yellow]{line}[/]", highlight=False, soft_wrap=True)


def wait_for(
    client: PhotoClient, photo_id: str, seconds: float, register_address: str, svc_address: str | None, failover: float
) -> tuple[PhotoClient, photos_pb2.StatusReply]:
    """Waits up to ``seconds`` for the photo to leave PROCESSING, on another Svc if the first goes away
    (``FailoverWait``); the client of the Svc that answered last, and its reply."""
    waiter = FailoverWait(client, register_address, svc_address, failover, on_switch=say_switch)
    with output.rpc_errors(f"waiting for {photo_id}"):
        try:
            reply = waiter.wait(photo_id, seconds)
        except SvcsGone as error:
            output.fail(f"waiting for {photo_id}: {error} [UNAVAILABLE]", output.EXIT_UNAVAILABLE)
    return waiter.client, reply


def upload_photo(client: PhotoClient, photo: Path, keywords: tuple[str, ...]) -> str:
    """Uploads PHOTO streamed from disk, with a progress bar when it is large and stderr is a terminal."""
    with output.rpc_errors(f"uploading {photo}"), output.os_errors(f"reading {photo}"):
        with output.transfer(f"uploading {photo.name}", photo.stat().st_size) as meter:
            return client.upload_file(photo, list(keywords), progress=meter)


def download_to(client: PhotoClient, photo_id: str, out: Path, report: bool = False) -> None:
    """Streams the photo's marks (or report) into OUT, which appears whole or not at all."""
    with output.rpc_errors(f"downloading {photo_id}"), output.os_errors(f"writing {out}"):
        with output.transfer(f"downloading {out.name}") as meter:
            result = client.download_to(photo_id, out, report=report, on_size=meter.expect, progress=meter)
    if result.state != "READY":
        code = {"NOT_FOUND": output.EXIT_NOT_FOUND, "PROCESSING": output.EXIT_NOT_READY}.get(
            result.state, output.EXIT_ERROR
        )
        output.fail(f"{photo_id} is {result.state}: {result.message}", code)


def print_status(reply) -> None:
    output.echo(f"{reply.id} {STATE_NAMES[reply.state]} {reply.message}".rstrip())
    if reply.counts:
        output.stdout.print(output.counts_table([(c.keyword, c.count) for c in reply.counts]))


@click.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@keyword_option
@register_option
@svc_option
@click.option(
    "--wait",
    type=float,
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="After uploading, wait this long for the photo to be marked and print its counts; on another Svc "
    "if this one goes away meanwhile (see --failover).",
)
@failover_option
def upload(photo: Path, keywords, register_address, svc_address, wait, failover) -> None:
    """Upload PHOTO with keywords to mark; prints its id (32 hex digits) on stdout.

    With --wait, a Svc that goes away while the command waits is replaced by another one the Register lists
    (for up to --failover seconds; then exit code 5): every Svc answers for every photo.
    """
    client = connect(register_address, svc_address)
    photo_id = upload_photo(client, photo, keywords)
    output.echo(photo_id)
    if wait:
        client, reply = wait_for(client, photo_id, wait, register_address, svc_address, failover)
        print_status(reply)


@click.command()
@click.argument("photo_id", metavar="ID")
@register_option
@svc_option
@click.option(
    "--wait",
    type=float,
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait up to this long for the photo to leave PROCESSING; on another Svc if this one goes away "
    "meanwhile (see --failover).",
)
@failover_option
def status(photo_id, register_address, svc_address, wait, failover) -> None:
    """Print where photo ID stands: READY (with counts), PROCESSING, FAILED (with the reason).

    Exit codes: 0 READY or PROCESSING, 1 FAILED, 2 malformed id, 3 no such photo, 5 unreachable.
    """
    client = connect(register_address, svc_address)
    if wait:
        client, reply = wait_for(client, photo_id, wait, register_address, svc_address, failover)
    else:
        with output.rpc_errors(f"asking for {photo_id}"):
            reply = client.status(photo_id)
    print_status(reply)
    if STATE_NAMES[reply.state] == "FAILED":
        sys.exit(output.EXIT_ERROR)


@click.command()
@click.argument("photo_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the marked photo [default: ID_marks.png, or ID_marks.json with --report].",
)
@click.option("--report", is_flag=True, help="Download the JSON report instead of the marked photo.")
@register_option
@svc_option
@click.option(
    "--wait",
    type=float,
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait up to this long for the photo to be marked before downloading; on another Svc if this one "
    "goes away meanwhile (see --failover).",
)
@failover_option
def download(photo_id, out, report, register_address, svc_address, wait, failover) -> None:
    """Download the marked photo (or its report) of photo ID.

    Exit codes: 0 written, 1 FAILED, 2 malformed id, 3 no such photo, 4 still PROCESSING, 5 unreachable.
    """
    client = connect(register_address, svc_address)
    if wait:
        client, _ = wait_for(client, photo_id, wait, register_address, svc_address, failover)
    out = out or Path(f"{photo_id}_marks.{'json' if report else 'png'}")
    download_to(client, photo_id, out, report)
    output.echo(str(out))
