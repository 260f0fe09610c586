"""While a Svc stops, its gRPC handlers answer UNAVAILABLE, "the Svc is stopping", instead of failing with
``ActorDeadError`` (a traceback in the log, UNKNOWN for the client): also a ``Status`` that was waiting
when the actors went."""

from __future__ import annotations

import io
import logging
import threading

import grpc
import pykka
import pytest
from PIL import Image

from actors.job import Job
from actors.notifier import Notifier
from actors.pending_state import Entry
from gateways.rpc.client import PhotoClient
from gateways.rpc.photo_service import STOPPING, PhotoService
from gateways.rpc.server import start_server, stop_server
from gateways.storage import StorageGateway
from protos import photos_pb2, photos_pb2_grpc
from storage import layout
from storage.memory import MemoryStorage

PHOTO_ID = "0123456789abcdef0123456789abcdef"


class Pending(pykka.ThreadingActor):
    """A pending list that holds one photo, waiting for a worker."""

    def entry(self, photo_id: str) -> Entry | None:
        job = Job(PHOTO_ID, layout.photo_path(PHOTO_ID, "png"), ("alpha",), "page.png", 1.0)
        return Entry(PHOTO_ID, job) if photo_id == PHOTO_ID else None

    def member(self) -> str:
        return "s000000001"


class AnyActor(pykka.ThreadingActor):
    """Has every method the service asks of its actors (the proxy of a stopped one still knows them)."""

    def queue(self, job): ...
    def entry(self, photo_id): ...
    def member(self): ...
    def is_synced(self): ...
    def snapshot(self): ...
    def watch(self, photo_id, future): ...
    def unwatch(self, photo_id, future): ...
    def exists(self, name): ...
    def read(self, name): ...
    def open_writer(self, name, size=None): ...
    def delete(self, name): ...


def gone() -> pykka.ActorProxy:
    proxy = AnyActor.start().proxy()
    proxy.actor_ref.stop()
    return proxy


@pytest.fixture
def serve():
    servers = []

    def start(uploader, pending, notifier, storage) -> PhotoClient:
        service = PhotoService(uploader, pending, notifier, storage)
        name = photos_pb2.DESCRIPTOR.services_by_name["PhotoService"].full_name
        server, health, port = start_server(
            "127.0.0.1:0", [(photos_pb2_grpc.add_PhotoServiceServicer_to_server, service, name)]
        )
        client = PhotoClient(f"127.0.0.1:{port}", timeout=30)
        servers.append((server, health, client))
        return client

    yield start
    for server, health, client in servers:
        client.close()
        stop_server(server, health, grace=0)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), "white").save(buffer, "PNG")
    return buffer.getvalue()


def assert_stopping(call) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert (raised.value.code(), raised.value.details()) == (grpc.StatusCode.UNAVAILABLE, STOPPING)


def test_every_call_to_a_svc_whose_actors_are_gone_is_unavailable_the_svc_is_stopping(serve, caplog):
    client = serve(gone(), gone(), gone(), gone())

    with caplog.at_level(logging.ERROR):
        assert_stopping(lambda: client.status(PHOTO_ID))
        assert_stopping(lambda: client.download(PHOTO_ID))
        assert_stopping(lambda: client.pending())
        assert_stopping(lambda: client.upload(png(), ["alpha"], filename="page.png"))

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text  # no handler traceback


def test_a_status_waiting_when_the_svc_stops_is_unavailable_the_svc_is_stopping(serve, eventually, caplog):
    pending, notifier = Pending.start().proxy(), Notifier.start().proxy()
    client = serve(gone(), pending, notifier, StorageGateway.start(MemoryStorage()).proxy())
    outcome: dict = {}

    def wait() -> None:
        try:
            outcome["reply"] = client.status(PHOTO_ID, wait_ms=120_000)
        except grpc.RpcError as error:
            outcome["error"] = error

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    eventually(lambda: notifier.watchers.get().get(PHOTO_ID), what="the Status call to wait")

    with caplog.at_level(logging.ERROR):
        pending.actor_ref.stop()  # the Svc stopping: its actors go, the Notifier wakes its waiters
        notifier.actor_ref.stop()
        waiter.join(30)

    assert not waiter.is_alive()
    assert "error" in outcome, outcome
    assert (outcome["error"].code(), outcome["error"].details()) == (grpc.StatusCode.UNAVAILABLE, STOPPING)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
