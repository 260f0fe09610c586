"""RabbitMQ gateway: the job queue on a real broker, through pika.

``RabbitBroker`` offers the same methods as its fake twin ``MemoryBroker``
(``gateways/broker/memory.py``): ``declare``, ``publish``, ``consume``, ``ack``,
``reject``, ``cancel``, ``stats``, ``dead_letters``.  What leaves it is
``JobDelivered`` events, told to the listener (``tell_call(listener,
"on_job_delivered", event)``); nothing of pika's frames or channels escapes.

Threading: why two link threads beside the actor
------------------------------------------------
pika's ``BlockingConnection`` is not thread-safe: each connection must be used
from exactly one thread, and it only reads the socket (deliveries, publisher
confirms, heartbeats) while that thread is inside pika.  A Pykka actor's thread
spends its idle time blocked on its inbox, so a connection owned by the actor
thread would miss heartbeats whenever the actor idles, and pumping it with a
self-told ``_pump`` loop would put every call behind a poll.

So the actor owns no connection.  It owns two *links*, each a daemon thread
that owns one ``BlockingConnection`` for its whole life and is the only thread
that touches it:

* the **publish link** (started with the actor): declares the topology,
  publishes on a confirm channel, and runs the short passive declares of
  ``stats`` and the reads of ``dead_letters``;
* the **consume link** (started by the first ``consume``): one channel per
  consumer (``basic_qos(prefetch_count=1)``, manual ack), so cancelling one
  consumer closes its channel and RabbitMQ requeues its unacked job.

Publishers and consumers sit on separate connections as RabbitMQ advises: when
the broker blocks publishers (memory or disk alarm) the acks still flow.

A link loops on ``connection.process_data_events(time_limit=1)`` and runs
commands that the actor puts in a thread-safe queue; after queueing one, the
actor wakes the link with ``connection.add_callback_threadsafe`` (the one pika
call documented as safe from another thread).  The actor then waits on the
command's ``concurrent.futures.Future``: only briefly for ``ack``, ``reject``,
``cancel`` and ``consume``; for ``publish``, until the broker confirms, which
is the answer the caller asked for (``broker.publish(body).get()``).  A link
never asks an actor anything; a delivery goes to the listener with a tell,
straight from the consumer callback, so the marking work happens in the
listener's thread and the link keeps serving heartbeats meanwhile.  A hung or
stopped *process* misses its heartbeats and RabbitMQ closes its connection,
returning its job to the queue, after about three heartbeat intervals
(measured on RabbitMQ 3.10: 6 s with ``heartbeat=2``, 15 s with the default 5;
pass ``heartbeat=3`` for about 9 s).  A listener actor that hangs inside a live
process is not detected by heartbeats: its job stays unacked until the actor
dies (the link notices a dead listener within a second and requeues its job).

Reconnection
------------
When a connection is lost (broker restart, network), its link reconnects with
exponential backoff (0.25 s doubling to 5 s), redeclares the topology (once
``declare`` has been called), and the consume link resumes every consumer.

* A publish is retried on the new connection until confirmed, or fails with
  ``BrokerUnavailable`` after ``publish_timeout``: never silently lost.  A
  publish whose confirm was lost with the connection is sent again, so a job
  may arrive twice (at-least-once; marking is idempotent).
* Delivery tags belong to a channel.  The gateway therefore hands listeners its
  own tags (one counter per gateway, never reused) and maps each to the
  channel that delivered it.  When that channel dies, its mappings are
  dropped: a late ``ack``/``reject`` of such a delivery is logged and ignored,
  never sent on the new channel, where the same number names another message.
  RabbitMQ redelivers the job (``redelivered=True``).

Errors are the twin's (``BrokerError`` and its AMQP-named subclasses, defined
with ``MemoryBroker``), so an actor catches the same exceptions from either:
``NotFound`` (no such queue: call ``declare()``; also an unroutable publish),
``PreconditionFailed`` (ack/reject of an unknown, stale or foreign delivery
tag; a queue redeclared with other arguments), ``NotAllowed`` (a consumer name
already consuming), plus ``PublishRejected`` (nacked) and ``BrokerUnavailable``
(unreachable in time).  As with the twin, call ``ack``/``reject`` as proxy
calls with a future, not with ``tell_call``: an error in a told call would
crash the gateway actor.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
import pykka
import structlog

from actorkit.messaging import tell_call
from ports.broker import (
    BrokerError,
    BrokerUnavailable,
    JobDelivered,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    PublishRejected,
)

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "NotAllowed",
    "NotFound",
    "PreconditionFailed",
    "PublishRejected",
    "RabbitBroker",
]

log = structlog.get_logger(__name__)

QUEUE_TYPES = ("classic", "quorum")
CONTENT_TYPE = "application/json"
PERSISTENT = 2

# How long the actor waits for a link to carry out a short command (ack,
# reject, cancel, consume, stats); the link thread is never busy for long.
COMMAND_TIMEOUT = 10.0
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0

_CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionWrongStateError,
    ConnectionError,
    OSError,
)


class ChannelRefused(BrokerError):
    """Any other channel error, with RabbitMQ's own reply code and text."""

    def __init__(self, reply_code: int, reply_text: str, message: str) -> None:
        self.reply_code = reply_code
        self.reply_text = reply_text
        super().__init__(message)


# Delivery tags of channels that died, kept so a late ack says "stale" rather
# than "unknown"; bounded, oldest forgotten first.
STALE_TAGS_KEPT = 10_000


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Topology:
    """Names and kinds of everything the gateway declares."""

    exchange: str
    queue: str
    dead_letter_queue: str
    queue_type: str

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


@dataclass
class _Command:
    """Work for a link thread, with the future the actor waits on."""

    run: Callable[[Any], Any]  # run(connection or None) -> result
    name: str
    deadline: float
    needs_connection: bool = True
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class _Link:
    """One pika ``BlockingConnection`` and the one thread that uses it.

    Other threads talk to it only through ``submit`` (a thread-safe queue plus
    a wake-up through ``add_callback_threadsafe``).
    """

    def __init__(self, name: str, parameters: pika.URLParameters, url: str) -> None:
        self.name = name
        self._parameters = parameters
        self._url = redact(url)
        self._commands: collections.deque[_Command] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._last_error: str = "not connected yet"
        self.log = log.bind(link=name, url=self._url)
        self._thread = threading.Thread(target=self._run, name=f"rabbitmq-{name}", daemon=True)

    # --- any thread -----------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def is_connected(self) -> bool:
        return self._connection is not None

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._poke()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def submit(self, name: str, run: Callable[[Any], Any], timeout: float, needs_connection: bool = True) -> concurrent.futures.Future:
        command = _Command(run=run, name=name, deadline=time.monotonic() + timeout, needs_connection=needs_connection)
        if self._stopping.is_set():
            command.future.set_exception(BrokerError(f"rabbitmq {self.name} link is stopped"))
            return command.future
        with self._lock:
            self._commands.append(command)
        self._poke()
        return command.future

    def call(self, name: str, run: Callable[[Any], Any], timeout: float = COMMAND_TIMEOUT, needs_connection: bool = True) -> Any:
        """Submit and wait; raises what the command raised, or BrokerUnavailable."""
        future = self.submit(name, run, timeout, needs_connection)
        try:
            return future.result(timeout + 5.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BrokerUnavailable(f"rabbitmq {self.name} link did not answer {name} within {timeout:.0f} s") from None

    def _poke(self) -> None:
        self._wake.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)
            except Exception:  # noqa: BLE001, S110 - closed meanwhile: the loop notices on its own
                pass

    # --- the link thread only -------------------------------------------

    def on_connected(self, connection: pika.BlockingConnection) -> None:
        """Hook: set up channels after every (re)connection."""

    def on_lost(self) -> None:
        """Hook: forget every channel of the connection that just died."""

    def tick(self, connection: pika.BlockingConnection) -> None:
        """Hook: run on every loop turn while connected."""

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                connection = pika.BlockingConnection(self._parameters)
            except Exception as error:  # noqa: BLE001 - refused, DNS, auth, handshake: retry
                self._last_error = _describe(error)
                self.log.warning("rabbitmq.connect_failed", error=self._last_error, retry_in=round(backoff, 2))
                self._wait_offline(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self._connection = connection
            self.log.info("rabbitmq.connected")
            try:
                self.on_connected(connection)
                backoff = BACKOFF_FIRST
                while not self._stopping.is_set():
                    self._drain(connection)
                    self.tick(connection)
                    connection.process_data_events(time_limit=1.0)
            except Exception as error:  # noqa: BLE001 - whatever killed the connection: reconnect
                self._last_error = _describe(error)
                if not self._stopping.is_set():
                    self.log.warning("rabbitmq.connection_lost", error=self._last_error, retry_in=round(backoff, 2))
            finally:
                self._connection = None
                self.on_lost()
                try:
                    if connection.is_open:
                        connection.close()  # unacked deliveries go back to their queue
                except Exception:  # noqa: BLE001, S110 - it is dead already
                    pass
            if not self._stopping.is_set():
                self._wait_offline(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        self._fail_all(BrokerError(f"rabbitmq {self.name} link stopped"))
        self.log.info("rabbitmq.link_stopped")

    def _wait_offline(self, seconds: float) -> None:
        """Wait before reconnecting, still serving commands that need no
        connection and failing those whose deadline passed."""
        until = time.monotonic() + seconds * random.uniform(0.8, 1.2)
        while not self._stopping.is_set():
            self._drain(None)
            left = until - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(min(left, 0.5))
            self._wake.clear()

    def _drain(self, connection: pika.BlockingConnection | None) -> None:
        with self._lock:
            pending, self._commands = self._commands, collections.deque()
        keep: collections.deque[_Command] = collections.deque()
        try:
            while pending:
                command = pending.popleft()
                if command.future.done():  # cancelled by an impatient caller
                    continue
                if connection is None and command.needs_connection:
                    if time.monotonic() > command.deadline:
                        _resolve(
                            command.future,
                            error=BrokerUnavailable(
                                f"rabbitmq at {self._url} unreachable, {command.name} not done "
                                f"(last error: {self._last_error})"
                            )
                        )
                    else:
                        keep.append(command)
                    continue
                try:
                    result = command.run(connection)
                except _CONNECTION_ERRORS:
                    # The connection died under the command: do it again on
                    # the next connection (a publish is resent: at-least-once).
                    keep.append(command)
                    raise
                except Exception as error:  # noqa: BLE001 - handed to the caller
                    _resolve(command.future, error=error)
                else:
                    _resolve(command.future, result=result)
        finally:
            with self._lock:
                self._commands.extendleft(reversed(keep + pending))

    def _fail_all(self, error: Exception) -> None:
        with self._lock:
            pending, self._commands = self._commands, collections.deque()
        for command in pending:
            _resolve(command.future, error=error)


def _describe(error: BaseException) -> str:
    """pika's connection errors often carry their reason only in the chain."""
    reason = str(error) or str(error.__cause__ or error.__context__ or "") or repr(error)
    return f"{type(error).__name__}: {reason}"


def _resolve(future: concurrent.futures.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Settle a command's future unless its caller gave up on it already."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


def _channel_error(error: pika.exceptions.ChannelClosedByBroker, what: str) -> BrokerError:
    """The twin's exception for RabbitMQ's channel error."""
    message = f"rabbitmq refused {what}: {error.reply_text}"
    kind = {404: NotFound, 406: PreconditionFailed, 530: NotAllowed}.get(error.reply_code)
    if kind is not None:
        return kind(message)
    return ChannelRefused(error.reply_code, str(error.reply_text).split(" - ")[0], message)


class _PublishLink(_Link):
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
            raise _channel_error(error, f"declaring queue {self.topology.queue!r} ({self.topology.queue_type})") from None
        finally:
            if channel.is_open:
                channel.close()
        self.declared = True
        self.log.info("rabbitmq.declared", queue=self.topology.queue, queue_type=self.topology.queue_type)

    def declare(self, connection: pika.BlockingConnection) -> None:
        self._declare(connection)

    def publish(self, connection: pika.BlockingConnection, body: bytes) -> None:
        channel = self._confirm_channel(connection)
        properties = pika.BasicProperties(delivery_mode=PERSISTENT, content_type=CONTENT_TYPE)
        try:
            channel.basic_publish(
                exchange=self.topology.exchange,
                routing_key=self.topology.queue,
                body=body,
                properties=properties,
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
            raise _channel_error(error, f"a publish to exchange {self.topology.exchange!r}") from None

    def _passive_count(self, connection: pika.BlockingConnection, queue: str) -> tuple[int, int]:
        channel = connection.channel()
        try:
            ok = channel.queue_declare(queue, passive=True)
            return ok.method.message_count, ok.method.consumer_count
        except pika.exceptions.ChannelClosedByBroker as error:
            raise _channel_error(error, f"a passive declare of {queue!r}") from None
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
            raise _channel_error(error, f"reading {self.topology.dead_letter_queue!r}") from None
        finally:
            if channel.is_open:
                channel.close()  # anything still held goes back to the queue
        return bodies


@dataclass
class _Subscription:
    """One consumer: its listener, and while connected its channel."""

    consumer: str
    listener: Any
    channel: Any = None
    consumer_tag: str = ""
    deliveries: dict[int, int] = field(default_factory=dict)  # gateway tag -> channel delivery tag
    retry_at: float = 0.0
    failures: int = 0


class _ConsumeLink(_Link):
    """One channel per consumer, prefetch 1, manual ack."""

    def __init__(self, parameters: pika.URLParameters, url: str, topology: Topology) -> None:
        super().__init__("consume", parameters, url)
        self.topology = topology
        self.subscriptions: dict[str, _Subscription] = {}
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
                self.log.warning("rabbitmq.listener_dead", consumer=subscription.consumer, note="consumer cancelled, its job requeued")
                self.subscriptions.pop(subscription.consumer, None)
                self._close(subscription)
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
                    self.log.warning("rabbitmq.consume_failed", consumer=subscription.consumer, error=str(error), retry_in=delay)

    # helpers

    def _forget_channel(self, subscription: _Subscription, why: str) -> None:
        if subscription.deliveries:
            self.log.info(
                "rabbitmq.deliveries_dropped",
                consumer=subscription.consumer,
                tags=sorted(subscription.deliveries),
                why=why,
                note="RabbitMQ redelivers them",
            )
        for tag in subscription.deliveries:
            self._stale[tag] = subscription.consumer
        while len(self._stale) > STALE_TAGS_KEPT:
            del self._stale[next(iter(self._stale))]
        subscription.deliveries.clear()
        subscription.channel = None

    def _start(self, connection: pika.BlockingConnection, subscription: _Subscription) -> None:
        channel = connection.channel()
        try:
            channel.basic_qos(prefetch_count=1)
            tag = f"{subscription.consumer}@{socket.gethostname()}:{os.getpid()}:{next(self._tags)}"
            channel.add_on_cancel_callback(lambda _frame: self._on_broker_cancel(subscription, channel))
            channel.basic_consume(
                queue=self.topology.queue,
                on_message_callback=lambda ch, method, props, body: self._on_message(subscription, ch, method, body),
                auto_ack=False,
                consumer_tag=tag,
            )
        except pika.exceptions.ChannelClosedByBroker as error:
            raise _channel_error(error, f"consuming from {self.topology.queue!r}") from None
        subscription.channel = channel
        subscription.consumer_tag = tag
        subscription.failures = 0
        self.log.info("rabbitmq.consuming", consumer=subscription.consumer, queue=self.topology.queue)

    def _close(self, subscription: _Subscription) -> None:
        channel = subscription.channel
        self._forget_channel(subscription, "consumer cancelled")
        if channel is not None and channel.is_open:
            channel.close()  # RabbitMQ requeues what the channel held unacked

    def _on_broker_cancel(self, subscription: _Subscription, channel: Any) -> None:
        # The queue was deleted (or its leader moved): consume again later.
        self.log.warning("rabbitmq.consumer_cancelled_by_broker", consumer=subscription.consumer)
        if subscription.channel is channel:
            self._forget_channel(subscription, "cancelled by broker")
            subscription.retry_at = time.monotonic() + BACKOFF_MAX
        try:
            channel.close()
        except Exception:  # noqa: BLE001, S110 - closing a channel the broker let go
            pass

    def _on_message(self, subscription: _Subscription, channel: Any, method: Any, body: bytes) -> None:
        if subscription.channel is not channel:
            return  # a late frame on a channel we already let go
        tag = next(self._tags)
        subscription.deliveries[tag] = method.delivery_tag
        event = JobDelivered(subscription.consumer, tag, body, bool(method.redelivered))
        if not tell_call(subscription.listener, "on_job_delivered", event):
            self.log.warning("rabbitmq.listener_dead", consumer=subscription.consumer, note="job requeued, consumer cancelled")
            self.subscriptions.pop(subscription.consumer, None)
            self._close(subscription)

    # commands (run in the link thread)

    def consume(self, connection: pika.BlockingConnection | None, consumer: str, listener: pykka.ActorRef) -> None:
        if consumer in self.subscriptions:
            raise NotAllowed(f"attempt to reuse consumer tag '{consumer}'")
        subscription = _Subscription(consumer, listener)
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
        subscription = self.subscriptions.pop(consumer, None)
        if subscription is None:
            self.log.info("rabbitmq.cancel_unknown_consumer", consumer=consumer)
            return
        self._close(subscription)
        self.log.info("rabbitmq.cancelled", consumer=consumer)

    def unacked(self) -> int:
        return sum(len(s.deliveries) for s in self.subscriptions.values())


def _listener_ref(listener: pykka.ActorRef | pykka.ActorProxy) -> pykka.ActorRef:
    if isinstance(listener, pykka.ActorProxy):
        return listener.actor_ref
    if isinstance(listener, pykka.ActorRef):
        return listener
    raise TypeError(f"a listener is an ActorRef or ActorProxy, not {type(listener).__name__}")


class RabbitBroker(pykka.ThreadingActor):
    """The job queue on RabbitMQ; same methods as ``MemoryBroker``."""

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
        if queue_type not in QUEUE_TYPES:
            raise ValueError(f"queue_type must be one of {QUEUE_TYPES}, not {queue_type!r}")
        self.url = url
        self.topology = Topology(exchange, queue, dead_letter_queue, queue_type)
        self.publish_timeout = publish_timeout
        self._parameters = pika.URLParameters(url)
        self._parameters.heartbeat = heartbeat
        self._parameters.connection_attempts = 1
        self._parameters.socket_timeout = 5
        self._parameters.stack_timeout = 10
        self._parameters.blocked_connection_timeout = max(publish_timeout, 5)
        self._parameters.client_properties = {"connection_name": f"photomark {socket.gethostname()}:{os.getpid()}"}
        self._publisher = _PublishLink(self._parameters, url, self.topology)
        self._consumer: _ConsumeLink | None = None
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

    def _consume_link(self) -> _ConsumeLink:
        if self._consumer is None:
            self._consumer = _ConsumeLink(self._parameters, self.url, self.topology)
            self._consumer.start()
        return self._consumer

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
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"a job body is bytes, not {type(body).__name__}")
        body = bytes(body)
        self._publisher.call("publish", lambda connection: self._publisher.publish(connection, body), self.publish_timeout)
        self._published += 1

    def consume(self, consumer: str, listener: pykka.ActorRef | pykka.ActorProxy) -> None:
        """Start handing jobs to ``listener`` as ``on_job_delivered`` events,
        one at a time (prefetch 1) until each is acked or rejected.

        While the broker is unreachable the consumer is kept and starts when
        the connection comes.  Raises ``NotFound`` when the queue does not
        exist, ``NotAllowed`` when ``consumer`` is already consuming here."""
        if not isinstance(consumer, str) or not consumer:
            raise ValueError(f"a consumer name is a non-empty string, not {consumer!r}")
        ref = _listener_ref(listener)
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

    def stats(self) -> dict[str, int]:
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
