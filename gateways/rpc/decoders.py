"""The upload's decode check, in processes of its own, each reached through a pipe.

The check is the worker's full decode (``actors.upload_validation.check_photo_path``).
It holds every pixel (a 50 MB photo is some 50 MB of pixels): in a process of its
own, that memory is not the Svc's and is given back when the check ends; a hostile
file that crashes Pillow costs that process and not the Svc; and decodes run
beside the Svc's event loop on every core.

Each decoder is one long-lived process (started with ``spawn``: a fork of a
process running gRPC's threads is not safe) serving one check at a time over its
own pipe, in one of two ways:

* ``check``: the Svc sends the path of the whole photo and the limits, the
  decoder answers ``(ext, width, height)`` or the reason it refuses.  It blocks,
  so it runs on an I/O thread with the rest of the upload's tail: two messages on
  a pipe, where a process pool costs a feeder and a manager thread besides, and
  their wake-ups on every check.
* ``follow``: for a big photo, the decode overlaps the transfer.  The decoder
  opens the file while it is still being written and decodes as far as the bytes
  go; each write tells it how many bytes the file now holds (``more``), and
  Pillow's reads past them wait for the next word.  ``end`` gives the final count
  and waits for the answer, which is then mostly ready.  A follower holds its
  decoder for the whole transfer, so at most ``processes - 1`` follow at once: a
  slow client never keeps the tails of other uploads waiting for a decoder.

Faults: a decoder that dies mid-check (Pillow crashed, the OOM killer, a SIGKILL)
is seen as the end of its pipe; the check fails with "the decoder crashed on it"
and a new process takes its place.  A check that takes longer than
``check_timeout`` (a decode that never ends, a path that blocks) kills its
decoder the same way and fails with the time it took.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import os
import queue
import threading
from multiprocessing.connection import Connection
from typing import Any

from actors.upload_validation import BadUpload, Limits, TooLarge, check_photo_path, check_photo_stream

PROCESSES = min(os.cpu_count() or 2, 4)
CHECK_TIMEOUT = 300.0  # seconds: a decode of the largest photo allowed takes a few
STOP_WITHIN = 5.0


class SvcGone(BaseException):
    """The Svc's end of the pipe closed mid-check: the decoder ends.  A BaseException, so that Pillow's
    handlers of its own errors (``except Exception``) do not turn it into a refusal of the photo."""


class GrowingFile(io.RawIOBase):
    """The decoder's view of a file still being written: reads go as far as the bytes the Svc has said are
    there, and past them wait for its next word on the pipe (``("more", size)`` or ``("end", size)``)."""

    def __init__(self, connection: Connection) -> None:
        self.connection, self.size, self.ended = connection, 0, False
        self.file: io.BufferedReader | None = None

    def open(self, path: str) -> None:
        self.file = open(path, "rb")  # noqa: SIM115 - closed with this object

    def wait(self) -> None:
        try:
            kind, self.size = self.connection.recv()
        except (EOFError, OSError) as error:
            raise SvcGone from error
        self.ended = kind == "end"

    def drain(self) -> None:
        """Takes the Svc's words until its last (the decode ended before the transfer did)."""
        while not self.ended:
            self.wait()

    def readinto(self, buffer) -> int:
        while self.file.tell() >= self.size and not self.ended:
            self.wait()
        wanted = min(len(buffer), max(self.size - self.file.tell(), 0))
        return self.file.readinto(memoryview(buffer)[:wanted]) if wanted else 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


def _check(request: tuple, connection: Connection) -> tuple[str, int, int]:
    kind, path, limits = request
    if kind == "check":
        return check_photo_path(path, limits)
    with GrowingFile(connection) as growing:
        try:
            growing.open(path)
            return check_photo_stream(io.BufferedReader(growing, 256 * 1024), limits)
        finally:
            growing.drain()  # whatever happened, the Svc's words up to its last are taken: one answer each


def _serve(connection: Connection) -> None:
    """The decoder process: one check per request until the Svc closes its end."""
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", _check(request, connection))
        except SvcGone:
            return
        except TooLarge as error:
            answer = ("too large", str(error))
        except BadUpload as error:
            answer = ("bad", str(error))
        except MemoryError:
            answer = ("too large", "photo too large to decode: out of memory")
        except Exception as error:  # noqa: BLE001 - reported to the Svc, which refuses the photo
            answer = ("bad", f"not a decodable image: {type(error).__name__}: {error}")
        try:
            connection.send(answer)
        except (BrokenPipeError, OSError):
            return


class Decoder:
    """One decoder process and the Svc's end of its pipe."""

    def __init__(self, context: Any) -> None:
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs,), name="photomark-decoder", daemon=True)
        self.process.start()
        theirs.close()  # ours alone now: the pipe ends when the process does

    def send(self, message: tuple) -> None:
        """``Dead`` when the decoder has died."""
        try:
            self.connection.send(message)
        except OSError as error:
            raise Dead("not a decodable image: the decoder crashed on it") from error

    def check(self, path: str, limits: Limits, timeout: float) -> tuple[str, int, int]:
        """The decoder's answer; ``Dead`` when it died or did not answer within ``timeout`` seconds."""
        self.send(("check", path, limits))
        return self.answer(timeout)

    def answer(self, timeout: float) -> tuple[str, int, int]:
        try:
            if not self.connection.poll(timeout):
                raise Dead(f"the decode check took over {timeout:.0f} s")
            kind, value = self.connection.recv()
        except (EOFError, OSError) as error:  # the pipe ended: the process is gone
            raise Dead("not a decodable image: the decoder crashed on it") from error
        if kind == "ok":
            return tuple(value)  # type: ignore[return-value]
        raise (TooLarge if kind == "too large" else BadUpload)(value)

    def stop(self) -> None:
        self.connection.close()
        self.process.join(STOP_WITHIN)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class Dead(BadUpload):
    """The decoder died or hung on this photo: the photo is refused, and the decoder replaced."""


class Decoders:
    """A fixed number of decoder processes, shared by the Svcs of one process; each serves one check at a
    time, and a check waits (on its I/O thread) for a free one.  Started at ``warm`` or the first check."""

    def __init__(self, processes: int = PROCESSES, check_timeout: float = CHECK_TIMEOUT) -> None:
        self.processes, self.check_timeout = processes, check_timeout
        self.context = multiprocessing.get_context("spawn")
        self.idle: queue.SimpleQueue[Decoder] = queue.SimpleQueue()
        self.all: list[Decoder] = []
        self.lock = threading.Lock()
        self.started, self.following = False, 0

    def _start(self) -> None:
        with self.lock:
            if self.started:
                return
            self.started = True
            atexit.register(self.stop)
        for _ in range(self.processes):
            self._add()

    def _add(self) -> None:
        decoder = Decoder(self.context)
        with self.lock:
            self.all.append(decoder)
        self.idle.put(decoder)

    def warm(self) -> None:
        """Start the processes now, in the background, so that the first upload does not wait for Python
        and Pillow to start in them."""
        threading.Thread(target=self._start, name="decoders-start", daemon=True).start()

    def check(self, path: str, limits: Limits) -> tuple[str, int, int]:
        """``check_photo_path(path, limits)`` in a decoder process: blocks until a decoder is free and has
        answered.  Raises ``BadUpload`` (``TooLarge``) as the check does, ``Dead`` when the decoder died."""
        self._start()
        decoder = self.idle.get()
        try:
            result = decoder.check(path, limits, self.check_timeout)
        except Dead:
            self._release(decoder, dead=True)
            raise
        except BaseException:
            self._release(decoder)
            raise
        self._release(decoder)
        return result

    def follow(self, path: str, limits: Limits) -> Follower | None:
        """A decode of the file at ``path`` while it is being written, by a decoder free right now; None
        when none is, or ``processes - 1`` already follow (then the photo is checked whole at its end)."""
        self._start()
        with self.lock:
            if self.following >= self.processes - 1:
                return None
            try:
                decoder = self.idle.get_nowait()
            except queue.Empty:
                return None
            self.following += 1
        return Follower(self, decoder, path, limits)

    def _release(self, decoder: Decoder, dead: bool = False, followed: bool = False) -> None:
        """``decoder`` free again, or replaced by a new process when it died or hung."""
        with self.lock:
            self.following -= followed
            if dead and decoder in self.all:
                self.all.remove(decoder)
        if not dead:
            self.idle.put(decoder)
            return
        decoder.process.kill()
        decoder.stop()
        self._add()

    def stop(self) -> None:
        with self.lock:
            decoders, self.all = self.all, []
        for decoder in decoders:
            decoder.stop()


class Follower:
    """One upload's decode while its file grows (``Decoders.follow``): ``more`` after each write (the file
    flushed), then ``end`` for the answer, or ``abandon`` when the upload failed; either frees the decoder.
    Used by one thread at a time (the upload's writes, then its tail, are in order)."""

    def __init__(self, decoders: Decoders, decoder: Decoder, path: str, limits: Limits) -> None:
        self.decoders, self.decoder = decoders, decoder
        self.dead: Dead | None = None
        self.done = False
        self._send(("follow", path, limits))

    def _send(self, message: tuple) -> None:
        if self.dead is None:
            try:
                self.decoder.send(message)
            except Dead as error:  # raised at ``end``: the photo is refused, as a crash of ``check`` refuses it
                self.dead = error

    def more(self, size: int) -> None:
        """The file now holds ``size`` bytes."""
        self._send(("more", size))

    def end(self, size: int) -> tuple[str, int, int]:
        """The file is whole at ``size`` bytes: the check's answer (or its ``BadUpload``, ``Dead``)."""
        if self.done:
            raise RuntimeError("the follower has ended")
        self.done = True
        self._send(("end", size))
        try:
            if self.dead is not None:
                raise self.dead
            result = self.decoder.answer(self.decoders.check_timeout)
        except Dead:
            self.decoders._release(self.decoder, dead=True, followed=True)
            raise
        except BaseException:
            self.decoders._release(self.decoder, followed=True)
            raise
        self.decoders._release(self.decoder, followed=True)
        return result

    def abandon(self, size: int) -> None:
        """The upload ended without its tail: the decoder is told the file ends at ``size`` and freed once
        it has answered (its answer is moot)."""
        if not self.done:
            with contextlib.suppress(BadUpload):
                self.end(size)


DECODERS = Decoders()
