"""One-shot client commands against a running cluster: upload, status, download."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli import output
from cli.roles.config import DEFAULT_REGISTER
from gateways.rpc.client import STATE_NAMES, PhotoClient

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


def connect(register_address: str, svc_address: str | None, wait: float = 5.0) -> PhotoClient:
    with output.rpc_errors(f"asking the Register at {register_address} for a Svc"):
        return PhotoClient(svc_address) if svc_address else PhotoClient.via_register(register_address, wait=wait)


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
    help="After uploading, wait this long for the photo to be marked and print its counts.",
)
def upload(photo: Path, keywords, register_address, svc_address, wait) -> None:
    """Upload PHOTO with keywords to mark; prints its id (32 hex digits) on stdout."""
    client = connect(register_address, svc_address)
    photo_id = upload_photo(client, photo, keywords)
    output.echo(photo_id)
    if wait:
        with output.rpc_errors(f"waiting for {photo_id}"):
            reply = client.wait(photo_id, wait)
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
    help="Wait up to this long for the photo to leave PROCESSING.",
)
def status(photo_id, register_address, svc_address, wait) -> None:
    """Print where photo ID stands: READY (with counts), PROCESSING, FAILED (with the reason).

    Exit codes: 0 READY or PROCESSING, 1 FAILED, 2 malformed id, 3 no such photo, 5 unreachable.
    """
    client = connect(register_address, svc_address)
    with output.rpc_errors(f"asking for {photo_id}"):
        reply = client.wait(photo_id, wait) if wait else client.status(photo_id)
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
    help="Wait up to this long for the photo to be marked before downloading.",
)
def download(photo_id, out, report, register_address, svc_address, wait) -> None:
    """Download the marked photo (or its report) of photo ID.

    Exit codes: 0 written, 1 FAILED, 2 malformed id, 3 no such photo, 4 still PROCESSING, 5 unreachable.
    """
    client = connect(register_address, svc_address)
    if wait:
        with output.rpc_errors(f"waiting for {photo_id}"):
            client.wait(photo_id, wait)
    out = out or Path(f"{photo_id}_marks.{'json' if report else 'png'}")
    download_to(client, photo_id, out, report)
    output.echo(str(out))
