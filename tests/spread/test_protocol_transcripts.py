"""Every frame of every recorded transcript decodes, and encodes back to the same bytes."""

from __future__ import annotations

import pytest

from spread import protocol as p
from tests.spread.transcripts import (
    ACCEPT,
    AUTH_CHOICE,
    AUTH_LIST,
    CONNECT,
    MESSAGE,
    REJECT,
    all_frames,
    transcript_files,
)

FRAMES = all_frames()


def test_the_transcripts_are_all_there():
    names = [path.name for path in transcript_files()]
    assert len(names) >= 10, names
    assert sum(len(f.data) for f in FRAMES) > 10_000


def decode(frame):
    if frame.kind == CONNECT:
        return p.decode_connect(frame.data)
    if frame.kind == AUTH_LIST:
        return p.decode_auth_list(frame.data)
    if frame.kind == AUTH_CHOICE:
        return p.decode_auth_choice(frame.data)
    if frame.kind == ACCEPT:
        return p.decode_accept(frame.data)
    return p.decode_message(frame.data)


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind != REJECT], ids=lambda f: f.id)
def test_frame_decodes_and_encodes_back_to_the_same_bytes(frame):
    assert decode(frame).encode() == frame.data


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind == REJECT], ids=lambda f: f.id)
def test_reject_byte_decodes_to_its_code_and_encodes_back(frame):
    with pytest.raises(p.SpreadRejected) as caught:
        p.decode_auth_list(frame.data)
    assert caught.value.code == frame.fields["reject_code"]
    assert frame.fields["reject_name"] in str(caught.value)
    assert p.encode_reject(caught.value.code) == frame.data


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind == MESSAGE], ids=lambda f: f.id)
def test_message_fields_match_the_annotation(frame):
    m = p.decode_message(frame.data)
    want = frame.fields
    assert m.byte_order == want["byte_order"]
    assert (m.hint_byte_order or m.byte_order) == want.get("hint_byte_order", m.hint_byte_order or m.byte_order)
    assert m.service_type == int(want["service_type"], 16)
    assert sorted(p.flag_names(m.service_type)) == sorted(want["type_flags"])
    assert m.sender == want["sender"]
    assert list(m.groups) == want["groups"]
    assert m.mess_type == want["mess_type"]
    assert len(m.data) == want["data_len"]
    assert m.data.hex() == want["parts"]["body"]
    if "membership" in want:
        memb = want["membership"]
        assert m.membership.group_id.proc_id == memb["group_id"]["proc_id"]
        assert m.membership.group_id.proc_id_as_ip == memb["group_id"]["proc_id_as_ip"]
        assert m.membership.group_id.memb_time == memb["group_id"]["memb_time"]
        assert m.membership.group_id.index == memb["group_id"]["index"]
        assert [list(s) for s in m.membership.vs_sets] == [s["members"] for s in memb["vs_sets"]]
        assert m.membership.changed_member == memb["changed_member"]
        assert m.membership.local_vs_set_offset == memb["local_vs_set_offset"]
    else:
        assert m.membership is None


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind == CONNECT], ids=lambda f: f.id)
def test_connect_fields_match_the_annotation(frame):
    c = p.decode_connect(frame.data)
    assert c.name.decode() == frame.fields["private_name"]
    assert c.membership == bool(frame.fields["membership_flag"])
    assert c.priority == frame.fields["priority"]
    assert ".".join(map(str, c.version)) == frame.fields["lib_version"]


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind == ACCEPT], ids=lambda f: f.id)
def test_accept_fields_match_the_annotation(frame):
    a = p.decode_accept(frame.data)
    assert a.private_group == frame.fields["private_group"]
    assert ".".join(map(str, a.version)) == frame.fields["daemon_version"]


@pytest.mark.parametrize("frame", [f for f in FRAMES if f.kind == MESSAGE and f.golden], ids=lambda f: f.id)
def test_a_frame_built_from_its_fields_matches_the_capture_outside_the_dont_care_bytes(frame):
    """Building a frame from its meaning (no raw fields kept) gives the captured bytes."""
    m = p.decode_message(frame.data)
    rebuilt = p.Message(
        m.service_type, m.sender, m.groups, m.mess_type, m.data, m.byte_order, m.hint_byte_order
    ).encode()
    from tests.spread.transcripts import masked

    assert masked(rebuilt, frame.dont_care) == masked(frame.data, frame.dont_care)
