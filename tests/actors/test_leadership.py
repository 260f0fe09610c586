from actors.leadership import is_leader, leader_of, overdue
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
