"""Clients of the Register and of a Svc, for the command line and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from protos import photos_pb2, photos_pb2_grpc, register_pb2, register_pb2_grpc

BLOCK_SIZE = 256 * 1024
Progress = Callable[[int], None]  # called with the bytes moved since the last call
STATE_NAMES = {value: name for name, value in photos_pb2.State.items()}


def _channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 4 * 1024 * 1024)])


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
    data: bytes = b""


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

    def upload(
        self,
        data: bytes,
        keywords: list[str],
        filename: str = "",
        content_type: str = "",
        progress: Progress | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> str:
        def requests() -> Iterator[photos_pb2.UploadRequest]:
            yield photos_pb2.UploadRequest(
                header=photos_pb2.UploadHeader(
                    filename=filename, keywords=keywords, content_type=content_type, size=len(data)
                )
            )
            for offset in range(0, len(data), block_size):
                block = data[offset : offset + block_size]
                yield photos_pb2.UploadRequest(block=block)
                if progress:
                    progress(len(block))

        return self.stub.Upload(requests(), timeout=self.timeout).id

    def status(self, photo_id: str, wait_ms: int = 0) -> photos_pb2.StatusReply:
        return self.stub.Status(
            photos_pb2.StatusRequest(id=photo_id, wait_ms=wait_ms), timeout=self.timeout + wait_ms / 1000
        )

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

    def download(
        self,
        photo_id: str,
        report: bool = False,
        on_size: Callable[[int], None] | None = None,
        progress: Progress | None = None,
    ) -> Download:
        stream = self.stub.Download(photos_pb2.DownloadRequest(id=photo_id, report=report), timeout=self.timeout)
        first = next(stream)
        status = first.status
        state = STATE_NAMES[status.state]
        if state != "READY":
            stream.cancel()
            return Download(state, status.message)
        if on_size:
            on_size(status.size)
        blocks = []
        for reply in stream:
            blocks.append(reply.block)
            if progress:
                progress(len(reply.block))
        data = b"".join(blocks)
        if len(data) != status.size:
            raise OSError(f"download of {photo_id} ended after {len(data)} of {status.size} bytes")
        return Download(state, status.message, data)

    def close(self) -> None:
        self.channel.close()
