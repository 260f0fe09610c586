"""The RabbitMQ gateway against a real broker: confirms, prefetch 1, redelivery
when a consumer goes away, dead letters, and a broker restart that loses
nothing that was confirmed."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pika
import pykka
import pytest

from gateways.broker.rabbitmq import (
    NotAllowed,
    NotFound,
    PreconditionFailed,
    RabbitBroker,
)
from ports.broker import JobDelivered
from tests.dummies import JobAcker as Acker
from tests.dummies import JobRecorder as Recorder
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


# --- listeners and helpers ----------------------------------------------------




def seen(recorder: pykka.ActorProxy) -> list[JobDelivered]:
    return recorder.seen().get()


def job(n: int | str) -> bytes:
    return json.dumps({"v": 1, "id": f"{n}", "photo": f"photos/{n}.png", "keywords": ["x"]}).encode()


@pytest.fixture
def make_broker(rabbitmq, job_queue):
    """Start a RabbitBroker on this test's own queues."""

    def make(**settings) -> pykka.ActorProxy:
        settings.setdefault("queue", job_queue.queue)
        settings.setdefault("dead_letter_queue", job_queue.dead_letter_queue)
        return RabbitBroker.start(rabbitmq.url, **settings).proxy()

    return make


def raw_get(url: str, queue: str):
    """Take one message off ``queue`` with a plain pika connection of this thread."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().basic_get(queue, auto_ack=True)
    finally:
        connection.close()


# --- declare and publish --------------------------------------------------------


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_declare_is_idempotent_and_both_queue_types_carry_jobs(make_broker, queue_type):
    broker = make_broker(queue_type=queue_type)
    broker.declare().get()
    broker.declare().get()
    assert broker.stats().get() == {"ready": 0, "unacked": 0, "dead": 0, "consumers": 0, "published": 0, "acked": 0}

    other_type = {"classic": "quorum", "quorum": "classic"}[queue_type]
    with pytest.raises(PreconditionFailed, match="x-queue-type"):
        make_broker(queue_type=other_type).declare().get()

    broker.publish(job(1)).get()
    recorder = Recorder.start().proxy()
    broker.consume("worker-1", recorder).get()
    [event] = eventually(lambda: seen(recorder), what="a delivery")
    assert event == JobDelivered("worker-1", event.delivery_tag, job(1), False)
    broker.ack("worker-1", event.delivery_tag).get()
    eventually(lambda: broker.stats().get()["ready"] == 0 and broker.stats().get()["unacked"] == 0, what="queue empty")


def test_publish_is_confirmed_persistent_json(rabbitmq, job_queue, make_broker):
    broker = make_broker()
    with pytest.raises(NotFound):
        broker.publish(job("early")).get()  # nothing declared yet: refused, not lost silently
    broker.declare().get()

    broker.publish(job(7)).get()  # returns only once confirmed
    assert broker.stats().get()["ready"] == 1

    method, properties, body = raw_get(rabbitmq.url, job_queue.queue)
    assert body == job(7)
    assert json.loads(body)["id"] == "7"
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert method.exchange == "photomark"

    rabbitmq.delete(queues=(job_queue.queue,))
    with pytest.raises(NotFound, match="NO_ROUTE"):
        broker.publish(job(8)).get()  # unroutable: the publish raises
    with pytest.raises(TypeError):
        broker.publish("not bytes").get()


def test_prefetch_one_hands_out_one_job_at_a_time_in_order(make_broker):
    broker = make_broker()
    broker.declare().get()
    for n in range(3):
        broker.publish(job(n)).get()
    recorder = Recorder.start().proxy()
    broker.consume("worker-1", recorder).get()

    for n in range(3):
        def holding_one(left: int = 2 - n) -> bool:
            stats = broker.stats().get()
            return stats["unacked"] == 1 and stats["ready"] == left

        eventually(holding_one, what=f"job {n} held")
        events = seen(recorder)
        assert [e.body for e in events] == [job(i) for i in range(n + 1)]  # the broker held the rest back
        broker.ack("worker-1", events[-1].delivery_tag).get()

    eventually(lambda: broker.stats().get()["unacked"] == 0, what="last ack")
    stats = broker.stats().get()
    assert stats | {"consumers": None} == {"ready": 0, "unacked": 0, "dead": 0, "consumers": None, "published": 3, "acked": 3}
    assert stats["consumers"] == 1


def test_ack_reject_and_consume_refuse_what_the_twin_refuses(make_broker):
    broker = make_broker()
    with pytest.raises(NotFound):
        broker.consume("early", Recorder.start().proxy()).get()
    broker.declare().get()
    recorder = Recorder.start().proxy()
    broker.consume("worker-1", recorder).get()
    with pytest.raises(NotAllowed):
        broker.consume("worker-1", Recorder.start().proxy()).get()
    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        broker.ack("worker-1", 12345).get()

    broker.publish(job(1)).get()
    [event] = eventually(lambda: seen(recorder), what="a delivery")
    broker.consume("worker-2", Recorder.start().proxy()).get()
    with pytest.raises(PreconditionFailed, match="held by consumer 'worker-1'"):
        broker.ack("worker-2", event.delivery_tag).get()
    broker.ack("worker-1", event.delivery_tag).get()  # the failed attempts changed nothing
    with pytest.raises(PreconditionFailed):
        broker.ack("worker-1", event.delivery_tag).get()  # no double ack


# --- consumers that go away -------------------------------------------------------


def test_cancelled_consumer_job_is_redelivered_to_another(make_broker):
    broker = make_broker()
    broker.declare().get()
    broker.publish(job(1)).get()
    first, second = Recorder.start().proxy(), Recorder.start().proxy()
    broker.consume("worker-1", first).get()
    [taken] = eventually(lambda: seen(first), what="first delivery")
    assert not taken.redelivered
    broker.consume("worker-2", second).get()

    broker.cancel("worker-1").get()

    [again] = eventually(lambda: seen(second), what="redelivery")
    assert (again.consumer, again.body, again.redelivered) == ("worker-2", job(1), True)
    assert len(seen(first)) == 1
    with pytest.raises(PreconditionFailed):
        broker.ack("worker-1", taken.delivery_tag).get()  # the cancelled consumer's tag is dead
    broker.ack("worker-2", again.delivery_tag).get()
    broker.cancel("nobody").get()  # cancelling an unknown consumer changes nothing


def test_dead_listener_is_cancelled_and_its_job_redelivered(make_broker):
    broker = make_broker()
    broker.declare().get()
    broker.publish(job(1)).get()
    doomed, survivor = Recorder.start(), Recorder.start().proxy()
    broker.consume("worker-1", doomed).get()
    eventually(lambda: doomed.proxy().seen().get(), what="first delivery")
    broker.consume("worker-2", survivor).get()
    doomed.stop()
    [again] = eventually(lambda: seen(survivor), what="redelivery")
    assert (again.body, again.redelivered) == (job(1), True)


WORKER = r"""
import sys, time
import pykka
from gateways.broker.rabbitmq import RabbitBroker

class Printer(pykka.ThreadingActor):
    def on_job_delivered(self, event):
        print("delivered", event.body.decode(), flush=True)

url, queue, dead, heartbeat = sys.argv[1:5]
broker = RabbitBroker.start(url, queue, dead, heartbeat=int(heartbeat)).proxy()
broker.consume("elsewhere", Printer.start()).get()
print("consuming", flush=True)
time.sleep(600)
"""


def read_until(process: subprocess.Popen, word: str, timeout: float) -> list[str]:
    """The words of the first line the worker prints that starts with ``word``
    (its log lines go to the same stdout)."""
    deadline = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            pytest.fail(f"the worker process did not say {word!r} within {timeout} s")
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the worker process exited ({process.poll()}) before saying {word!r}")
        if line.startswith(word):
            return line.rstrip("\n").split(" ", 1)


@pytest.fixture
def worker_process(rabbitmq, job_queue):
    """Start a worker process consuming the test's queue; killed afterwards."""
    processes: list[subprocess.Popen] = []

    def start(heartbeat: int = 5) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, rabbitmq.url, job_queue.queue, job_queue.dead_letter_queue, str(heartbeat)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()  # SIGKILL also ends a stopped process
        process.wait(10)


@pytest.mark.parametrize("how", ["killed", "hung"])
def test_job_of_a_worker_process_that_dies_or_hangs_is_redelivered(make_broker, worker_process, how):
    broker = make_broker()
    broker.declare().get()
    # heartbeat 2 s for a hung process: RabbitMQ gives up after two missed beats
    worker = worker_process(heartbeat=2)
    read_until(worker, "consuming", 20)
    broker.publish(job(1)).get()
    assert read_until(worker, "delivered", 10) == ["delivered", job(1).decode()]
    survivor = Recorder.start().proxy()
    broker.consume("survivor", survivor).get()

    started = time.monotonic()
    worker.send_signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)

    # A hung process's connection is dropped after about three missed heartbeats (~6 s here);
    # the time is printed, not asserted: the machine is shared.
    [again] = eventually(lambda: seen(survivor), timeout=60, what="redelivery")
    assert (again.body, again.redelivered) == (job(1), True)
    print(f"{how} worker's job redelivered after {time.monotonic() - started:.1f} s")


# --- dead letters ----------------------------------------------------------------


def test_rejected_job_is_dead_lettered_or_requeued(make_broker):
    broker = make_broker()
    broker.declare().get()
    recorder = Recorder.start().proxy()
    broker.consume("worker-1", recorder).get()
    broker.publish(b"not json").get()
    [poison] = eventually(lambda: seen(recorder), what="poison delivery")

    broker.reject("worker-1", poison.delivery_tag).get()

    eventually(lambda: broker.stats().get()["dead"] == 1, what="dead letter")
    assert broker.dead_letters().get() == [b"not json"]
    assert broker.dead_letters().get() == [b"not json"]  # reading leaves them there
    assert broker.stats().get()["dead"] == 1

    broker.publish(job(2)).get()
    [_, first] = eventually(lambda: seen(recorder)[1:] and seen(recorder), what="second delivery")
    broker.reject("worker-1", first.delivery_tag, requeue=True).get()
    [_, _, again] = eventually(lambda: seen(recorder)[2:] and seen(recorder), what="requeued delivery")
    assert (again.body, again.redelivered) == (job(2), True)
    broker.ack("worker-1", again.delivery_tag).get()
    assert broker.dead_letters().get() == [b"not json"]


# --- the broker restarts ------------------------------------------------------------


def test_broker_restart_loses_no_confirmed_job(rabbitmq, make_broker):
    publisher, consumer = make_broker(), make_broker()
    publisher.declare().get()
    publisher.publish(job("held")).get()
    holder = Acker.start(consumer, hold_first=True).proxy()
    consumer.consume("holder", holder).get()
    [held] = eventually(lambda: seen(holder), what="held delivery")
    acker = Acker.start(consumer).proxy()
    consumer.consume("acker", acker).get()

    confirmed: list[bytes] = []
    refused: list[tuple[bytes, Exception]] = []
    waits: list[float] = []

    def publish_jobs() -> None:
        for n in range(40):
            body, started = job(n), time.monotonic()
            try:
                publisher.publish(body).get()
                confirmed.append(body)
            except Exception as error:  # noqa: BLE001 - counted below: a refusal is not a loss
                refused.append((body, error))
            waits.append(time.monotonic() - started)
            time.sleep(0.05)

    thread = threading.Thread(target=publish_jobs)
    thread.start()
    eventually(lambda: len(confirmed) >= 5, what="some confirmed jobs")
    rabbitmq.restart()
    thread.join(60)
    assert not thread.is_alive()
    assert max(waits) > 1.0, "no publish spanned the restart"  # it waited for the broker to return

    # The held job's channel died with the connection: its tag is stale, never
    # acked on the new channel; RabbitMQ redelivers the job instead.
    with pytest.raises(PreconditionFailed, match="stale"):
        consumer.ack("holder", held.delivery_tag).get()

    def delivered() -> list[JobDelivered]:
        return seen(holder) + seen(acker)

    def all_done() -> bool:
        stats = consumer.stats().get()
        bodies = {e.body for e in delivered()}
        return stats["ready"] == 0 and stats["unacked"] == 0 and set(confirmed) <= bodies and job("held") in bodies

    eventually(all_done, timeout=30, what="every confirmed job delivered and acked")
    assert not refused, refused  # retried across the restart, within publish_timeout
    assert len(confirmed) == 40
    again = [e for e in delivered() if e.body == job("held") and e is not held]
    assert again and all(e.redelivered for e in again)
