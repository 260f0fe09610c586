"""``photomark spread-daemon``: its Unix socket (default ``/tmp/PORT``, removed on exit) and its bound on
a silent client's queue (``--max-session-messages``, Spread's MaxSessionMessages)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import spread.daemon
from cli.main import cli
from cli.roles.embedded import free_port
from spread.address import unix_socket_path
from spread.client import SpreadClient
from spread.constants import MAX_SESSION_MESSAGES
from spread.unix_socket import unix_socket_answers
from tests.polling import eventually
from tests.processes import wait_gone

ROOT = Path(__file__).resolve().parents[2]
CLEAN = {  # the command's settings from this process's environment, if any, left out
    f"PHOTOMARK_SPREAD_{name}": None for name in ("HOST", "PORT", "NAME", "UNIX_SOCKET", "MAX_SESSION_MESSAGES")
}


@pytest.fixture
def recorded(monkeypatch):
    """What the command hands the daemon, the daemon itself not run."""
    calls = []
    monkeypatch.setattr(spread.daemon, "main", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def test_by_default_the_unix_socket_is_tmp_port_and_the_queue_bound_spreads(recorded):
    result = CliRunner().invoke(cli, ["spread-daemon", "--port", "4803"], env=CLEAN)
    assert result.exit_code == 0, result.output
    assert recorded == [
        (("127.0.0.1", 4803, None), {"max_session_messages": MAX_SESSION_MESSAGES, "unix_socket": "/tmp/4803"})
    ]


def test_the_unix_socket_and_the_queue_bound_are_options(recorded):
    args = ["spread-daemon", "--port", "5000", "--unix-socket", "/run/spread.sock", "--max-session-messages", "50"]
    assert CliRunner().invoke(cli, args, env=CLEAN).exit_code == 0
    assert CliRunner().invoke(cli, ["spread-daemon", "--unix-socket", ""], env=CLEAN).exit_code == 0
    assert [call[1] for call in recorded] == [
        {"max_session_messages": 50, "unix_socket": "/run/spread.sock"},
        {"max_session_messages": MAX_SESSION_MESSAGES, "unix_socket": None},  # empty: TCP only
    ]
    assert CliRunner().invoke(cli, ["spread-daemon", "--max-session-messages", "0"], env=CLEAN).exit_code == 2


@pytest.mark.timeout(60)
def test_the_daemon_process_serves_its_unix_socket_and_removes_it_on_sigterm(tmp_path):
    port = free_port()
    path = unix_socket_path(port, str(tmp_path))
    log = (tmp_path / "spread.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PHOTOMARK_LOG_LEVEL": "info", "PHOTOMARK_LOG_JSON": "true"}
    args = ["spread-daemon", "--port", str(port), "--name", "lab", "--unix-socket", path, "--max-session-messages", "7"]
    process = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, stderr=log)
    try:
        eventually(lambda: unix_socket_answers(path), timeout=30, what="the daemon's Unix socket")
        client = SpreadClient(unix_socket_dir=str(tmp_path))
        assert client.connect(str(port), "alice", timeout=5) == "#alice#lab"
        client.disconnect()
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(30) == 0
        assert not os.path.lexists(path)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            wait_gone(process.pid, 10)
            process.wait(10)
        log.close()
    events = [json.loads(line) for line in (tmp_path / "spread.log").read_text().splitlines() if line.startswith("{")]
    listening = [e for e in events if e["event"] == "spread.daemon_listening"]
    assert [(e["unix_socket"], e["max_session_messages"]) for e in listening] == [(path, 7)]
