"""Spread's name rules (spread/names.py), and the daemon, the client and the in-memory twin applying the same ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ports.group as port
from gateways.group import memory
from spread import constants
from spread.client import check_destination, check_group_name
from spread.errors import SpreadError
from spread.names import (
    destination_problem,
    group_name_problem,
    is_private_group,
    legal_daemon_name,
    legal_group_name,
    legal_name_bytes,
    legal_user_name,
    private_group,
    user_name_problem,
    user_of,
)

NAME_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.text(st.sampled_from("#$ ~a\x7f\t"), max_size=12)


def test_a_name_byte_is_above_hash_and_at_most_tilde():
    assert [b for b in range(256) if legal_name_bytes(bytes([b]))] == list(range(0x24, 0x7F))


@pytest.mark.parametrize(
    ("raw", "legal"),
    [
        (b"", True),
        (b"alice", True),
        (b"alicealice", True),
        (b"alicealice1", False),
        (b"bad#name", False),
        (b"bad name", False),
        (b"tab\tx", False),
        (b"\x7fdel", False),
        (b"caf\xc3\xa9", False),
    ],
)
def test_a_user_name_is_up_to_ten_legal_bytes_and_may_be_empty(raw, legal):
    assert legal_user_name(raw) is legal
    assert (user_name_problem(raw.decode()) is None) is legal


def test_a_user_name_problem_says_what_is_wrong():
    assert user_name_problem("alicealice1") == "user name 'alicealice1' is longer than 10 bytes"
    assert user_name_problem("bad#name") == "user name 'bad#name' may only hold the characters '$' to '~'"
    assert user_name_problem("caf\u00e9") == "user name 'caf\u00e9' may only hold the characters '$' to '~'"


@pytest.mark.parametrize(
    ("group", "legal"),
    [
        ("photomark.svcs", True),
        ("g" * 31, True),
        ("", False),
        ("g" * 32, False),
        ("with space", False),
        ("gr\u00fcn", False),
        ("#alice#localhost", False),
        ("$~", True),
    ],
)
def test_a_group_to_join_is_one_to_31_legal_bytes(group, legal):
    assert legal_group_name(group.encode()) is legal
    assert (group_name_problem(group) is None) is legal


@pytest.mark.parametrize(
    ("name", "legal"),
    [
        ("#alice#localhost", True),
        ("#alicealice#" + "d" * 19, True),
        ("#a#b", True),
        ("#alice#", False),
        ("##localhost", False),
        ("#alice", False),
        ("#a b#localhost", False),
        ("#alicealice1#localhost", False),
        ("#alice#localhost#x", False),
        ("#a#" + "d" * 20, False),
        ("x#alice#localhost", False),
        ("#", False),
    ],
)
def test_a_private_group_is_hash_user_hash_daemon(name, legal):
    assert is_private_group(name) is legal


def test_a_destination_is_a_group_or_a_private_group():
    assert destination_problem("photomark.svcs") is None
    assert destination_problem("#bob#localhost") is None
    assert destination_problem("#bob") == "'#bob' is neither a group name nor a private name #user#daemon"
    assert destination_problem("with space") == group_name_problem("with space")


@pytest.mark.parametrize(
    ("name", "legal"),
    [("localhost", True), ("d" * 19, True), ("d" * 20, False), ("", False), ("a b", False), ("a#b", False)],
)
def test_a_daemon_name_is_one_to_19_legal_bytes(name, legal):
    assert legal_daemon_name(name) is legal


def test_the_user_of_a_private_group():
    assert user_of(private_group("alice", "localhost")) == "alice"
    assert user_of("photomark.svcs") == "photomark.svcs"


@given(NAME_TEXT)
def test_a_name_a_gateway_accepts_is_one_the_daemon_accepts(name):
    # the daemon judges the bytes a client sends; the gateways judge the str they are given
    raw = name.encode("utf-8", errors="surrogatepass")
    assert (user_name_problem(name) is None) == legal_user_name(raw)
    assert (group_name_problem(name) is None) == legal_group_name(raw)


@given(NAME_TEXT)
def test_the_client_and_the_in_memory_twin_refuse_the_same_group_names(name):
    for client_check, twin_check in (
        (check_group_name, memory.check_group),
        (check_destination, memory.check_destination),
    ):
        client_refuses = twin_refuses = None
        try:
            client_check(name)
        except SpreadError as error:
            client_refuses = (error.code, str(error))
        try:
            twin_check(name)
        except port.GroupError as error:
            twin_refuses = (error.code, str(error))
        assert client_refuses == twin_refuses


def test_the_group_port_words_its_codes_as_the_spread_client_does():
    for code, (name, _) in port.ERROR_TEXTS.items():
        assert getattr(constants, name) == getattr(port, name) == code
        assert constants.error_text(code) == port.error_text(code)
        assert str(SpreadError(code, "why")) == str(port.GroupError(code, "why"))
    assert port.MAX_PAYLOAD == constants.max_body(1)  # the port multicasts to one group at a time
    assert port.SERVICES == tuple(constants.SERVICE_NAMES)
