"""``photomark upload --wait`` outlives the Svc it waits on: it asks the Register for another and goes on waiting.

The cluster test runs the embedded cluster (a Register, 2 Svcs, the Spread-compatible daemon in-process and the
real Spread client, the in-memory broker) with one worker of the test's own: a Marker whose marking waits for an
Event, then marks with Tesseract.  While the command waits, the Svc it waits on is stopped; the command then
waits on the other Svc and ends with READY and the counts.  The unit tests drive ``FailoverWait`` with fake
clients and a fake clock: which Svc it picks, and the message once none answers in time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from actors.marker import Marker
from actors.member_names import member_name
from cli import client_commands
from cli.client_commands import FailoverWait, SvcsGone, choose_svc, pauses, upload
from cli.roles.config import RegisterConfig, SvcConfig
from cli.roles.embedded import EmbeddedCluster, EmbeddedConfig
from gateways.group.spread import SpreadGroupConnection
from gateways.rpc.client import PhotoClient, RegisterClient
from gateways.storage import StorageGateway
from marking import mark_photo
from protos import photos_pb2
from storage.fs import FsStorage
from tests.cluster.photos import page_with
from tests.polling import eventually

KEYWORD = "harbour"
RELEASED_WITHIN = 60.0  # a failure bound for "the marking was released", not a measured time


# -- on the embedded cluster -----------------------------------------------------------------------------------


class GatedMarking:
    """A ``mark`` for the Marker that waits for ``release`` before marking (with Tesseract), so a photo stays
    PROCESSING as long as the test needs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, photo: bytes, keywords, **options):
        self.started.set()
        if not self.release.wait(RELEASED_WITHIN):
            raise TimeoutError("the test never released the marking")
        return mark_photo(photo, keywords, **options)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    config = EmbeddedConfig(
        data_dir=tmp_path / "data",
        register=RegisterConfig(listen="127.0.0.1:0"),
        svc=SvcConfig(listen="127.0.0.1:0", announce_interval=0.3),
        svcs=2,
        workers=0,
        group="spread",
    )
    with capture_logs():  # the cluster's log lines stay out of the command's captured stdout
        running = EmbeddedCluster(config).start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def gated(cluster: EmbeddedCluster) -> Iterator[GatedMarking]:
    """One worker of the test's own on the cluster's broker, group daemon and storage, marking through a gate."""
    marking = GatedMarking()
    top = cluster.supervisor.proxy()
    broker, hub = top.child("broker").get(timeout=30), top.child("hub").get(timeout=30)
    group = SpreadGroupConnection.start(hub.address().get(timeout=30), member_name("worker"))
    storage = StorageGateway.start(FsStorage(cluster.config.data_dir))
    marker = Marker.start("gated-1", broker, group.proxy(), storage.proxy(), mark=marking)
    yield marking
    marking.release.set()
    for ref in (marker, storage, group):
        ref.stop()


def listed(register_address: str) -> list[str]:
    register = RegisterClient(register_address, timeout=5)
    try:
        return [f"{svc.address.ip}:{svc.address.port}" for svc in register.list_svcs()]
    except grpc.RpcError:
        return []
    finally:
        register.close()


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_upload_wait_goes_on_waiting_on_another_svc_when_its_svc_stops_and_ends_ready_with_the_counts(
    cluster, gated, tmp_path, monkeypatch
):
    register = cluster.register_address
    svcs = cluster.svc_addresses()
    eventually(lambda: sorted(listed(register)) == sorted(svcs), what="the Register to list both Svcs")
    photo = tmp_path / "page.png"
    photo.write_bytes(page_with(KEYWORD, 2))

    waited_on: list[str] = []  # the Svc of each wait the command begins
    wait = PhotoClient.wait

    def recorded_wait(client: PhotoClient, photo_id: str, timeout: float):
        waited_on.append(client.address)
        return wait(client, photo_id, timeout)

    monkeypatch.setattr(PhotoClient, "wait", recorded_wait)
    outcome = {}

    def run() -> None:
        args = [str(photo), "-w", KEYWORD, "--register", register, "--wait", "120", "--failover", "60"]
        outcome["result"] = CliRunner().invoke(upload, args, catch_exceptions=True)

    command = threading.Thread(target=run, name="photomark upload --wait", daemon=True)
    command.start()
    eventually(lambda: gated.started.is_set() and waited_on, timeout=60, what="the command to wait, the job taken")

    first = waited_on[0]
    cluster.role(f"svc-{svcs.index(first) + 1}").actor_ref.stop()  # its supervisor starts a new one elsewhere
    eventually(lambda: len(waited_on) >= 2, timeout=60, what="the command to wait on another Svc")
    gated.release.set()
    command.join(120)
    assert not command.is_alive(), "the command did not end"

    result = outcome["result"]
    assert result.exit_code == 0, (result.output, result.exception)
    assert waited_on[1] != first
    photo_id, ready, *table = result.stdout.splitlines()
    assert ready == f"{photo_id} READY marked"
    [counts] = [line for line in table if KEYWORD in line]
    assert counts.replace("│", " ").replace("|", " ").split() == [KEYWORD, "2"]
    assert f"the Svc at {first} went away" in result.stderr


# -- FailoverWait alone, with fakes --------------------------------------------------------------------------


class Gone(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, details: str = "Socket closed") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeSvcClient:
    """A PhotoClient for the unit tests: ``svcs[address]`` says how that Svc answers (a reply or an error)."""

    svcs: dict[str, object] = {}
    made: list[str] = []

    def __init__(self, address: str, timeout: float = 300.0) -> None:
        self.address, self.timeout = address, timeout
        FakeSvcClient.made.append(address)

    def _answer(self):
        answer = FakeSvcClient.svcs.get(self.address, Gone(details="failed to connect to all addresses"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def wait(self, photo_id: str, timeout: float):
        return self._answer()

    def status(self, photo_id: str, wait_ms: int = 0, timeout: float | None = None):
        return self._answer()

    def close(self) -> None:
        pass


def reply(state: int) -> photos_pb2.StatusReply:
    return photos_pb2.StatusReply(id="ab" * 16, state=state)


@pytest.fixture
def fake_svcs(monkeypatch):
    FakeSvcClient.svcs, FakeSvcClient.made = {}, []
    monkeypatch.setattr(client_commands, "PhotoClient", FakeSvcClient)
    return FakeSvcClient


def test_the_svc_chosen_after_a_failure_is_the_least_loaded_one_not_gone():
    assert choose_svc(["a:1", "b:2", "c:3"], {"a:1"}) == ("b:2", {"a:1"})
    assert choose_svc(["a:1"], {"a:1"}) == (None, {"a:1"})  # the Register still lists the dead one
    assert choose_svc(["b:2", "a:1"], {"a:1", "z:9"}) == ("b:2", {"a:1"})  # one no longer listed is forgotten
    assert choose_svc([], {"a:1"}) == (None, set())


def test_the_pauses_between_looks_double_up_to_a_ceiling():
    looks = pauses(0.1, 1.0)
    assert [round(next(looks), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_wait_whose_svc_goes_away_goes_on_on_another_svc_the_register_lists(fake_svcs, monkeypatch):
    fake_svcs.svcs = {"a:1": Gone(), "b:2": reply(photos_pb2.READY)}
    lists = iter([["a:1"], ["a:1", "b:2"]])  # the Register first still lists only the dead Svc
    monkeypatch.setattr(client_commands, "listed_svcs", lambda address, timeout: next(lists))
    clock, switches = FakeClock(), []
    waiter = FailoverWait(
        FakeSvcClient("a:1"), "reg:0", on_switch=lambda *s: switches.append(s), clock=clock, sleep=clock.sleep
    )

    assert waiter.wait("ab" * 16, 60).state == photos_pb2.READY
    assert waiter.client.address == "b:2"
    assert [(lost, found) for lost, found, _ in switches] == [("a:1", "b:2")]
    assert "a:1" not in fake_svcs.made[1:]  # the dead Svc was not tried again


def test_a_wait_with_no_svc_answering_gives_up_after_the_failover_time_with_a_clear_message(fake_svcs, monkeypatch):
    fake_svcs.svcs = {"a:1": Gone(), "b:2": Gone(details="failed to connect to all addresses")}
    monkeypatch.setattr(client_commands, "listed_svcs", lambda address, timeout: ["a:1", "b:2"])
    clock = FakeClock()
    waiter = FailoverWait(FakeSvcClient("a:1"), "reg:0", failover=10, clock=clock, sleep=clock.sleep)

    with pytest.raises(SvcsGone) as gone:
        waiter.wait("ab" * 16, 60)

    assert str(gone.value).startswith("no Svc answered within 10 s after a:1 went away (last: ")
    assert "b:2" in str(gone.value)
    assert clock.now <= 10


def test_an_answer_other_than_gone_is_not_a_failover(fake_svcs):
    fake_svcs.svcs = {"a:1": Gone(grpc.StatusCode.NOT_FOUND, "no photo with id")}
    waiter = FailoverWait(FakeSvcClient("a:1"), "reg:0")

    with pytest.raises(grpc.RpcError) as error:
        waiter.wait("ab" * 16, 60)

    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert fake_svcs.made == ["a:1"]


def test_the_upload_help_says_how_long_it_looks_for_another_svc():
    text = CliRunner().invoke(upload, ["--help"]).output
    assert "--failover SECONDS" in text and "retrying with backoff" in text and "default: 30" in text
