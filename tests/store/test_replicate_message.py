"""The replication message the manager queues for itself: typed, and checked when read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.manager.replicate import InvalidReplicate, Replicate

SHA = "ab" * 32


def test_a_message_survives_encoding():
    message = Replicate("photos/" + "0" * 32 + ".png", 3, SHA)
    assert Replicate.decode(message.encode()) == message


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"id": "a", "version": 1}',
        b'{"id": "a", "version": 1, "sha256": "xyz"}',
        b'{"id": "../a", "version": 1, "sha256": "' + SHA.encode() + b'"}',
        b'{"id": "a", "version": 0, "sha256": "' + SHA.encode() + b'"}',
        b'{"id": "a", "version": true, "sha256": "' + SHA.encode() + b'"}',
        b'{"id": "a", "version": 1, "sha256": "' + SHA.encode() + b'", "extra": 1}',
        b"\xff\xfe",
    ],
)
def test_anything_else_is_refused_with_a_clear_error(body):
    with pytest.raises(InvalidReplicate, match="replication message"):
        Replicate.decode(body)


@given(st.binary(max_size=200))
def test_no_bytes_crash_the_decoder(body):
    try:
        Replicate.decode(body)
    except InvalidReplicate:
        pass
