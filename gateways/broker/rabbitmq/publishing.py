"""The publish link: topology, confirmed publishes, and short inspections.

Started with the actor, it declares the topology (``topology.py``) and, once
declared, redeclares it after every reconnection.  It publishes on a confirm
channel: a job is persistent JSON, published ``mandatory`` to the job exchange,
and ``RabbitBroker.publish`` returns only once RabbitMQ confirmed it, which is
the answer the caller asked for (``broker.publish(body).get()``).

* A publish is retried on the next connection until confirmed, or fails with
  ``BrokerUnavailable`` after ``publish_timeout``: never silently lost.  A
  publish whose confirm was lost with the connection is sent again, so a job
  may arrive twice (at-least-once; marking is idempotent).
* An unroutable publish (no queue bound) raises ``NotFound``; a nack raises
  ``PublishRejected``.
* The consume link publishes through here too: the counted copy of a
  redelivered job on a classic queue (``delivery_count.py``), with the
  original's properties; copies count in no statistic.

Publishers and consumers sit on separate connections as RabbitMQ advises: when
the broker blocks publishers (memory or disk alarm) the acks still flow.

``stats`` runs passive declares of both queues (messages waiting, consumers),
and ``dead_letters`` reads the dead-letter queue with ``basic_get`` and gives
everything back with one ``basic_nack(multiple=True, requeue=True)``, so the
dead letters stay there in their order.  A quorum queue takes them back
asynchronously (through its Raft log): until it has, a passive declare does not
count them, so ``dead_letters`` answers only once the queue counts them again
(or after ``RETURN_SETTLE_TIMEOUT``), and a ``stats`` that follows sees them.
"""

from __future__ import annotations

import time
from typing import Any

import pika
import pika.exceptions

from gateways.broker.rabbitmq.errors import channel_error
from gateways.broker.rabbitmq.link import Link
from gateways.broker.rabbitmq.topology import Topology
from ports.broker import BrokerError, NotFound, PublishRejected

CONTENT_TYPE = "application/json"
PERSISTENT = 2
# How long dead_letters waits for the dead-letter queue to count what it gave back.
RETURN_SETTLE_TIMEOUT = 5.0


def job_properties() -> pika.BasicProperties:
    """The properties of a freshly published job."""
    return pika.BasicProperties(delivery_mode=PERSISTENT, content_type=CONTENT_TYPE)


class PublishLink(Link):
    """Topology, confirmed publishes, and short inspections."""

    def __init__(self, parameters: pika.URLParameters, url: str, topology: Topology) -> None:
        super().__init__("publish", parameters, url)
        self.topology = topology
        self.declared = False  # redeclare on reconnection once declare() succeeded
        self._channel: Any = None

    def on_connected(self, connection: pika.BlockingConnection) -> None:
        if self.declared:
            try:
                self._declare(connection)
            except BrokerError as error:  # a conflicting queue: keep the connection, report it
                self.log.error("rabbitmq.redeclare_failed", error=str(error))

    def on_lost(self) -> None:
        self._channel = None

    def _confirm_channel(self, connection: pika.BlockingConnection) -> Any:
        if self._channel is None or not self._channel.is_open:
            self._channel = connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def _declare(self, connection: pika.BlockingConnection) -> None:
        channel = connection.channel()
        try:
            self.topology.declare(channel)
        except pika.exceptions.ChannelClosedByBroker as error:
            what = f"declaring queue {self.topology.queue!r} ({self.topology.queue_type})"
            raise channel_error(error, what) from None
        finally:
            if channel.is_open:
                channel.close()
        self.declared = True
        self.log.info("rabbitmq.declared", queue=self.topology.queue, queue_type=self.topology.queue_type)

    # commands (run in the link thread)

    def declare(self, connection: pika.BlockingConnection) -> None:
        self._declare(connection)

    def publish(
        self, connection: pika.BlockingConnection, body: bytes, properties: pika.BasicProperties | None = None
    ) -> None:
        """Publish one job to the job queue and wait for RabbitMQ's confirm."""
        channel = self._confirm_channel(connection)
        try:
            channel.basic_publish(
                exchange=self.topology.exchange,
                routing_key=self.topology.queue,
                body=body,
                properties=properties or job_properties(),
                mandatory=True,
            )
        except pika.exceptions.UnroutableError:
            raise NotFound(
                f"no queue '{self.topology.queue}' bound to exchange '{self.topology.exchange}' "
                "(NO_ROUTE: call declare() first)"
            ) from None
        except pika.exceptions.NackError:
            raise PublishRejected(f"rabbitmq nacked the job for {self.topology.queue!r}") from None
        except pika.exceptions.ChannelClosedByBroker as error:
            self._channel = None
            raise channel_error(error, f"a publish to exchange {self.topology.exchange!r}") from None

    def _passive_count(self, connection: pika.BlockingConnection, queue: str) -> tuple[int, int]:
        channel = connection.channel()
        try:
            ok = channel.queue_declare(queue, passive=True)
            return ok.method.message_count, ok.method.consumer_count
        except pika.exceptions.ChannelClosedByBroker as error:
            raise channel_error(error, f"a passive declare of {queue!r}") from None
        finally:
            if channel.is_open:
                channel.close()

    def stats(self, connection: pika.BlockingConnection) -> dict[str, int]:
        ready, consumers = self._passive_count(connection, self.topology.queue)
        dead, _ = self._passive_count(connection, self.topology.dead_letter_queue)
        return {"ready": ready, "consumers": consumers, "dead": dead}

    def dead_letters(self, connection: pika.BlockingConnection) -> list[bytes]:
        channel = connection.channel()
        bodies: list[bytes] = []
        try:
            last_tag = 0
            while True:
                method, _properties, body = channel.basic_get(self.topology.dead_letter_queue, auto_ack=False)
                if method is None:
                    break
                bodies.append(body)
                last_tag = method.delivery_tag
            if last_tag:
                channel.basic_nack(delivery_tag=last_tag, multiple=True, requeue=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            raise channel_error(error, f"reading {self.topology.dead_letter_queue!r}") from None
        finally:
            if channel.is_open:
                channel.close()  # anything still held goes back to the queue
        if bodies:
            self._await_returned(connection, len(bodies))
        return bodies

    def _await_returned(self, connection: pika.BlockingConnection, count: int) -> None:
        """Poll until the dead-letter queue counts the ``count`` messages given back."""
        deadline = time.monotonic() + RETURN_SETTLE_TIMEOUT
        while True:
            waiting, _ = self._passive_count(connection, self.topology.dead_letter_queue)
            if waiting >= count:
                return
            if time.monotonic() > deadline:
                self.log.warning("rabbitmq.dead_letters_not_settled", expected=count, counted=waiting)
                return
            connection.sleep(0.01)  # serves the connection (heartbeats) while waiting
