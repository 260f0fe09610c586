"""Garbage in, the protocol's own error out: decoders never raise anything else, never hang.

And what decodes at all encodes back to exactly the same bytes.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spread import protocol as p
from tests.spread.transcripts import all_frames

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [f.data for f in all_frames()]


def _decodes_or_protocol_error(decoder, data):
    try:
        decoded = decoder(data)
    except p.SpreadError:
        return None
    return decoded


@st.composite
def mutated_frames(draw):
    """A recorded frame with a few bytes changed, cut short, or extended."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data) + 8))
    data = data[:cut] + draw(st.binary(max_size=8)) if cut > len(data) else data[:cut]
    return bytes(data)


frames_or_garbage = st.one_of(st.binary(max_size=400), mutated_frames())

DECODERS = {
    "message": p.decode_message,
    "connect": p.decode_connect,
    "auth_list": p.decode_auth_list,
    "auth_choice": p.decode_auth_choice,
    "accept": p.decode_accept,
    "membership_little": lambda b: p.decode_membership(b, p.LITTLE),
    "membership_big": lambda b: p.decode_membership(b, p.BIG),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(DECODERS))
@FUZZ
@given(data=frames_or_garbage)
def test_garbage_raises_only_the_protocol_error(kind, data):
    decoded = _decodes_or_protocol_error(DECODERS[kind], data)
    if decoded is not None and kind in ("message", "connect", "auth_list", "auth_choice", "accept"):
        assert decoded.encode() == data


@pytest.mark.timeout(60)
@FUZZ
@given(data=st.binary(min_size=48, max_size=48))
def test_any_48_bytes_are_a_header_or_a_protocol_error(data):
    header = _decodes_or_protocol_error(p.decode_header, data)
    if header is not None:
        assert 0 <= header.rest_size <= p.MAX_GROUPS_IN_MESSAGE * 32 + p.MAX_MESSAGE_BODY_LEN


@FUZZ
@given(
    service=st.sampled_from([p.SAFE_MESS, p.AGREED_MESS, p.FIFO_MESS, p.AGREED_MESS | p.SELF_DISCARD]),
    groups=st.lists(st.text("abcdefgh.#", min_size=1, max_size=31), max_size=5),
    mess_type=st.integers(-0x8000, 0x7FFF),
    data=st.binary(max_size=300),
    order=st.sampled_from([p.LITTLE, p.BIG]),
    hint_order=st.sampled_from([p.LITTLE, p.BIG]),
)
def test_any_message_survives_encode_then_decode_in_either_byte_order(
    service, groups, mess_type, data, order, hint_order
):
    m = p.Message(service, "#alice#localhost", tuple(groups), mess_type, data, order, hint_order)
    back = p.decode_message(m.encode())
    assert (back.service_type, back.sender, back.groups, back.mess_type, back.data) == (
        service,
        "#alice#localhost",
        tuple(groups),
        mess_type,
        data,
    )
    assert back.byte_order == order
    assert (back.hint_byte_order or back.byte_order) == hint_order


def test_a_half_set_endian_marker_is_a_protocol_error():
    frame = bytearray(p.join_request("#a#h", "g").encode())
    frame[3] = 0x00  # little-endian marker's top byte cleared, bottom one kept
    with pytest.raises(p.ProtocolError, match="half-set endian marker"):
        p.decode_message(bytes(frame))


def test_stray_hint_bits_are_a_protocol_error():
    frame = bytearray(p.join_request("#a#h", "g").encode())
    frame[40] = 0x81
    with pytest.raises(p.ProtocolError, match="outside mess_type"):
        p.decode_message(bytes(frame))


def test_a_negative_or_huge_length_is_a_protocol_error_not_an_allocation():
    frame = bytearray(p.join_request("#a#h", "g").encode())
    frame[44:48] = struct.pack("<i", -1)
    with pytest.raises(p.ProtocolError, match="data_len -1"):
        p.decode_header(bytes(frame[:48]))
    frame[44:48] = struct.pack("<i", 1 << 30)
    with pytest.raises(p.ProtocolError) as caught:
        p.decode_header(bytes(frame[:48]))
    assert caught.value.code == p.MESSAGE_TOO_LONG
    frame[36:40] = struct.pack("<i", 5000)
    with pytest.raises(p.ProtocolError, match="num_groups 5000"):
        p.decode_header(bytes(frame[:48]))


def test_a_frame_shorter_than_its_header_says_is_a_protocol_error():
    frame = p.data_message("#a#h", ["g"], p.AGREED_MESS, 1, b"hello").encode()
    with pytest.raises(p.ProtocolError, match="but 36 follow the header"):
        p.decode_message(frame[:-1])


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (p.REJECT_NOT_UNIQUE, "REJECT_NOT_UNIQUE"),
        (p.REJECT_ILLEGAL_NAME, "REJECT_ILLEGAL_NAME"),
        (p.REJECT_VERSION, "REJECT_VERSION"),
        (p.REJECT_AUTH, "REJECT_AUTH"),
        (p.REJECT_QUOTA, "REJECT_QUOTA"),
        (p.REJECT_NO_NAME, "REJECT_NO_NAME"),
    ],
)
def test_every_reject_code_names_itself_and_says_why(code, name):
    with pytest.raises(p.SpreadRejected) as caught:
        p.decode_auth_list(p.encode_reject(code))
    assert caught.value.code == code
    assert name in str(caught.value) and f"({code})" in str(caught.value)
    with pytest.raises(p.SpreadRejected, match=name):
        p.decode_accept(p.encode_reject(code))


def test_every_error_code_has_a_name_and_an_explanation():
    for code in range(-18, 0):
        if code in (-10,):
            continue
        text = p.error_text(code)
        assert "UNKNOWN" not in text and ": " in text, code


def test_membership_message_body_is_in_the_header_byte_order_and_holds_the_changed_member():
    gid = p.GroupId(0x7F000001, 1795334673, 2)
    m = p.membership_message("photomark.svcs", ["#a#h", "#b#h"], p.CAUSED_BY_JOIN, gid, "#b#h")
    back = p.decode_message(m.encode())
    assert back.is_reg_memb and back.cause == "join"
    assert back.membership.group_id == gid and back.membership.changed_member == "#b#h"
    assert back.groups == ("#a#h", "#b#h")
    big = p.Message(m.service_type, m.sender, m.groups, 0, p.Membership(gid, (("#b#h",),)).encode(p.BIG), p.BIG)
    assert p.decode_message(big.encode()).membership.group_id == gid


def test_transition_and_self_leave_and_reject_messages():
    gid = p.GroupId(0x7F000001, 5, 9)
    t = p.decode_message(p.transition_message("g", gid).encode())
    assert t.is_transition and t.membership.group_id == gid and not t.is_reg_memb
    leave = p.decode_message(p.self_leave_message("g").encode())
    assert leave.is_self_leave and leave.cause == "leave" and leave.groups == () and leave.data == b""
    assert p.self_leave_message("photomark.svcs").encode().hex() == (
        "8002008070686f746f6d61726b2e73766373000000000000000000000000000000000000000000008000008000000000"
    )
    rejected = p.decode_message(p.reject_message(p.join_request("#a#h", "bad group")).encode())
    assert rejected.is_reject and rejected.service_type & p.JOIN_MESS
