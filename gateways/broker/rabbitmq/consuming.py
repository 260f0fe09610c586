"""The consume link: one channel per consumer, prefetch 1, the gateway's own delivery tags.

Started by the first ``consume``, it gives every consumer a channel of its own
(``basic_qos(prefetch_count=1)``, manual ack), so cancelling one consumer
closes its channel and RabbitMQ requeues its unacked job.

Deliveries
----------
A delivery goes to the listener with a tell, straight from the consumer
callback, so the marking work happens in the listener's thread and the link
keeps serving heartbeats meanwhile.  A hung or stopped *process* misses its
heartbeats and RabbitMQ closes its connection, returning its job to the queue,
after about three heartbeat intervals (measured on RabbitMQ 3.10: 6 s with
``heartbeat=2``, 15 s with the default 5; pass ``heartbeat=3`` for about 9 s).
A listener actor that hangs inside a live process is not detected by
heartbeats: its job stays unacked until the actor dies.  The link checks on
every turn of its loop (at least once a second) whether each listener is
alive; the consumer of a dead listener is cancelled and its job requeued, as
is the consumer of a listener found dead when a delivery is told to it.

Delivery tags
-------------
Delivery tags belong to a channel.  The gateway therefore hands listeners its
own tags (one counter per gateway, never reused) and maps each to the channel
that delivered it.  When that channel dies (connection lost, consumer
cancelled), its mappings are dropped and remembered as *stale* (the last
``STALE_TAGS_KEPT``): a late ``ack``/``reject`` of such a delivery is refused
with ``PreconditionFailed`` ("stale"), never sent on a new channel, where the
same number names another message.  RabbitMQ redelivers the job
(``redelivered=True``).

Delivery counts
---------------
Every message that reaches a channel passes ``delivery_count.count_delivery``.
On a quorum queue it is handed out with ``deliveries`` read from RabbitMQ's
``x-delivery-count``.  On a classic queue a *redelivered* message is held
(unacked, so a crash returns it) while the publish link publishes its counted
copy; once that is confirmed the original is acked, and the copy arrives later
as a fresh message and is handed out.  ``delivery_count.py`` says why.  While
a consumer holds a message being recounted it holds nothing else (prefetch 1),
and ``stats()['unacked']`` counts it.

Reconnection
------------
After a reconnection every consumer is resumed on a new channel; a consumer
that cannot start (its queue is gone) is retried with backoff.  RabbitMQ
cancelling a consumer (its queue was deleted) is handled the same way.
"""

from __future__ import annotations

import concurrent.futures
import copy
import itertools
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import pykka

from actorkit.messaging import tell_call
from gateways.broker.rabbitmq.delivery_count import (
    Hand,
    Recount,
    count_delivery,
    counted_headers,
)
from gateways.broker.rabbitmq.errors import channel_error
from gateways.broker.rabbitmq.link import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    COMMAND_TIMEOUT,
    Link,
)
from gateways.broker.rabbitmq.publishing import PERSISTENT
from gateways.broker.rabbitmq.topology import Topology
from ports.broker import BrokerError, JobDelivered, NotAllowed, PreconditionFailed

# Delivery tags of channels that died, kept so a late ack says "stale" rather
# than "unknown"; bounded, oldest forgotten first.
STALE_TAGS_KEPT = 10_000

# Publishes a counted copy (body, properties) through the publish link; the
# future settles once RabbitMQ confirmed it, or with the reason it did not.
Recounter = Callable[[bytes, pika.BasicProperties], concurrent.futures.Future]


def counted_copy(properties: pika.BasicProperties, deliveries: int) -> pika.BasicProperties:
    """The original's properties, persistent, with the delivery count replaced."""
    properties = copy.copy(properties)
    properties.headers = counted_headers(properties.headers, deliveries)
    properties.delivery_mode = PERSISTENT
    return properties


@dataclass
class Subscription:
    """One consumer: its listener, and while connected its channel."""

    consumer: str
    listener: Any
    channel: Any = None
    consumer_tag: str = ""
    deliveries: dict[int, int] = field(default_factory=dict)  # gateway tag -> channel delivery tag
    # The channel tag of a redelivered message held until its counted copy is confirmed.
    recounting: int | None = None
    closing: bool = False  # cancelled while recounting: the channel closes once the copy settled
    retry_at: float = 0.0
    failures: int = 0

    def holds(self) -> int:
        """How many jobs the consumer holds unacked (0 or 1: prefetch 1)."""
        return len(self.deliveries) + (self.recounting is not None)


class ConsumeLink(Link):
    """One channel per consumer, prefetch 1, manual ack."""

    def __init__(self, parameters: pika.URLParameters, url: str, topology: Topology, recount: Recounter) -> None:
        super().__init__("consume", parameters, url)
        self.topology = topology
        self.subscriptions: dict[str, Subscription] = {}
        self._recount = recount
        self._tags = itertools.count(1)  # gateway delivery tags, never reused
        self._stale: dict[int, str] = {}  # tag of a dead channel -> consumer

    # hooks

    def on_connected(self, connection: pika.BlockingConnection) -> None:
        for subscription in self.subscriptions.values():
            subscription.retry_at = 0.0
            subscription.failures = 0
        self.tick(connection)

    def on_lost(self) -> None:
        why = "gateway stopped" if self._stopping.is_set() else "connection lost"
        for subscription in self.subscriptions.values():
            self._forget_channel(subscription, why)

    def tick(self, connection: pika.BlockingConnection) -> None:
        now = time.monotonic()
        for subscription in list(self.subscriptions.values()):
            if not subscription.listener.is_alive():
                self.log.warning(
                    "rabbitmq.listener_dead", consumer=subscription.consumer, note="consumer cancelled, job requeued"
                )
                self._drop(subscription)
                continue
            if subscription.channel is not None and subscription.channel.is_open:
                continue
            if subscription.channel is not None:
                self._forget_channel(subscription, "channel closed")
            if now >= subscription.retry_at:
                try:
                    self._start(connection, subscription)
                except BrokerError as error:
                    subscription.failures += 1
                    delay = min(BACKOFF_FIRST * 2**subscription.failures, BACKOFF_MAX)
                    subscription.retry_at = now + delay
                    self.log.warning(
                        "rabbitmq.consume_failed", consumer=subscription.consumer, error=str(error), retry_in=delay
                    )

    # helpers

    def _forget_channel(self, subscription: Subscription, why: str) -> None:
        if subscription.deliveries or subscription.recounting is not None:
            self.log.info(
                "rabbitmq.deliveries_dropped",
                consumer=subscription.consumer,
                tags=sorted(subscription.deliveries),
                recounting=subscription.recounting is not None,
                why=why,
                note="RabbitMQ redelivers them",
            )
        for tag in subscription.deliveries:
            self._stale[tag] = subscription.consumer
        while len(self._stale) > STALE_TAGS_KEPT:
            del self._stale[next(iter(self._stale))]
        subscription.deliveries.clear()
        subscription.recounting = None
        subscription.channel = None

    def _start(self, connection: pika.BlockingConnection, subscription: Subscription) -> None:
        channel = connection.channel()
        try:
            channel.basic_qos(prefetch_count=1)
            tag = f"{subscription.consumer}@{socket.gethostname()}:{os.getpid()}:{next(self._tags)}"
            channel.add_on_cancel_callback(lambda _frame: self._on_broker_cancel(subscription, channel))
            channel.basic_consume(
                queue=self.topology.queue,
                on_message_callback=lambda ch, method, properties, body: self._on_message(
                    subscription, ch, method, properties, body
                ),
                auto_ack=False,
                consumer_tag=tag,
            )
        except pika.exceptions.ChannelClosedByBroker as error:
            raise channel_error(error, f"consuming from {self.topology.queue!r}") from None
        subscription.channel = channel
        subscription.consumer_tag = tag
        subscription.failures = 0
        self.log.info("rabbitmq.consuming", consumer=subscription.consumer, queue=self.topology.queue)

    def _drop(self, subscription: Subscription) -> None:
        """The consumer stops: no longer listed (its name is free again), its channel closed."""
        if self.subscriptions.get(subscription.consumer) is subscription:
            del self.subscriptions[subscription.consumer]
        self._close(subscription)

    def _close(self, subscription: Subscription) -> None:
        channel = subscription.channel
        if subscription.recounting is not None and channel is not None and channel.is_open:
            # Its counted copy is in flight: take no more deliveries now, and close
            # once the copy settled (_recounted), so that the original is acked
            # rather than requeued beside its copy.
            subscription.closing = True
            try:
                channel.basic_cancel(subscription.consumer_tag)
                return
            except pika.exceptions.AMQPChannelError as error:
                self.log.info("rabbitmq.cancel_failed", consumer=subscription.consumer, error=str(error))
        self._forget_channel(subscription, "consumer cancelled")
        if channel is not None and channel.is_open:
            channel.close()  # RabbitMQ requeues what the channel held unacked

    def _on_broker_cancel(self, subscription: Subscription, channel: Any) -> None:
        # The queue was deleted (or its leader moved): consume again later.
        self.log.warning("rabbitmq.consumer_cancelled_by_broker", consumer=subscription.consumer)
        if subscription.channel is channel:
            self._forget_channel(subscription, "cancelled by broker")
            subscription.retry_at = time.monotonic() + BACKOFF_MAX
        try:
            channel.close()
        except Exception:  # noqa: BLE001, S110 - closing a channel the broker let go
            pass

    def _on_message(
        self, subscription: Subscription, channel: Any, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        if subscription.channel is not channel or subscription.closing:
            return  # a late frame on a channel we already let go (RabbitMQ requeues it with the channel)
        decision = count_delivery(self.topology.queue_type, bool(method.redelivered), properties.headers)
        if isinstance(decision, Recount):
            self._start_recount(subscription, channel, method.delivery_tag, properties, body, decision.deliveries)
        else:
            self._hand(subscription, method.delivery_tag, body, decision)

    def _hand(self, subscription: Subscription, channel_tag: int, body: bytes, decision: Hand) -> None:
        """Tell the listener: the job is now held under a gateway tag."""
        tag = next(self._tags)
        subscription.deliveries[tag] = channel_tag
        event = JobDelivered(subscription.consumer, tag, body, decision.redelivered, decision.deliveries)
        if not tell_call(subscription.listener, "on_job_delivered", event):
            self.log.warning(
                "rabbitmq.listener_dead", consumer=subscription.consumer, note="job requeued, consumer cancelled"
            )
            self._drop(subscription)

    def _start_recount(
        self,
        subscription: Subscription,
        channel: Any,
        channel_tag: int,
        properties: pika.BasicProperties,
        body: bytes,
        deliveries: int,
    ) -> None:
        """Hold the redelivered original and have its counted copy published."""
        subscription.recounting = channel_tag
        confirmed = self._recount(body, counted_copy(properties, deliveries))

        def settled(copy_confirmed: concurrent.futures.Future) -> None:  # in the publish link's thread
            self.submit(
                "recounted",
                lambda _c: self._recounted(subscription, channel, channel_tag, body, deliveries, copy_confirmed),
                COMMAND_TIMEOUT,
                needs_connection=False,
            )

        confirmed.add_done_callback(settled)

    def _recounted(
        self,
        subscription: Subscription,
        channel: Any,
        channel_tag: int,
        body: bytes,
        deliveries: int,
        copy_confirmed: concurrent.futures.Future,
    ) -> None:
        """The copy settled: ack the original, or (no copy) hand the original out after all."""
        if copy_confirmed.cancelled():
            error: BaseException | None = BrokerError("the publish of the copy was cancelled")
        else:
            error = copy_confirmed.exception()
        if subscription.channel is not channel or subscription.recounting != channel_tag or not channel.is_open:
            # The channel went with the original, which RabbitMQ requeued: if the
            # copy was confirmed as well, the job is queued twice (at-least-once).
            self.log.warning(
                "rabbitmq.recount_orphaned",
                consumer=subscription.consumer,
                deliveries=deliveries,
                copy_confirmed=error is None,
            )
            return
        subscription.recounting = None
        if error is None:
            channel.basic_ack(delivery_tag=channel_tag)
            self.log.info("rabbitmq.delivery_recounted", consumer=subscription.consumer, deliveries=deliveries)
        elif not subscription.closing:
            self.log.warning(
                "rabbitmq.recount_failed",
                consumer=subscription.consumer,
                deliveries=deliveries,
                error=str(error),
                note="the original is handed out; its count is not kept",
            )
            self._hand(subscription, channel_tag, body, Hand(deliveries, redelivered=True))
            return
        if subscription.closing:
            self._forget_channel(subscription, "consumer cancelled")
            channel.close()  # without a copy, the original goes back to the queue

    # commands (run in the link thread)

    def consume(self, connection: pika.BlockingConnection | None, consumer: str, listener: pykka.ActorRef) -> None:
        if consumer in self.subscriptions:
            raise NotAllowed(f"attempt to reuse consumer tag '{consumer}'")
        subscription = Subscription(consumer, listener)
        self.subscriptions[consumer] = subscription
        if connection is not None:
            try:
                self._start(connection, subscription)
            except BrokerError:
                del self.subscriptions[consumer]
                raise

    def settle(self, consumer: str, tag: int, how: str, requeue: bool = False) -> None:
        """Ack or reject one of our deliveries on the channel that carried it."""
        subscription = self.subscriptions.get(consumer)
        if subscription is None or tag not in subscription.deliveries:
            raise PreconditionFailed(self._why_not_held(consumer, tag, how))
        channel = subscription.channel
        channel_tag = subscription.deliveries.pop(tag)
        if how == "ack":
            channel.basic_ack(delivery_tag=channel_tag)
        else:
            channel.basic_reject(delivery_tag=channel_tag, requeue=requeue)

    def _why_not_held(self, consumer: str, tag: int, how: str) -> str:
        stale_of = self._stale.pop(tag, None)
        if stale_of == consumer:
            self.log.warning("rabbitmq.stale_delivery", consumer=consumer, delivery_tag=tag, action=how)
            return (
                f"delivery tag {tag} is stale: the channel that carried it closed before the {how} "
                "(RabbitMQ redelivers the job)"
            )
        for other in self.subscriptions.values():
            if tag in other.deliveries:
                return f"delivery tag {tag} is held by consumer '{other.consumer}', not '{consumer}'"
        return f"unknown delivery tag {tag!r}"

    def cancel(self, consumer: str) -> None:
        subscription = self.subscriptions.get(consumer)
        if subscription is None:
            self.log.info("rabbitmq.cancel_unknown_consumer", consumer=consumer)
            return
        self._drop(subscription)
        self.log.info("rabbitmq.cancelled", consumer=consumer)

    def unacked(self) -> int:
        return sum(s.holds() for s in self.subscriptions.values())
