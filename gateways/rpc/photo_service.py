"""The Svc's gRPC face: ``PhotoService`` (Upload, Download, Status, Pending), on gRPC's asyncio server.

Handlers are coroutines on the server's event loop, so a waiting call costs no
thread.  Nothing on the loop blocks:

* a short ask of an actor (``proxy.method().get()``) runs on a small pool of
  threads (``asks``): pykka futures have no callbacks, and awaiting one would
  call ``get()`` on the loop.  The asks are short (a mailbox round trip, a
  stat), so a bounded pool serves any number of calls in turn;
* a long wait never holds a thread: ``Status(wait_ms)`` waits on an asyncio
  future that the Notifier wakes through ``LoopWaker`` (``call_soon_threadsafe``),
  bounded by ``wait_ms``; an upload's confirm is the Uploader's
  ``concurrent.futures.Future``, awaited with ``asyncio.wrap_future``;
* storage I/O (each block written or read) runs on the ``io`` pool, and the
  decode check in processes of its own (``gateways/rpc/decoders.py``).

An upload is streamed (``Incoming``): its first block(s) name the format and
refuse a bomb or a text file at once (``identify``), then every block goes to
the storage's writer (the photo's final name, invisible until committed; and to
a local temporary file unless the writer keeps one), one block in flight while
the next arrives.  When the
last block is in, the upload's tail runs in one trip to the ``io`` pool: the
worker's full decode on that file, in a decoder process, then the commit; only
then is the job queued.  (Every trip between the loop and a thread costs
wake-ups: measured with 16 clients, they were most of a Svc's CPU per upload.)  An upload that is refused, fails, or is
cancelled by its client leaves nothing in storage.

While the Svc stops, its actors go (after its server, but a handler already
running, a long ``Status`` wait above all, outlives the server's grace): a handler
that finds an actor gone answers UNAVAILABLE, "the Svc is stopping", as a client
expects of a server going away, rather than failing with ``ActorDeadError``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from typing import Any

import grpc
import pykka
import structlog

from actors import photo_status
from actors.job import Job
from actors.upload_validation import (
    DEFAULT_LIMITS,
    IDENTIFY_BYTES,
    BadUpload,
    Limits,
    TooLarge,
    check_keywords,
    check_size,
    clean_filename,
    identify,
)
from actors.uploader import JobNotQueued
from gateways.rpc.decoders import DECODERS
from protos import photos_pb2, photos_pb2_grpc
from storage import layout
from storage.backend import READ_BLOCK

log = structlog.get_logger()

BLOCK_SIZE = READ_BLOCK  # downloads go out in blocks of 1 MiB
ASK_TIMEOUT = 120.0
FOLLOW_FROM = 4 * 1024 * 1024  # bytes announced from which the decode follows the transfer
MAX_WAIT_MS = 600_000
ASK_THREADS = 16
IO_THREADS = 16
STOPPING = "the Svc is stopping"
STATES = {
    "READY": photos_pb2.READY,
    "PROCESSING": photos_pb2.PROCESSING,
    "FAILED": photos_pb2.FAILED,
    "NOT_FOUND": photos_pb2.NOT_FOUND,
}


class LoopWaker:
    """What the Notifier sets when a photo leaves PROCESSING: hands the value to ``future`` on its loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> None:
        self.loop, self.future = loop, future

    def set(self, value: str | None) -> None:
        self.loop.call_soon_threadsafe(self._settle, value)  # RuntimeError once the loop closed

    def _settle(self, value: str | None) -> None:
        if not self.future.done():
            self.future.set_result(value)


class Incoming:
    """One upload's bytes on their way to the storage's writer, every block as it comes; nothing of it in
    storage unless ``commit`` ran.  The decode check reads them from ``local_path``: the writer's own file
    when it keeps one on this machine (fs storage), otherwise a local temporary copy written beside it.

    Made on the loop, used on I/O threads: the writer is opened at the first ``write_all`` (so the open and
    the first blocks take one trip to a thread), and an upload refused before it is never opened.  With
    ``follow`` (a big photo), a decoder free at the first write decodes the bytes as they come
    (``decoders.Follower``); otherwise ``check`` decodes them whole at the end."""

    def __init__(self, open_writer: Callable[[], Any], limits: Limits, follow: bool = False) -> None:
        self.open_writer, self.limits, self.follow = open_writer, limits, follow
        self.writer, self.copy, self.follower = None, None, None
        self.written = 0
        self.committed = self.ended = False

    def write_all(self, blocks: list[bytes]) -> None:
        if self.writer is None:
            self.writer = self.open_writer()
            if self.writer.local_path() is None:
                self.copy = tempfile.NamedTemporaryFile(prefix="photomark-upload-")  # noqa: SIM115 - see end()
            if self.follow:
                self.follower = DECODERS.follow(self.local_path(), self.limits)
        for block in blocks:
            self.writer.write(block)
            if self.copy is not None:
                self.copy.write(block)
            self.written += len(block)
        if self.follower is not None and blocks:
            self.local_path()  # flushed, so the decoder may read them
            self.follower.more(self.written)

    def check(self) -> tuple[str, int, int]:
        """The full decode of every byte written (``BadUpload`` when it fails): the follower's answer, or a
        decode of the whole file now."""
        path = self.local_path()
        if self.follower is not None:
            return self.follower.end(self.written)
        return DECODERS.check(path, self.limits)

    def local_path(self) -> str:
        """A local file holding every byte so far."""
        if self.copy is None:
            return self.writer.local_path()
        self.copy.flush()
        return self.copy.name

    def commit(self) -> None:
        self.writer.commit()
        self.committed = True

    def end(self) -> None:
        """Drops what was written unless committed, and the local copy; once."""
        if self.ended:
            return
        self.ended = True
        try:
            if self.follower is not None:
                self.follower.abandon(self.written)
            if self.writer is not None and not self.committed:
                self.writer.abort()
        finally:
            if self.copy is not None:
                self.copy.close()


class PhotoService(photos_pb2_grpc.PhotoServiceServicer):
    def __init__(
        self,
        uploader: pykka.ActorProxy,
        pending: pykka.ActorProxy,
        notifier: pykka.ActorProxy,
        storage: pykka.ActorProxy,
        limits: Limits = DEFAULT_LIMITS,
        leader: pykka.ActorProxy | None = None,
    ) -> None:
        self.uploader, self.pending, self.notifier, self.storage = uploader, pending, notifier, storage
        self.limits, self.leader = limits, leader
        self.asks = concurrent.futures.ThreadPoolExecutor(ASK_THREADS, thread_name_prefix="svc-ask")
        self.io = concurrent.futures.ThreadPoolExecutor(IO_THREADS, thread_name_prefix="svc-io")
        DECODERS.warm()

    def close(self) -> None:
        """The pools go with the server (``GrpcServer`` calls this once the server has stopped)."""
        for pool in (self.asks, self.io):
            pool.shutdown(wait=False, cancel_futures=True)

    async def _ask(self, call: Callable[[], pykka.Future]) -> Any:
        """``call()`` (a proxy call) and its answer, waited for on the ask pool, never on the loop."""
        return await asyncio.get_running_loop().run_in_executor(self.asks, lambda: call().get(timeout=ASK_TIMEOUT))

    async def _on(self, pool: concurrent.futures.Executor, function: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

    # -- Upload -----------------------------------------------------------------------------------------

    async def Upload(self, request_iterator, context):  # noqa: N802 - gRPC's name
        async with _while_running(context):
            try:
                job, size, queued = await self._receive(request_iterator)
            except TooLarge as error:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
            except BadUpload as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            except OSError as error:  # the storage's fault, not the photo's (a store unreachable, a disk full)
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"the photo could not be stored: {error}")
            try:
                photo_id = await asyncio.wrap_future(queued)
            except JobNotQueued as error:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
            except concurrent.futures.CancelledError:  # the Uploader stopped before it began this upload
                self.storage.delete(job.photo)
                raise pykka.ActorDeadError("the uploader stopped") from None
        return photos_pb2.UploadReply(id=photo_id, size=size)

    async def _receive(self, request_iterator) -> tuple[Job, int, concurrent.futures.Future]:
        """Take the upload's stream: header, blocks (stored as they come), checks; the photo committed to
        storage under its final name, its job handed to the Uploader: the job, the bytes received, and the
        Uploader's future of the photo's id."""
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("part") != "header":
            raise BadUpload("an upload starts with a header (filename, keywords), then the photo's blocks")
        header = first.header
        keywords = check_keywords(list(header.keywords))
        check_size(0, header.size, self.limits)
        prefix: list[bytes] = []
        received, incoming, writing = 0, None, None
        try:
            async for request in requests:
                if request.WhichOneof("part") != "block":
                    raise BadUpload("only one header is allowed, before the blocks")
                received += len(request.block)
                check_size(received, 0, self.limits)
                if incoming is None:
                    prefix.append(request.block)
                    if received < IDENTIFY_BYTES:
                        continue
                    ext = identify(b"".join(prefix), self.limits)
                    photo_id, blocks, prefix = layout.new_id(), prefix, []
                    incoming = self._incoming(layout.photo_path(photo_id, ext), header.size)
                else:
                    blocks = [request.block]
                if writing is not None:
                    await asyncio.shield(writing)  # one block in flight: the next one arrives while it is written
                writing = asyncio.ensure_future(self._on(self.io, incoming.write_all, blocks))
            if writing is not None:
                await asyncio.shield(writing)
            if header.size and header.size != received:
                raise BadUpload(f"truncated upload: {received} bytes arrived of the {header.size} announced")
            if received == 0:
                raise BadUpload("empty upload: no photo bytes arrived")
            if incoming is None:  # a photo smaller than IDENTIFY_BYTES: all of it is the prefix
                ext = identify(b"".join(prefix), self.limits, whole=True)
                photo_id = layout.new_id()
                incoming = self._incoming(layout.photo_path(photo_id, ext), header.size)
            photo = layout.photo_path(photo_id, ext)
            job = Job(photo_id, photo, keywords, clean_filename(header.filename, ext), time.time())
            writing = asyncio.ensure_future(self._on(self.io, self._finish, incoming, prefix, job))
            queued = await asyncio.shield(writing)
        finally:
            if incoming is not None:
                self._end(incoming, writing)
        return job, received, queued

    def _finish(self, incoming: Incoming, blocks: list[bytes], job: Job) -> concurrent.futures.Future:
        """The upload's tail, in one trip to an I/O thread: the last ``blocks`` written, the worker's full
        decode of the bytes in a decoder process, the photo committed if it decodes as what it began as, and
        its job handed to the Uploader (whose future of the photo's id is returned)."""
        incoming.write_all(blocks)
        ext = job.photo.rsplit(".", 1)[1]
        decoded_ext = incoming.check()[0]
        if decoded_ext != ext:
            raise BadUpload(f"a photo that begins as {ext} but decodes as {decoded_ext}")
        incoming.commit()
        incoming.end()
        try:
            return self.uploader.queue(job).get(timeout=ASK_TIMEOUT)
        except pykka.ActorDeadError:
            self.storage.delete(job.photo)  # the job was never announced: its photo goes (if storage still can)
            raise

    def _end(self, incoming: Incoming, writing: asyncio.Future | None) -> None:
        """End ``incoming`` on the io pool once the work on its thread is done (``writing``, awaited
        shielded, so a cancelled call does not mark it done while the thread still runs): not awaited, so it
        runs also when the call was cancelled (the client went away) and the coroutine may await nothing
        more.  Nothing to do when the tail ended it."""
        if incoming.ended:
            return

        def end(_: object = None) -> None:
            if writing is not None and not writing.cancelled():
                writing.exception()  # retrieved: it was raised to the handler already, or it is moot
            try:
                asyncio.get_running_loop().run_in_executor(self.io, incoming.end)
            except RuntimeError:  # the pool is shut down (the server stopped): end it here
                incoming.end()

        if writing is not None and not writing.done():
            writing.add_done_callback(end)
        else:
            end()

    def _incoming(self, name: str, size: int) -> Incoming:
        """The upload's bytes on their way to object ``name`` (opened on an I/O thread at the first write),
        decoded as they come when it announced ``FOLLOW_FROM`` bytes or more."""
        return Incoming(
            lambda: self.storage.open_writer(name, size or None).get(timeout=ASK_TIMEOUT),
            self.limits,
            follow=size >= FOLLOW_FROM,
        )

    # -- Status, Pending ----------------------------------------------------------------------------------

    async def _state(self, photo_id: str) -> tuple[str, str]:
        entry = await self._ask(lambda: self.pending.entry(photo_id))
        report_stored = await self._ask(lambda: self.storage.exists(layout.report_path(photo_id)))
        photo_stored = report_stored or entry is not None
        for ext in layout.EXTENSIONS:
            if photo_stored:
                break
            photo_stored = await self._ask(lambda ext=ext: self.storage.exists(layout.photo_path(photo_id, ext)))
        return photo_status.status_of(entry, photo_stored, report_stored)

    async def _checked_id(self, photo_id: str, context) -> str:
        try:
            return layout.check_id(photo_id)
        except layout.InvalidId as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    async def Status(self, request, context):  # noqa: N802
        photo_id = await self._checked_id(request.id, context)
        async with _while_running(context):
            return await self._status(photo_id, request.wait_ms, context)

    async def _status(self, photo_id: str, wait_ms: int, context):
        state, message = await self._state(photo_id)
        if state == photo_status.PROCESSING and wait_ms:
            state, message = await self._wait(photo_id, min(wait_ms, MAX_WAIT_MS) / 1000)
        if state == photo_status.NOT_FOUND:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no photo with id {photo_id}")
        reply = photos_pb2.StatusReply(id=photo_id, state=STATES[state], message=message)
        if state == photo_status.READY:
            report = json.loads(await self._ask(lambda: self.storage.read(layout.report_path(photo_id))))
            reply.filename = report.get("filename", "")
            for keyword, found in report.get("keywords", {}).items():
                reply.counts.add(keyword=keyword, count=found.get("count", 0))
        return reply

    async def _wait(self, photo_id: str, seconds: float) -> tuple[str, str]:
        """Wait (on an asyncio future, no thread) up to ``seconds`` for the photo to leave PROCESSING.  The
        waker is registered before the status is checked again, so a job done in between is not missed."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        waker = LoopWaker(loop, woken)
        await self._ask(lambda: self.notifier.watch(photo_id, waker))
        try:
            state, message = await self._state(photo_id)
            if state == photo_status.PROCESSING:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken, seconds)
                state, message = await self._state(photo_id)
        finally:
            self.notifier.unwatch(photo_id, waker)  # told, not waited for
        return state, message

    async def Pending(self, request, context):  # noqa: N802
        async with _while_running(context):
            member = await self._ask(self.pending.member)
            synced = await self._ask(self.pending.is_synced)
            version, entries = await self._ask(self.pending.snapshot)
            leading = bool(self.leader and await self._ask(self.leader.is_leading))
        reply = photos_pb2.PendingReply(member=member, leader=leading, synced=synced, version=version)
        for entry in entries:
            reply.entries.add(
                id=entry["id"], status=entry["status"], attempts=entry["attempts"], reason=entry["reason"]
            )
        return reply

    # -- Download -----------------------------------------------------------------------------------------

    async def Download(self, request, context):  # noqa: N802
        photo_id = await self._checked_id(request.id, context)
        async with _while_running(context):
            state, message = await self._state(photo_id)
        if state != photo_status.READY:
            yield photos_pb2.DownloadReply(status=photos_pb2.DownloadStatus(state=STATES[state], message=message))
            if state == photo_status.NOT_FOUND:
                context.set_code(grpc.StatusCode.NOT_FOUND)
                context.set_details(f"no photo with id {photo_id}")
            return
        name = layout.report_path(photo_id) if request.report else layout.marks_path(photo_id)
        async with _while_running(context):
            size = await self._ask(lambda: self.storage.size(name))
            blocks = await self._ask(lambda: self.storage.read_blocks(name, BLOCK_SIZE))
        yield photos_pb2.DownloadReply(
            status=photos_pb2.DownloadStatus(state=photos_pb2.READY, message=message, size=size)
        )
        loop = asyncio.get_running_loop()
        reading = loop.run_in_executor(self.io, next, blocks, None)
        try:
            while (block := await asyncio.shield(reading)) is not None:
                reading = loop.run_in_executor(self.io, next, blocks, None)  # read ahead while this one goes out
                yield photos_pb2.DownloadReply(block=block)
        except OSError as error:
            log.error("download.failed", id=photo_id, error=str(error))
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the photo could not be read: {error}")
        finally:
            reading.add_done_callback(lambda _: _close_after(loop, self.io, reading, blocks))


def _close_after(loop: asyncio.AbstractEventLoop, pool, reading: asyncio.Future, blocks) -> None:
    """Close ``blocks`` on the pool once its last read (``reading``) is done, whatever its outcome."""
    if not reading.cancelled():
        reading.exception()  # retrieved: it was raised to the handler already, or the call ended first
    try:
        loop.run_in_executor(pool, blocks.close)
    except RuntimeError:  # the pool is shut down (the server stopped)
        blocks.close()


@contextlib.asynccontextmanager
async def _while_running(context):
    """Asks of the Svc's actors: one that is gone (the Svc is stopping) ends the call UNAVAILABLE."""
    try:
        yield
    except pykka.ActorDeadError:
        await context.abort(grpc.StatusCode.UNAVAILABLE, STOPPING)
