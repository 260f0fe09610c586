"""The Scrubber re-hashes a node's objects at a bounded rate and reports only the corrupt ones."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from protos import store_pb2
from store import streams
from store.model import InventoryItem
from store.node.disk import NodeDisk
from store.node.scrubber import Scrubber, ScrubSettings, pass_due, refill
from tests.polling import eventually

MAX = 4 * 1024 * 1024
FAST = ScrubSettings(rate=64 * 1024 * 1024, interval=0.01, pass_every=0.0, first_pass_after=0.0)
# Ticks only when the test calls tick(): 1200 bytes of credit each (rate * interval).
NEVER_TICKS = ScrubSettings(rate=1200 / 3600, interval=3600.0, pass_every=0.0, first_pass_after=0.0)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def corrupt(path: Path) -> None:
    with open(path, "r+b") as file:
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 0xFF]))


class Reports:
    """A ``report`` callable that records what it was given, thread-safely, and answers ``reply``."""

    def __init__(self, reply: store_pb2.InventoryReply | None = None, failures: int = 0) -> None:
        self.reply, self.failures = reply, failures
        self.calls: list[list[InventoryItem]] = []
        self.lock = threading.Lock()

    def __call__(self, items: list[InventoryItem]) -> store_pb2.InventoryReply | None:
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("the manager is away")
            self.calls.append(list(items))
        return self.reply

    def ids(self) -> set[str]:
        with self.lock:
            return {item.id for call in self.calls for item in call}


@pytest.fixture
def disk(tmp_path: Path) -> NodeDisk:
    disk = NodeDisk(tmp_path / "node", max_size=MAX)
    for name in ("a", "b", "c"):
        data = f"photo {name} ".encode() * 100
        disk.put(streams.Header(f"photos/{name}.png", len(data), sha(data)), [data])
    return disk


# -- pacing, alone ------------------------------------------------------------------------------


def test_refill_adds_rate_times_elapsed():
    assert refill(0.0, rate=1000, elapsed=0.5, cap=10_000) == 500


def test_refill_never_goes_above_the_cap():
    assert refill(900.0, rate=1000, elapsed=0.5, cap=1000) == 1000


def test_refill_repays_a_debt_before_there_is_credit_again():
    debt = 500 - 2000  # a 2000-byte object read on 500 bytes of credit
    assert refill(debt, rate=1000, elapsed=0.5, cap=500) == -1000
    assert refill(-1000, rate=1000, elapsed=0.5, cap=500) == -500
    assert refill(-500, rate=1000, elapsed=0.5, cap=500) == 0
    assert refill(0, rate=1000, elapsed=0.5, cap=500) == 500


def test_a_pass_starts_only_when_the_last_is_done_and_its_time_has_come():
    assert pass_due(queue_empty=True, since_pass_start=300, pass_every=300)
    assert not pass_due(queue_empty=True, since_pass_start=299, pass_every=300)
    assert not pass_due(queue_empty=False, since_pass_start=1000, pass_every=300)


def test_settings_refuse_a_rate_or_interval_that_is_not_positive():
    with pytest.raises(ValueError, match="rate"):
        ScrubSettings(rate=0)
    with pytest.raises(ValueError, match="interval"):
        ScrubSettings(interval=0)


# -- the actor ----------------------------------------------------------------------------------


def test_each_tick_reads_while_there_is_credit_and_a_large_object_is_repaid_by_later_ticks(tmp_path: Path):
    disk = NodeDisk(tmp_path / "node", max_size=MAX)
    for name in ("a", "b", "c", "d"):
        data = name.encode() * 1000
        disk.put(streams.Header(name, len(data), sha(data)), [data])
    scrubber = Scrubber.start(disk, Reports(), NEVER_TICKS).proxy()  # the ticks come from the test

    scrubber.tick().get()  # credit 1200: reads a (200 left) and b (-800)
    assert scrubber.status().get().checked == 2
    scrubber.tick().get()  # credit -800 + 1200 = 400: reads c (-600)
    assert scrubber.status().get().checked == 3
    scrubber.tick().get()  # credit 600: reads d, the pass is done
    status = scrubber.status().get()
    assert (status.checked, status.passes, status.queued) == (4, 1, 0)


def test_a_corrupted_object_is_logged_and_reported_with_its_real_hash(disk: NodeDisk):
    corrupt(disk.path("photos/b.png"))
    damaged = disk.path("photos/b.png").read_bytes()
    reports = Reports()

    with capture_logs() as logs:
        scrubber = Scrubber.start(disk, reports, FAST).proxy()
        eventually(reports.ids, what="a report")
        scrubber.stop()

    assert reports.calls[0] == [InventoryItem("photos/b.png", len(damaged), sha(damaged))]
    corrupt_logs = [entry for entry in logs if entry["event"] == "store.scrub_corrupt"]
    assert corrupt_logs[0]["object_id"] == "photos/b.png"
    assert corrupt_logs[0]["actual"] == sha(damaged)


def test_good_objects_are_never_reported(disk: NodeDisk):
    corrupt(disk.path("photos/c.png"))
    reports = Reports()
    scrubber = Scrubber.start(disk, reports, FAST).proxy()

    eventually(lambda: scrubber.status().get().passes >= 3, what="three passes")

    assert reports.ids() == {"photos/c.png"}
    assert scrubber.status().get().checked >= 9


def test_a_disk_without_corruption_is_never_reported(disk: NodeDisk):
    reports = Reports()
    scrubber = Scrubber.start(disk, reports, FAST).proxy()

    eventually(lambda: scrubber.status().get().passes >= 2, what="two passes")

    assert reports.calls == []
    assert scrubber.status().get().corrupt == 0


def test_the_ids_the_manager_answers_with_are_deleted(disk: NodeDisk):
    corrupt(disk.path("photos/a.png"))
    reports = Reports(reply=store_pb2.InventoryReply(accepted=1, delete=["photos/a.png"]))
    Scrubber.start(disk, reports, FAST)

    eventually(lambda: "photos/a.png" not in disk.ids(), what="the corrupt copy deleted")

    assert disk.ids() == ["photos/b.png", "photos/c.png"]
    assert reports.ids() == {"photos/a.png"}


def test_a_report_that_fails_is_sent_again_later(disk: NodeDisk):
    corrupt(disk.path("photos/a.png"))
    reports = Reports(failures=2)

    with capture_logs() as logs:
        scrubber = Scrubber.start(disk, reports, FAST).proxy()
        eventually(reports.ids, what="a report that went through")
        scrubber.stop()

    assert reports.ids() == {"photos/a.png"}
    assert sum(entry["event"] == "store.scrub_report_failed" for entry in logs) == 2


def test_a_corrupt_object_replaced_before_its_report_went_through_is_not_reported(disk: NodeDisk):
    corrupt(disk.path("photos/a.png"))
    reports = Reports(failures=1)
    settings = ScrubSettings(rate=MAX, interval=3600.0, pass_every=7200.0, first_pass_after=0.0)
    scrubber = Scrubber.start(disk, reports, settings).proxy()  # the ticks come from the test

    scrubber.tick().get()  # finds a corrupt; the report fails
    assert scrubber.status().get().unreported == 1
    good = b"a good copy"
    disk.put(streams.Header("photos/a.png", len(good), sha(good)), [good])  # the manager healed it
    scrubber.tick().get()  # checks a again before reporting: good now

    assert reports.calls == []
    assert scrubber.status().get().unreported == 0
