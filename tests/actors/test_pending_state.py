"""The pending list's state machine and its entries (``actors/pending_state.py``): messages in, entries out."""

import math

import pytest

from actors.group_messages import JobDone, JobFailed, JobRetry, PendingAdd, PendingWithdrawn, SvcHello
from actors.job import Job
from actors.pending_state import (
    FAILED,
    PENDING,
    STATUSES,
    BadEntry,
    Entry,
    apply,
    pending_count,
)

ID = "a" * 32


def job(photo_id: str = ID) -> Job:
    return Job(photo_id, f"photos/{photo_id}.png", ("alpha",), "a.png", 1.0)


def add(entries, photo_id=ID, at=10.0, svc=""):
    return apply(entries, PendingAdd(photo_id, job(photo_id), at, svc))


def entry_dict(**changes) -> dict:
    data = {
        "id": ID,
        "job": job().as_dict(),
        "status": "failed",
        "attempts": 3,
        "since": 42.5,
        "reason": "out of attempts",
        "svc": "#s1#h",
    }
    return {**data, **changes}


def refusal(data) -> str:
    with pytest.raises(BadEntry) as refused:
        Entry.from_dict(data)
    return str(refused.value)


# -- the state machine ------------------------------------------------------------------------


def test_add_then_done_leaves_the_list():
    entries = {}
    assert add(entries).status == PENDING
    assert apply(entries, JobDone("a" * 32)) is None
    assert entries == {}


def test_add_records_a_pending_entry_with_its_job_time_and_svc():
    entries = {}
    entry = add(entries, at=10.0, svc="#s1#h")
    assert entry == Entry(ID, job(), PENDING, 1, 10.0, "", "#s1#h")
    assert entries == {ID: entry}


def test_add_is_idempotent_and_keeps_the_first_time():
    entries = {}
    add(entries, at=10.0)
    add(entries, at=20.0)
    assert len(entries) == 1 and entries["a" * 32].since == 10.0


def test_a_second_add_returns_the_entry_as_it_was():
    entries = {}
    first = add(entries, at=10.0, svc="#s1#h")
    apply(entries, JobRetry(ID, 2, 30.0))
    again = add(entries, at=50.0, svc="#s2#h")
    assert again == Entry(ID, job(), PENDING, 2, 30.0, "", "#s1#h") and again is entries[ID] and first != again


def test_retry_counts_attempts_and_restarts_the_clock():
    entries = {}
    add(entries)
    entry = apply(entries, JobRetry("a" * 32, 2, 50.0))
    assert (entry.attempts, entry.since) == (2, 50.0)


def test_retry_keeps_the_job_status_and_svc():
    entries = {}
    add(entries, svc="#s1#h")
    entry = apply(entries, JobRetry(ID, 2, 50.0))
    assert entry == Entry(ID, job(), PENDING, 2, 50.0, "", "#s1#h") and entries[ID] == entry


def test_retry_of_an_unknown_id_adds_nothing():
    entries = {}
    assert apply(entries, JobRetry(ID, 2, 50.0)) is None
    assert entries == {}


def test_failed_is_kept_with_its_reason_and_no_longer_pending():
    entries = {}
    add(entries)
    entry = apply(entries, JobFailed("a" * 32, "poison job", 3.0))
    assert (entry.status, entry.reason) == (FAILED, "poison job")
    assert pending_count(entries) == 0
    assert apply(entries, JobRetry("a" * 32, 5, 9.0)).attempts == 1


def test_failed_keeps_the_job_attempts_and_svc_and_takes_the_time_and_reason():
    entries = {}
    add(entries, svc="#s1#h")
    apply(entries, JobRetry(ID, 3, 50.0))
    entry = apply(entries, JobFailed(ID, "out of attempts", 80.0))
    assert entry == Entry(ID, job(), FAILED, 3, 80.0, "out of attempts", "#s1#h") and entries[ID] == entry


def test_a_retry_does_not_revive_a_failed_job():
    entries = {}
    add(entries)
    failed = apply(entries, JobFailed(ID, "poison job", 3.0))
    assert apply(entries, JobRetry(ID, 2, 9.0)) == failed and entries[ID] == failed


def test_failed_for_an_unknown_id_is_recorded():
    entries = {}
    assert apply(entries, JobFailed("b" * 32, "x")).status == FAILED


def test_failed_for_an_unknown_id_is_recorded_without_a_job_or_svc():
    entries = {}
    entry = apply(entries, JobFailed(ID, "unreadable", 7.0))
    assert entry == Entry(ID, None, FAILED, 1, 7.0, "unreadable", "") and entries == {ID: entry}


def test_done_for_an_unknown_id_changes_nothing():
    entries = {}
    add(entries)
    apply(entries, JobDone("b" * 32))
    assert list(entries) == ["a" * 32]


def test_done_removes_a_failed_job_too():
    entries = {}
    apply(entries, JobFailed(ID, "x", 1.0))
    assert apply(entries, JobDone(ID)) is None and entries == {}


def test_a_message_that_does_not_change_the_list_is_refused():
    class Stray:
        id = ID

    entries = {}
    with pytest.raises(TypeError, match="^Stray does not change the pending list$"):
        apply(entries, Stray())
    assert entries == {}


def test_a_group_message_without_an_id_is_refused_as_not_changing_the_list():
    with pytest.raises(TypeError, match="^SvcHello does not change the pending list$"):
        apply({}, SvcHello("127.0.0.1", 50061))


def test_replicas_fed_the_same_messages_agree():
    messages = [PendingAdd(f"{i:032x}", job(f"{i:032x}"), float(i)) for i in range(50)]
    messages += [JobDone(f"{i:032x}") for i in range(0, 50, 2)]
    messages += [JobFailed(f"{i:032x}", "r", 1.0) for i in range(1, 50, 5)]
    first, second = {}, {}
    for message in messages:
        apply(first, message)
        apply(second, message)
    assert first == second and pending_count(first) == 20


def test_pending_count_counts_pending_jobs_of_every_svc_or_of_one():
    entries = {}
    add(entries, f"{1:032x}", svc="#s1#h")
    add(entries, f"{2:032x}", svc="#s1#h")
    add(entries, f"{3:032x}", svc="#s2#h")
    add(entries, f"{4:032x}", svc="")
    apply(entries, JobFailed(f"{2:032x}", "x", 1.0))
    assert pending_count(entries) == 3
    per_svc = [pending_count(entries, svc) for svc in ("#s1#h", "#s2#h", "#s3#h")]
    assert per_svc == [1, 1, 0]
    assert pending_count(entries, "") == 1
    assert pending_count({}) == 0


# -- entries in a snapshot or checkpoint --------------------------------------------------------


def test_the_statuses_on_the_wire_are_pending_and_failed():
    assert (PENDING, FAILED, STATUSES) == ("pending", "failed", ("pending", "failed"))


def test_an_entry_as_dict_names_every_field():
    entry = Entry(ID, job(), FAILED, 3, 42.5, "out of attempts", "#s1#h")
    assert entry.as_dict() == entry_dict()
    assert Entry(ID, None).as_dict() == {
        "id": ID,
        "job": None,
        "status": "pending",
        "attempts": 1,
        "since": 0.0,
        "reason": "",
        "svc": "",
    }


def test_a_failed_entry_survives_a_transfer_with_its_attempts_time_reason_and_svc():
    entry = Entry(ID, job(), FAILED, 3, 42.5, "out of attempts", "#s1#h")
    assert Entry.from_dict(entry.as_dict()) == entry
    assert Entry.from_dict(entry_dict()) == entry


def test_an_entry_without_a_job_survives_a_transfer():
    entry = Entry(ID, None, FAILED, 1, 7.0, "unreadable", "")
    assert Entry.from_dict(entry.as_dict()) == entry


def test_a_pending_entry_survives_a_transfer():
    entry = Entry(ID, job(), PENDING, 1, 10.0, "", "#s2#h")
    assert Entry.from_dict(entry.as_dict()) == entry


def test_an_integer_time_is_read_as_a_float():
    entry = Entry.from_dict(entry_dict(since=42))
    assert entry.since == 42.0 and type(entry.since) is float


@pytest.mark.parametrize("data", [None, [], "entry", 3])
def test_an_entry_that_is_not_an_object_is_refused(data):
    assert refusal(data) == f"an entry is an object, not {type(data).__name__}"


@pytest.mark.parametrize("key", ["id", "job", "status", "attempts", "since", "reason", "svc"])
def test_an_entry_lacking_a_field_is_refused(key):
    data = entry_dict()
    del data[key]
    assert refusal(data) == f"entry lacks {key}"


def test_an_entry_lacking_several_fields_names_them_all_in_order():
    data = entry_dict()
    del data["svc"], data["attempts"]
    assert refusal(data) == "entry lacks attempts, svc"


@pytest.mark.parametrize("photo_id", ["../x", "A" * 32, 3, None])
def test_an_entry_with_a_malformed_id_is_refused(photo_id):
    assert refusal(entry_dict(id=photo_id)) == (
        f"entry {photo_id!r}: malformed id {photo_id!r}: an id is 32 hex digits"
    )


def test_an_entry_with_a_poison_job_is_refused():
    assert refusal(entry_dict(job={**job().as_dict(), "v": 2})) == f"entry {ID!r}: unknown job version 2"


def test_an_entry_whose_job_is_not_an_object_is_refused():
    assert refusal(entry_dict(job="photos/x.png")).startswith(f"entry {ID!r}: ")


def test_an_entry_holding_the_job_of_another_photo_is_refused():
    other = "b" * 32
    assert refusal(entry_dict(job=job(other).as_dict())) == f"entry {ID} holds the job of {other}"


@pytest.mark.parametrize("status", ["done", "PENDING", "Failed", None, ""])
def test_an_entry_with_an_unknown_status_is_refused(status):
    assert refusal(entry_dict(status=status)) == (f"entry {ID}: status {status!r} is not one of ('pending', 'failed')")


@pytest.mark.parametrize("attempts", [0, -1, True, False, 1.0, "1", None])
def test_an_entry_whose_attempts_are_not_a_count_is_refused(attempts):
    assert refusal(entry_dict(attempts=attempts)) == f"entry {ID}: attempts {attempts!r} is not a count"


def test_one_attempt_is_the_fewest_an_entry_holds():
    assert Entry.from_dict(entry_dict(attempts=1)).attempts == 1


@pytest.mark.parametrize("since", [True, "1", None, math.nan, math.inf, -math.inf])
def test_an_entry_whose_time_is_not_a_finite_number_is_refused(since):
    assert refusal(entry_dict(since=since)) == f"entry {ID}: since {since!r} is not a time"


@pytest.mark.parametrize("changes", [{"reason": None}, {"reason": 3}, {"svc": None}, {"svc": ["#s1#h"]}])
def test_an_entry_whose_reason_or_svc_is_not_a_string_is_refused(changes):
    assert refusal(entry_dict(**changes)) == f"entry {ID}: reason and svc are strings"


def test_a_withdrawn_upload_leaves_the_list_and_a_withdrawal_of_an_unknown_id_changes_nothing():
    entries = {}
    add(entries)
    assert apply(entries, PendingWithdrawn("b" * 32, "not queued")) is None
    assert list(entries) == ["a" * 32]
    assert apply(entries, PendingWithdrawn("a" * 32, "not queued")) is None
    assert entries == {}
