"""The pending list cut into chunks and put back together (``actors/pending_snapshot.py``): no actor, no group."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from actors import group_messages
from actors.group_messages import SnapshotChunk
from actors.job import Job
from actors.pending_snapshot import CHUNK_BYTES, Assembler, BadSnapshot, chunks
from actors.pending_state import FAILED, Entry
from ports.group import MAX_PAYLOAD


def entry(i: int) -> Entry:
    photo_id = f"{i:032x}"
    job = Job(photo_id, f"photos/{photo_id}.png", ("alpha", f"k{i}"), "x.png", float(i))
    if i % 3 == 0:
        return Entry(photo_id, job, FAILED, 3, float(i), "out of attempts", "#s1#h")
    return Entry(photo_id, job, since=float(i), svc="#s2#h")


def packed(listed) -> str:
    return base64.b64encode(zlib.compress(json.dumps(listed).encode())).decode()


def bad(parts: list[SnapshotChunk]) -> str:
    assembler = Assembler(parts[0].nonce)
    with pytest.raises(BadSnapshot) as refused:
        for part in parts:
            assembler.add(part)
    return str(refused.value)


def test_chunks_are_at_most_96000_characters_by_default():
    assert CHUNK_BYTES == 96_000
    parts = chunks([entry(i) for i in range(5000)], "n1", "#s2#h")
    assert len(parts) > 1 and [len(p.data) for p in parts[:-1]] == [96_000] * (len(parts) - 1)


def test_a_full_chunk_as_multicast_fits_in_one_spread_message_with_room_to_spare():
    part = chunks([entry(i) for i in range(5000)], "n" * 32, "#" + "s" * 10 + "#" + "h" * 19)[0]
    _, body = group_messages.encode(part)
    assert len(body) <= MAX_PAYLOAD * 0.7  # "nothing may come near the edge"


def test_chunks_are_numbered_addressed_and_carry_the_compact_json_of_the_entries():
    entries = [entry(i) for i in range(300)]
    parts = chunks(entries, "n1", "#s2#h", chunk_bytes=1000)
    assert [(p.to, p.nonce, p.index, p.total) for p in parts] == [
        ("#s2#h", "n1", i, len(parts)) for i in range(len(parts))
    ]
    assert all(len(p.data) == 1000 for p in parts[:-1]) and 0 < len(parts[-1].data) <= 1000
    raw = json.dumps([e.as_dict() for e in entries], separators=(",", ":")).encode()
    assert "".join(p.data for p in parts) == base64.b64encode(zlib.compress(raw, 6)).decode()  # zlib's level 6


def test_a_small_list_travels_in_one_chunk():
    parts = chunks([entry(1)], "n1", "#s2#h")
    assert [(p.index, p.total) for p in parts] == [(0, 1)]
    assert Assembler("n1").add(parts[0]) == [entry(1)]


def test_an_empty_list_travels_too():
    parts = chunks([], "n1", "#s2#h")
    assert [(p.index, p.total) for p in parts] == [(0, 1)]
    assert Assembler("n1").add(parts[0]) == []


def test_snapshot_chunks_reassemble_in_any_order():
    entries = [entry(i) for i in range(2000)]
    parts = chunks(entries, "n1", "#s2#h", chunk_bytes=5_000)
    assert len(parts) > 3
    assembler = Assembler("n1")
    assert all(assembler.add(part) is None for part in reversed(parts[1:]))
    assert assembler.add(parts[0]) == entries


def test_a_chunk_received_twice_counts_once():
    parts = chunks([entry(i) for i in range(300)], "n1", "#s2#h", chunk_bytes=1000)
    assembler = Assembler("n1")
    assert assembler.add(parts[0]) is None and assembler.add(parts[0]) is None
    assert all(assembler.add(part) is None for part in parts[1:-1])
    assert assembler.add(parts[-1]) == [entry(i) for i in range(300)]


def test_a_chunk_of_another_snapshot_is_ignored():
    ours = chunks([entry(1)], "n1", "#s2#h")
    theirs = chunks([entry(i) for i in range(300)], "n2", "#s2#h", chunk_bytes=1000)
    assembler = Assembler("n1")
    assert assembler.add(theirs[0]) is None
    assert (assembler.parts, assembler.total) == ({}, None)
    assert assembler.add(ours[0]) == [entry(1)]


def test_a_new_assembler_holds_nothing():
    assembler = Assembler("n1")
    assert (assembler.nonce, assembler.parts, assembler.total) == ("n1", {}, None)


def test_a_chunk_that_changes_the_total_is_refused():
    parts = chunks([entry(i) for i in range(300)], "n1", "#s2#h", chunk_bytes=1000)
    stray = SnapshotChunk("#s2#h", "n1", 1, parts[0].total + 1, parts[1].data)
    assert bad([parts[0], stray]) == f"chunk 1 of {parts[0].total + 1} does not fit a snapshot of {parts[0].total}"


@pytest.mark.parametrize(("index", "total"), [(3, 3), (4, 3), (-1, 3), (0, 0)])
def test_a_chunk_whose_index_is_not_below_its_total_is_refused(index, total):
    assert bad([SnapshotChunk("#s2#h", "n1", index, total, "")]) == (
        f"chunk {index} of {total} does not fit a snapshot of None"
    )


def test_the_last_index_below_the_total_is_accepted():
    data = packed([])
    assert Assembler("n1").add(SnapshotChunk("#s2#h", "n1", 0, 2, data[:4])) is None
    assembler = Assembler("n1")
    assembler.add(SnapshotChunk("#s2#h", "n1", 1, 2, data[4:]))
    assert assembler.add(SnapshotChunk("#s2#h", "n1", 0, 2, data[:4])) == []


@pytest.mark.parametrize("data", ["not base64!", "aGVsbG8=", packed([])[:-4], packed([])[:4] + "*" + packed([])[4:]])
def test_chunks_that_do_not_decode_are_refused(data):
    assert bad([SnapshotChunk("#s2#h", "n1", 0, 1, data)]).startswith("snapshot does not decode: ")


def test_chunks_of_bytes_that_are_not_json_are_refused():
    data = base64.b64encode(zlib.compress(b"\xff{not json")).decode()
    assert bad([SnapshotChunk("#s2#h", "n1", 0, 1, data)]).startswith("snapshot does not decode: ")


@pytest.mark.parametrize("listed", [{}, {"entries": []}, "entries", 3, None])
def test_a_snapshot_that_is_not_a_list_is_refused(listed):
    assert bad([SnapshotChunk("#s2#h", "n1", 0, 1, packed(listed))]) == "snapshot is not a list of entries"


def test_a_snapshot_holding_a_bad_entry_is_refused():
    listed = [entry(1).as_dict(), {k: v for k, v in entry(2).as_dict().items() if k != "svc"}]
    assert bad([SnapshotChunk("#s2#h", "n1", 0, 1, packed(listed))]) == "snapshot holds a bad entry: entry lacks svc"


def test_a_failed_entry_comes_back_failed_with_its_attempts():
    [back] = Assembler("n1").add(chunks([entry(3)], "n1", "#s2#h")[0])
    assert back == entry(3) and (back.status, back.attempts, back.reason) == (FAILED, 3, "out of attempts")
