"""Counting deliveries on RabbitMQ: how many times a job was handed to a consumer.

A job that kills its worker (the process, or only the listener actor) comes
back again and again; ``JobDelivered.deliveries`` lets the consumer notice and
give it up after a bound.  The count must survive the consumer, the gateway
and its process, so it lives in the message itself.

**Quorum queues** count for us: a message that was handed out and returned
(reject with requeue, consumer cancelled, channel or connection closed)
carries an ``x-delivery-count`` header, the number of returns so far
(RabbitMQ 3.10, which the tests run; other versions may count returns
differently, and the quorum tests of the conformance suite would show it).
Deliveries = that + 1.

**Classic queues** count nothing: they only set ``redelivered`` on a message
that was handed out before, however many times.  The gateway therefore counts
in a header of its own, ``x-photomark-deliveries: n`` meaning "when this
message is delivered fresh (``redelivered=False``) it is the job's n-th
delivery".  A message that arrives *redelivered* is not handed to the listener
at all: the consume link publishes a copy of it carrying n + 1 (the original's
n, 1 when absent), persistent, with the original's other properties, and acks
the original only once RabbitMQ confirmed the copy.  The copy then arrives
fresh, as delivery n + 1.

Why this shape, and not another:

* copy first, ack second: a crash (of the process, the connection, the
  channel) between the two leaves both messages queued, so the job can be
  duplicated but never lost; marking is idempotent, and each duplicate keeps
  counting from n + 1, so a poison job still reaches the bound;
* ack the original rather than hand it out: handing out the original *and*
  queueing a copy would run the job twice on purpose; and the original cannot
  be changed in place (AMQP has no such thing), so the count cannot stay with
  it;
* the copy goes to the tail of the queue: a redelivered job loses its place.
  No AMQP means puts a message at the head (priorities would need another
  queue argument, which RabbitMQ refuses on an existing queue).  The port does
  not promise where a redelivered job lands; a job that keeps failing waits
  behind fresh work rather than blocking it, which is the better order anyway;
* the count is never kept in the gateway's memory: another process (the
  survivor that takes over a dead worker's job) must read it;
* if the copy cannot be published (publish timeout, broker alarm, a nack), the
  original is handed out after all, with deliveries n + 1 that are not
  written down: the job runs rather than bouncing in a hot loop, and the count
  is at worst too low (the bound comes later), never too high;
* a consumer cancelled while its copy is in flight stops receiving at once
  but keeps its channel until the copy settles, then acks the original: no
  duplicate in that common case.

A delivery that RabbitMQ pushed to a consumer's channel counts even when the
listener never saw it (it died, or the consumer was cancelled in that
instant), exactly as the fake twin counts a delivery told to a dead listener.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUORUM_COUNT_HEADER = "x-delivery-count"
DELIVERIES_HEADER = "x-photomark-deliveries"


@dataclass(frozen=True)
class Hand:
    """Hand the message to the listener as the job's ``deliveries``-th delivery."""

    deliveries: int
    redelivered: bool


@dataclass(frozen=True)
class Recount:
    """Do not hand it out: publish a copy whose header says ``deliveries``, then ack it."""

    deliveries: int


def _count(headers: Mapping[str, Any] | None, name: str) -> int | None:
    """A non-negative integer header, or None when absent or malformed."""
    value = (headers or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def count_delivery(queue_type: str, redelivered: bool, headers: Mapping[str, Any] | None) -> Hand | Recount:
    """What to do with a message that just reached a consumer's channel."""
    if queue_type == "quorum":
        returns = _count(headers, QUORUM_COUNT_HEADER) or 0
        deliveries = max(returns + 1, 2 if redelivered else 1)
        return Hand(deliveries, redelivered or deliveries > 1)
    counted = _count(headers, DELIVERIES_HEADER)
    deliveries = counted if counted else 1  # 0 or absent: a fresh job
    if redelivered:
        return Recount(deliveries + 1)
    return Hand(deliveries, deliveries > 1)


def counted_headers(headers: Mapping[str, Any] | None, deliveries: int) -> dict[str, Any]:
    """The headers of the copy: the original's, with the count replaced."""
    return {**(headers or {}), DELIVERIES_HEADER: deliveries}
