"""A role stops promptly while Tesseract reads a photo, and leaves no Tesseract behind: ``photomark up``
on SIGTERM, ``photomark mark`` on Ctrl-C, and even ``photomark up`` killed with SIGKILL.

Tesseract is a script that never finishes (``tests/marking/slow_tesseract.py``), first on the PATH of
the ``photomark`` subprocess.  Deadlines are failure bounds (how long a test waits for "it exited"),
not measured times."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from PIL import Image

from cli.roles.embedded import free_port
from gateways.rpc.client import PhotoClient
from tests.marking.slow_tesseract import SlowTesseract, slow_tesseract
from tests.polling import eventually
from tests.processes import wait_gone

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXIT_WITHIN = 30.0  # a role that stops promptly exits well within this; a wedged one (child.stop_timeout) not
GONE_WITHIN = 30.0


@pytest.fixture
def slow(tmp_path) -> Iterator[SlowTesseract]:
    with slow_tesseract(tmp_path / "bin") as tesseract:
        yield tesseract


def page(path: Path) -> Path:
    Image.new("RGB", (200, 100), "white").save(path)  # room for a line: Tesseract is run on it
    return path


def photomark(tmp_path: Path, slow: SlowTesseract, *args: str) -> subprocess.Popen:
    """``photomark ARGS`` with the slow Tesseract first on its PATH, logging at info level (JSON) to a file."""
    env = {
        "PATH": f"{slow.path.parent}:/usr/bin:/bin",
        "PHOTOMARK_LOG_LEVEL": "info",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(tmp_path / "stdout").open("w"),
        stderr=(tmp_path / "stderr").open("w"),
    )


def stop_by_pid(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def exited(process: subprocess.Popen) -> int:
    try:
        return process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"photomark still runs {EXIT_WITHIN} s after it was told to stop")


def errors(log: str) -> list[dict]:
    """The log records at level error or above (the role logs JSON lines)."""
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [record for record in records if record.get("level") in ("error", "critical")]


def up(tmp_path: Path, slow: SlowTesseract) -> tuple[subprocess.Popen, PhotoClient, str]:
    """``photomark up`` with one worker, and a client that uploaded a photo its worker is reading."""
    register = f"127.0.0.1:{free_port()}"
    process = photomark(
        tmp_path, slow, "up", "--group", "memory", "--workers", "1", "--listen", register, "--data", "data"
    )
    stdout = tmp_path / "stdout"
    eventually(lambda: "register listening" in stdout.read_text() or process.poll() is not None, what="the cluster")
    assert process.poll() is None, (tmp_path / "stderr").read_text()
    client = PhotoClient.via_register(register, timeout=30, wait=30)
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(buffer, "PNG")
    return process, client, client.upload(buffer.getvalue(), ["alpha"], filename="page.png")


def test_up_stops_promptly_on_sigterm_while_tesseract_reads_and_leaves_none_running(tmp_path, slow):
    process, client, photo_id = up(tmp_path, slow)
    try:
        pid = slow.running()
        waiting: dict = {}  # a Status long-poll in flight while the Svc stops

        def wait() -> None:
            try:
                waiting["reply"] = client.status(photo_id, wait_ms=120_000)
            except grpc.RpcError as error:
                waiting["error"] = error

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()

        process.send_signal(signal.SIGTERM)

        assert exited(process) == 0, (tmp_path / "stderr").read_text()
        assert wait_gone(pid, GONE_WITHIN), "tesseract still runs after photomark up exited"
        log = (tmp_path / "stderr").read_text()
        assert "marker.marking_stopped" in log  # the marker killed it; it did not wait for it
        assert "child.stop_timeout" not in log and "role.stop_timeout" not in log
        assert "ActorDeadError" not in log and not errors(log), log
        waiter.join(EXIT_WITHIN)
        assert not waiter.is_alive()
        if "error" in waiting:  # the server went first, or the handler found the Svc stopping
            assert waiting["error"].code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    finally:
        client.close()
        stop_by_pid(process)


def test_up_killed_with_sigkill_leaves_no_tesseract_running(tmp_path, slow):
    process, client, _ = up(tmp_path, slow)
    try:
        pid = slow.running()

        process.kill()
        process.wait()

        assert wait_gone(pid, GONE_WITHIN), "tesseract still runs after photomark up was killed"
    finally:
        client.close()
        stop_by_pid(process)


def test_mark_stops_promptly_on_ctrl_c_while_tesseract_reads_and_leaves_none_running(tmp_path, slow):
    photo = page(tmp_path / "page.png")
    process = photomark(tmp_path, slow, "mark", str(photo), "-w", "alpha", "--group", "memory", "--workers", "1")
    try:
        pid = slow.running()

        process.send_signal(signal.SIGINT)

        assert exited(process) != 0
        assert wait_gone(pid, GONE_WITHIN), "tesseract still runs after photomark mark exited"
        log = (tmp_path / "stderr").read_text()
        assert "marker.marking_stopped" in log
        assert "child.stop_timeout" not in log and "ActorDeadError" not in log and not errors(log), log
        assert not (tmp_path / "page_marks.png").exists()
    finally:
        stop_by_pid(process)


# -- the worker's setting ------------------------------------------------------------------------------


def test_the_worker_command_takes_the_ocr_timeout_from_an_option_or_the_environment(monkeypatch):
    from cli import role_commands

    configs = []
    monkeypatch.setattr(role_commands, "worker_specs", lambda config, *args, **kwargs: configs.append(config))
    monkeypatch.setattr(role_commands, "run_role", lambda *args, **kwargs: None)
    runner = CliRunner()

    assert runner.invoke(role_commands.worker, ["--ocr-timeout", "90"]).exit_code == 0
    assert runner.invoke(role_commands.worker, [], env={"PHOTOMARK_OCR_TIMEOUT": "2.5"}).exit_code == 0
    assert runner.invoke(role_commands.worker, []).exit_code == 0
    assert [config.ocr_timeout for config in configs] == [90.0, 2.5, None]  # None: 60 s + 10 s per megapixel

    option = next(p for p in role_commands.worker.params if p.name == "ocr_timeout")
    assert option.opts == ["--ocr-timeout"] and option.envvar == "PHOTOMARK_OCR_TIMEOUT"
    help_text = runner.invoke(role_commands.worker, ["--help"]).output
    assert "--ocr-timeout" in help_text and "PHOTOMARK_OCR_TIMEOUT" in help_text and "megapixel" in help_text
    for bad in ("0", "-3", "soon"):
        refused = runner.invoke(role_commands.worker, ["--ocr-timeout", bad])
        assert refused.exit_code == 2 and "--ocr-timeout" in refused.output
