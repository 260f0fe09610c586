"""The broker port's promises, checked on both twins: ``MemoryBroker`` and
``RabbitBroker`` (on a classic and on a quorum queue of a real RabbitMQ).

A test here passes on every twin or says where they differ; what only one twin
does (pika's channels, broker restarts, worker processes) is tested beside it
(``tests/gateways/test_memory_broker.py``, ``tests/integration/test_rabbitmq_broker.py``).
The RabbitMQ twins are marked ``integration``: they start (or attach to) the
session's broker, and each test gets queues of its own.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pykka
import pytest

from actorkit.messaging import tell_call
from gateways.broker.memory import MemoryBroker
from gateways.broker.rabbitmq import RabbitBroker
from ports.broker import (
    STATS_KEYS,
    Broker,
    JobDelivered,
    NotAllowed,
    NotFound,
    PreconditionFailed,
)
from tests.dummies import JobAcker, JobRecorder
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[2]

RABBITMQ = [pytest.mark.integration, pytest.mark.timeout(120)]
TWINS = [
    pytest.param("memory", id="memory"),
    pytest.param("classic", id="rabbitmq-classic", marks=RABBITMQ),
    pytest.param("quorum", id="rabbitmq-quorum", marks=RABBITMQ),
]


@dataclass(frozen=True)
class Twin:
    """One side of the port: starts gateway actors on the test's own queue, undeclared."""

    kind: str
    start: Callable[[], pykka.ActorProxy]


@pytest.fixture(params=TWINS)
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    if request.param == "memory":
        yield Twin("memory", lambda: MemoryBroker.start(liveness_interval=0.05).proxy())
        return
    rabbitmq = request.getfixturevalue("rabbitmq")  # only RabbitMQ twins need the server
    name = f"photomark.conformance.{uuid.uuid4().hex[:10]}"
    queue, dead = f"{name}.jobs", f"{name}.jobs.dead"
    queue_type = request.param
    yield Twin(queue_type, lambda: RabbitBroker.start(rabbitmq.url, queue, dead, queue_type=queue_type).proxy())
    pykka.ActorRegistry.stop_all()  # consumers first: their channels close before the queues go
    rabbitmq.delete(queues=(queue, dead), exchanges=(dead,))


@pytest.fixture
def broker(twin: Twin) -> pykka.ActorProxy:
    proxy = twin.start()
    proxy.declare().get()
    return proxy


def recorder() -> pykka.ActorProxy:
    return JobRecorder.start().proxy()


def seen(listener: pykka.ActorProxy) -> list[JobDelivered]:
    return listener.seen().get()


def bodies(events: list[JobDelivered]) -> list[bytes]:
    return [e.body for e in events]


def nth(listener: pykka.ActorProxy, n: int, what: str = "") -> JobDelivered:
    """The listener's n-th delivery (from 0), once it came."""
    return eventually(lambda: seen(listener)[n:] and seen(listener)[n], what=what or f"delivery {n}")


def wait_for_stats(broker: pykka.ActorProxy, **expected: int) -> None:
    eventually(
        lambda: {key: broker.stats().get()[key] for key in expected} == expected,
        what=f"stats {expected}",
    )


class JobKiller(pykka.ThreadingActor):
    """A listener that dies holding the job it is handed, as a worker dies of a
    poison job; it tells ``witness`` what it was handed first."""

    def __init__(self, witness: pykka.ActorProxy) -> None:
        super().__init__()
        self.witness = witness

    def on_job_delivered(self, event: JobDelivered) -> None:
        tell_call(self.witness, "on_job_delivered", event)
        raise RuntimeError("this job kills its worker")


# --- the port itself ---------------------------------------------------------------


def port_methods() -> list[str]:
    return [name for name, value in vars(Broker).items() if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize("gateway", [MemoryBroker, RabbitBroker], ids=["memory", "rabbitmq"])
def test_both_twins_satisfy_the_broker_port(gateway: type[pykka.ThreadingActor]):
    unstarted = gateway() if gateway is MemoryBroker else gateway("amqp://guest:guest@127.0.0.1:1/%2F")
    assert isinstance(unstarted, Broker)
    for name in port_methods():
        promised = inspect.signature(getattr(Broker, name)).parameters
        offered = inspect.signature(getattr(gateway, name)).parameters
        assert [(p.name, p.kind, p.default) for p in offered.values()] == [
            (p.name, p.kind, p.default) for p in promised.values()
        ], f"{gateway.__name__}.{name}"


@pytest.mark.parametrize(
    ("twin_module", "other_modules"),
    [
        ("gateways.broker.memory", ("gateways.broker.rabbitmq", "pika")),
        ("gateways.broker.rabbitmq", ("gateways.broker.memory",)),
    ],
)
def test_neither_twin_imports_the_other(twin_module: str, other_modules: tuple[str, ...]):
    check = f"import sys, {twin_module}; print(sorted(set({other_modules!r}) & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


# --- declare ------------------------------------------------------------------------


def test_declare_is_idempotent(twin: Twin):
    broker = twin.start()
    broker.declare().get()
    broker.declare().get()
    assert broker.stats().get() == {"ready": 0, "unacked": 0, "dead": 0, "consumers": 0, "published": 0, "acked": 0}
    broker.publish(b"job").get()
    broker.declare().get()  # declaring again keeps what is queued
    assert broker.stats().get()["ready"] == 1


def test_publish_and_consume_before_declare_raise_not_found(twin: Twin):
    broker = twin.start()
    with pytest.raises(NotFound):
        broker.publish(b"early").get()
    with pytest.raises(NotFound):
        broker.consume("early", recorder()).get()
    broker.declare().get()
    broker.publish(b"job").get()
    assert broker.stats().get()["ready"] == 1  # the refused publish left nothing behind


def test_publish_refuses_a_body_that_is_not_bytes(broker: pykka.ActorProxy):
    with pytest.raises(TypeError):
        broker.publish("text").get()
    assert broker.stats().get()["published"] == 0


# --- delivery -------------------------------------------------------------------------


def test_jobs_are_delivered_first_in_first_out(broker: pykka.ActorProxy):
    jobs = [b"job-%d" % n for n in range(10)]
    for job in jobs:
        broker.publish(job).get()
    worker = JobAcker.start(broker).proxy()
    broker.consume("w1", worker).get()

    eventually(lambda: len(seen(worker)) == len(jobs), what="every job")
    assert bodies(seen(worker)) == jobs
    assert [(e.redelivered, e.deliveries) for e in seen(worker)] == [(False, 1)] * len(jobs)
    wait_for_stats(broker, ready=0, unacked=0, published=10, acked=10)


def test_a_consumer_holds_one_unacked_job_at_a_time(broker: pykka.ActorProxy):
    broker.publish(b"job-0").get()
    broker.publish(b"job-1").get()
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    assert nth(a, 0).body == b"job-0"

    broker.consume("b", b).get()
    assert nth(b, 0).body == b"job-1"  # a did not take it: a holds one job at most
    wait_for_stats(broker, ready=0, unacked=2)

    broker.ack("a", seen(a)[0].delivery_tag).get()
    broker.publish(b"job-2").get()
    assert nth(a, 1).body == b"job-2"  # b still holds job-1, so job-2 can only go to a
    assert bodies(seen(a)) == [b"job-0", b"job-2"]
    assert bodies(seen(b)) == [b"job-1"]


def test_an_acked_job_leaves_the_broker(broker: pykka.ActorProxy):
    worker = recorder()
    broker.consume("w1", worker).get()
    broker.publish(b"job").get()
    broker.ack("w1", nth(worker, 0).delivery_tag).get()
    wait_for_stats(broker, ready=0, unacked=0, dead=0, acked=1)

    broker.publish(b"marker").get()  # had the job come back, it would arrive before the marker
    assert nth(worker, 1).body == b"marker"
    assert bodies(seen(worker)) == [b"job", b"marker"]


def test_a_job_rejected_without_requeue_is_dead_lettered(broker: pykka.ActorProxy):
    worker = recorder()
    broker.consume("w1", worker).get()
    broker.publish(b"poison").get()
    broker.reject("w1", nth(worker, 0).delivery_tag).get()

    wait_for_stats(broker, dead=1, ready=0, unacked=0)
    assert broker.dead_letters().get() == [b"poison"]
    broker.publish(b"marker").get()  # had the poison come back, it would arrive before the marker
    assert nth(worker, 1).body == b"marker"
    assert bodies(seen(worker)) == [b"poison", b"marker"]


def test_a_job_rejected_with_requeue_is_redelivered_marked_redelivered(broker: pykka.ActorProxy):
    worker = recorder()
    broker.consume("w1", worker).get()
    broker.publish(b"job").get()
    first = nth(worker, 0)
    broker.reject("w1", first.delivery_tag, requeue=True).get()

    again = nth(worker, 1, "the redelivery")
    assert (again.body, again.redelivered, again.deliveries) == (b"job", True, 2)
    assert again.delivery_tag != first.delivery_tag
    broker.ack("w1", again.delivery_tag).get()
    assert broker.dead_letters().get() == []


def test_cancel_returns_the_unacked_job_redelivered(broker: pykka.ActorProxy):
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    broker.publish(b"job").get()
    taken = nth(a, 0)

    broker.cancel("a").get()
    wait_for_stats(broker, ready=1, unacked=0, consumers=0)
    broker.cancel("a").get()  # cancelling again, or an unknown consumer, changes nothing
    broker.cancel("nobody").get()

    broker.consume("b", b).get()
    again = nth(b, 0, "the redelivery")
    assert (again.consumer, again.body, again.redelivered, again.deliveries) == ("b", b"job", True, 2)
    with pytest.raises(PreconditionFailed):
        broker.ack("a", taken.delivery_tag).get()  # the cancelled consumer's tag is dead
    broker.ack("b", again.delivery_tag).get()
    assert bodies(seen(a)) == [b"job"]


def test_the_job_of_a_consumer_whose_listener_dies_is_redelivered_to_another(broker: pykka.ActorProxy):
    doomed, survivor = recorder(), recorder()
    broker.consume("doomed", doomed).get()
    broker.publish(b"job").get()
    taken = nth(doomed, 0)
    broker.consume("survivor", survivor).get()

    doomed.actor_ref.stop()

    again = nth(survivor, 0, "the redelivery")
    assert (again.body, again.redelivered, again.deliveries) == (b"job", True, 2)
    wait_for_stats(broker, consumers=1)
    with pytest.raises(PreconditionFailed):
        broker.ack("doomed", taken.delivery_tag).get()
    broker.ack("survivor", again.delivery_tag).get()
    broker.publish(b"marker").get()  # had the job been handed out twice, it would come before the marker
    assert nth(survivor, 1).body == b"marker"
    assert bodies(seen(survivor)) == [b"job", b"marker"]


# --- what is refused ---------------------------------------------------------------------


def test_acks_of_unknown_foreign_or_settled_tags_fail_and_change_nothing(broker: pykka.ActorProxy):
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        broker.ack("a", 12345).get()
    broker.publish(b"job").get()
    event = nth(a, 0)
    broker.consume("b", b).get()
    wait_for_stats(broker, ready=0, unacked=1, consumers=2)
    before = broker.stats().get()

    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        broker.ack("a", event.delivery_tag + 1000).get()
    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        broker.reject("a", event.delivery_tag + 1000).get()
    with pytest.raises(PreconditionFailed, match="held by consumer 'a'"):
        broker.ack("b", event.delivery_tag).get()
    with pytest.raises(PreconditionFailed, match="held by consumer 'a'"):
        broker.reject("b", event.delivery_tag).get()
    assert broker.stats().get() == before
    assert broker.dead_letters().get() == []

    broker.ack("a", event.delivery_tag).get()  # the refused attempts changed nothing
    with pytest.raises(PreconditionFailed):
        broker.ack("a", event.delivery_tag).get()  # no double ack
    assert broker.stats().get()["acked"] == 1


def test_a_consumer_name_in_use_is_not_allowed(broker: pykka.ActorProxy):
    broker.consume("w1", recorder()).get()
    with pytest.raises(NotAllowed, match="w1"):
        broker.consume("w1", recorder()).get()
    with pytest.raises(ValueError):
        broker.consume("", recorder()).get()
    assert broker.stats().get()["consumers"] == 1
    broker.cancel("w1").get()
    broker.consume("w1", recorder()).get()  # the name is free again
    wait_for_stats(broker, consumers=1)


# --- what is reported ------------------------------------------------------------------------


def test_stats_report_every_count_of_the_port(broker: pykka.ActorProxy):
    stats = broker.stats().get()
    assert sorted(stats) == sorted(STATS_KEYS)
    assert all(type(value) is int for value in stats.values())


def test_dead_letters_lists_the_bodies_oldest_first_and_leaves_them_there(broker: pykka.ActorProxy):
    worker = recorder()
    broker.consume("w1", worker).get()
    for n, body in enumerate([b"first", b"second"]):
        broker.publish(body).get()
        broker.reject("w1", nth(worker, n).delivery_tag).get()

    wait_for_stats(broker, dead=2)
    assert broker.dead_letters().get() == [b"first", b"second"]
    assert broker.dead_letters().get() == [b"first", b"second"]
    assert broker.stats().get()["dead"] == 2


# --- counting deliveries -----------------------------------------------------------------------


def test_a_job_that_keeps_killing_its_listener_counts_every_delivery(broker: pykka.ActorProxy):
    broker.publish(b"poison").get()
    witness = recorder()
    for n in range(1, 5):
        killer = JobKiller.start(witness)
        broker.consume(f"killer-{n}", killer).get()
        event = nth(witness, n - 1, f"delivery {n}")
        assert (event.body, event.deliveries, event.redelivered) == (b"poison", n, n > 1)
        eventually(lambda killer=killer: not killer.is_alive(), what=f"killer {n} dead")

    worker = JobAcker.start(broker).proxy()
    broker.consume("worker", worker).get()
    last = nth(worker, 0, "delivery 5")
    assert (last.body, last.deliveries, last.redelivered) == (b"poison", 5, True)

    broker.publish(b"marker").get()  # a copy of the job left behind would come before the marker
    assert nth(worker, 1).body == b"marker"
    assert [(e.body, e.deliveries) for e in seen(worker)] == [(b"poison", 5), (b"marker", 1)]
    assert len(seen(witness)) == 4
    wait_for_stats(broker, ready=0, unacked=0, acked=2, dead=0)


def test_requeues_and_cancels_count_as_deliveries_too(broker: pykka.ActorProxy):
    a, b = recorder(), recorder()
    broker.consume("a", a).get()
    broker.publish(b"job").get()
    broker.reject("a", nth(a, 0).delivery_tag, requeue=True).get()
    nth(a, 1)
    broker.cancel("a").get()
    broker.consume("b", b).get()
    broker.reject("b", nth(b, 0).delivery_tag, requeue=True).get()
    last = nth(b, 1)
    broker.ack("b", last.delivery_tag).get()

    counts = [(e.consumer, e.deliveries, e.redelivered) for e in seen(a) + seen(b)]
    assert counts == [("a", 1, False), ("a", 2, True), ("b", 3, True), ("b", 4, True)]
    broker.publish(b"marker").get()
    assert nth(b, 2).body == b"marker"
    assert bodies(seen(b)) == [b"job", b"job", b"marker"]
