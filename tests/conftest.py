"""Fixtures every test can use, and the dummy actors of actor tests (Mopidy's dummy backends are the model)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest
import structlog

from actors import group_messages
from gateways.broker.memory import MemoryBroker
from gateways.group.memory import MemoryGroupConnection, MemoryGroupHub
from gateways.storage import StorageGateway
from storage.memory import MemoryStorage
from tests.dummies import GroupRecorder, JobRecorder
from tests.integration.gluster_volume import gluster_volume  # noqa: F401 - a session fixture
from tests.integration.rabbitmq_server import RabbitServer, RabbitServerError
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[1]
# The evaluation sets: the dev set ships in the repository (tests/data/eval);
# PHOTOMARK_EVAL_DIR may point at another directory of sets in the same format.
EVAL_DIR = Path(os.environ.get("PHOTOMARK_EVAL_DIR", ROOT / "tests" / "data" / "eval"))


@pytest.fixture(autouse=True)
def logging_configuration_restored():
    """A test that runs the command line in-process configures logging for it (at level warning by
    default): each test gets back the configuration it started with, so a later test's ``capture_logs``
    still sees info events."""
    saved = structlog.get_config()
    saved["processors"] = list(saved["processors"])
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def stop_all_actors():
    """Every test starts from, and leaves, a process with no running actors."""
    yield
    pykka.ActorRegistry.stop_all()


# -- real servers, started once per session, shared by integration and cluster tests --


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitServer]:
    """A RabbitMQ broker for the whole session: the one answering on
    127.0.0.1:5672 if any (left running), else a private node started here and
    stopped at the end, also when tests fail.  Fails, never skips, when no
    broker can be had."""
    base = tmp_path_factory.mktemp("rabbitmq")
    server = None
    try:
        server = RabbitServer.attach_or_start(base)
    except RabbitServerError as error:
        pytest.fail(f"RabbitMQ could not be started:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def eval_dir() -> Path:
    if not (EVAL_DIR / "dev" / "cases.jsonl").exists():
        pytest.fail(f"evaluation set not found at {EVAL_DIR} (set PHOTOMARK_EVAL_DIR)")
    return EVAL_DIR


class Fakes:
    """The fake gateways of one test: storage, broker, a group hub, and a recorder in the Svc group."""

    def __init__(self) -> None:
        self.backend = MemoryStorage()
        self.storage = StorageGateway.start(self.backend).proxy()
        self.broker = MemoryBroker.start().proxy()
        self.broker.declare().get()
        self.hub = MemoryGroupHub.start().proxy()
        self.recorder_connection = self.connection("rec")
        self.recorder = GroupRecorder.start().proxy()
        self.recorder_connection.subscribe(self.recorder).get()
        self.recorder_connection.join(group_messages.SVCS_GROUP).get()

    def connection(self, user: str) -> pykka.ActorProxy:
        return MemoryGroupConnection.start(self.hub, user).proxy()

    def payloads(self, kind: str | None = None) -> list:
        """The group messages the recorder heard (typed, ``actors/group_messages.py``), of one kind or all."""
        return [p for p in self.recorder.seen().get() if kind is None or p.TYPE == kind]


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def make_png(size=(64, 32), text: str = "") -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, "white")
    if text:
        ImageDraw.Draw(image).text((4, 4), text, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(name="eventually")
def eventually_fixture():
    return eventually


@pytest.fixture
def png() -> bytes:
    return make_png()


@pytest.fixture
def job_recorder(fakes) -> pykka.ActorProxy:
    recorder = JobRecorder.start().proxy()
    fakes.broker.consume("recorder", recorder).get()
    return recorder
