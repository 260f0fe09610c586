"""Clients of the Register and of a Svc, for the command line and the tests.

Transfers stream, never holding a photo whole: ``upload_file`` reads the photo from disk a block at a
time (the header announces the file's size), and ``download_to`` writes the blocks as they arrive to a
temporary file beside the target, renamed over it only once every announced byte is there, so a failed
or interrupted download (an error, a server gone, Ctrl-C) leaves the target as it was and no partial file.
``upload`` (bytes) and ``download`` (into memory) remain for small payloads and the tests.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc

from protos import channels, photos_pb2, photos_pb2_grpc, register_pb2, register_pb2_grpc

BLOCK_SIZE = 256 * 1024  # the proto asks for 64 KiB to 1 MiB per block
Progress = Callable[[int], None]  # called with the bytes moved since the last call
STATE_NAMES = {value: name for name, value in photos_pb2.State.items()}


def _channel(address: str) -> grpc.Channel:
    return channels.insecure_channel(address)


class RegisterClient:
    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.address, self.timeout = address, timeout
        self.channel = _channel(address)
        self.stub = register_pb2_grpc.RegisterStub(self.channel)

    def get_svc(self, wait: float = 0.0) -> str:
        """The address of the least-loaded live Svc; waits up to ``wait`` seconds for one to appear."""
        deadline = time.monotonic() + wait
        while True:
            try:
                info = self.stub.GetSvc(register_pb2.GetSvcRequest(), timeout=self.timeout)
                return f"{info.ip}:{info.port}"
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def list_svcs(self) -> list[register_pb2.SvcInfo]:
        return list(self.stub.ListSvcs(register_pb2.ListSvcsRequest(), timeout=self.timeout).svcs)

    def close(self) -> None:
        self.channel.close()


@dataclass(frozen=True)
class Download:
    state: str  # READY, PROCESSING, FAILED, NOT_FOUND
    message: str
    data: bytes = b""  # from ``download`` only; ``download_to`` leaves the bytes in the file
    size: int = 0  # bytes received when READY


class IncompleteDownload(OSError):
    """The stream ended with fewer (or more) bytes than its status announced."""


def _counted(blocks: Iterable[bytes], progress: Progress | None) -> Iterator[bytes]:
    """``blocks`` unchanged, reporting each one to ``progress`` once it was handed on."""
    for block in blocks:
        yield block
        if progress is not None:
            progress(len(block))


def _file_blocks(file: BinaryIO, size: int, block_size: int) -> Iterator[bytes]:
    """At most ``size`` bytes of ``file`` in blocks: a file that grew since its size was taken sends what was
    announced, one that shrank sends less (which the Svc refuses as truncated)."""
    left = size
    while left > 0 and (block := file.read(min(block_size, left))):
        left -= len(block)
        yield block


def partial_path(target: Path) -> Path:
    """A fresh hidden name beside ``target`` for a download in progress (same directory, so the rename is atomic)."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")


class PhotoClient:
    def __init__(self, address: str, timeout: float = 300.0) -> None:
        self.address, self.timeout = address, timeout
        self.channel = _channel(address)
        self.stub = photos_pb2_grpc.PhotoServiceStub(self.channel)

    @classmethod
    def via_register(cls, register_address: str, timeout: float = 300.0, wait: float = 0.0) -> PhotoClient:
        register = RegisterClient(register_address)
        try:
            return cls(register.get_svc(wait), timeout)
        finally:
            register.close()

    # -- upload --

    def upload(
        self,
        data: bytes,
        keywords: list[str],
        filename: str = "",
        content_type: str = "",
        progress: Progress | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> str:
        """Uploads photo bytes held in memory; ``upload_file`` streams a photo from disk."""
        size = len(data)
        header = photos_pb2.UploadHeader(filename=filename, keywords=keywords, content_type=content_type, size=size)
        blocks = (data[offset : offset + block_size] for offset in range(0, size, block_size))
        return self._upload(header, blocks, progress)

    def upload_file(
        self,
        path: str | os.PathLike[str],
        keywords: list[str],
        filename: str | None = None,
        content_type: str | None = None,
        progress: Progress | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> str:
        """Uploads the photo at ``path``, read and sent a block at a time; returns its id.

        ``filename`` defaults to the file's name, ``content_type`` to the one its extension suggests."""
        path = Path(path)
        if content_type is None:
            content_type = mimetypes.guess_type(path.name)[0] or ""
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            header = photos_pb2.UploadHeader(
                filename=path.name if filename is None else filename,
                keywords=keywords,
                content_type=content_type,
                size=size,
            )
            return self._upload(header, _file_blocks(file, size, block_size), progress)

    def _upload(self, header: photos_pb2.UploadHeader, blocks: Iterable[bytes], progress: Progress | None) -> str:
        failed: list[BaseException] = []

        def requests() -> Iterator[photos_pb2.UploadRequest]:
            try:
                yield photos_pb2.UploadRequest(header=header)
                for block in _counted(blocks, progress):
                    yield photos_pb2.UploadRequest(block=block)
            except Exception as error:  # gRPC would only say CANCELLED: keep what went wrong on this side
                failed.append(error)
                raise

        try:
            return self.stub.Upload(requests(), timeout=self.timeout).id
        except grpc.RpcError:
            if failed:
                raise failed[0] from None
            raise

    # -- status --

    def status(self, photo_id: str, wait_ms: int = 0, timeout: float | None = None) -> photos_pb2.StatusReply:
        """Where the photo stands; ``timeout`` (seconds, the client's by default) bounds the call beyond ``wait_ms``."""
        limit = (self.timeout if timeout is None else timeout) + wait_ms / 1000
        return self.stub.Status(photos_pb2.StatusRequest(id=photo_id, wait_ms=wait_ms), timeout=limit)

    def wait(self, photo_id: str, timeout: float) -> photos_pb2.StatusReply:
        """Waits (long-polling) until the photo leaves PROCESSING or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            reply = self.status(photo_id, wait_ms=max(0, min(left_ms, 30_000)))
            if reply.state != photos_pb2.PROCESSING or left_ms <= 0:
                return reply

    def pending(self) -> photos_pb2.PendingReply:
        return self.stub.Pending(photos_pb2.PendingRequest(), timeout=self.timeout)

    # -- download --

    def _open_download(self, photo_id: str, report: bool, on_size: Callable[[int], None] | None):
        """The Download stream and its first reply, the status, of a READY photo (``on_size`` told its size);
        for a photo that is not READY, the stream cancelled and the ``Download`` that says where it stands."""
        stream = self.stub.Download(photos_pb2.DownloadRequest(id=photo_id, report=report), timeout=self.timeout)
        first = next(stream, None)
        if first is None or first.WhichOneof("part") != "status":
            stream.cancel()
            raise IncompleteDownload(f"download of {photo_id}: the Svc sent no status first")
        status = first.status
        if STATE_NAMES[status.state] != "READY":
            stream.cancel()
            return Download(STATE_NAMES[status.state], status.message)
        if on_size:
            on_size(status.size)
        return stream, status

    @staticmethod
    def _blocks(stream, photo_id: str, size: int) -> Iterator[bytes]:
        """The blocks of a READY download, checked against the announced ``size``."""
        received = 0
        for reply in stream:
            received += len(reply.block)
            if received > size:
                raise IncompleteDownload(f"download of {photo_id} sent more than the {size} bytes announced")
            yield reply.block
        if received != size:
            raise IncompleteDownload(f"download of {photo_id} ended after {received} of {size} bytes")

    def download(
        self,
        photo_id: str,
        report: bool = False,
        on_size: Callable[[int], None] | None = None,
        progress: Progress | None = None,
    ) -> Download:
        """The marked photo (or report) in memory; ``download_to`` streams it into a file."""
        opened = self._open_download(photo_id, report, on_size)
        if isinstance(opened, Download):
            return opened
        stream, status = opened
        try:
            data = b"".join(_counted(self._blocks(stream, photo_id, status.size), progress))
        finally:
            stream.cancel()  # a no-op once the stream ended
        return Download("READY", status.message, data, len(data))

    def download_to(
        self,
        photo_id: str,
        target: str | os.PathLike[str],
        report: bool = False,
        on_size: Callable[[int], None] | None = None,
        progress: Progress | None = None,
    ) -> Download:
        """Streams the marked photo (or report) into ``target``: the blocks go to a temporary file beside it,
        fsynced and renamed over ``target`` once all arrived.  On any failure, an interruption (Ctrl-C)
        included, the temporary file is removed and ``target`` is left as it was.  When the photo is not
        READY, nothing is written and the returned ``Download`` says where it stands."""
        opened = self._open_download(photo_id, report, on_size)
        if isinstance(opened, Download):
            return opened
        stream, status = opened
        target = Path(target)
        partial = partial_path(target)
        try:
            with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
                for block in _counted(self._blocks(stream, photo_id, status.size), progress):
                    file.write(block)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        except BaseException:
            stream.cancel()
            partial.unlink(missing_ok=True)
            raise
        return Download("READY", status.message, size=status.size)

    def close(self) -> None:
        self.channel.close()
