"""The pending list's checkpoint as a starting Svc reads it: absent is normal, corrupt is an error.

On fresh storage no checkpoint was ever written: the first Svc says so in one info line and starts from an
empty list, with no error and no traceback.  A checkpoint that is not the leader's JSON is still an error that
says why.  Storage that cannot hand the checkpoint out (the store manager still starting) is neither: a line
per attempt (info, then warning), no traceback, no crash, and the read is tried again after a growing pause
until storage answers, rather than taking the list for empty.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from structlog.testing import capture_logs

from actorkit.supervisor import Supervisor
from actors.job import Job
from actors.pending import checkpoint_retry, parse_checkpoint
from actors.pending_state import Entry
from cli.roles.config import SvcConfig
from cli.roles.specs import svc_specs
from gateways.group.memory import MemoryGroupConnection
from storage import layout
from storage.fs import FsStorage
from storage.memory import MemoryStorage

PHOTO_ID = "ab" * 16


def entry_dict(photo_id: str = PHOTO_ID) -> dict:
    now = time.time()  # not overdue: the leader leaves it alone
    job = Job(photo_id, f"photos/{photo_id}.png", ("alpha",), "page.png", now)
    return Entry(photo_id, job, since=now, svc="s000000001").as_dict()


def start_svc(fakes, backend):
    specs = svc_specs(
        SvcConfig(listen="127.0.0.1:0"),
        lambda: backend,
        lambda s: MemoryGroupConnection.start(fakes.hub, "s000000001"),
        shared={"broker": fakes.broker},
    )
    return Supervisor.start(specs, name="svc").proxy()


def synced_entries(svc) -> list[str] | None:
    """The ids of the Svc's replica once it is synced; None before."""
    pending = svc.child("pending").get()
    if not pending.is_synced().get(timeout=5):
        return None
    return sorted(entry["id"] for entry in pending.snapshot().get(timeout=5)[1])


def errors_in(logs: list[dict]) -> list[dict]:
    return [record for record in logs if record["log_level"] in ("error", "critical", "exception")]


def with_traceback(logs: list[dict]) -> list[dict]:
    return [record for record in logs if "exc_info" in record or "exception" in record]


@pytest.fixture(params=["memory", "fs"])
def empty_storage(request, tmp_path):
    return MemoryStorage() if request.param == "memory" else FsStorage(tmp_path / "fresh")


def test_a_svc_starting_on_empty_storage_says_so_calmly_once_and_logs_no_error(
    fakes, empty_storage, eventually, caplog
):
    caplog.set_level(logging.WARNING)
    with capture_logs() as logs:
        svc = start_svc(fakes, empty_storage)
        assert eventually(lambda: synced_entries(svc) == [], what="the Svc to start from an empty list")
        svc.actor_ref.stop()

    assert errors_in(logs) == []
    assert with_traceback(logs) == []
    absent = [record for record in logs if record["event"] == "pending.no_checkpoint"]
    assert [(record["log_level"], record["name"]) for record in absent] == [("info", layout.PENDING_STATE)]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []  # no actor crashed


@pytest.mark.parametrize(
    ("saved", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", 'expected an object with "entries"'),
        (b'{"v": 1, "entries": 7}', '"entries" is int, not a list'),
    ],
)
def test_a_corrupt_checkpoint_logs_an_error_with_the_reason(fakes, eventually, saved, reason):
    backend = MemoryStorage()
    backend.write(layout.PENDING_STATE, saved)
    with capture_logs() as logs:
        svc = start_svc(fakes, backend)
        assert eventually(lambda: synced_entries(svc) == [], what="the Svc to start from an empty list")
        svc.actor_ref.stop()

    [error] = errors_in(logs)
    assert error["event"] == "pending.checkpoint_unreadable"
    assert reason in error["error"]
    assert with_traceback(logs) == []


def test_a_bad_entry_is_logged_with_its_reason_and_the_good_ones_are_kept(fakes, eventually):
    backend = MemoryStorage()
    bad = {**entry_dict("cd" * 16), "status": "LOST"}
    backend.write(layout.PENDING_STATE, json.dumps({"v": 1, "entries": [entry_dict(), bad]}).encode())
    with capture_logs() as logs:
        svc = start_svc(fakes, backend)
        assert eventually(lambda: synced_entries(svc) == [PHOTO_ID], what="the good entry to be restored")
        svc.actor_ref.stop()

    [error] = errors_in(logs)
    assert error["event"] == "pending.checkpoint_bad_entry"
    assert "LOST" in error["error"]


class FailingReads(MemoryStorage):
    """Storage whose reads fail (an outage) until ``healed`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.healed = threading.Event()
        self.failed = 0

    def read(self, name: str) -> bytes:
        if not self.healed.is_set():
            self.failed += 1
            raise OSError(5, "Input/output error")
        return super().read(name)


def test_storage_that_cannot_be_read_is_retried_without_traceback_or_crash_and_the_checkpoint_restored(
    fakes, eventually, caplog
):
    caplog.set_level(logging.WARNING)
    backend = FailingReads()
    backend.write(layout.PENDING_STATE, json.dumps({"v": 1, "entries": [entry_dict()]}).encode())
    with capture_logs() as logs:
        svc = start_svc(fakes, backend)
        eventually(lambda: backend.failed >= 7, what="the read to be tried again, and again")
        assert synced_entries(svc) is None  # not taken for an empty list
        backend.healed.set()
        assert eventually(lambda: synced_entries(svc) == [PHOTO_ID], what="the checkpoint to be restored")
        svc.actor_ref.stop()

    unavailable = [record for record in logs if record["event"] == "pending.checkpoint_unavailable"]
    assert len(unavailable) >= 7 and all("Input/output error" in record["error"] for record in unavailable)
    assert [record["log_level"] for record in unavailable[:6]] == ["info"] * 5 + ["warning"]
    assert errors_in(logs) == []
    assert with_traceback(logs) == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []  # no actor crashed


def test_parse_checkpoint_keeps_the_good_entries_and_says_what_is_wrong():
    good = entry_dict()
    assert parse_checkpoint(json.dumps({"v": 1, "entries": [good]}).encode()).entries == (Entry.from_dict(good),)
    assert parse_checkpoint(b'{"v": 1, "entries": []}').unreadable == ""
    mixed = parse_checkpoint(json.dumps({"v": 1, "entries": [good, "x"]}).encode())
    assert (len(mixed.entries), mixed.unreadable, len(mixed.bad_entries)) == (1, "", 1)
    assert "not JSON" in parse_checkpoint(b"\xff\xfe").unreadable
    assert parse_checkpoint(b'{"v": 1}').entries == ()


def test_a_checkpoint_storage_cannot_hand_out_is_read_again_after_a_doubling_pause_logged_calmly_at_first():
    assert [checkpoint_retry(n, longest=1.0) for n in range(7)] == [
        (0.05, "info"),
        (0.1, "info"),
        (0.2, "info"),
        (0.4, "info"),
        (0.8, "info"),
        (1.0, "warning"),
        (1.0, "warning"),
    ]
    assert checkpoint_retry(10_000, longest=1.0) == (1.0, "warning")
