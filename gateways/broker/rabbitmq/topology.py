"""What the RabbitMQ gateway declares: a direct exchange, the job queue, and its dead letters.

The job exchange (``photomark``) routes a job to the job queue by the queue's
name.  The job queue dead-letters what a consumer rejects without requeue
through a second direct exchange into the dead-letter queue; exchanges and
queues live in separate namespaces, so that exchange carries the dead-letter
queue's name.  Everything is durable, and jobs are published persistent, so a
broker restart loses nothing that was confirmed.

Both queues are of one type: ``classic`` on a single broker, ``quorum`` on a
RabbitMQ cluster (replicated; it also counts deliveries itself, see
``delivery_count.py``).  Declaring is idempotent: declaring what exists with
the same arguments changes nothing, while a queue that exists with other
arguments (another type) is refused with ``PreconditionFailed``.  The publish
link declares the topology on ``declare()`` and again after every
reconnection, once declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

QUEUE_TYPES = ("classic", "quorum")


@dataclass(frozen=True)
class Topology:
    """Names and kinds of everything the gateway declares."""

    exchange: str
    queue: str
    dead_letter_queue: str
    queue_type: str

    def __post_init__(self) -> None:
        if self.queue_type not in QUEUE_TYPES:
            raise ValueError(f"queue_type must be one of {QUEUE_TYPES}, not {self.queue_type!r}")

    @property
    def dead_letter_exchange(self) -> str:
        # Exchanges and queues live in separate namespaces: the dead-letter
        # exchange carries the dead-letter queue's name.
        return self.dead_letter_queue

    def declare(self, channel: Any) -> None:
        """Idempotent: declaring what exists with the same arguments is a no-op."""
        kind = {"x-queue-type": self.queue_type}
        channel.exchange_declare(self.exchange, exchange_type="direct", durable=True)
        channel.exchange_declare(self.dead_letter_exchange, exchange_type="direct", durable=True)
        channel.queue_declare(self.dead_letter_queue, durable=True, arguments=kind)
        channel.queue_bind(self.dead_letter_queue, self.dead_letter_exchange, routing_key=self.dead_letter_queue)
        channel.queue_declare(
            self.queue,
            durable=True,
            arguments={
                **kind,
                "x-dead-letter-exchange": self.dead_letter_exchange,
                "x-dead-letter-routing-key": self.dead_letter_queue,
            },
        )
        channel.queue_bind(self.queue, self.exchange, routing_key=self.queue)
