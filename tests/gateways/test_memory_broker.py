"""The in-memory broker keeps the RabbitMQ gateway's promises: FIFO, manual ack,
prefetch 1, round-robin, dead letters, redelivery when a consumer goes away.
(The promises of the port are checked on both twins in
``tests/conformance/test_broker_port.py``; this is the fake's own detail.)

Negative assertions here ("b got nothing more") need no marker job: the fake
hands out jobs inside the call that freed them (``publish``, ``ack``, ``reject``,
``cancel``), so once that call's future is resolved every delivery it made has
been told, and a listener answers ``seen()`` only after the tells before it."""

from __future__ import annotations

import threading

import pykka
import pytest

from actorkit.messaging import tell_call
from gateways.broker.memory import MemoryBroker, QueueStore
from ports.broker import JobDelivered, NotAllowed, NotFound, PreconditionFailed
from tests.dummies import JobAcker as Acker
from tests.dummies import JobRecorder as Recorder
from tests.polling import eventually


def seen(recorder: pykka.ActorProxy) -> list[JobDelivered]:
    return recorder.seen().get()


def bodies(events: list[JobDelivered]) -> list[bytes]:
    return [e.body for e in events]


@pytest.fixture
def broker() -> pykka.ActorProxy:
    proxy = MemoryBroker.start(liveness_interval=0.05).proxy()
    proxy.declare().get()
    return proxy


def recorder() -> pykka.ActorProxy:
    return Recorder.start().proxy()


def test_publish_and_consume_need_a_declared_queue_and_declare_is_idempotent():
    broker = MemoryBroker.start().proxy()
    with pytest.raises(NotFound):
        broker.publish(b"job").get()
    with pytest.raises(NotFound):
        broker.consume("w1", recorder()).get()
    broker.declare().get()
    broker.declare().get()
    broker.publish(b"job").get()
    assert broker.stats().get() == {
        "ready": 1,
        "unacked": 0,
        "dead": 0,
        "consumers": 0,
        "published": 1,
        "acked": 0,
    }


def test_publish_refuses_a_body_that_is_not_bytes(broker):
    with pytest.raises(TypeError):
        broker.publish("text").get()
    assert broker.stats().get()["published"] == 0


def test_jobs_are_delivered_in_the_order_they_were_published(broker):
    jobs = [f"job-{i}".encode() for i in range(50)]
    for job in jobs:
        broker.publish(job).get()
    worker = Acker.start(broker).proxy()
    broker.consume("w1", worker).get()
    eventually(lambda: len(seen(worker)) == len(jobs))
    assert bodies(seen(worker)) == jobs
    assert eventually(lambda: broker.stats().get()["acked"] == 50)
    assert broker.stats().get() == {
        "ready": 0,
        "unacked": 0,
        "dead": 0,
        "consumers": 1,
        "published": 50,
        "acked": 50,
    }


def test_a_consumer_holds_at_most_one_unacked_job(broker):
    worker = recorder()
    broker.consume("w1", worker).get()
    for i in range(3):
        broker.publish(b"job-%d" % i).get()
    assert broker.stats().get() == {
        "ready": 2,
        "unacked": 1,
        "dead": 0,
        "consumers": 1,
        "published": 3,
        "acked": 0,
    }
    first = eventually(lambda: seen(worker))
    assert bodies(first) == [b"job-0"]
    assert first[0] == JobDelivered(
        consumer="w1",
        delivery_tag=first[0].delivery_tag,
        body=b"job-0",
        redelivered=False,
    )

    broker.ack("w1", first[0].delivery_tag).get()
    both = eventually(lambda: seen(worker)[1:] and seen(worker))
    assert bodies(both) == [b"job-0", b"job-1"]
    assert broker.stats().get()["ready"] == 1
    assert broker.stats().get()["unacked"] == 1


def test_idle_consumers_take_turns(broker):
    workers = {name: recorder() for name in ("a", "b", "c")}
    for name, worker in workers.items():
        broker.consume(name, worker).get()

    order = []
    for i in range(6):  # one job at a time: every consumer is idle each time
        broker.publish(b"job-%d" % i).get()
        holder = eventually(lambda: [n for n, w in workers.items() if len(seen(w)) > order.count(n)])
        assert len(holder) == 1
        order.append(holder[0])
        event = seen(workers[holder[0]])[-1]
        broker.ack(event.consumer, event.delivery_tag).get()
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_ready_jobs_spread_over_idle_consumers_and_wait_for_acks(broker):
    for i in range(5):
        broker.publish(b"job-%d" % i).get()
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    broker.consume("b", b).get()
    assert bodies(eventually(lambda: seen(a))) == [b"job-0"]
    assert bodies(eventually(lambda: seen(b))) == [b"job-1"]
    assert broker.stats().get()["ready"] == 3

    broker.ack("b", seen(b)[0].delivery_tag).get()
    assert bodies(eventually(lambda: seen(b)[1:])) == [b"job-2"]
    assert seen(a) == seen(a)[:1]


def test_delivery_tags_are_unique_across_consumers_and_redeliveries(broker):
    workers = {"a": recorder(), "b": recorder()}
    for name, worker in workers.items():
        broker.consume(name, worker).get()
    for i in range(4):
        broker.publish(b"job-%d" % i).get()
    for turn in range(3):  # requeue twice, then ack: each consumer gets its job back
        for name, worker in workers.items():
            event = eventually(lambda worker=worker, turn=turn: seen(worker)[turn:] and seen(worker)[turn])
            if turn < 2:
                broker.reject(name, event.delivery_tag, requeue=True).get()
            else:
                broker.ack(name, event.delivery_tag).get()
    tags = [e.delivery_tag for w in workers.values() for e in seen(w)[:3]]
    assert len(tags) == len(set(tags)) == 6


def test_acking_an_unknown_tag_fails_and_changes_nothing(broker):
    worker = recorder()
    broker.consume("w1", worker).get()
    broker.publish(b"job").get()
    event = eventually(lambda: seen(worker))[0]
    before = broker.stats().get()

    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        broker.ack("w1", event.delivery_tag + 1000).get()
    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        broker.reject("w1", event.delivery_tag + 1000).get()
    assert broker.stats().get() == before

    broker.ack("w1", event.delivery_tag).get()
    with pytest.raises(PreconditionFailed):  # acking twice is acking an unknown tag
        broker.ack("w1", event.delivery_tag).get()
    assert broker.stats().get()["acked"] == 1


def test_a_consumer_cannot_ack_or_reject_another_consumers_job(broker):
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    broker.consume("b", b).get()
    broker.publish(b"job").get()
    event = eventually(lambda: seen(a))[0]
    before = broker.stats().get()

    with pytest.raises(PreconditionFailed, match="held by consumer 'a'"):
        broker.ack("b", event.delivery_tag).get()
    with pytest.raises(PreconditionFailed, match="held by consumer 'a'"):
        broker.reject("b", event.delivery_tag, requeue=False).get()
    assert broker.stats().get() == before
    assert broker.dead_letters().get() == []

    broker.ack("a", event.delivery_tag).get()
    assert broker.stats().get()["acked"] == 1


def test_a_rejected_job_lands_in_the_dead_letters(broker):
    worker = recorder()
    broker.consume("w1", worker).get()
    broker.publish(b"poison").get()
    broker.publish(b"good").get()
    event = eventually(lambda: seen(worker))[0]
    broker.reject("w1", event.delivery_tag).get()

    assert broker.dead_letters().get() == [b"poison"]
    assert bodies(eventually(lambda: seen(worker)[1:])) == [b"good"]
    assert broker.stats().get() == {
        "ready": 0,
        "unacked": 1,
        "dead": 1,
        "consumers": 1,
        "published": 2,
        "acked": 0,
    }


def test_a_job_rejected_with_requeue_goes_back_to_the_head_redelivered(broker):
    worker = recorder()
    broker.consume("w1", worker).get()
    broker.publish(b"first").get()
    broker.publish(b"second").get()
    event = eventually(lambda: seen(worker))[0]
    broker.reject("w1", event.delivery_tag, requeue=True).get()

    again = eventually(lambda: seen(worker)[1:])[0]
    assert (again.body, again.redelivered, again.deliveries) == (b"first", True, 2)
    assert again.delivery_tag != event.delivery_tag
    assert broker.dead_letters().get() == []


def test_cancel_puts_the_unacked_job_back_at_the_head_redelivered(broker):
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    broker.publish(b"first").get()
    broker.publish(b"second").get()
    eventually(lambda: seen(a))
    broker.cancel("a").get()
    broker.cancel("a").get()  # cancelling again changes nothing
    assert broker.stats().get() == {
        "ready": 2,
        "unacked": 0,
        "dead": 0,
        "consumers": 0,
        "published": 2,
        "acked": 0,
    }

    broker.consume("b", b).get()
    event = eventually(lambda: seen(b))[0]
    assert (event.body, event.redelivered) == (b"first", True)
    broker.ack("b", event.delivery_tag).get()
    event = eventually(lambda: seen(b)[1:])[0]
    assert (event.body, event.redelivered) == (b"second", False)
    assert bodies(seen(a)) == [b"first"]


def test_consuming_twice_under_one_name_is_an_error(broker):
    broker.consume("w1", recorder()).get()
    with pytest.raises(NotAllowed, match="w1"):
        broker.consume("w1", recorder()).get()
    assert broker.stats().get()["consumers"] == 1
    broker.cancel("w1").get()
    broker.consume("w1", recorder()).get()  # the name is free again
    assert broker.stats().get()["consumers"] == 1


def test_a_dead_listener_is_found_by_the_liveness_check_and_its_job_redelivered_once(
    broker,
):
    a, b, c = recorder(), recorder(), recorder()
    broker.consume("a", a).get()
    broker.publish(b"job").get()
    original = eventually(lambda: seen(a))[0]
    broker.consume("b", b).get()
    broker.consume("c", c).get()

    a.actor_ref.stop()
    eventually(lambda: broker.stats().get()["consumers"] == 2)
    redelivered = eventually(lambda: seen(b) + seen(c))
    assert len(redelivered) == 1
    event = redelivered[0]
    assert (event.body, event.redelivered) == (b"job", True)
    assert event.delivery_tag != original.delivery_tag
    with pytest.raises(PreconditionFailed):  # the dead consumer's tag is gone
        broker.ack("a", original.delivery_tag).get()
    broker.ack(event.consumer, event.delivery_tag).get()

    # Two markers, one per surviving consumer: once both arrived, nothing else did.
    broker.publish(b"marker-1").get()
    broker.publish(b"marker-2").get()
    everything = eventually(lambda: len(seen(b) + seen(c)) >= 3 and seen(b) + seen(c))
    assert sorted(bodies(everything)) == [b"job", b"marker-1", b"marker-2"]
    assert broker.stats().get()["unacked"] == 2


def test_a_delivery_told_to_a_dead_listener_cancels_the_consumer_and_goes_to_another():
    broker = MemoryBroker.start(liveness_interval=60).proxy()  # the liveness check never runs here
    broker.declare().get()
    a, b = recorder(), recorder()
    broker.consume("a", a).get()  # a's turn comes first
    broker.consume("b", b).get()
    a.actor_ref.stop()

    broker.publish(b"job").get()
    assert broker.stats().get()["consumers"] == 1
    event = eventually(lambda: seen(b))[0]
    assert (event.consumer, event.body, event.redelivered) == ("b", b"job", True)
    assert event.deliveries == 2  # the delivery told to the dead listener counts, as on RabbitMQ


def test_a_job_whose_consumer_is_gone_waits_for_the_next_consumer(broker):
    a = recorder()
    broker.consume("a", a).get()
    broker.publish(b"job").get()
    eventually(lambda: seen(a))
    a.actor_ref.stop()
    eventually(lambda: broker.stats().get()["ready"] == 1)

    b = recorder()
    broker.consume("b", b).get()
    event = eventually(lambda: seen(b))[0]
    assert (event.body, event.redelivered) == (b"job", True)


def test_concurrent_publishers_and_consumers_handle_every_job_exactly_once(broker):
    workers = [Acker.start(broker).proxy() for _ in range(3)]
    for i, worker in enumerate(workers):
        broker.consume(f"w{i}", worker).get()

    def publish(prefix: str) -> None:
        for i in range(100):
            broker.publish(f"{prefix}-{i}".encode()).get()

    threads = [threading.Thread(target=publish, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    eventually(lambda: broker.stats().get()["acked"] == 400)
    delivered = [e for w in workers for e in seen(w)]
    assert sorted(bodies(delivered)) == sorted(f"{p}-{i}".encode() for p in "abcd" for i in range(100))
    assert all(not e.redelivered for e in delivered)
    assert all(seen(w) for w in workers)  # every consumer got a share
    for prefix in "abcd":  # one publisher's jobs reach each consumer in order
        for w in workers:
            mine = [int(b.split(b"-")[1]) for b in bodies(seen(w)) if b.startswith(prefix.encode())]
            assert mine == sorted(mine)
    assert broker.stats().get() == {
        "ready": 0,
        "unacked": 0,
        "dead": 0,
        "consumers": 3,
        "published": 400,
        "acked": 400,
    }


def _liveness_threads(urn: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if urn in t.name]


def test_the_liveness_thread_stops_when_the_broker_stops():
    ref = MemoryBroker.start(liveness_interval=0.01)
    urn = ref.actor_urn
    assert len(_liveness_threads(urn)) == 1
    ref.stop()
    assert _liveness_threads(urn) == []


def test_the_liveness_thread_stops_when_the_broker_crashes():
    ref = MemoryBroker.start(liveness_interval=0.01)
    urn = ref.actor_urn
    assert len(_liveness_threads(urn)) == 1
    tell_call(ref, "no_such_method")
    eventually(lambda: not ref.is_alive())
    eventually(lambda: _liveness_threads(urn) == [])


def test_a_broker_restarted_on_the_same_store_keeps_its_jobs_and_redelivers_the_unacked(eventually):
    """A durable queue of persistent jobs survives its broker: queued jobs stay, unacked ones come back first."""
    store = QueueStore()
    broker = MemoryBroker.start(store=store).proxy()
    broker.declare().get()
    for body in (b"first", b"second", b"third"):
        broker.publish(body).get()
    holder = Recorder.start().proxy()
    broker.consume("w1", holder).get()
    eventually(lambda: [e.body for e in holder.seen().get()] == [b"first"], what="the first job handed out")
    broker.actor_ref.stop()

    again = MemoryBroker.start(store=store).proxy()
    again.publish(b"fourth").get()  # declared already: the queue outlived its broker
    acker = Acker.start(again).proxy()
    again.consume("w2", acker).get()

    eventually(lambda: len(acker.seen().get()) == 4, what="every job")
    seen = acker.seen().get()
    assert [(e.body, e.redelivered, e.deliveries) for e in seen] == [
        (b"first", True, 2),
        (b"second", False, 1),
        (b"third", False, 1),
        (b"fourth", False, 1),
    ]
