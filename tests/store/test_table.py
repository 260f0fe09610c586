"""The object table on real SQLite files: records, versions, tombstones, threads, processes, SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.ids import InvalidDigest, InvalidNodeId, InvalidObjectId
from store.model import Node, NodeState, Replica, StoredObject
from store.table import NodeRow, ObjectTable, SchemaMismatch, TableStats

ROOT = Path(__file__).resolve().parents[2]
A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def table(tmp_path):
    table = ObjectTable(tmp_path / "objects.db")
    yield table
    table.close()


def row_count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchone()[0]


# -- the file --


def test_a_new_table_is_a_wal_file_of_the_current_schema_version(tmp_path):
    ObjectTable(tmp_path / "t.db").close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_table_reopens_with_what_it_held(tmp_path):
    first = ObjectTable(tmp_path / "t.db")
    first.record_put("p/1", 3, A)
    first.close()
    again = ObjectTable(tmp_path / "t.db")
    assert again.get("p/1") == StoredObject("p/1", 3, A, 1, (), True)
    again.close()


def test_a_file_of_another_schema_version_is_refused(tmp_path):
    ObjectTable(tmp_path / "t.db").close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaMismatch, match="schema version 99"):
        ObjectTable(tmp_path / "t.db")


def test_a_database_of_something_else_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE photos (name TEXT)")
    with pytest.raises(SchemaMismatch):
        ObjectTable(tmp_path / "other.db")


def test_a_closed_table_refuses_calls(tmp_path):
    table = ObjectTable(tmp_path / "t.db")
    table.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        table.get("p/1")


# -- objects, versions and copies --


def test_record_put_makes_version_one_spooled_with_no_copies(table):
    assert table.record_put("photos/a.png", 10, A) == StoredObject("photos/a.png", 10, A, 1, (), True)
    assert table.get("photos/a.png") == StoredObject("photos/a.png", 10, A, 1, (), True)
    assert table.get("photos/b.png") is None


def test_a_new_put_bumps_the_version_and_keeps_copies_stale_unless_their_sha_matches(table):
    table.record_put("p/1", 10, A)
    table.add_replica("p/1", "n1", A)
    table.add_replica("p/1", "n2", B)
    table.set_spooled("p/1", 1, False)
    again = table.record_put("p/1", 12, B)
    assert (again.version, again.size, again.sha256, again.spooled) == (2, 12, B, True)
    assert again.holders() == {"n1", "n2"}
    assert again.good_nodes({"n1", "n2"}) == ("n2",)


def test_record_put_removes_the_tombstone_of_its_id(table):
    table.record_put("p/1", 10, A)
    table.delete("p/1")
    assert table.record_put("p/1", 10, B).version == 1
    assert table.tombstoned(["p/1"]) == set()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda t: t.record_put("../up", 1, A), InvalidObjectId),
        (lambda t: t.record_put("p/.hidden", 1, A), InvalidObjectId),
        (lambda t: t.record_put("p/1", 0, A), ValueError),
        (lambda t: t.record_put("p/1", -5, A), ValueError),
        (lambda t: t.record_put("p/1", True, A), ValueError),
        (lambda t: t.record_put("p/1", 1, A.upper()), InvalidDigest),
        (lambda t: t.add_replica("p/0", "Node1", A), InvalidNodeId),
        (lambda t: t.add_replica("p/0", "n1", "abc"), InvalidDigest),
        (lambda t: t.adopt("p/1", 1, A, "far-too-long-name"), InvalidNodeId),
        (lambda t: t.adopt("p/1", 0, A, "n1"), ValueError),
        (lambda t: t.upsert_node("N_1", "h:1", NodeState.LIVE), InvalidNodeId),
        (lambda t: t.upsert_node("n1", "h:1", "sleeping"), ValueError),
    ],
)
def test_bad_input_raises_before_anything_is_written(table, call, error):
    table.record_put("p/0", 1, A)
    before = table.objects(), table.nodes()
    with pytest.raises(error):
        call(table)
    assert (table.objects(), table.nodes()) == before


def test_copies_come_oldest_first_by_a_table_wide_seq(table):
    table.record_put("p/1", 1, A)
    table.record_put("p/2", 1, A)
    assert table.add_replica("p/1", "n2", A)
    assert table.add_replica("p/2", "n1", A)
    assert table.add_replica("p/1", "n1", A)
    assert table.get("p/1").replicas == (Replica("n2", A, 1), Replica("n1", A, 3))
    assert table.get("p/2").replicas == (Replica("n1", A, 2),)


def test_a_copy_keeps_its_seq_when_its_sha_is_unchanged_and_gets_a_new_one_otherwise(table):
    table.record_put("p/1", 1, A)
    table.add_replica("p/1", "n1", A)
    table.add_replica("p/1", "n2", A)
    assert table.add_replica("p/1", "n1", A)
    assert table.get("p/1").replicas == (Replica("n1", A, 1), Replica("n2", A, 2))
    assert table.add_replica("p/1", "n1", B)
    assert table.get("p/1").replicas == (Replica("n2", A, 2), Replica("n1", B, 3))


def test_a_copy_of_a_gone_object_or_a_superseded_version_is_not_recorded(table):
    assert not table.add_replica("p/1", "n1", A)
    table.record_put("p/1", 1, A)
    table.record_put("p/1", 1, B)
    assert not table.add_replica("p/1", "n1", A, version=1)
    assert table.get("p/1").replicas == ()
    assert table.add_replica("p/1", "n1", B, version=2)
    assert table.get("p/1").holders() == {"n1"}


def test_drop_replica_removes_one_node_s_record(table):
    table.record_put("p/1", 1, A)
    table.add_replica("p/1", "n1", A)
    table.add_replica("p/1", "n2", A)
    assert table.drop_replica("p/1", "n1")
    assert not table.drop_replica("p/1", "n1")
    assert not table.drop_replica("p/9", "n1")
    assert table.get("p/1").holders() == {"n2"}


def test_set_spooled_applies_only_to_that_version(table):
    table.record_put("p/1", 1, A)
    table.record_put("p/1", 1, B)
    assert not table.set_spooled("p/1", 1, False)
    assert table.get("p/1").spooled
    assert table.set_spooled("p/1", 2, False)
    assert not table.get("p/1").spooled
    assert not table.set_spooled("p/9", 1, False)


def test_delete_removes_the_object_and_its_copies_and_leaves_a_tombstone(table, tmp_path):
    table.record_put("p/1", 1, A)
    table.add_replica("p/1", "n1", A)
    gone = table.delete("p/1")
    assert gone.id == "p/1" and gone.holders() == {"n1"}
    assert table.get("p/1") is None
    assert table.objects_on("n1") == []
    assert row_count(tmp_path / "objects.db", "SELECT count(*) FROM replicas") == 0
    assert table.tombstoned(["p/1", "p/2"]) == {"p/1"}


def test_deleting_an_unknown_id_does_nothing(table):
    assert table.delete("p/1") is None
    assert table.tombstoned(["p/1"]) == set()


def test_tombstoned_answers_for_many_ids_at_once(table):
    ids = [f"p/{i}" for i in range(1200)]
    for object_id in ids[::100]:
        table.record_put(object_id, 1, A)
        table.delete(object_id)
    assert table.tombstoned(ids + ["../not-an-id"]) == set(ids[::100])


def test_adopt_records_a_lost_object_with_the_reporting_node_s_copy(table):
    adopted = table.adopt("p/1", 7, A, "n3")
    assert adopted == StoredObject("p/1", 7, A, 1, (Replica("n3", A, 1),), False)
    assert table.get("p/1") == adopted


def test_adopt_does_nothing_for_a_known_or_tombstoned_id(table):
    table.record_put("p/1", 1, A)
    table.record_put("p/2", 1, A)
    table.delete("p/2")
    assert table.adopt("p/1", 5, B, "n1") is None
    assert table.adopt("p/2", 5, B, "n1") is None
    assert table.get("p/1") == StoredObject("p/1", 1, A, 1, (), True)
    assert table.get("p/2") is None


def test_objects_come_by_id_and_objects_on_a_node_are_those_it_holds_a_copy_of(table):
    for object_id in ["p/c", "p/a", "p/b"]:
        table.record_put(object_id, 1, A)
    table.add_replica("p/c", "n1", A)
    table.add_replica("p/a", "n1", B)
    table.add_replica("p/b", "n2", A)
    assert [o.id for o in table.objects()] == ["p/a", "p/b", "p/c"]
    assert [o.id for o in table.objects_on("n1")] == ["p/a", "p/c"]
    assert table.objects_on("n9") == []


def test_list_ids_takes_the_prefix_literally_and_case_sensitively(table):
    for object_id in ["a_b/1", "axb/1", "ab/1", "A_b/2", "a_b", "b/1"]:
        table.record_put(object_id, 1, A)
    assert table.list_ids("a_b") == ["a_b", "a_b/1"]
    assert table.list_ids("a%") == []  # not a wildcard: no id starts with "a%"
    assert table.list_ids("a") == ["a_b", "a_b/1", "ab/1", "axb/1"]
    assert table.list_ids("A") == ["A_b/2"]
    assert table.list_ids("") == ["A_b/2", "a_b", "a_b/1", "ab/1", "axb/1", "b/1"]
    assert table.list_ids("z") == []


def test_needing_copies_counts_only_good_copies_on_live_nodes_one_copy_first(table):
    table.record_put("p/none", 1, A)
    table.record_put("p/stale", 1, A)
    table.add_replica("p/stale", "n1", B)
    table.add_replica("p/stale", "n2", A)
    table.record_put("p/down", 1, A)
    table.add_replica("p/down", "n1", A)
    table.add_replica("p/down", "n3", A)
    table.record_put("p/ok", 1, A)
    table.add_replica("p/ok", "n1", A)
    table.add_replica("p/ok", "n2", A)
    live = {"n1", "n2"}
    assert [o.id for o in table.needing_copies(live)] == ["p/down", "p/stale", "p/none"]
    assert [o.id for o in table.needing_copies(live, limit=1)] == ["p/down"]
    assert [o.id for o in table.needing_copies(set())] == ["p/down", "p/none", "p/ok", "p/stale"]


def test_with_surplus_finds_more_than_two_good_copies_or_a_stale_copy_on_a_live_node(table):
    table.record_put("p/three", 1, A)
    for node in ["n1", "n2", "n3"]:
        table.add_replica("p/three", node, A)
    table.record_put("p/stale", 1, A)
    table.add_replica("p/stale", "n1", B)
    table.record_put("p/stale-down", 1, A)
    table.add_replica("p/stale-down", "n4", B)
    table.record_put("p/two", 1, A)
    table.add_replica("p/two", "n1", A)
    table.add_replica("p/two", "n2", A)
    assert [o.id for o in table.with_surplus({"n1", "n2", "n3"})] == ["p/stale", "p/three"]
    assert [o.id for o in table.with_surplus({"n1", "n2"})] == ["p/stale"]
    assert [o.id for o in table.with_surplus({"n1", "n2", "n3"}, limit=1)] == ["p/stale"]


# -- nodes and figures --


def test_nodes_carry_the_bytes_recorded_on_them_and_the_disk_they_reported(table):
    table.upsert_node("n1", "10.0.0.1:7001", NodeState.LIVE, disk_used=100, disk_total=1000)
    table.upsert_node("n2", "10.0.0.2:7001", NodeState.JOINING)
    table.record_put("p/1", 10, A)
    table.record_put("p/2", 32, A)
    table.add_replica("p/1", "n1", A)
    table.add_replica("p/2", "n1", B)
    assert table.nodes() == {
        "n1": Node("n1", "10.0.0.1:7001", NodeState.LIVE, used_bytes=42, disk_free=900),
        "n2": Node("n2", "10.0.0.2:7001", NodeState.JOINING, used_bytes=0, disk_free=None),
    }
    assert table.node_stats() == [
        NodeRow("n1", "10.0.0.1:7001", NodeState.LIVE, 2, 42, 100, 1000),
        NodeRow("n2", "10.0.0.2:7001", NodeState.JOINING, 0, 0, None, None),
    ]


def test_upsert_node_keeps_the_last_disk_figures_when_none_are_given(table):
    table.upsert_node("n1", "h:1", NodeState.LIVE, disk_used=5, disk_total=50)
    table.upsert_node("n1", "h:2", NodeState.DOWN)
    assert table.nodes()["n1"] == Node("n1", "h:2", NodeState.DOWN, disk_free=45)
    table.upsert_node("n1", "h:2", NodeState.LIVE, disk_used=20, disk_total=50)
    assert table.nodes()["n1"].disk_free == 30


def test_set_node_state_changes_a_known_node_only(table):
    table.upsert_node("n1", "h:1", NodeState.LIVE)
    assert table.set_node_state("n1", NodeState.DOWN)
    assert table.nodes()["n1"].state is NodeState.DOWN
    assert not table.set_node_state("n2", NodeState.DOWN)
    assert "n2" not in table.nodes()


def test_stats_count_objects_bytes_under_replicated_and_spooled(table):
    assert table.stats(set()) == TableStats(0, 0, 0, 0)
    table.record_put("p/1", 10, A)
    table.record_put("p/2", 5, A)
    table.add_replica("p/2", "n1", A)
    table.add_replica("p/2", "n2", A)
    table.set_spooled("p/2", 1, False)
    assert table.stats({"n1", "n2"}) == TableStats(2, 15, 1, 1)
    assert table.stats({"n1"}) == TableStats(2, 15, 2, 1)


def test_metrics_history_is_kept_filtered_and_pruned(table):
    table.record_metrics(100.0, [("store_objects", "", 3.0), ("node_bytes", 'node="n1"', 10.0)])
    table.record_metrics(200.0, [("store_objects", "", 4.0)])
    assert table.metrics_history() == [
        (100.0, "store_objects", "", 3.0),
        (100.0, "node_bytes", 'node="n1"', 10.0),
        (200.0, "store_objects", "", 4.0),
    ]
    assert table.metrics_history("store_objects", since=150.0) == [(200.0, "store_objects", "", 4.0)]
    assert table.prune_metrics(before=200.0) == 2
    assert table.metrics_history() == [(200.0, "store_objects", "", 4.0)]


# -- many threads, two tables, a killed process --


def test_eight_threads_writing_at_once_lose_nothing(table):
    threads, rounds = 8, 100
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                table.record_put(f"w{worker}/{i}", i + 1, A)
                table.add_replica(f"w{worker}/{i}", f"n{worker}", A)
                table.record_put("shared", 1, A)
                table.add_replica("shared", f"n{worker}", A)
                table.get(f"w{(worker + 1) % threads}/{i}")
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    assert len(table.objects()) == threads * rounds + 1
    assert all(o.holders() == {o.id.split("/")[0].replace("w", "n")} for o in table.objects() if o.id != "shared")
    shared = table.get("shared")
    assert shared.version == threads * rounds
    assert shared.holders() == {f"n{n}" for n in range(threads)}
    seqs = [r.seq for o in table.objects() for r in o.replicas]
    assert len(seqs) == len(set(seqs))


def test_a_second_table_on_the_same_file_sees_the_first_s_commits(tmp_path):
    first, second = ObjectTable(tmp_path / "t.db"), ObjectTable(tmp_path / "t.db")
    try:
        first.record_put("p/1", 1, A)
        assert second.get("p/1") is not None
        second.add_replica("p/1", "n1", A)
        assert first.get("p/1").holders() == {"n1"}
        first.delete("p/1")
        assert second.tombstoned(["p/1"]) == {"p/1"}
    finally:
        first.close()
        second.close()


_WRITER = """
import sys
from store.table import ObjectTable
table = ObjectTable(sys.argv[1])
i = 0
while True:
    table.record_put(f"{sys.argv[2]}/{i}", i + 1, "a" * 64)
    table.add_replica(f"{sys.argv[2]}/{i}", "n1", "a" * 64)
    print(i, flush=True)
    i += 1
"""


def test_a_writer_killed_mid_way_leaves_a_table_holding_every_confirmed_put(tmp_path):
    path = tmp_path / "t.db"
    for run in ["r0", "r1", "r2"]:  # each writer is killed while writing, the next one writes on
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), run], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            for _ in range(25):
                assert child.stdout.readline(), f"the writer ended early: {child.stderr.read().decode()}"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        confirmed = 25 + len(child.stdout.read().split())  # also those printed before the kill landed
        child.stdout.close()
        child.stderr.close()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        table = ObjectTable(path)
        try:
            for i in range(confirmed):
                found = table.get(f"{run}/{i}")
                assert (found.size, found.sha256, found.version, found.holders()) == (i + 1, A, 1, {"n1"})
            assert len(table.list_ids(f"{run}/")) in (confirmed, confirmed + 1)  # the last may not be confirmed
        finally:
            table.close()


# -- the SQL of needing_copies and with_surplus against plain Python --

NODES = ["n1", "n2", "n3", "n4"]
_object = st.tuples(
    st.sampled_from([A, B, C]), st.dictionaries(st.sampled_from(NODES), st.sampled_from([A, B, C]), max_size=4)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=st.lists(_object, max_size=12), live=st.sets(st.sampled_from(NODES)), limit=st.integers(1, 14))
def test_needing_copies_and_with_surplus_agree_with_plain_python(tmp_path_factory, objects, live, limit):
    table = ObjectTable(tmp_path_factory.mktemp("prop") / "t.db")
    try:
        for i, (sha, copies) in enumerate(objects):
            table.record_put(f"p/{i:02}", 1, sha)
            for node, copy_sha in copies.items():
                table.add_replica(f"p/{i:02}", node, copy_sha)
        everything = table.objects()

        def good(o: StoredObject) -> int:
            return len(o.good_nodes(live))

        needing = sorted((o for o in everything if good(o) < 2), key=lambda o: (-good(o), o.id))
        surplus = [
            o for o in everything if good(o) > 2 or any(r.sha256 != o.sha256 and r.node in live for r in o.replicas)
        ]
        assert table.needing_copies(live, limit) == needing[:limit]
        assert table.with_surplus(live, limit) == surplus[:limit]
        assert table.stats(live).under_replicated == len(needing)
    finally:
        table.close()
