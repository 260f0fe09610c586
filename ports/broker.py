"""The broker port: a durable job queue with manual acks and dead letters.

Satisfied by ``gateways.broker.rabbitmq.RabbitBroker`` (RabbitMQ through pika)
and ``gateways.broker.memory.MemoryBroker`` (its fake twin); neither twin
imports the other, both import this.  ``tests/conformance/test_broker_port.py``
checks every promise below against both.

Deliveries reach a listener as told calls, ``tell_call(listener,
"on_job_delivered", JobDelivered(...))``; acks and rejects come back as proxy
calls with a future (an error in a told call would crash the gateway actor).

What the port promises, and what it leaves open:

* jobs are delivered first-in first-out; a consumer holds at most one unacked
  job (prefetch 1);
* a job is handed out again (``redelivered=True``) when its consumer rejects it
  with ``requeue=True``, is cancelled, or its listener actor dies; where the
  redelivered job lands (head or tail of the queue) is *not* promised: the
  fake and RabbitMQ's quorum queues put it at the head, the RabbitMQ gateway on
  a classic queue at the tail (see ``JobDelivered.deliveries``);
* ``JobDelivered.deliveries`` counts how many times the job was handed to a
  consumer, this time included, across consumers and gateway processes;
* delivery tags are the gateway's, unique for its life; acking or rejecting a
  tag that is unknown, already settled, or held by another consumer raises
  ``PreconditionFailed`` and changes nothing;
* delivery is at-least-once: a job may arrive twice (a publish whose confirm
  was lost is resent), so consumers are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, runtime_checkable


@dataclass(frozen=True)
class JobDelivered:
    """The broker hands one job to one consumer; it stays unacked until the
    consumer acks or rejects it (prefetch 1 per consumer)."""

    consumer: str
    delivery_tag: int
    body: bytes  # the raw message; decoding it (and rejecting poison) is the consumer's job
    redelivered: bool = False
    # How many times this job has been handed to a consumer, this time included:
    # a job that keeps killing its worker is known by a growing count.
    deliveries: int = 1


class BrokerStats(TypedDict):
    """What ``Broker.stats`` reports (every value a count)."""

    ready: int  # jobs waiting in the job queue
    unacked: int  # jobs this gateway's consumers hold (RabbitMQ: not other clients')
    dead: int  # jobs in the dead-letter queue
    consumers: int  # consumers of the job queue (RabbitMQ: of every client)
    published: int  # publishes confirmed through this gateway
    acked: int  # acks through this gateway


STATS_KEYS = tuple(BrokerStats.__annotations__)


class BrokerError(Exception):
    """A channel error, named after the AMQP reply code RabbitMQ would send."""

    reply_code = 0
    reply_text = ""

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.reply_text} - {message}")


class PreconditionFailed(BrokerError):
    """Ack or reject of a delivery tag that is unknown, stale or held by another consumer;
    a queue redeclared with other arguments."""

    reply_code = 406
    reply_text = "PRECONDITION_FAILED"


class NotFound(BrokerError):
    """Publishing to, or consuming from, a queue nobody declared."""

    reply_code = 404
    reply_text = "NOT_FOUND"


class NotAllowed(BrokerError):
    """Reusing the name of a consumer that is still consuming."""

    reply_code = 530
    reply_text = "NOT_ALLOWED"


class BrokerUnavailable(BrokerError):
    """The broker could not be reached in time; nothing was confirmed."""

    reply_text = "UNAVAILABLE"


class PublishRejected(BrokerError):
    """The broker nacked a publish (it could not take responsibility for it)."""

    reply_text = "NACKED"


def job_body(body: bytes | bytearray | memoryview) -> bytes:
    """The bytes of a job to publish; anything else is a ``TypeError`` (both twins refuse it alike)."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"a job body is bytes, not {type(body).__name__}")
    return bytes(body)


def check_consumer(consumer: str) -> None:
    """A consumer's name is a non-empty string; anything else is a ``ValueError``."""
    if not isinstance(consumer, str) or not consumer:
        raise ValueError(f"a consumer name is a non-empty string, not {consumer!r}")


@runtime_checkable
class JobListener(Protocol):
    """What a consumer's listener actor offers."""

    def on_job_delivered(self, delivery: JobDelivered) -> None: ...


@runtime_checkable
class Broker(Protocol):
    """The methods of a broker gateway actor (called through its proxy)."""

    def declare(self) -> None:
        """Declare the job queue and its dead-letter queue; idempotent.  Raises
        ``PreconditionFailed`` when the queue exists with other arguments."""

    def publish(self, body: bytes) -> None:
        """Queue one job at the tail; returning is the publisher confirm.  Raises
        ``TypeError`` for a body that is not bytes, ``NotFound`` (not declared),
        ``PublishRejected`` or ``BrokerUnavailable``."""

    def consume(self, consumer: str, listener: Any) -> None:
        """Hand jobs to ``listener`` (the ``ActorRef`` or proxy of a ``JobListener``),
        one unacked at a time.  Raises ``NotFound`` (not declared), ``NotAllowed``
        for a consumer name already consuming, ``ValueError`` for an empty name."""

    def ack(self, consumer: str, delivery_tag: int) -> None:
        """The job is done: it leaves the broker.  Raises ``PreconditionFailed``."""

    def reject(self, consumer: str, delivery_tag: int, requeue: bool = False) -> None:
        """Give the job back: to the queue (``requeue``, redelivered) or to the dead
        letters.  Raises ``PreconditionFailed``."""

    def cancel(self, consumer: str) -> None:
        """Stop consuming; an unacked job goes back to the queue, redelivered.
        Cancelling an unknown consumer changes nothing."""

    def is_connected(self) -> bool:
        """Whether the broker can be reached now (health reads this)."""

    def stats(self) -> BrokerStats:
        """The counts named by ``BrokerStats``."""

    def dead_letters(self) -> list[bytes]:
        """The bodies in the dead-letter queue, oldest first (they stay there)."""
