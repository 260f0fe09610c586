"""Garbage on the group: the payload decoder raises its own error, and actors log and go on."""

from __future__ import annotations

import json

import pykka
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import group_messages
from actors.directory import Directory
from actors.pending import PendingList
from actors.pending_sync import Sync
from ports.group import MessageReceived

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
payload_types = st.sampled_from(list(group_messages.MESSAGE_TYPES))
fields = st.sampled_from(
    [
        "id",
        "job",
        "at",
        "attempt",
        "reason",
        "ip",
        "port",
        "load",
        "nonce",
        "index",
        "total",
        "data",
        "from",
        "leader",
        "to",
    ]
)
plausible = st.builds(
    lambda kind, extra: {"type": kind, **extra}, payload_types, st.dictionaries(fields, json_values, max_size=5)
)
frames = st.one_of(
    st.tuples(st.integers(0, 65535), st.binary(max_size=64)),
    st.tuples(
        st.sampled_from(list(group_messages.MESSAGE_TYPES.values())), plausible.map(lambda p: json.dumps(p).encode())
    ),
)


@settings(max_examples=300, deadline=None)
@given(frames)
def test_decode_returns_a_payload_of_its_type_or_raises_bad_payload(frame):
    message_type, data = frame
    try:
        payload = group_messages.decode(message_type, data)
    except group_messages.BadPayload:
        return
    assert payload.TYPE == group_messages.TYPE_NAMES[message_type]
    assert group_messages.decode(*group_messages.encode(payload)) == payload  # and it travels unchanged


class SentNowhere:
    """A group gateway stand-in whose multicasts go nowhere (the actors' methods are called directly here)."""

    def multicast(self, *args, **kwargs):
        future = pykka.ThreadingFuture()
        future.set(None)
        return future


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, min_size=1, max_size=8))
def test_actors_survive_garbage_payloads(batch):
    pending = PendingList(SentNowhere())
    directory = Directory()
    pending.me = "#s000000001#localhost"
    pending.sync = Sync(pending.me, "fuzz")
    pending._carry_out(pending.sync.view((pending.me,)))  # alone: synced from an empty checkpoint
    assert pending.is_synced()
    for message_type, data in batch:
        for group in (group_messages.SVCS_GROUP, pending.me):
            event = MessageReceived(group, "#s000000002#localhost", message_type, data, pending.me)
            pending.on_message_received(event)
            directory.on_message_received(event)
    pending.count()
    pending.snapshot()
    directory.list()
