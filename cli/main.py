"""The ``photomark`` command: every role, the embedded cluster, and the client commands."""

from __future__ import annotations

import click

from cli import logs
from cli.client_commands import download, status, upload
from cli.cluster_commands import mark, up
from cli.role_commands import register, spread_daemon, svc, worker
from cli.shell import shell_command
from cli.store_commands import store
from cli.store_role_commands import store_manager, store_node


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--log-level",
    envvar="PHOTOMARK_LOG_LEVEL",
    default="warning",
    show_default=True,
    show_envvar=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Least severe log events shown (on stderr).",
)
@click.option(
    "--log-json/--log-console",
    envvar="PHOTOMARK_LOG_JSON",
    default=None,
    show_envvar=True,
    help="Log as JSON lines or for people [default: people on a terminal, JSON otherwise].",
)
@click.version_option(package_name="photomark")
def cli(log_level: str, log_json: bool | None) -> None:
    """photomark: find keywords in photos with OCR and mark them.

    Every option can also be set by the PHOTOMARK_* variable shown beside it.
    """
    logs.configure(log_level, log_json)


for command in (
    up,
    mark,
    upload,
    status,
    download,
    shell_command,
    register,
    svc,
    worker,
    spread_daemon,
    store,
    store_manager,
    store_node,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="photomark")


if __name__ == "__main__":
    main()
