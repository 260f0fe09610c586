from actors.group_messages import JobDone, PendingAdd
from actors.job import Job
from actors.pending_state import apply, pending_count
from actors.svc_choice import SvcRecord, choose, ranked


def svc(name: str, load: int) -> SvcRecord:
    return SvcRecord(name, "127.0.0.1", 50061, load)


def test_the_least_loaded_svc_is_chosen():
    assert choose([svc("#s1#h", 4), svc("#s2#h", 1), svc("#s3#h", 2)]).name == "#s2#h"
    assert choose([]) is None


def test_equally_loaded_svcs_are_handed_out_in_turn():
    svcs = [svc("#s1#h", 0), svc("#s2#h", 0), svc("#s3#h", 5)]
    assert [choose(svcs, turn).name for turn in range(4)] == ["#s1#h", "#s2#h", "#s1#h", "#s2#h"]
    assert [s.name for s in ranked(svcs)] == ["#s1#h", "#s2#h", "#s3#h"]


def test_a_svc_load_counts_the_pending_jobs_it_accepted():
    entries = {}
    for i, accepted_by in enumerate(["#s1#h", "#s1#h", "#s2#h"]):
        photo_id = f"{i:032x}"
        apply(entries, PendingAdd(photo_id, Job(photo_id, f"photos/{photo_id}.png", ("a",), "", 1.0), 1.0, accepted_by))
    apply(entries, JobDone(f"{0:032x}"))
    assert (pending_count(entries, "#s1#h"), pending_count(entries, "#s2#h"), pending_count(entries)) == (1, 1, 2)


def test_the_first_of_the_least_loaded_is_chosen_when_no_turn_is_given():
    svcs = [svc("#s2#h", 0), svc("#s1#h", 0)]
    assert choose(svcs).name == "#s1#h"


def test_turns_go_round_the_least_loaded_only():
    svcs = [svc("#s3#h", 1), svc("#s1#h", 1), svc("#s2#h", 1), svc("#s0#h", 2)]
    assert [choose(svcs, turn).name for turn in range(5)] == ["#s1#h", "#s2#h", "#s3#h", "#s1#h", "#s2#h"]


def test_ties_go_to_the_smaller_name_and_load_ranks_before_name():
    svcs = [svc("#s1#h", 3), svc("#s3#h", 0), svc("#s2#h", 0)]
    assert [s.name for s in ranked(svcs)] == ["#s2#h", "#s3#h", "#s1#h"]
    assert ranked([]) == []


def test_a_svc_record_starts_with_no_load():
    assert SvcRecord("#s1#h", "127.0.0.1", 50061).load == 0
