"""The Svc's gRPC face: ``PhotoService`` (Upload, Download, Status).

Handlers run on gRPC's threads and are the edge where asking actors and waiting
is right.  Checks on an upload run here, before anything is written, so a bad
upload costs the Svc nothing; the Uploader actor does the writing and queueing.

While the Svc stops, its actors go (after its server, but a handler already
running, a long ``Status`` wait above all, outlives the server's grace): a handler
that finds an actor gone answers UNAVAILABLE, "the Svc is stopping", as a client
expects of a server going away, rather than failing with ``ActorDeadError``.
"""

from __future__ import annotations

import contextlib
import json

import grpc
import pykka
import structlog

from actors import photo_status
from actors.upload_validation import DEFAULT_LIMITS, BadUpload, Limits, TooLarge, check_size, validate
from actors.uploader import JobNotQueued
from protos import photos_pb2, photos_pb2_grpc
from storage import layout

log = structlog.get_logger()

BLOCK_SIZE = 256 * 1024
ASK_TIMEOUT = 120.0
STOPPING = "the Svc is stopping"
STATES = {
    "READY": photos_pb2.READY,
    "PROCESSING": photos_pb2.PROCESSING,
    "FAILED": photos_pb2.FAILED,
    "NOT_FOUND": photos_pb2.NOT_FOUND,
}


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

    def Upload(self, request_iterator, context):  # noqa: N802 - gRPC's name
        try:
            first = next(request_iterator, None)
            if first is None or first.WhichOneof("part") != "header":
                raise BadUpload("an upload starts with a header (filename, keywords), then the photo's blocks")
            header = first.header
            check_size(0, header.size, self.limits)
            blocks, received = [], 0
            for request in request_iterator:
                if request.WhichOneof("part") != "block":
                    raise BadUpload("only one header is allowed, before the blocks")
                received += len(request.block)
                check_size(received, 0, self.limits)
                blocks.append(request.block)
            upload = validate(b"".join(blocks), list(header.keywords), header.filename, header.size, self.limits)
        except TooLarge as error:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        except BadUpload as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        try:
            with _while_running(context):
                photo_id = self.uploader.upload(upload).get(timeout=ASK_TIMEOUT)
        except JobNotQueued as error:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
        return photos_pb2.UploadReply(id=photo_id, size=len(upload.data))

    def _state(self, photo_id: str) -> tuple[str, str]:
        entry = self.pending.entry(photo_id).get(timeout=ASK_TIMEOUT)
        report_stored = self.storage.exists(layout.report_path(photo_id)).get(timeout=ASK_TIMEOUT)
        photo_stored = (
            report_stored
            or entry is not None
            or any(
                self.storage.exists(layout.photo_path(photo_id, ext)).get(timeout=ASK_TIMEOUT)
                for ext in layout.EXTENSIONS
            )
        )
        return photo_status.status_of(entry, photo_stored, report_stored)

    def _checked_id(self, photo_id: str, context) -> str:
        try:
            return layout.check_id(photo_id)
        except layout.InvalidId as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    def Status(self, request, context):  # noqa: N802
        photo_id = self._checked_id(request.id, context)
        with _while_running(context):
            return self._status(photo_id, request.wait_ms, context)

    def _status(self, photo_id: str, wait_ms: int, context):
        state, message = self._state(photo_id)
        if state == photo_status.PROCESSING and wait_ms:
            future = pykka.ThreadingFuture()
            self.notifier.watch(photo_id, future).get(timeout=ASK_TIMEOUT)
            try:
                state, message = self._state(photo_id)
                if state == photo_status.PROCESSING:
                    try:
                        future.get(timeout=min(wait_ms, 600_000) / 1000)
                    except pykka.Timeout:
                        pass
                    state, message = self._state(photo_id)
            finally:
                self.notifier.unwatch(photo_id, future)
        if state == photo_status.NOT_FOUND:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no photo with id {photo_id}")
        reply = photos_pb2.StatusReply(id=photo_id, state=STATES[state], message=message)
        if state == photo_status.READY:
            report = json.loads(self.storage.read(layout.report_path(photo_id)).get(timeout=ASK_TIMEOUT))
            reply.filename = report.get("filename", "")
            for keyword, found in report.get("keywords", {}).items():
                reply.counts.add(keyword=keyword, count=found.get("count", 0))
        return reply

    def Pending(self, request, context):  # noqa: N802
        with _while_running(context):
            member, synced, (version, entries) = (
                self.pending.member().get(timeout=ASK_TIMEOUT),
                self.pending.is_synced().get(timeout=ASK_TIMEOUT),
                self.pending.snapshot().get(timeout=ASK_TIMEOUT),
            )
            leading = bool(self.leader and self.leader.is_leading().get(timeout=ASK_TIMEOUT))
        reply = photos_pb2.PendingReply(member=member, leader=leading, synced=synced, version=version)
        for entry in entries:
            reply.entries.add(
                id=entry["id"], status=entry["status"], attempts=entry["attempts"], reason=entry["reason"]
            )
        return reply

    def Download(self, request, context):  # noqa: N802
        photo_id = self._checked_id(request.id, context)
        with _while_running(context):
            state, message = self._state(photo_id)
        if state != photo_status.READY:
            yield photos_pb2.DownloadReply(status=photos_pb2.DownloadStatus(state=STATES[state], message=message))
            if state == photo_status.NOT_FOUND:
                context.set_code(grpc.StatusCode.NOT_FOUND)
                context.set_details(f"no photo with id {photo_id}")
            return
        name = layout.report_path(photo_id) if request.report else layout.marks_path(photo_id)
        with _while_running(context):
            data = self.storage.read(name).get(timeout=ASK_TIMEOUT)
        yield photos_pb2.DownloadReply(
            status=photos_pb2.DownloadStatus(state=photos_pb2.READY, message=message, size=len(data))
        )
        for offset in range(0, len(data), BLOCK_SIZE):
            yield photos_pb2.DownloadReply(block=data[offset : offset + BLOCK_SIZE])


@contextlib.contextmanager
def _while_running(context):
    """Asks of the Svc's actors: one that is gone (the Svc is stopping) ends the call UNAVAILABLE."""
    try:
        yield
    except pykka.ActorDeadError:
        context.abort(grpc.StatusCode.UNAVAILABLE, STOPPING)
