"""The typed group messages (``actors/group_messages.py``): the wire form of each, and every check of ``decode``."""

from __future__ import annotations

import json
import math

import pykka
import pytest

from actors.group_messages import (
    CLASSES,
    MESSAGE_TYPES,
    SEND_TIMEOUT,
    SVCS_GROUP,
    TYPE_NAMES,
    BadPayload,
    JobDone,
    JobFailed,
    JobRetry,
    PendingAdd,
    PendingWithdrawn,
    SnapshotChunk,
    SnapshotRefused,
    SnapshotRequest,
    SvcHello,
    decode,
    encode,
    multicast,
)
from actors.job import Job
from ports.group import CONNECTION_CLOSED, GroupConnectionError

ID = "0123456789abcdef0123456789abcdef"
OTHER = "f" * 32
JOB = Job(ID, f"photos/{ID}.png", ("alpha", "ünï"), "page.png", 12.5)
INT_MAX = 2**31 - 1

# One of each message, and its exact wire form (field names, compact separators, UTF-8 text).
WIRE = [
    (SvcHello("10.0.0.1", 50061, 3), 1, {"type": "svc.hello", "ip": "10.0.0.1", "port": 50061, "load": 3}),
    (
        PendingAdd(ID, JOB, 4.5, "#s1#h"),
        2,
        {"type": "pending.add", "id": ID, "job": JOB.as_dict(), "at": 4.5, "svc": "#s1#h"},
    ),
    (
        JobDone(ID, 6.0, (("alpha", 2), ("ünï", 0))),
        3,
        {"type": "job.done", "id": ID, "at": 6.0, "counts": {"alpha": 2, "ünï": 0}},
    ),
    (JobFailed(ID, "poison job", 7.0), 4, {"type": "job.failed", "id": ID, "reason": "poison job", "at": 7.0}),
    (JobRetry(ID, 2, 8.0), 5, {"type": "job.retry", "id": ID, "attempt": 2, "at": 8.0}),
    (
        SnapshotChunk("#s2#h", "n1", 1, 3, "eJzL"),
        6,
        {"type": "pending.snapshot", "to": "#s2#h", "nonce": "n1", "index": 1, "total": 3, "data": "eJzL"},
    ),
    (
        SnapshotRequest("#s2#h", "#s1#h", "n1"),
        7,
        {"type": "pending.snapshot_request", "from": "#s2#h", "asked": "#s1#h", "nonce": "n1"},
    ),
    (SnapshotRefused("#s2#h", "n1"), 8, {"type": "pending.snapshot_refused", "to": "#s2#h", "nonce": "n1"}),
    (
        PendingWithdrawn(ID, "not queued", 9.0),
        9,
        {"type": "pending.withdrawn", "id": ID, "reason": "not queued", "at": 9.0},
    ),
]


def wire(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def body_of(message) -> dict:
    return {"type": message.TYPE, **message.fields()}


def refusal(message_type: int, body: dict | bytes) -> str:
    with pytest.raises(BadPayload) as refused:
        decode(message_type, body if isinstance(body, bytes) else json.dumps(body).encode())
    return str(refused.value)


def changed(message, **changes) -> dict:
    """The wire body of ``message`` with some fields changed (a value of ``...`` drops the field)."""
    body = {**body_of(message), **changes}
    return {key: value for key, value in body.items() if value is not ...}


HELLO, ADD, DONE, FAILED, RETRY, CHUNK, REQUEST, REFUSED, WITHDRAWN = (message for message, _, _ in WIRE)


# -- the wire contract ------------------------------------------------------------------------------


def test_the_message_type_numbers_are_fixed():
    assert MESSAGE_TYPES == {
        "svc.hello": 1,
        "pending.add": 2,
        "job.done": 3,
        "job.failed": 4,
        "job.retry": 5,
        "pending.snapshot": 6,
        "pending.snapshot_request": 7,
        "pending.snapshot_refused": 8,
        "pending.withdrawn": 9,
    }
    assert TYPE_NAMES == {number: name for name, number in MESSAGE_TYPES.items()}
    assert CLASSES == {message.TYPE: type(message) for message, _, _ in WIRE}
    assert (SVCS_GROUP, SEND_TIMEOUT) == ("photomark.svcs", 30.0)


@pytest.mark.parametrize(("message", "number", "body"), WIRE, ids=[m.TYPE for m, _, _ in WIRE])
def test_each_message_has_its_exact_wire_form(message, number, body):
    assert encode(message) == (number, wire(body))


@pytest.mark.parametrize(("message", "number", "body"), WIRE, ids=[m.TYPE for m, _, _ in WIRE])
def test_each_message_survives_a_round_trip(message, number, body):
    assert decode(*encode(message)) == message
    assert type(decode(number, wire(body))) is type(message)


@pytest.mark.parametrize("number", [0, 10, 100, 65535, -1])
def test_an_unknown_message_type_is_refused(number):
    assert refusal(number, wire(body_of(HELLO))) == f"unknown message type {number}"


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe\xfd", b"[" * 100_000, b'{"type": "svc.hello",}'])
def test_a_payload_that_is_not_json_is_refused(data):
    assert refusal(1, data).startswith("svc.hello payload is not JSON: ")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_numbers_are_refused(constant):
    data = f'{{"type":"job.retry","id":"{ID}","attempt":1,"at":{constant}}}'.encode()
    assert refusal(5, data) == f"{constant} is not a number a message may hold"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "svc.hello",
        1,
        None,
        {"ip": "10.0.0.1", "port": 1},
        {"type": "job.done", "ip": "10.0.0.1", "port": 1},
        {"type": "SVC.HELLO", "ip": "10.0.0.1", "port": 1},
    ],
)
def test_a_payload_that_is_not_an_object_of_its_type_is_refused(body):
    assert refusal(1, body) == "payload does not match message type svc.hello"


# -- svc.hello ---------------------------------------------------------------------------------------


def test_a_hello_without_a_load_has_none():
    assert decode(1, wire(changed(HELLO, load=...))) == SvcHello("10.0.0.1", 50061, 0)
    assert SvcHello("10.0.0.1", 50061).load == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ip": ...}, "'ip' must be a string, not NoneType"),
        ({"ip": 10}, "'ip' must be a string, not int"),
        ({"ip": ""}, "'ip' must not be empty"),
        ({"ip": "a" * 256}, "'ip' is longer than 255 characters"),
        ({"port": ...}, "'port' must be an integer, not NoneType"),
        ({"port": "80"}, "'port' must be an integer, not str"),
        ({"port": 80.0}, "'port' must be an integer, not float"),
        ({"port": True}, "'port' must be an integer, not bool"),
        ({"port": 0}, "'port' must be in 1..65535, not 0"),
        ({"port": 65536}, "'port' must be in 1..65535, not 65536"),
        ({"load": -1}, f"'load' must be in 0..{INT_MAX}, not -1"),
        ({"load": INT_MAX + 1}, f"'load' must be in 0..{INT_MAX}, not {INT_MAX + 1}"),
        ({"load": False}, "'load' must be an integer, not bool"),
        ({"load": None}, "'load' must be an integer, not NoneType"),
    ],
)
def test_a_hello_with_a_bad_field_is_refused(changes, message):
    assert refusal(1, changed(HELLO, **changes)) == message


@pytest.mark.parametrize("changes", [{"ip": "a" * 255}, {"port": 1}, {"port": 65535}, {"load": 0}, {"load": INT_MAX}])
def test_a_hello_at_the_limits_is_accepted(changes):
    body = changed(HELLO, **changes)
    assert decode(1, wire(body)).fields() == {k: v for k, v in body.items() if k != "type"}


# -- pending.add -------------------------------------------------------------------------------------


def test_an_add_without_a_svc_names_none():
    assert decode(2, wire(changed(ADD, svc=...))) == PendingAdd(ID, JOB, 4.5, "")
    assert PendingAdd(ID, JOB, 4.5).svc == ""


def test_an_add_at_an_integer_time_reads_it_as_a_float():
    at = decode(2, wire(changed(ADD, at=4))).at
    assert at == 4.0 and type(at) is float


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": ...}, "malformed id None: an id is 32 hex digits"),
        ({"id": "../x"}, "malformed id '../x': an id is 32 hex digits"),
        ({"job": ...}, "'job' must be a job object"),
        ({"job": [1]}, "'job' must be a job object"),
        ({"job": json.dumps(JOB.as_dict())}, "'job' must be a job object"),
        ({"job": {**JOB.as_dict(), "v": 2}}, "'job' is not a job: unknown job version 2"),
        (
            {"job": {**JOB.as_dict(), "keywords": []}},
            "'job' is not a job: job keywords must be a non-empty list of strings",
        ),
        ({"id": OTHER}, f"'job' is the job of {ID}, not of {OTHER}"),
        ({"at": ...}, "'at' must be a finite number, not None"),
        ({"at": "4.5"}, "'at' must be a finite number, not '4.5'"),
        ({"at": True}, "'at' must be a finite number, not True"),
        ({"svc": None}, "'svc' must be a string, not NoneType"),
        ({"svc": "s" * 65}, "'svc' is longer than 64 characters"),
    ],
)
def test_an_add_with_a_bad_field_is_refused(changes, message):
    assert refusal(2, changed(ADD, **changes)) == message


def test_an_add_with_a_svc_of_64_characters_is_accepted():
    assert decode(2, wire(changed(ADD, svc="s" * 64))).svc == "s" * 64


@pytest.mark.parametrize("at", [math.nan, math.inf, -math.inf])
def test_times_that_are_not_finite_are_refused_even_past_the_json_parser(at):
    body = changed(ADD, at=at)
    with pytest.raises(BadPayload) as refused:
        PendingAdd.parse(body)
    assert str(refused.value) == f"'at' must be a finite number, not {at!r}"


# -- job.done ----------------------------------------------------------------------------------------


def test_a_done_without_counts_or_time_has_none():
    assert decode(3, wire({"type": "job.done", "id": ID})) == JobDone(ID, 0.0, ())


def test_done_counts_keep_the_keywords_order():
    counts = {"zeta": 1, "alpha": 0, "mid": INT_MAX}
    done = decode(3, wire(changed(DONE, counts=counts)))
    assert done.counts == (("zeta", 1), ("alpha", 0), ("mid", INT_MAX))
    assert done.fields()["counts"] == counts


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "x"}, "malformed id 'x': an id is 32 hex digits"),
        ({"counts": [["alpha", 1]]}, "'counts' must map keywords to counts"),
        ({"counts": None}, "'counts' must map keywords to counts"),
        ({"counts": {"": 1}}, "a keyword of 'counts' must be a short non-empty string, not ''"),
        ({"counts": {"k" * 1001: 1}}, f"a keyword of 'counts' must be a short non-empty string, not {'k' * 1001!r}"),
        ({"counts": {"alpha": -1}}, f"'alpha' must be in 0..{INT_MAX}, not -1"),
        ({"counts": {"alpha": 1.0}}, "'alpha' must be an integer, not float"),
        ({"counts": {"alpha": True}}, "'alpha' must be an integer, not bool"),
        ({"counts": {"alpha": None}}, "'alpha' must be an integer, not NoneType"),
        ({"at": "6"}, "'at' must be a finite number, not '6'"),
    ],
)
def test_a_done_with_a_bad_field_is_refused(changes, message):
    assert refusal(3, changed(DONE, **changes)) == message


def test_a_count_keyword_of_1000_characters_is_accepted():
    assert decode(3, wire(changed(DONE, counts={"k" * 1000: 1}))).counts == (("k" * 1000, 1),)


@pytest.mark.parametrize("keyword", [1, None, ("a",)])
def test_a_count_keyword_that_is_not_a_string_is_refused(keyword):
    with pytest.raises(BadPayload) as refused:
        JobDone.parse({"id": ID, "counts": {keyword: 1}})
    assert str(refused.value) == f"a keyword of 'counts' must be a short non-empty string, not {keyword!r}"


# -- job.failed and job.retry ----------------------------------------------------------------------------


def test_a_failure_without_a_reason_or_time_says_failed_at_zero():
    assert decode(4, wire({"type": "job.failed", "id": ID})) == JobFailed(ID, "failed", 0.0)
    assert JobFailed(ID, "x").at == 0.0


def test_a_reason_of_10000_characters_is_accepted_and_one_more_refused():
    assert decode(4, wire(changed(FAILED, reason="r" * 10_000))).reason == "r" * 10_000
    assert refusal(4, changed(FAILED, reason="r" * 10_001)) == "'reason' is longer than 10000 characters"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": 5}, "malformed id 5: an id is 32 hex digits"),
        ({"reason": None}, "'reason' must be a string, not NoneType"),
        ({"at": None}, "'at' must be a finite number, not None"),
    ],
)
def test_a_failure_with_a_bad_field_is_refused(changes, message):
    assert refusal(4, changed(FAILED, **changes)) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": ...}, "malformed id None: an id is 32 hex digits"),
        ({"attempt": ...}, "'attempt' must be an integer, not NoneType"),
        ({"attempt": 0}, f"'attempt' must be in 1..{INT_MAX}, not 0"),
        ({"attempt": INT_MAX + 1}, f"'attempt' must be in 1..{INT_MAX}, not {INT_MAX + 1}"),
        ({"attempt": True}, "'attempt' must be an integer, not bool"),
        ({"attempt": 2.0}, "'attempt' must be an integer, not float"),
        ({"at": ...}, "'at' must be a finite number, not None"),
        ({"at": False}, "'at' must be a finite number, not False"),
    ],
)
def test_a_retry_with_a_bad_field_is_refused(changes, message):
    assert refusal(5, changed(RETRY, **changes)) == message


@pytest.mark.parametrize("attempt", [1, INT_MAX])
def test_a_retry_at_the_limits_of_attempt_is_accepted(attempt):
    assert decode(5, wire(changed(RETRY, attempt=attempt))).attempt == attempt


def test_a_withdrawal_without_a_reason_or_time_has_none():
    assert decode(9, wire({"type": "pending.withdrawn", "id": ID})) == PendingWithdrawn(ID, "", 0.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "x"}, "malformed id 'x': an id is 32 hex digits"),
        ({"reason": 3}, "'reason' must be a string, not int"),
        ({"at": "now"}, "'at' must be a finite number, not 'now'"),
    ],
)
def test_a_withdrawal_with_a_bad_field_is_refused(changes, message):
    assert refusal(9, changed(WITHDRAWN, **changes)) == message


# -- the snapshot messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"from": ...}, "'from' must be a string, not NoneType"),
        ({"from": "f" * 65}, "'from' is longer than 64 characters"),
        ({"asked": ...}, "'asked' must be a string, not NoneType"),
        ({"asked": "a" * 65}, "'asked' is longer than 64 characters"),
        ({"nonce": ...}, "'nonce' must be a string, not NoneType"),
        ({"nonce": ""}, "'nonce' must not be empty"),
        ({"nonce": "n" * 65}, "'nonce' is longer than 64 characters"),
        ({"nonce": 1}, "'nonce' must be a string, not int"),
    ],
)
def test_a_snapshot_request_with_a_bad_field_is_refused(changes, message):
    assert refusal(7, changed(REQUEST, **changes)) == message


def test_snapshot_names_and_nonces_of_64_characters_are_accepted():
    request = SnapshotRequest("f" * 64, "a" * 64, "n" * 64)
    assert decode(*encode(request)) == request
    refused = SnapshotRefused("t" * 64, "n" * 64)
    assert decode(*encode(refused)) == refused


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"to": ...}, "'to' must be a string, not NoneType"),
        ({"to": "t" * 65}, "'to' is longer than 64 characters"),
        ({"nonce": ""}, "'nonce' must not be empty"),
        ({"nonce": ...}, "'nonce' must be a string, not NoneType"),
    ],
)
def test_a_snapshot_refusal_with_a_bad_field_is_refused(changes, message):
    assert refusal(8, changed(REFUSED, **changes)) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total": ...}, "'total' must be an integer, not NoneType"),
        ({"total": 0}, "'total' must be in 1..1000000, not 0"),
        ({"total": 1_000_001}, "'total' must be in 1..1000000, not 1000001"),
        ({"total": True}, "'total' must be an integer, not bool"),
        ({"index": ...}, "'index' must be an integer, not NoneType"),
        ({"index": 3}, "'index' must be in 0..2, not 3"),
        ({"index": 4}, "'index' must be in 0..2, not 4"),
        ({"index": -1}, "'index' must be in 0..2, not -1"),
        ({"index": False}, "'index' must be an integer, not bool"),
        ({"to": ...}, "'to' must be a string, not NoneType"),
        ({"to": "t" * 65}, "'to' is longer than 64 characters"),
        ({"nonce": ""}, "'nonce' must not be empty"),
        ({"data": ...}, "'data' must be a string, not NoneType"),
        ({"data": "d" * 140_001}, "'data' is longer than 140000 characters"),
        ({"data": ["eJzL"]}, "'data' must be a string, not list"),
    ],
)
def test_a_snapshot_chunk_with_a_bad_field_is_refused(changes, message):
    assert refusal(6, changed(CHUNK, **changes)) == message


@pytest.mark.parametrize(
    "changes",
    [
        {"index": 0},
        {"index": 2},
        {"index": 0, "total": 1},
        {"index": 999_999, "total": 1_000_000},
        {"data": "d" * 140_000},
        {"data": ""},
        {"to": "t" * 64},
    ],
)
def test_a_snapshot_chunk_at_the_limits_is_accepted(changes):
    body = changed(CHUNK, **changes)
    assert decode(6, wire(body)).fields() == {k: v for k, v in body.items() if k != "type"}


def test_a_chunk_does_not_show_its_data_in_its_repr():
    assert "eJzL" not in repr(CHUNK) and "nonce='n1'" in repr(CHUNK)


def test_a_message_is_frozen():
    with pytest.raises(AttributeError):
        HELLO.port = 1  # type: ignore[misc]


# -- multicast, with a stub group connection --------------------------------------------------------------


class StubGroup:
    """Stands in for a group connection's proxy: records each multicast, answers as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[tuple] = []
        self.timeouts: list[float | None] = []

    def multicast(self, to: str, message_type: int, data: bytes):
        self.sent.append((to, message_type, data))
        stub = self

        class Answer:
            def get(self, timeout=None):
                stub.timeouts.append(timeout)
                if stub.error is not None:
                    raise stub.error

        return Answer()


def test_multicast_sends_the_encoded_message_to_the_svcs_group_and_waits_for_it():
    group = StubGroup()
    assert multicast(group, RETRY) is None
    assert group.sent == [("photomark.svcs", *encode(RETRY))]
    assert group.timeouts == [30.0]


def test_multicast_sends_to_a_private_name_within_the_timeout_given():
    group = StubGroup()
    multicast(group, CHUNK, to="#s2#h", timeout=2.5)
    assert group.sent == [("#s2#h", *encode(CHUNK))] and group.timeouts == [2.5]


def test_a_multicast_on_a_dead_connection_is_a_connection_error():
    with pytest.raises(GroupConnectionError) as lost:
        multicast(StubGroup(pykka.ActorDeadError("gone")), RETRY)
    assert (lost.value.code, lost.value.detail) == (CONNECTION_CLOSED, "the group connection is gone: gone")


def test_a_multicast_the_connection_does_not_take_in_time_is_a_connection_error():
    with pytest.raises(GroupConnectionError) as lost:
        multicast(StubGroup(pykka.Timeout("late")), DONE, timeout=1.5)
    assert (lost.value.code, lost.value.detail) == (
        CONNECTION_CLOSED,
        "the group connection did not take a job.done in 1.5 s",
    )
