"""The messages multicast to ``photomark.svcs``: one frozen dataclass each, a validating decode.

On the wire a message is a JSON object with a ``"type"``, and the 16-bit Spread
``mess_type`` carries a small number per type, so a receiver can tell a message
it does not know from a garbage one.  ``decode`` checks every field (ids are
photo ids, times are finite numbers, counts are non-negative integers, ...) and
raises ``BadPayload`` for anything else; receivers log it and go on.

``multicast`` is the one way an actor sends one: it waits until the group
connection took the message, so a lost send is an error its caller sees
(``GroupConnectionError``), never silence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pykka

from actors.job import Job, PoisonJob, job_from_dict
from ports.group import CONNECTION_CLOSED, GroupConnectionError
from storage import layout

SVCS_GROUP = "photomark.svcs"
SEND_TIMEOUT = 30.0  # seconds to wait for the group connection to take a message


class BadPayload(ValueError):
    """A group message that is not one of ours, or not well formed."""


# -- field checks, each raising BadPayload with the field's name ----------------------------


def _text(data: Mapping[str, Any], key: str, default: str | None = None, *, limit: int = 10_000) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise BadPayload(f"{key!r} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise BadPayload(f"{key!r} is longer than {limit} characters")
    return value


def _integer(
    data: Mapping[str, Any], key: str, default: int | None = None, *, low: int = 0, high: int = 2**31 - 1
) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadPayload(f"{key!r} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise BadPayload(f"{key!r} must be in {low}..{high}, not {value}")
    return value


def _time(data: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadPayload(f"{key!r} must be a finite number, not {value!r}")
    return float(value)


def _id_reason_at(data: Mapping[str, Any], default_reason: str) -> tuple[str, str, float]:
    """The fields of a message that ends an entry with a reason."""
    return _photo_id(data), _text(data, "reason", default_reason), _time(data, "at", 0.0)


def _photo_id(data: Mapping[str, Any], key: str = "id") -> str:
    try:
        return layout.check_id(data.get(key))
    except layout.InvalidId as error:
        raise BadPayload(str(error)) from None


# -- the messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SvcHello:
    """A Svc says where it listens and how many accepted jobs are still pending on it."""

    TYPE: ClassVar[str] = "svc.hello"
    ip: str
    port: int
    load: int = 0

    def fields(self) -> dict:
        return {"ip": self.ip, "port": self.port, "load": self.load}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SvcHello:
        ip = _text(data, "ip", limit=255)
        if not ip:
            raise BadPayload("'ip' must not be empty")
        return cls(ip, _integer(data, "port", low=1, high=65535), _integer(data, "load", 0))


@dataclass(frozen=True)
class PendingAdd:
    """A Svc accepted an upload: its job is pending from ``at`` on."""

    TYPE: ClassVar[str] = "pending.add"
    id: str
    job: Job
    at: float
    svc: str = ""  # the private name of the Svc that accepted it: its load

    def fields(self) -> dict:
        return {"id": self.id, "job": self.job.as_dict(), "at": self.at, "svc": self.svc}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PendingAdd:
        photo_id = _photo_id(data)
        job_data = data.get("job")
        if not isinstance(job_data, dict):
            raise BadPayload("'job' must be a job object")
        try:
            job = job_from_dict(job_data)
        except PoisonJob as error:
            raise BadPayload(f"'job' is not a job: {error}") from None
        if job.id != photo_id:
            raise BadPayload(f"'job' is the job of {job.id}, not of {photo_id}")
        return cls(photo_id, job, _time(data, "at"), _text(data, "svc", "", limit=64))


@dataclass(frozen=True)
class JobDone:
    """A worker marked the photo: its report is in storage."""

    TYPE: ClassVar[str] = "job.done"
    id: str
    at: float = 0.0
    counts: tuple[tuple[str, int], ...] = ()  # (keyword, occurrences), in the keywords' order

    def fields(self) -> dict:
        return {"id": self.id, "at": self.at, "counts": dict(self.counts)}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JobDone:
        counts = data.get("counts", {})
        if not isinstance(counts, dict):
            raise BadPayload("'counts' must map keywords to counts")
        pairs = tuple((_checked_keyword(keyword), _integer(counts, keyword)) for keyword in counts)
        return cls(_photo_id(data), _time(data, "at", 0.0), pairs)


def _checked_keyword(keyword: Any) -> str:
    if not isinstance(keyword, str) or not keyword or len(keyword) > 1000:
        raise BadPayload(f"a keyword of 'counts' must be a short non-empty string, not {keyword!r}")
    return keyword


@dataclass(frozen=True)
class JobFailed:
    """The job will not be marked: poison, a photo that cannot be marked, or out of attempts."""

    TYPE: ClassVar[str] = "job.failed"
    id: str
    reason: str
    at: float = 0.0

    def fields(self) -> dict:
        return {"id": self.id, "reason": self.reason, "at": self.at}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JobFailed:
        return cls(*_id_reason_at(data, default_reason="failed"))


@dataclass(frozen=True)
class PendingWithdrawn:
    """The Svc that announced the upload could not queue its job: the client was told so, the photo is
    gone, and the entry leaves the list (nobody knows its id, so nobody will ask for its status)."""

    TYPE: ClassVar[str] = "pending.withdrawn"
    id: str
    reason: str
    at: float = 0.0

    def fields(self) -> dict:
        return {"id": self.id, "reason": self.reason, "at": self.at}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PendingWithdrawn:
        return cls(*_id_reason_at(data, default_reason=""))


@dataclass(frozen=True)
class JobRetry:
    """The leader published an overdue job again: this is attempt ``attempt``, from ``at``."""

    TYPE: ClassVar[str] = "job.retry"
    id: str
    attempt: int
    at: float

    def fields(self) -> dict:
        return {"id": self.id, "attempt": self.attempt, "at": self.at}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JobRetry:
        return cls(_photo_id(data), _integer(data, "attempt", low=1), _time(data, "at"))


@dataclass(frozen=True)
class SnapshotRequest:
    """A Svc without the list asks another Svc (``asked``) for it; the snapshot is cut where this
    request sits in the agreed order (``actors/pending_sync.py``)."""

    TYPE: ClassVar[str] = "pending.snapshot_request"
    requester: str  # the asking Svc's private name ("from" on the wire)
    asked: str  # the private name of the Svc asked
    nonce: str  # names this request's snapshot

    def fields(self) -> dict:
        return {"from": self.requester, "asked": self.asked, "nonce": self.nonce}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SnapshotRequest:
        return cls(_text(data, "from", limit=64), _text(data, "asked", limit=64), _nonce(data))


@dataclass(frozen=True)
class SnapshotRefused:
    """The Svc asked does not hold the list either (it is synchronising too): ask another."""

    TYPE: ClassVar[str] = "pending.snapshot_refused"
    to: str  # the asking Svc's private name
    nonce: str  # the request refused

    def fields(self) -> dict:
        return {"to": self.to, "nonce": self.nonce}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SnapshotRefused:
        return cls(_text(data, "to", limit=64), _nonce(data))


@dataclass(frozen=True)
class SnapshotChunk:
    """One piece of a snapshot, sent to the asking Svc's private name."""

    TYPE: ClassVar[str] = "pending.snapshot"
    to: str
    nonce: str
    index: int
    total: int
    data: str = field(repr=False)  # a slice of the base64 of the compressed entries

    def fields(self) -> dict:
        return {"to": self.to, "nonce": self.nonce, "index": self.index, "total": self.total, "data": self.data}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SnapshotChunk:
        total = _integer(data, "total", low=1, high=1_000_000)
        index = _integer(data, "index", high=total - 1)
        return cls(
            _text(data, "to", limit=64), _nonce(data), index, total, _text(data, "data", limit=SNAPSHOT_DATA_LIMIT)
        )


SNAPSHOT_DATA_LIMIT = 140_000  # characters of one chunk: under Spread's message size


def _nonce(data: Mapping[str, Any]) -> str:
    nonce = _text(data, "nonce", limit=64)
    if not nonce:
        raise BadPayload("'nonce' must not be empty")
    return nonce


GroupMessage = (
    SvcHello
    | PendingAdd
    | JobDone
    | JobFailed
    | JobRetry
    | PendingWithdrawn
    | SnapshotRequest
    | SnapshotRefused
    | SnapshotChunk
)
ListMessage = PendingAdd | JobDone | JobFailed | JobRetry | PendingWithdrawn  # what changes the pending list

# Spread mess_type of each message: fixed, the wire contract between versions.
MESSAGE_TYPES: dict[str, int] = {
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
TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}
CLASSES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        SvcHello,
        PendingAdd,
        JobDone,
        JobFailed,
        JobRetry,
        PendingWithdrawn,
        SnapshotRequest,
        SnapshotRefused,
        SnapshotChunk,
    )
}


def encode(message: GroupMessage) -> tuple[int, bytes]:
    """(Spread message type, JSON bytes) of ``message``."""
    body = {"type": message.TYPE, **message.fields()}
    return MESSAGE_TYPES[message.TYPE], json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode(message_type: int, data: bytes) -> GroupMessage:
    """The message in ``data``; raises ``BadPayload`` for anything that is not exactly one of ours."""
    kind = TYPE_NAMES.get(message_type)
    if kind is None:
        raise BadPayload(f"unknown message type {message_type}")
    try:
        payload = json.loads(data, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise BadPayload(f"{kind} payload is not JSON: {error}") from None
    if not isinstance(payload, dict) or payload.get("type") != kind:
        raise BadPayload(f"payload does not match message type {kind}")
    return CLASSES[kind].parse(payload)


def _no_constant(name: str) -> None:
    raise BadPayload(f"{name} is not a number a message may hold")


def multicast(
    group: pykka.ActorProxy, message: GroupMessage, to: str = SVCS_GROUP, timeout: float = SEND_TIMEOUT
) -> None:
    """Send ``message`` to ``to`` (a group or a private name) and wait until the connection took it.

    Raises ``GroupConnectionError`` when it did not (the session is down, the
    gateway is gone, or it did not answer in time): the message is lost, and
    the caller decides what that means."""
    message_type, data = encode(message)
    try:
        group.multicast(to, message_type, data).get(timeout=timeout)
    except pykka.ActorDeadError as error:
        raise GroupConnectionError(CONNECTION_CLOSED, f"the group connection is gone: {error}") from None
    except pykka.Timeout:
        raise GroupConnectionError(
            CONNECTION_CLOSED, f"the group connection did not take a {message.TYPE} in {timeout:g} s"
        ) from None
