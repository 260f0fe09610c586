"""Tesseract as a process: it dies with the process (and thread) that started it, even on SIGKILL,
its owner can stop it from another thread, and its failures read as pytesseract's did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytesseract
import pytest
from PIL import Image

from marking import OcrTimeout, OcrUnavailable, read_words, tesseract
from marking.tesseract import OcrStopped, TesseractRuns
from tests.marking.slow_tesseract import SlowTesseract, slow_tesseract
from tests.polling import finishes
from tests.processes import wait_gone

ROOT = Path(__file__).resolve().parents[2]
PAGE = Image.new("RGB", (200, 100), "white")  # room for a line of text: Tesseract is run on it
GONE_WITHIN = 30.0  # failure bound for a killed process to be gone


@pytest.fixture
def slow(tmp_path, monkeypatch) -> Iterator[SlowTesseract]:
    with slow_tesseract(tmp_path / "slow-tesseract") as tesseract:
        monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tesseract.path))
        yield tesseract


def read_in_thread(runs: TesseractRuns, timeout: float = 600.0) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def read() -> None:
        with runs:
            try:
                outcome["words"] = read_words(PAGE, timeout=timeout)
            except Exception as error:  # noqa: BLE001 - for the test to look at
                outcome["error"] = error

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, outcome


def test_stopping_the_runs_kills_tesseract_and_the_read_raises_ocr_stopped(slow):
    runs = TesseractRuns()
    thread, outcome = read_in_thread(runs)
    pid = slow.running()

    runs.stop()

    finishes(lambda: thread.join(), GONE_WITHIN, "the read to end")
    assert isinstance(outcome.get("error"), OcrStopped), outcome
    assert wait_gone(pid, GONE_WITHIN)


def test_a_read_after_the_runs_were_stopped_starts_no_tesseract(slow):
    runs = TesseractRuns()
    runs.stop()
    with runs, pytest.raises(OcrStopped):
        read_words(PAGE)
    assert slow.pids() == []


def test_tesseract_runs_in_a_process_group_of_its_own_so_a_ctrl_c_does_not_reach_it(slow):
    runs = TesseractRuns()
    thread, _ = read_in_thread(runs)
    pid = slow.running()
    try:
        group = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
        assert group == pid != os.getpgrp()
    finally:
        runs.stop()
        finishes(lambda: thread.join(), GONE_WITHIN, "the read to end")


def test_stopping_the_runs_kills_what_a_tesseract_wrapper_forked(tmp_path, slow, monkeypatch):
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(f'#!/bin/sh\ncase "$1" in --version) exec {slow.path} --version ;; esac\n{slow.path} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(wrapper))
    runs = TesseractRuns()
    thread, outcome = read_in_thread(runs)
    pid = slow.running()  # the wrapper's child, not the wrapper

    runs.stop()

    finishes(lambda: thread.join(), GONE_WITHIN, "the read to end")
    assert isinstance(outcome.get("error"), OcrStopped), outcome
    assert wait_gone(pid, GONE_WITHIN)


def test_tesseract_out_of_time_is_killed_and_the_read_is_an_ocr_timeout(slow):
    with pytest.raises(OcrTimeout, match=r"^Tesseract did not finish reading this photo in 0\.2 s and was stopped$"):
        read_words(PAGE, timeout=0.2)
    (pid,) = slow.pids()
    assert wait_gone(pid, GONE_WITHIN)


def test_tesseract_not_found_at_its_configured_path_is_still_unavailable(monkeypatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(pytesseract.TesseractNotFoundError):
        tesseract.run(["/nonexistent/tesseract", "in.png", "out"], 5.0)
    with pytest.raises(OcrUnavailable, match="^Tesseract cannot be run on this worker: "):
        read_words(PAGE)


def test_tesseract_dies_when_the_process_that_started_it_is_killed(slow):
    """SIGKILL leaves the process no chance to clean up: the parent-death signal does it."""
    code = (
        "import pytesseract, sys\n"
        "from PIL import Image\n"
        "from marking import read_words\n"
        f"pytesseract.pytesseract.tesseract_cmd = {str(slow.path)!r}\n"
        "read_words(Image.new('RGB', (200, 100), 'white'), timeout=600)\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pid = slow.running()
        reader.kill()
        reader.wait(timeout=GONE_WITHIN)
        assert wait_gone(pid, GONE_WITHIN), "tesseract still runs after its worker was killed"
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()


def test_tesseract_dies_when_the_thread_that_started_it_ends(slow):
    """The parent-death signal follows the thread that forked: a Marker's marking thread waits for
    its Tesseract, so this only happens when that thread is killed with the process; here a thread
    that starts Tesseract and returns without waiting for it to end shows the rule.  (It returns once
    Tesseract runs: the signal is asked for between start and exec, and a parent that is already gone
    by then is not watched.)"""
    started: dict = {}

    def start_only() -> None:
        started["process"] = tesseract._popen([str(slow.path), "in.png", "out"])
        slow.running()

    thread = threading.Thread(target=start_only)
    thread.start()
    thread.join()

    status = finishes(lambda: started["process"].wait(), GONE_WITHIN, "tesseract to end")
    assert status == -signal.SIGKILL
