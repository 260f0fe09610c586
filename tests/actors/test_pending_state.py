from actors.group_messages import JobDone, JobFailed, JobRetry, PendingAdd
from actors.job import Job
from actors.pending_state import FAILED, PENDING, apply, pending_count


def job(photo_id: str = "a" * 32) -> Job:
    return Job(photo_id, f"photos/{photo_id}.png", ("alpha",), "a.png", 1.0)


def add(entries, photo_id="a" * 32, at=10.0):
    return apply(entries, PendingAdd(photo_id, job(photo_id), at))


def test_add_then_done_leaves_the_list():
    entries = {}
    assert add(entries).status == PENDING
    assert apply(entries, JobDone("a" * 32)) is None
    assert entries == {}


def test_add_is_idempotent_and_keeps_the_first_time():
    entries = {}
    add(entries, at=10.0)
    add(entries, at=20.0)
    assert len(entries) == 1 and entries["a" * 32].since == 10.0


def test_retry_counts_attempts_and_restarts_the_clock():
    entries = {}
    add(entries)
    entry = apply(entries, JobRetry("a" * 32, 2, 50.0))
    assert (entry.attempts, entry.since) == (2, 50.0)


def test_failed_is_kept_with_its_reason_and_no_longer_pending():
    entries = {}
    add(entries)
    entry = apply(entries, JobFailed("a" * 32, "poison job", 3.0))
    assert (entry.status, entry.reason) == (FAILED, "poison job")
    assert pending_count(entries) == 0
    assert apply(entries, JobRetry("a" * 32, 5, 9.0)).attempts == 1


def test_failed_for_an_unknown_id_is_recorded():
    entries = {}
    assert apply(entries, JobFailed("b" * 32, "x")).status == FAILED


def test_done_for_an_unknown_id_changes_nothing():
    entries = {}
    add(entries)
    apply(entries, JobDone("b" * 32))
    assert list(entries) == ["a" * 32]


def test_replicas_fed_the_same_messages_agree():
    messages = [PendingAdd(f"{i:032x}", job(f"{i:032x}"), float(i)) for i in range(50)]
    messages += [JobDone(f"{i:032x}") for i in range(0, 50, 2)]
    messages += [JobFailed(f"{i:032x}", "r", 1.0) for i in range(1, 50, 5)]
    first, second = {}, {}
    for message in messages:
        apply(first, message)
        apply(second, message)
    assert first == second and pending_count(first) == 20
