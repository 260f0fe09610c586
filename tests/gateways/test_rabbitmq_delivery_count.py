"""How the RabbitMQ twin keeps the port's delivery count, case by case, with no server.

The conformance suite (``test_broker_port.py``) checks the count end to end on
both twins; this checks the parts that it cannot reach on demand: the decision
for every header a message may carry, and the consume link's handling of a
counted copy whose publish is confirmed, fails, or settles after the consumer
was cancelled or the connection lost.  The link is driven the way its thread
drives it (the pika callback ``_on_message``, then ``_drain`` of its command
queue), with fake channels.
"""

from __future__ import annotations

import concurrent.futures

import pika
import pytest

from gateways.broker.rabbitmq.consuming import ConsumeLink, Subscription
from gateways.broker.rabbitmq.delivery_count import (
    DELIVERIES_HEADER,
    QUORUM_COUNT_HEADER,
    Hand,
    Recount,
    count_delivery,
    counted_headers,
)
from gateways.broker.rabbitmq.topology import Topology
from ports.broker import BrokerUnavailable, JobDelivered
from tests.dummies import JobRecorder

# --- the decision ----------------------------------------------------------------------


def test_the_copy_keeps_the_original_s_headers_with_the_count_replaced():
    original = {"x-trace": "abc", DELIVERIES_HEADER: 2}
    assert counted_headers(original, 3) == {"x-trace": "abc", DELIVERIES_HEADER: 3}
    assert original == {"x-trace": "abc", DELIVERIES_HEADER: 2}  # the original is left as it was
    assert counted_headers(None, 1) == {DELIVERIES_HEADER: 1}


@pytest.mark.parametrize(
    ("redelivered", "headers", "decision"),
    [
        (False, None, Hand(1, False)),
        (False, {}, Hand(1, False)),
        (False, {"trace": "t"}, Hand(1, False)),
        (False, {DELIVERIES_HEADER: 2}, Hand(2, True)),
        (False, {DELIVERIES_HEADER: 7}, Hand(7, True)),
        (True, None, Recount(2)),
        (True, {DELIVERIES_HEADER: 2}, Recount(3)),
        (True, {DELIVERIES_HEADER: 7}, Recount(8)),
        # malformed counts (another publisher's) read as absent
        (False, {DELIVERIES_HEADER: "3"}, Hand(1, False)),
        (False, {DELIVERIES_HEADER: -1}, Hand(1, False)),
        (False, {DELIVERIES_HEADER: True}, Hand(1, False)),
        (True, {DELIVERIES_HEADER: 0}, Recount(2)),
        # a classic queue ignores the quorum header
        (False, {QUORUM_COUNT_HEADER: 4}, Hand(1, False)),
    ],
)
def test_a_classic_queue_hands_out_fresh_messages_and_recounts_redelivered_ones(redelivered, headers, decision):
    assert count_delivery("classic", redelivered, headers) == decision


@pytest.mark.parametrize(
    ("redelivered", "headers", "decision"),
    [
        (False, None, Hand(1, False)),
        (True, {QUORUM_COUNT_HEADER: 1}, Hand(2, True)),
        (True, {QUORUM_COUNT_HEADER: 4}, Hand(5, True)),
        (True, None, Hand(2, True)),  # redelivered without a count: at least the second time
        (False, {QUORUM_COUNT_HEADER: 2}, Hand(3, True)),
        (False, {QUORUM_COUNT_HEADER: 1}, Hand(2, True)),  # counted once already: a redelivery, flag or not
        (False, {QUORUM_COUNT_HEADER: 0}, Hand(1, False)),
        (True, {QUORUM_COUNT_HEADER: "x"}, Hand(2, True)),
        (True, {DELIVERIES_HEADER: 9, QUORUM_COUNT_HEADER: 1}, Hand(2, True)),  # quorum queues are never recounted
    ],
)
def test_a_quorum_queue_hands_out_every_message_with_rabbitmqs_count(redelivered, headers, decision):
    assert count_delivery("quorum", redelivered, headers) == decision


# --- the consume link ---------------------------------------------------------------------


class FakeChannel:
    """What the consume link calls on a pika channel, recorded."""

    def __init__(self) -> None:
        self.is_open = True
        self.calls: list[tuple] = []

    def basic_ack(self, delivery_tag: int) -> None:
        self.calls.append(("ack", delivery_tag))

    def basic_cancel(self, consumer_tag: str) -> list:
        self.calls.append(("cancel", consumer_tag))
        return []

    def close(self) -> None:
        self.calls.append(("close",))
        self.is_open = False


class Copies:
    """Stands in for the publish link: keeps each counted copy and the future of its confirm."""

    def __init__(self) -> None:
        self.published: list[tuple[bytes, pika.BasicProperties, concurrent.futures.Future]] = []

    def __call__(self, body: bytes, properties: pika.BasicProperties) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.published.append((body, properties, future))
        return future


class Harness:
    """One consume link, not started, with one consumer on a fake channel."""

    def __init__(self, queue_type: str = "classic") -> None:
        self.copies = Copies()
        url = "amqp://guest:guest@127.0.0.1:1/%2F"
        topology = Topology("photomark", "q.jobs", "q.jobs.dead", queue_type)
        self.link = ConsumeLink(pika.URLParameters(url), url, topology, self.copies)
        self.listener = JobRecorder.start().proxy()
        self.channel = FakeChannel()
        self.subscription = Subscription("w1", self.listener.actor_ref, channel=self.channel, consumer_tag="w1@test")
        self.link.subscriptions["w1"] = self.subscription

    def arrive(self, channel_tag: int, redelivered: bool, headers: dict | None = None) -> None:
        method = pika.spec.Basic.Deliver(delivery_tag=channel_tag, redelivered=redelivered)
        properties = pika.BasicProperties(
            delivery_mode=2, content_type="application/json", message_id="m-1", headers=headers
        )
        self.link._on_message(self.subscription, self.channel, method, properties, b"job")

    def run_commands(self) -> None:
        self.link._drain(None)  # what the link thread does on its next turn

    def handed(self) -> list[JobDelivered]:
        return self.listener.seen().get()


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_a_redelivered_message_is_held_until_its_counted_copy_is_confirmed_then_acked(harness):
    harness.arrive(7, redelivered=True, headers={DELIVERIES_HEADER: 2, "trace": "t"})

    [(body, properties, confirm)] = harness.copies.published
    assert body == b"job"
    assert properties.headers == {DELIVERIES_HEADER: 3, "trace": "t"}
    assert (properties.delivery_mode, properties.content_type, properties.message_id) == (2, "application/json", "m-1")
    assert harness.channel.calls == []  # the original is held, unacked, while the copy is in flight
    assert harness.link.unacked() == 1

    confirm.set_result(None)
    harness.run_commands()

    assert harness.channel.calls == [("ack", 7)]
    assert harness.link.unacked() == 0
    assert harness.handed() == []  # the copy is handed out when it arrives, not the original


def test_the_counted_copy_arrives_fresh_and_is_handed_out_with_its_count(harness):
    harness.arrive(8, redelivered=False, headers={DELIVERIES_HEADER: 3})

    [event] = harness.handed()
    assert (event.body, event.redelivered, event.deliveries) == (b"job", True, 3)
    assert harness.copies.published == []
    assert harness.link.unacked() == 1


def test_a_message_whose_copy_cannot_be_published_is_handed_out_uncounted(harness):
    harness.arrive(7, redelivered=True)
    [(_, _, confirm)] = harness.copies.published

    confirm.set_exception(BrokerUnavailable("the publish link is down"))
    harness.run_commands()

    assert harness.channel.calls == []  # not acked: the listener holds the original
    [event] = harness.handed()
    assert (event.redelivered, event.deliveries) == (True, 2)
    harness.link.settle("w1", event.delivery_tag, "ack")
    assert harness.channel.calls == [("ack", 7)]


@pytest.mark.parametrize("confirmed", [True, False], ids=["copy-confirmed", "copy-failed"])
def test_a_consumer_cancelled_during_a_recount_closes_once_the_copy_settled(harness, confirmed):
    harness.arrive(7, redelivered=True)
    [(_, _, confirm)] = harness.copies.published

    harness.link.cancel("w1")

    assert harness.channel.calls == [("cancel", "w1@test")]  # no more deliveries, the original still held
    assert "w1" not in harness.link.subscriptions  # the name is free at once
    if confirmed:
        confirm.set_result(None)
    else:
        confirm.set_exception(BrokerUnavailable("down"))
    harness.run_commands()

    # Confirmed: the original is acked before the channel closes (no duplicate);
    # failed: the channel closes with the original unacked, so RabbitMQ requeues it.
    assert harness.channel.calls == [("cancel", "w1@test")] + ([("ack", 7)] if confirmed else []) + [("close",)]
    assert harness.handed() == []


def test_a_copy_settling_after_the_connection_was_lost_touches_nothing(harness):
    harness.arrive(7, redelivered=True)
    [(_, _, confirm)] = harness.copies.published

    harness.channel.is_open = False  # the connection died with the channel: RabbitMQ requeued the original
    harness.link.on_lost()
    confirm.set_result(None)
    harness.run_commands()

    assert harness.channel.calls == []
    assert harness.handed() == []
    assert harness.link.unacked() == 0


def test_a_quorum_queue_hands_out_redelivered_messages_without_a_copy():
    harness = Harness("quorum")
    harness.arrive(7, redelivered=True, headers={QUORUM_COUNT_HEADER: 2})

    [event] = harness.handed()
    assert (event.redelivered, event.deliveries) == (True, 3)
    assert harness.copies.published == []
    assert harness.channel.calls == []


def test_a_recount_for_a_listener_that_died_meanwhile_still_acks_the_original(harness):
    harness.arrive(7, redelivered=True)
    [(_, _, confirm)] = harness.copies.published
    harness.listener.actor_ref.stop()

    harness.link.tick(None)  # the loop's liveness check: the consumer goes, its channel waits for the copy
    confirm.set_result(None)
    harness.run_commands()

    assert harness.channel.calls == [("cancel", "w1@test"), ("ack", 7), ("close",)]
    assert "w1" not in harness.link.subscriptions
