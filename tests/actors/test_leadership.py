from actors.leadership import SVC_ROLE, Overdue, is_leader, leader_of, overdue
from actors.member_names import base36, member_name, role_of
from actors.pending_state import Entry


def test_the_oldest_svc_leads_and_the_register_never_does():
    old, new = member_name("svc", 1_700_000_000_000), member_name("svc", 1_700_000_000_001)
    register = member_name("register", 1_600_000_000_000)
    members = [f"#{name}#localhost" for name in (new, register, old)]
    assert leader_of(members) == f"#{old}#localhost"
    assert is_leader(f"#{old}#localhost", members) and not is_leader(f"#{new}#localhost", members)
    assert leader_of([f"#{register}#localhost"]) is None


def test_member_names_fit_spread_and_sort_by_start_time():
    names = [member_name("svc", ms) for ms in (5, 1_000, 36**7, 1_700_000_000_000)]
    assert all(len(name) <= 10 for name in names)
    assert names == sorted(names)
    assert role_of(f"#{names[0]}#host") == "s" and base36(35, 2) == "0z"


def test_overdue_retries_until_the_attempts_run_out():
    entries = {
        "fresh": Entry("fresh", {}, since=95.0),
        "late": Entry("late", {}, since=10.0, attempts=1),
        "hopeless": Entry("hopeless", {}, since=10.0, attempts=3),
        "failed": Entry("failed", {}, status="failed", since=0.0),
    }
    due = overdue(entries, now=100.0, timeout=30.0, max_attempts=3)
    assert due.retry == ("late",) and due.give_up == ("hopeless",)


def test_a_job_is_overdue_exactly_when_the_timeout_has_passed():
    entries = {"at": Entry("at", None, since=70.0), "before": Entry("before", None, since=70.5)}
    assert overdue(entries, now=100.0, timeout=30.0, max_attempts=3) == Overdue(("at",), ())


def test_a_job_gives_up_when_its_attempts_reach_the_maximum():
    entries = {
        "second": Entry("second", None, since=0.0, attempts=2),
        "third": Entry("third", None, since=0.0, attempts=3),
        "fourth": Entry("fourth", None, since=0.0, attempts=4),
    }
    assert overdue(entries, now=100.0, timeout=30.0, max_attempts=3) == Overdue(("second",), ("third", "fourth"))


def test_nothing_is_overdue_in_an_empty_or_fresh_list():
    assert overdue({}, now=100.0, timeout=30.0, max_attempts=3) == Overdue((), ())
    assert overdue({"x": Entry("x", None, since=99.0)}, now=100.0, timeout=30.0, max_attempts=3) == Overdue((), ())


def test_only_svcs_lead_whatever_their_names_sort_like():
    assert SVC_ROLE == "s"
    assert leader_of(["#r00000000a#h", "#s00000001b#h", "#w000000000#h"]) == "#s00000001b#h"
    assert leader_of(["r00000000a", "s00000002b", "s00000001b"]) == "s00000001b"
    assert leader_of([]) is None
    assert not is_leader("#r00000000a#h", ["#r00000000a#h"])
    assert is_leader("#s00000001b#h", ["#s00000001b#h"])
