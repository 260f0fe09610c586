"""The Svc under load, through real gRPC on localhost: many uploads at once, a flood of waiting
``Status`` calls, a 50 MB photo, and a client that goes away mid-upload.

The Svc runs its real actors and server on the fake broker and group, over a directory
(``FsStorage``), so the streamed writes are real files; workers mark with a fake marking
(fast, and its counts name the photo).  Nothing here is timed: each test polls for the outcome.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from PIL import Image

from actorkit.supervisor import Supervisor
from actors.marker import Marker
from actors.upload_validation import DEFAULT_LIMITS, Limits
from cli.roles.config import SvcConfig
from cli.roles.specs import svc_specs
from gateways.group.memory import MemoryGroupConnection
from gateways.rpc.client import PhotoClient
from gateways.rpc.decoders import DECODERS
from gateways.rpc.photo_service import FOLLOW_FROM
from marking import MarkResult
from protos import photos_pb2, photos_pb2_grpc
from storage.fs import FsStorage

READY, PROCESSING = photos_pb2.READY, photos_pb2.PROCESSING

pytestmark = pytest.mark.timeout(300)


def png(size=(64, 32), shade: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, shade, shade)).save(buffer, "PNG")
    return buffer.getvalue()


def marking_as_is(photo, keywords, *, photo_id="", filename="", **options):
    """A fake marking: the "marked" photo is the photo as uploaded, each keyword counted len(keyword) times."""
    report = {
        "id": photo_id,
        "filename": filename,
        "width": 1,
        "height": 1,
        "engine": {},
        "seconds": 0,
        "keywords": {k: {"count": len(k), "boxes": [], "texts": []} for k in keywords},
    }
    return MarkResult(png=bytes(photo), report=report)


class Svc:
    def __init__(self, fakes, root: Path, limits: Limits) -> None:
        self.fakes, self.root = fakes, root
        config = SvcConfig(listen="127.0.0.1:0", limits=limits)
        specs = svc_specs(
            config,
            lambda: FsStorage(root),
            lambda s: MemoryGroupConnection.start(fakes.hub, "s000000001"),
            shared={"broker": fakes.broker},
        )
        self.supervisor = Supervisor.start(specs, name="svc").proxy()
        self.address = self.supervisor.child("server").get().listen_address().get()
        self.client = PhotoClient(self.address, timeout=120)

    def start_workers(self, count: int = 2) -> None:
        storage = self.supervisor.child("storage").get()
        for number in range(count):
            consumer = f"w{number}"
            Marker.start(consumer, self.fakes.broker, self.fakes.connection(consumer), storage, mark=marking_as_is)

    def waiters(self) -> int:
        return sum(len(wakers) for wakers in self.supervisor.child("notifier").get().watchers.get().values())

    def stored(self) -> list[str]:
        """Every file under the photos directory, temporaries included."""
        photos = self.root / "photos"
        return sorted(os.listdir(photos)) if photos.exists() else []


@pytest.fixture
def start_svc(fakes, tmp_path):
    started: list[Svc] = []

    def start(limits: Limits = DEFAULT_LIMITS) -> Svc:
        svc = Svc(fakes, tmp_path / "data", limits)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.client.close()
        svc.supervisor.actor_ref.stop()


def test_many_clients_uploading_at_once_all_end_ready_with_their_counts(start_svc, eventually):
    svc = start_svc()
    photos = {(client, n): png((64 + client, 32 + n)) for client in range(16) for n in range(3)}

    def upload_three(client: int) -> list[tuple[str, str]]:
        own = PhotoClient(svc.address, timeout=120)
        try:
            keyword = "k" * (client + 1)  # its count (the fake marking's) says whose photo it is
            return [(own.upload(photos[client, n], [keyword], filename=f"{client}-{n}.png"), keyword) for n in range(3)]
        finally:
            own.close()

    with ThreadPoolExecutor(16) as pool:
        uploaded = [item for items in pool.map(upload_three, range(16)) for item in items]
    assert len({photo_id for photo_id, _ in uploaded}) == 48

    svc.start_workers()
    for photo_id, keyword in uploaded:
        reply = svc.client.wait(photo_id, timeout=120)
        assert reply.state == READY, (photo_id, reply)
        assert [(c.keyword, c.count) for c in reply.counts] == [(keyword, len(keyword))]
    assert len([name for name in svc.stored() if name.endswith(".png") and "_marks" not in name]) == 48


async def wait_all(address: str, photo_ids: list[str], per_photo: int) -> list[int]:
    """``per_photo`` Status calls waiting on each photo at once, from one thread (gRPC's asyncio client)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = photos_pb2_grpc.PhotoServiceStub(channel)
        calls = [
            stub.Status(photos_pb2.StatusRequest(id=photo_id, wait_ms=240_000), timeout=280)
            for photo_id in photo_ids
            for _ in range(per_photo)
        ]
        return [reply.state for reply in await asyncio.gather(*calls)]


def test_a_flood_of_waiters_holds_no_thread_and_every_waiter_wakes_when_its_photo_is_done(start_svc, eventually):
    svc = start_svc()
    photo_ids = [svc.client.upload(png((40 + n, 40)), ["alpha"]) for n in range(10)]
    outcome: dict = {}

    def wait() -> None:
        try:
            outcome["states"] = asyncio.run(wait_all(svc.address, photo_ids, per_photo=30))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    waiters = threading.Thread(target=wait, daemon=True)
    waiters.start()
    eventually(lambda: svc.waiters() == 300, timeout=60, what="300 Status calls waiting")

    # With 300 calls waiting (far more than any thread pool of the old server), the Svc still answers.
    late = svc.client.upload(png((33, 33)), ["beta"])
    assert svc.client.status(late).state == PROCESSING
    assert svc.client.status(photo_ids[0]).state == PROCESSING
    assert svc.waiters() == 300 and "states" not in outcome  # nobody woke for nothing

    svc.start_workers()
    waiters.join(120)
    assert not waiters.is_alive()
    assert outcome.get("states") == [READY] * 300, outcome
    assert svc.client.wait(late, timeout=60).state == READY
    eventually(lambda: svc.waiters() == 0, what="every waiter unregistered")


def noise_png(size: int) -> bytes:
    """A PNG of random pixels, stored uncompressed: about ``size`` bytes."""
    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def test_a_50_mb_photo_goes_up_and_comes_down_byte_for_byte(start_svc):
    svc = start_svc()
    data = noise_png(50_000_000)  # 50 MB, under the limit of 50 MiB
    assert 49_900_000 < len(data) <= Limits().max_bytes

    photo_id = svc.client.upload(data, ["alpha"], filename="big.png")
    assert (svc.root / "photos" / f"{photo_id}.png").read_bytes() == data

    svc.start_workers(1)
    assert svc.client.wait(photo_id, timeout=120).state == READY
    download = svc.client.download(photo_id)
    assert download.state == "READY"
    assert download.data == data  # the fake marking hands the photo back as its marked photo


@pytest.mark.parametrize("size", [4_000_000, 8_000_000], ids=["checked-whole", "followed"])
def test_an_upload_the_client_cancels_mid_stream_leaves_nothing_in_storage(start_svc, fakes, eventually, size):
    assert (size >= FOLLOW_FROM) == (size == 8_000_000)  # the second one's decode follows its transfer
    svc = start_svc()
    data = noise_png(size)
    release = threading.Event()

    def requests():
        yield photos_pb2.UploadRequest(
            header=photos_pb2.UploadHeader(filename="x.png", keywords=["alpha"], size=len(data))
        )
        for offset in range(0, len(data) // 2, 256 * 1024):
            yield photos_pb2.UploadRequest(block=data[offset : offset + 256 * 1024])
        release.wait(60)  # the client stalls halfway, then goes away

    call = svc.client.stub.Upload.future(requests(), timeout=120)
    eventually(lambda: svc.stored(), what="the upload's blocks to reach storage")
    assert all(name.startswith(".") and name.endswith(".tmp") for name in svc.stored())  # not visible yet

    call.cancel()
    release.set()
    eventually(lambda: svc.stored() == [], what="the half upload to leave storage")
    with pytest.raises(grpc.FutureCancelledError):
        call.result()
    assert fakes.payloads("pending.add") == []
    assert fakes.broker.stats().get()["published"] == 0
    eventually(lambda: DECODERS.following == 0, what="the decoder that followed it to be free again")


def test_a_big_photo_cut_short_is_refused_after_its_followed_decode_and_nothing_is_kept(start_svc, fakes, eventually):
    svc = start_svc()
    data = noise_png(8_000_000)[:7_000_000]  # whole blocks, a PNG missing its end
    with pytest.raises(grpc.RpcError) as refused:
        svc.client.upload(data, ["alpha"], filename="cut.png")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "truncated" in refused.value.details() or "decodable" in refused.value.details()
    eventually(lambda: svc.stored() == [], what="the refused photo's temporary to go")
    assert fakes.payloads("pending.add") == []
