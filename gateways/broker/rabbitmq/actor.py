"""``RabbitBroker``: the broker port's actor on RabbitMQ.

The actor owns no connection (``link.py`` says why).  It owns two links: the
publish link (``publishing.py``), started with the actor, and the consume link
(``consuming.py``), started by the first ``consume``.  Each method of the port
becomes a command for one of them, and the actor waits on the command's
future: only briefly for ``ack``, ``reject``, ``cancel`` and ``consume``; for
``publish``, until RabbitMQ confirms (at most ``publish_timeout``).  The
actor keeps the counts that only it sees (``published``, ``acked``); the
links keep the channels, subscriptions and delivery tags.  Stopping the actor
(or its failure) stops both links, which close their connections, and RabbitMQ
requeues whatever the consumers held.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
from typing import Any

import pika
import pykka
import structlog

from actorkit.messaging import ref_of
from gateways.broker.rabbitmq.consuming import ConsumeLink
from gateways.broker.rabbitmq.link import redact
from gateways.broker.rabbitmq.publishing import PublishLink
from gateways.broker.rabbitmq.topology import Topology
from ports.broker import BrokerStats, PreconditionFailed, check_consumer, job_body

log = structlog.get_logger(__name__)


class RabbitBroker(pykka.ThreadingActor):
    """The job queue on RabbitMQ; satisfies ``ports.broker.Broker``, as ``MemoryBroker`` does."""

    def __init__(
        self,
        url: str = "amqp://guest:guest@127.0.0.1:5672/%2F",
        queue: str = "photomark.jobs",
        dead_letter_queue: str = "photomark.jobs.dead",
        queue_type: str = "classic",
        heartbeat: int = 5,
        exchange: str = "photomark",
        publish_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.url = url
        self.topology = Topology(exchange, queue, dead_letter_queue, queue_type)  # checks queue_type
        self.publish_timeout = publish_timeout
        self._parameters = pika.URLParameters(url)
        self._parameters.heartbeat = heartbeat
        self._parameters.connection_attempts = 1
        self._parameters.socket_timeout = 5
        self._parameters.stack_timeout = 10
        self._parameters.blocked_connection_timeout = max(publish_timeout, 5)
        self._parameters.client_properties = {"connection_name": f"photomark {socket.gethostname()}:{os.getpid()}"}
        self._publisher = PublishLink(self._parameters, url, self.topology)
        self._consumer: ConsumeLink | None = None
        self._published = 0  # confirmed by the broker, through this gateway
        self._acked = 0
        self.log = log.bind(queue=queue, url=redact(url))

    # --- lifecycle ---------------------------------------------------------

    def on_start(self) -> None:
        self._publisher.start()

    def on_stop(self) -> None:
        self._stop_links()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._stop_links()

    def _stop_links(self) -> None:
        if self._consumer is not None:
            self._consumer.stop()
        self._publisher.stop()

    def _consume_link(self) -> ConsumeLink:
        if self._consumer is None:
            self._consumer = ConsumeLink(self._parameters, self.url, self.topology, self._publish_counted_copy)
            self._consumer.start()
        return self._consumer

    def _publish_counted_copy(self, body: bytes, properties: pika.BasicProperties) -> concurrent.futures.Future:
        """For the consume link (any thread): publish a recounted job; the future is its confirm."""
        publisher = self._publisher
        return publisher.submit(
            "publish counted copy",
            lambda connection: publisher.publish(connection, body, properties),
            self.publish_timeout,
        )

    # --- the broker's messages ---------------------------------------------

    def is_connected(self) -> bool:
        """Whether the links to RabbitMQ are up (the gRPC health service reads this)."""
        links = [self._publisher] + ([self._consumer] if self._consumer is not None else [])
        return all(link.is_connected() for link in links)

    def declare(self) -> None:
        """Declare the exchange, the job queue and its dead-letter queue
        (idempotent); they are redeclared after every reconnection."""
        self._publisher.call("declare", self._publisher.declare)

    def publish(self, body: bytes) -> None:
        """Publish one persistent JSON job; returns once RabbitMQ confirmed it.

        Raises ``NotFound`` (no queue: call ``declare()``), ``PublishRejected``
        (nacked) or ``BrokerUnavailable`` (not confirmed within
        ``publish_timeout``, e.g. the broker is down)."""
        body = job_body(body)
        publisher = self._publisher
        publisher.call("publish", lambda connection: publisher.publish(connection, body), self.publish_timeout)
        self._published += 1

    def consume(self, consumer: str, listener: pykka.ActorRef | pykka.ActorProxy) -> None:
        """Start handing jobs to ``listener`` as ``on_job_delivered`` events,
        one at a time (prefetch 1) until each is acked or rejected.

        While the broker is unreachable the consumer is kept and starts when
        the connection comes.  Raises ``NotFound`` when the queue does not
        exist, ``NotAllowed`` when ``consumer`` is already consuming here."""
        check_consumer(consumer)
        ref = ref_of(listener)
        link = self._consume_link()
        link.call("consume", lambda connection: link.consume(connection, consumer, ref), needs_connection=False)

    def ack(self, consumer: str, delivery_tag: int) -> None:
        """The consumer is done with the job: it leaves the broker.  Raises
        ``PreconditionFailed`` for a tag that is unknown, held by another
        consumer, or stale (its channel closed: the job will be redelivered)."""
        self._settle(consumer, delivery_tag, "ack")
        self._acked += 1

    def reject(self, consumer: str, delivery_tag: int, requeue: bool = False) -> None:
        """Give the job back: requeued (``redelivered=True``), or with
        ``requeue=False`` dead-lettered."""
        self._settle(consumer, delivery_tag, "reject", requeue)

    def _settle(self, consumer: str, delivery_tag: int, how: str, requeue: bool = False) -> None:
        if self._consumer is None:
            raise PreconditionFailed(f"unknown delivery tag {delivery_tag!r}")
        link = self._consumer
        # needs_connection=False: a delivery whose connection died is stale and
        # is refused at once; it never waits for the next connection.
        link.call(how, lambda _c: link.settle(consumer, delivery_tag, how, requeue), needs_connection=False)

    def cancel(self, consumer: str) -> None:
        """Stop consuming; the consumer's unacked job goes back to the queue
        (redelivered).  Cancelling an unknown consumer changes nothing."""
        if self._consumer is None:
            return
        link = self._consumer
        link.call("cancel", lambda _c: link.cancel(consumer), needs_connection=False)

    def stats(self) -> BrokerStats:
        """``ready``, ``dead`` (messages waiting) and ``consumers`` come from
        passive declares, so they count the whole broker; ``unacked`` counts the
        jobs this gateway's consumers hold (AMQP does not report other clients'
        unacked messages; the management API does), ``published`` (confirmed)
        and ``acked`` what went through this gateway."""
        counts = self._publisher.call("stats", self._publisher.stats)
        unacked = 0
        if self._consumer is not None:
            link = self._consumer
            unacked = link.call("unacked", lambda _c: link.unacked(), needs_connection=False)
        return {
            "ready": counts["ready"],
            "unacked": unacked,
            "dead": counts["dead"],
            "consumers": counts["consumers"],
            "published": self._published,
            "acked": self._acked,
        }

    def dead_letters(self) -> list[bytes]:
        """The bodies in the dead-letter queue, oldest first; they are read and
        requeued, so they stay there."""
        return self._publisher.call("dead_letters", self._publisher.dead_letters)
