"""``photomark store`` through click's runner, against a test double of the manager on real gRPC."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from cli import output
from cli.store_commands import store
from protos import store_pb2
from store import streams
from tests.store.test_manager_client import ManagerDouble, nobody_listening, serving

MB = 1024 * 1024
STATS = store_pb2.StoreStats(
    objects=3,
    bytes=3_500_000,
    under_replicated=1,
    spooled=1,
    live_nodes=2,
    note="node n3 is down: 1 object being re-protected",
    nodes=[
        store_pb2.NodeStats(
            node="n1",
            address="127.0.0.1:6001",
            state="live",
            objects=3,
            bytes=3_500_000,
            disk_used=40_000_000_000,
            disk_total=100_000_000_000,
        ),
        store_pb2.NodeStats(node="n2", address="127.0.0.1:6002", state="live", objects=2, bytes=2_000_000),
        store_pb2.NodeStats(node="n3", address="127.0.0.1:6003", state="down", objects=1, bytes=1_500_000),
    ],
)


@pytest.fixture
def double() -> ManagerDouble:
    return ManagerDouble()


@pytest.fixture
def manager(double) -> Iterator[str]:
    with serving(double) as address:
        yield address


def run(*args: str, manager: str = ""):
    extra = ["--manager", manager] if manager else []
    return CliRunner().invoke(store, [*args, *extra], catch_exceptions=False)


def test_stats_prints_the_store_figures_and_a_row_per_node(double, manager):
    double.stats = STATS
    result = run("stats", manager=manager)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for label, value in [
        ("objects", "3"),
        ("bytes", "3.5 MB"),
        ("fewer than two good copies", "1"),
        ("waiting in the spool", "1"),
        ("live nodes", "2"),
    ]:
        assert any(line.startswith(label) and line.rstrip().endswith(value) for line in lines), (label, lines)
    assert "note: node n3 is down: 1 object being re-protected" in result.stdout
    rows = {line.split()[1]: line for line in lines if line.startswith("│ n")}
    assert set(rows) == {"n1", "n2", "n3"}
    assert "live" in rows["n1"] and "40.0 GB" in rows["n1"] and "100.0 GB" in rows["n1"]
    assert "down" in rows["n3"] and "1.5 MB" in rows["n3"]


def test_stats_json_carries_every_figure(double, manager):
    double.stats = STATS
    result = run("stats", "--json", manager=manager)
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert {k: figures[k] for k in ("objects", "bytes", "under_replicated", "spooled", "live_nodes")} == {
        "objects": 3,
        "bytes": 3_500_000,
        "under_replicated": 1,
        "spooled": 1,
        "live_nodes": 2,
    }
    assert figures["note"] == STATS.note
    assert figures["nodes"][0] == {
        "node": "n1",
        "address": "127.0.0.1:6001",
        "state": "live",
        "objects": 3,
        "bytes": 3_500_000,
        "disk_used": 40_000_000_000,
        "disk_total": 100_000_000_000,
    }
    assert [n["state"] for n in figures["nodes"]] == ["live", "live", "down"]


def test_the_manager_address_comes_from_the_environment_too(double, manager):
    double.stats = STATS
    result = CliRunner().invoke(store, ["stats", "--json"], env={"PHOTOMARK_STORE_MANAGER": manager})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["objects"] == 3


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["ls"], ["stat", "files/a.png"]])
def test_an_unreachable_manager_is_one_clear_line_and_an_error_exit(command):
    with nobody_listening() as address:
        result = run(*command, manager=address)
    assert result.exit_code == output.EXIT_UNAVAILABLE
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and f"cannot reach the store manager at {address}" in line


def test_put_then_get_of_a_large_file_round_trips_through_the_store(double, manager, tmp_path):
    data = os.urandom(5 * MB + 3)
    source = tmp_path / "holiday.jpg"
    source.write_bytes(data)
    put = run("put", str(source), manager=manager)
    assert put.exit_code == 0, put.stderr
    digest = streams.sha256_of(data)
    assert put.stdout.split() == ["files/holiday.jpg", str(len(data)), digest, "1"]
    assert double.objects["files/holiday.jpg"] == (data, 1)
    assert double.block_sizes == [streams.BLOCK] * 5 + [3]  # streamed in blocks
    target = tmp_path / "back" / "copy.jpg"
    target.parent.mkdir()
    got = run("get", "files/holiday.jpg", "-o", str(target), manager=manager)
    assert got.exit_code == 0, got.stderr
    assert got.stdout.strip() == str(target)
    assert target.read_bytes() == data
    assert os.listdir(target.parent) == ["copy.jpg"]


def test_put_takes_an_id_and_get_writes_to_the_ids_last_part_by_default(double, manager, tmp_path, monkeypatch):
    source = tmp_path / "a.png"
    source.write_bytes(b"small photo")
    assert run("put", str(source), "--id", "photos/b.png", manager=manager).exit_code == 0
    assert double.objects["photos/b.png"] == (b"small photo", 1)
    monkeypatch.chdir(tmp_path)
    got = run("get", "photos/b.png", manager=manager)
    assert got.exit_code == 0, got.stderr
    assert (tmp_path / "b.png").read_bytes() == b"small photo"


def test_get_of_damaged_bytes_fails_and_writes_no_file(double, manager, tmp_path):
    double.objects["photos/a.png"] = (b"stored", 1)
    double.corrupt_gets = True
    result = run("get", "photos/a.png", "-o", str(tmp_path / "a.png"), manager=manager)
    assert result.exit_code == output.EXIT_ERROR
    assert "sha256" in result.stderr and "[DATA_LOSS]" in result.stderr
    assert os.listdir(tmp_path) == []


def test_stat_ls_and_delete(double, manager):
    for name in ("photos/b.png", "photos/a.png", "state/pending.json"):
        double.objects[name] = (name.encode(), 1)
    stat = run("stat", "photos/a.png", manager=manager)
    assert stat.exit_code == 0, stat.stderr
    assert "sha256   " + streams.sha256_of(b"photos/a.png") in stat.stdout and "n1, n2" in stat.stdout
    as_json = json.loads(run("stat", "photos/a.png", "--json", manager=manager).stdout)
    assert as_json["size"] == len("photos/a.png") and as_json["nodes"] == ["n1", "n2"]
    assert run("ls", "photos/", manager=manager).stdout.splitlines() == ["photos/a.png", "photos/b.png"]
    assert len(run("ls", manager=manager).stdout.splitlines()) == 3
    deleted = run("delete", "photos/a.png", manager=manager)
    assert deleted.exit_code == 0 and deleted.stdout.strip() == "deleted photos/a.png"
    assert "photos/a.png" not in double.objects


@pytest.mark.parametrize("command", [["get", "photos/none.png"], ["stat", "photos/none.png"], ["delete", "x/none"]])
def test_a_missing_object_is_exit_code_3(manager, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*command, manager=manager)
    assert result.exit_code == output.EXIT_NOT_FOUND
    assert result.stderr.startswith(f"error: no object {command[1]} in the store")
    assert os.listdir(tmp_path) == []


def test_a_malformed_id_is_refused_before_calling_with_exit_code_2(double, manager, tmp_path):
    source = tmp_path / "my photo.png"  # a space: no object id
    source.write_bytes(b"x")
    for command in (["put", str(source)], ["get", "../etc/passwd"], ["stat", "a//b"]):
        result = run(*command, manager=manager)
        assert result.exit_code == output.EXIT_BAD_INPUT, command
        assert result.stderr.startswith("error: malformed object id")
    assert double.headers == []


def test_a_put_the_manager_refuses_says_why(double, manager, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    result = run("put", str(empty), manager=manager)
    assert result.exit_code == output.EXIT_BAD_INPUT
    assert "zero-byte" in result.stderr and "[INVALID_ARGUMENT]" in result.stderr


def test_every_option_has_help_text():
    for name, command in store.commands.items():
        for parameter in command.params:
            if parameter.param_type_name == "option":
                assert parameter.help, f"store {name} {parameter.opts}"


def test_store_is_a_photomark_command():
    from cli.main import cli

    assert cli.commands["store"] is store
