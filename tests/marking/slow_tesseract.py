"""A Tesseract that never finishes reading, for the tests of stopping OCR.

A shell script that answers ``--version`` like Tesseract 5.3.0 (so pytesseract accepts it),
and otherwise writes its pid to a file and becomes ``sleep`` (``exec``: the pid stays the
one written).  Set it as ``pytesseract.pytesseract.tesseract_cmd``, or put its directory
first on the PATH of a ``photomark`` subprocess.  ``slow_tesseract(directory)`` gives one
and kills, by pid, whatever of it still runs when the test ends.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.polling import eventually
from tests.processes import alive

SCRIPT = """#!/bin/sh
case "$1" in --version) echo "tesseract 5.3.0"; exit 0 ;; esac
echo $$ >> '{pids}'
exec sleep 600
"""


class SlowTesseract:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "tesseract"
        self.pids_file = directory / "tesseract.pids"
        self.path.write_text(SCRIPT.format(pids=self.pids_file))
        self.path.chmod(0o755)

    def pids(self) -> list[int]:
        """The pids of every run started so far (whole lines only: one may be being written)."""
        try:
            text = self.pids_file.read_text()
        except FileNotFoundError:
            return []
        return [int(line) for line in text.split("\n")[:-1] if line.strip()]

    def running(self, timeout: float = 60.0) -> int:
        """The pid of the first run, once it was started and is running."""
        return eventually(lambda: next((p for p in self.pids() if alive(p)), None), timeout, "tesseract to start")

    def kill_leftovers(self) -> None:
        for pid in self.pids():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def slow_tesseract(directory: Path) -> Iterator[SlowTesseract]:
    tesseract = SlowTesseract(directory)
    try:
        yield tesseract
    finally:
        tesseract.kill_leftovers()
