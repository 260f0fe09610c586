"""The manager's spool: fsynced files named by their hash, nothing left by a failed put."""

from __future__ import annotations

import hashlib

import pytest

from store.manager.spool import Spool
from store.streams import Header, StreamError


def test_a_received_stream_is_filed_under_its_hash(tmp_path):
    spool = Spool(tmp_path)
    data = b"x" * 3_000_000
    sha = spool.receive(Header("a", len(data)), [data[:1_000_000], data[1_000_000:]])
    assert sha == hashlib.sha256(data).hexdigest()
    assert spool.has(sha) and spool.read(sha) == data
    assert b"".join(spool.blocks(sha)) == data
    assert spool.hashes() == [sha]


def test_a_stream_with_the_wrong_hash_or_size_leaves_nothing(tmp_path):
    spool = Spool(tmp_path)
    with pytest.raises(StreamError, match="sha256"):
        spool.receive(Header("a", 3, "00" * 32), [b"abc"])
    with pytest.raises(StreamError, match="announced"):
        spool.receive(Header("a", 4), [b"abc"])
    with pytest.raises(StreamError, match="more than"):
        spool.receive(Header("a", 2), [b"abc"])
    assert spool.hashes() == []
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_temporary_left_by_a_killed_put_is_swept_at_start(tmp_path):
    (tmp_path / ".tmp-deadbeef").write_bytes(b"half a put")
    Spool(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_removing_is_idempotent(tmp_path):
    spool = Spool(tmp_path)
    sha = spool.receive(Header("a", 3), [b"abc"])
    spool.remove(sha)
    spool.remove(sha)
    assert not spool.has(sha)


def test_a_spool_file_no_spooled_object_has_is_swept_at_the_managers_start(tmp_path):
    from store.manager.placer import sweep_spool
    from store.table import ObjectTable

    spool = Spool(tmp_path / "spool")
    table = ObjectTable(tmp_path / "objects.sqlite")
    kept = spool.receive(Header("a", 3), [b"abc"])
    table.record_put("a", 3, kept)
    orphan = spool.receive(Header("b", 3), [b"xyz"])  # placed, then the manager died before removing it
    assert sweep_spool(table, spool) == [orphan]
    assert spool.hashes() == [kept]
    table.close()
