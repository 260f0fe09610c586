"""One Tesseract run as a process that dies with its worker and that its owner can stop.

``pytesseract.image_to_data`` starts Tesseract with a plain ``subprocess.Popen`` that
nothing outside can reach: a worker that stops must wait for it, and a worker killed
with SIGKILL leaves it running for minutes.  ``image_to_data`` here takes the same
steps with pytesseract's own pieces (its temporary files, its command line, its TSV
parsing, its errors), so a failure reads exactly as it did through pytesseract
(``ocr.ocr_error`` turns it into the photo's or the machine's fault), but starts the
process itself:

* Tesseract dies with the process that started it, even on SIGKILL: it is started
  through ``setpriv --pdeathsig KILL``, which asks Linux for SIGKILL when its parent
  goes (``PR_SET_PDEATHSIG``, kept across exec, so it holds for any ``tesseract_cmd``,
  wrapped or not).  Linux
  sends it when the *thread* that started the child ends, not only the process:
  Tesseract must be started from a thread that waits for it, as ``run`` does (a
  Marker's marking thread lives until its Tesseract is done, and a Marker that stops
  must not leave OCR running anyway).  What a wrapper script forks (rather than
  execs) does not inherit the signal; ``TesseractRuns.stop`` still reaches it.
* Tesseract runs in a process group of its own: a Ctrl-C at the terminal reaches
  photomark, which stops its markers, not Tesseract (killed by the terminal, it would
  fail its photo as a crash).
* ``TesseractRuns``: the runs started inside ``with runs:`` (in that thread) are
  registered there, and ``runs.stop()``, called from any thread, kills their process
  groups; such a run raises ``OcrStopped``, and so does every later one.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading

import pytesseract
from PIL import Image
from pytesseract import pytesseract as _pt

from marking.char_choices import parse_hocr

_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


class OcrStopped(RuntimeError):
    """Tesseract was killed because its owner is stopping (a Marker's stop): the photo was not
    read, which is neither the photo's fault nor the machine's."""


class TesseractRuns:
    """The Tesseract processes started inside ``with runs:`` (in the entering thread's context),
    so another thread can kill them with ``stop()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopped = False
        self._tokens: list[contextvars.Token] = []

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Kill every Tesseract running in these runs, and refuse to start any more."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for process in running:
            _kill_group(process)

    def start(self, args: list[str]) -> subprocess.Popen:
        """Start ``args`` as a registered run; raises ``OcrStopped`` once stopped."""
        with self._lock:  # a stop comes before this start, or finds the process registered
            if self._stopped:
                raise OcrStopped("Tesseract was not started: OCR is stopping")
            process = _popen(args)
            self._running.add(process)
        return process

    def finished(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._running.discard(process)

    def __enter__(self) -> TesseractRuns:
        self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(self, *exc_info) -> None:
        _CURRENT.reset(self._tokens.pop())


_CURRENT: contextvars.ContextVar[TesseractRuns | None] = contextvars.ContextVar("tesseract_runs", default=None)


def image_to_data(image: Image.Image, lang: str, config: str, timeout: float) -> dict:
    """What ``pytesseract.image_to_data(image, lang, config, output_type=DICT, timeout=timeout)``
    returns (and, when ``config`` asks for ``lstm_choice_mode``, each word's character
    choices from the hOCR Tesseract writes in the same run, under ``"choices"``:
    ``char_choices.parse_hocr``), and raises what it raises (``TesseractError``, ``TesseractNotFoundError``, the
    ``RuntimeError`` of a timeout, ``SystemExit`` for a Tesseract that cannot say its version),
    with the process started as this module's docstring says; ``OcrStopped`` when it was
    stopped (``TesseractRuns.stop``)."""
    if pytesseract.get_tesseract_version(cached=True) < _pt.TESSERACT_MIN_VERSION:
        raise _pt.TSVNotSupported()
    choices = "lstm_choice_mode" in config
    config = f"-c tessedit_create_tsv=1 {'-c tessedit_create_hocr=1 ' if choices else ''}{config.strip()}"
    with _pt.save(image) as (temp_name, input_filename):
        run([_pt.tesseract_cmd, input_filename, temp_name, "-l", lang, *shlex.split(config)], timeout)
        with open(f"{temp_name}{os.extsep}tsv", "rb") as output:
            tsv = output.read().decode(_pt.DEFAULT_ENCODING)
        hocr = ""
        if choices:  # without it the words are still read, only without their second guesses
            with contextlib.suppress(FileNotFoundError), open(f"{temp_name}{os.extsep}hocr", "rb") as output:
                hocr = output.read().decode("utf-8", errors="replace")
    data = _pt.file_to_dict(tsv, "\t", -1)
    if choices:
        data["choices"] = parse_hocr(hocr)
    return data


def run(args: list[str], timeout: float) -> None:
    """Run Tesseract (``args``) and wait for it, at most ``timeout`` seconds (then it is
    killed: ``RuntimeError('Tesseract process timeout')``, pytesseract's words)."""
    runs = _CURRENT.get()
    try:
        process = runs.start(args) if runs is not None else _popen(args)
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise _pt.TesseractNotFoundError() from None
        raise
    try:
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            raise RuntimeError("Tesseract process timeout") from None
        except BaseException:
            _kill_group(process)
            process.communicate()
            raise
    finally:
        if runs is not None:
            runs.finished(process)
    if runs is not None and runs.stopped and process.returncode != 0:
        raise OcrStopped("Tesseract was stopped: OCR is stopping")
    if process.returncode:
        raise _pt.TesseractError(process.returncode, _pt.get_errors(stderr))


def _popen(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        _dying_with_parent(args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ,
        process_group=0,
    )


def _dying_with_parent(args: list[str]) -> list[str]:
    """``args`` run through ``setpriv --pdeathsig KILL`` (util-linux), which asks Linux for the
    parent-death signal and then execs Tesseract, which keeps it.  Not a ``preexec_fn``: that would
    make Python fork the whole process (instead of vfork and exec), and in a process with gRPC's
    threads the forked child runs gRPC's fork handlers and can abort before it ever execs.  Without
    ``setpriv`` (not Linux) Tesseract runs plainly: a stop still kills it, a SIGKILL of the worker
    does not.  A Tesseract that does not exist is ENOENT here, as it would be from ``Popen``."""
    if _SETPRIV is None:
        return args
    if shutil.which(args[0]) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), args[0])
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *args]


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the process group of ``process`` (Tesseract, and what a wrapper of it forked),
    unless it was reaped already (its pid may be another's by now)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
