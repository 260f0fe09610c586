"""The Svc through real gRPC on localhost, wired to fake gateways."""

from __future__ import annotations

import io
import os

import grpc
import pytest
from PIL import Image

from actorkit.supervisor import Supervisor
from actors import group_messages
from actors.marker import Marker
from actors.upload_validation import Limits
from cli.roles.config import SvcConfig
from cli.roles.specs import svc_specs
from gateways.group.memory import MemoryGroupConnection
from gateways.rpc.client import PhotoClient
from marking import MarkResult
from storage import layout

LIMITS = Limits(max_bytes=1024 * 1024, max_pixels=4_000_000)


def png(size=(64, 32), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, "PNG")
    return buffer.getvalue()


def fake_marking(photo, keywords, *, photo_id="", filename=""):
    report = {
        "id": photo_id,
        "filename": filename,
        "width": 1,
        "height": 1,
        "engine": {},
        "seconds": 0,
        "keywords": {k: {"count": 2, "boxes": [], "texts": []} for k in keywords},
    }
    return MarkResult(png=b"\x89PNG marked " + photo_id.encode(), report=report)


@pytest.fixture
def svc(fakes, eventually):
    config = SvcConfig(listen="127.0.0.1:0", limits=LIMITS)
    specs = svc_specs(
        config,
        lambda: fakes.backend,
        lambda s: MemoryGroupConnection.start(fakes.hub, "s000000001"),
        shared={"broker": fakes.broker},
    )
    supervisor = Supervisor.start(specs, name="svc").proxy()
    address = supervisor.child("server").get().listen_address().get()
    client = PhotoClient(address, timeout=30)
    yield client
    client.close()
    supervisor.actor_ref.stop()


def start_worker(fakes):
    return Marker.start("w1", fakes.broker, fakes.connection("w1"), fakes.storage, mark=fake_marking).proxy()


def test_download_answers_processing_then_ready(svc, fakes, eventually):
    photo_id = svc.upload(png(), ["alpha", "beta"], filename="page.png")

    assert svc.status(photo_id).state == 2  # PROCESSING: no worker yet
    assert svc.download(photo_id).state == "PROCESSING"

    start_worker(fakes)
    reply = svc.wait(photo_id, timeout=20)
    assert [(c.keyword, c.count) for c in reply.counts] == [("alpha", 2), ("beta", 2)]
    result = svc.download(photo_id)
    assert (result.state, result.data) == ("READY", b"\x89PNG marked " + photo_id.encode())
    assert b'"alpha"' in svc.download(photo_id, report=True).data


def test_wait_returns_as_soon_as_the_job_is_done(svc, fakes):
    photo_id = svc.upload(png(), ["alpha"])
    start_worker(fakes)
    # A wait of 10 minutes: were the Notifier not to wake it, the test's own timeout would fail it.
    assert svc.status(photo_id, wait_ms=600_000).state == 1  # READY


def test_download_answers_failed_with_the_reason(svc, fakes, eventually):
    photo_id = svc.upload(png(), ["alpha"])
    group_messages.multicast(fakes.recorder_connection, group_messages.JobFailed(photo_id, "poison job: x", 1.0))

    eventually(lambda: svc.status(photo_id).state == 3, what="FAILED")
    result = svc.download(photo_id)
    assert (result.state, result.message) == ("FAILED", "poison job: x")


def test_download_answers_not_found_for_an_unknown_id(svc):
    assert svc.download("f" * 32).state == "NOT_FOUND"
    with pytest.raises(grpc.RpcError) as error:
        svc.status("f" * 32)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "F" * 32, "abc", "", "0" * 31 + "/"])
def test_malformed_ids_are_invalid_arguments(svc, bad_id):
    for call in (lambda: svc.status(bad_id), lambda: svc.download(bad_id)):
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "32 hex digits" in error.value.details()


def truncated_png() -> bytes:
    data = png((300, 300))
    return data[: len(data) // 2]


def bomb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (4000, 4000)).save(buffer, "PNG")  # 16 Mpixel in a few KB
    return buffer.getvalue()


BAD_UPLOADS = {
    "not an image": (b"hello, I am text", ["alpha"], grpc.StatusCode.INVALID_ARGUMENT, "not an image"),
    "empty": (b"", ["alpha"], grpc.StatusCode.INVALID_ARGUMENT, "empty upload"),
    "truncated": (truncated_png(), ["alpha"], grpc.StatusCode.INVALID_ARGUMENT, "truncated"),
    "over the size limit": (
        b"\x89PNG" + bytes(2 * 1024 * 1024),
        ["alpha"],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "over the limit",
    ),
    "decompression bomb": (bomb_png(), ["alpha"], grpc.StatusCode.RESOURCE_EXHAUSTED, "pixels"),
    "no keywords": (png(), [], grpc.StatusCode.INVALID_ARGUMENT, "no keywords"),
    "101 keywords": (png(), [f"k{i}" for i in range(101)], grpc.StatusCode.INVALID_ARGUMENT, "at most 100"),
    "a keyword of 101 characters": (png(), ["x" * 101], grpc.StatusCode.INVALID_ARGUMENT, "101 characters"),
    "a blank keyword": (png(), ["  "], grpc.StatusCode.INVALID_ARGUMENT, "empty keyword"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_bad_upload_gets_a_clear_status_and_nothing_is_written(svc, fakes, case):
    data, keywords, code, text = BAD_UPLOADS[case]
    with pytest.raises(grpc.RpcError) as error:
        svc.upload(data, keywords, filename="x.png")
    assert error.value.code() == code
    assert text in error.value.details()
    assert fakes.backend.list("photos") == []
    assert fakes.payloads("pending.add") == []
    assert fakes.broker.stats().get()["published"] == 0
    assert layout.ID_PATTERN.fullmatch(svc.upload(png(), ["alpha"]))  # and the Svc keeps serving


class UnreachableWriter:
    """A storage writer whose store cannot be reached, as the replicated store's is when its manager is down."""

    aborted = False

    def write(self, block: bytes) -> None:
        raise ConnectionRefusedError("cannot reach the store manager at 127.0.0.1:1 (Connection refused)")

    def local_path(self) -> None:
        return None

    def abort(self) -> None:
        UnreachableWriter.aborted = True


@pytest.mark.parametrize("size", [1000, 200_000], ids=["small photo", "photo over the first 64 KiB"])
def test_an_upload_the_storage_cannot_take_is_unavailable_with_the_storage_s_reason(svc, fakes, monkeypatch, size):
    """A storage error is the Svc's fault, not the photo's: UNAVAILABLE (try again), with its reason, not
    gRPC's 'Unexpected <class ...>' under UNKNOWN; nothing announced or queued, and the writer aborted."""
    monkeypatch.setattr(fakes.backend, "open_writer", lambda name, size=None: UnreachableWriter())
    UnreachableWriter.aborted = False
    photo = noise_png(size)
    with pytest.raises(grpc.RpcError) as error:
        svc.upload(photo, ["alpha"], filename="x.png")
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error.value.details() == (
        "the photo could not be stored: cannot reach the store manager at 127.0.0.1:1 (Connection refused)"
    )
    assert UnreachableWriter.aborted
    assert fakes.payloads("pending.add") == [] and fakes.broker.stats().get()["published"] == 0
    monkeypatch.undo()
    assert layout.ID_PATTERN.fullmatch(svc.upload(png(), ["alpha"]))  # and the Svc keeps serving


def noise_png(size: int) -> bytes:
    """A PNG of about ``size`` bytes (noise does not compress)."""
    side = max(8, int((size / 3) ** 0.5))
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_upload_shorter_than_announced_is_truncated(svc, fakes):
    stub_data = png()
    from protos import photos_pb2

    requests = iter(
        [
            photos_pb2.UploadRequest(
                header=photos_pb2.UploadHeader(filename="x.png", keywords=["alpha"], size=len(stub_data) + 10)
            ),
            photos_pb2.UploadRequest(block=stub_data),
        ]
    )
    with pytest.raises(grpc.RpcError) as error:
        svc.stub.Upload(requests, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "announced" in error.value.details()
    assert fakes.backend.list("photos") == []


def test_an_upload_must_start_with_a_header(svc):
    from protos import photos_pb2

    with pytest.raises(grpc.RpcError) as error:
        svc.stub.Upload(iter([photos_pb2.UploadRequest(block=png())]), timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_pending_shows_this_replica_and_its_leadership(svc, fakes, eventually):
    photo_id = svc.upload(png(), ["alpha"])
    reply = eventually(lambda: (r := svc.pending()).entries and r, what="the pending entry")
    assert reply.leader and reply.synced and reply.member.startswith("#s000000001")
    assert [(e.id, e.status, e.attempts) for e in reply.entries] == [(photo_id, "pending", 1)]
