"""The RabbitMQ gateway against a real broker: confirms, prefetch 1, redelivery
when a consumer goes away, dead letters, delivery counts that outlive the
gateway that counted them, and a broker restart that loses nothing that was
confirmed.  What both twins promise alike is checked on both in
``tests/conformance/test_broker_port.py``; this is what only RabbitMQ has."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pika
import pykka
import pytest

from gateways.broker.rabbitmq import DELIVERIES_HEADER, RabbitBroker
from ports.broker import JobDelivered, NotAllowed, NotFound, PreconditionFailed
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
    expected = {"ready": 0, "unacked": 0, "dead": 0, "consumers": None, "published": 3, "acked": 3}
    assert stats | {"consumers": None} == expected
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
    assert (again.consumer, again.body, again.redelivered, again.deliveries) == ("worker-2", job(1), True, 2)
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
    assert (again.body, again.redelivered, again.deliveries) == (job(1), True, 2)


WORKER = r"""
import sys, threading
import pykka
from gateways.broker.rabbitmq import RabbitBroker

class Printer(pykka.ThreadingActor):
    def on_job_delivered(self, event):
        print("delivered", event.body.decode(), flush=True)

url, queue, dead, heartbeat = sys.argv[1:5]
broker = RabbitBroker.start(url, queue, dead, heartbeat=int(heartbeat)).proxy()
try:
    broker.consume("elsewhere", Printer.start()).get()
except Exception as error:  # say why, and end: the actors' threads would keep the process alive
    print("failed to consume:", type(error).__name__, error, flush=True)
    pykka.ActorRegistry.stop_all()
    sys.exit(1)
print("consuming", flush=True)
threading.Event().wait()  # until the test kills or stops this process
"""


class WorkerProcess:
    """The worker process and the lines it prints, read by a thread of their own into a queue.

    (``select`` on the pipe and then ``readline`` missed lines: one read from the pipe may bring two lines
    into the file's buffer, ``readline`` returns the first, and ``select`` then waits for the pipe, not the
    buffer, so the second line, "delivered", was never seen: this test's flake on a loaded machine.)"""

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name="worker-output", daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # the process closed its output: it ended

    def read_until(self, word: str, timeout: float) -> list[str]:
        """The words of the first line the worker prints that starts with ``word``
        (its log lines go to the same stdout; the ones passed over are shown on failure)."""
        deadline = time.monotonic() + timeout
        passed: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the worker process did not say {word!r} within {timeout} s; it said: {passed}")
            if line is None:
                code = self.popen.wait(10)
                pytest.fail(f"the worker process exited ({code}) before saying {word!r}; it said: {passed}")
            if line.startswith(word):
                return line.split(" ", 1)
            passed.append(line)


@pytest.fixture
def worker_process(rabbitmq, job_queue):
    """Start a worker process consuming the test's queue; killed afterwards."""
    processes: list[subprocess.Popen] = []

    def start(heartbeat: int = 5) -> WorkerProcess:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, rabbitmq.url, job_queue.queue, job_queue.dead_letter_queue, str(heartbeat)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # a traceback is shown with the lines read on failure
            text=True,
        )
        processes.append(process)
        return WorkerProcess(process)

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
    worker.read_until("consuming", 60)
    # "consuming" may come before the worker's connection is up (the consumer waits for it):
    # poll RabbitMQ's own count of consumers, so that the job goes to that worker.
    eventually(lambda: broker.stats().get()["consumers"] == 1, timeout=60, interval=0.1, what="the worker consuming")
    broker.publish(job(1)).get()
    # deadlines, not timings: a loaded two-core machine starts Python and pika slowly
    assert worker.read_until("delivered", 60) == ["delivered", job(1).decode()]
    survivor = Recorder.start().proxy()
    broker.consume("survivor", survivor).get()

    started = time.monotonic()
    worker.popen.send_signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)

    # A hung process's connection is dropped after about three missed heartbeats (~6 s here);
    # the time is printed, not asserted: the machine is shared.
    [again] = eventually(lambda: seen(survivor), timeout=60, what="redelivery")
    assert (again.body, again.redelivered, again.deliveries) == (job(1), True, 2)
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
    publisher, consumer = make_broker(publish_timeout=60), make_broker()
    publisher.declare().get()
    publisher.publish(job("held")).get()
    holder = Acker.start(consumer, hold_first=True).proxy()
    consumer.consume("holder", holder).get()
    [held] = eventually(lambda: seen(holder), what="held delivery")
    acker = Acker.start(consumer).proxy()
    consumer.consume("acker", acker).get()

    confirmed: list[bytes] = []
    refused: list[tuple[bytes, Exception]] = []
    broker_down = threading.Event()  # the second half of the jobs is published while the broker is down

    def publish_jobs() -> None:
        for n in range(40):
            if n == 20 and not broker_down.wait(120):
                return
            body = job(n)
            try:
                publisher.publish(body).get()
                confirmed.append(body)
            except Exception as error:  # noqa: BLE001 - counted below: a refusal is not a loss
                refused.append((body, error))

    def restart() -> None:
        try:
            rabbitmq.restart()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            restart_failures.append(error)

    restart_failures: list[Exception] = []
    publishing = threading.Thread(target=publish_jobs)
    publishing.start()
    eventually(lambda: len(confirmed) + len(refused) == 20, what="the first half of the jobs published")
    restarting = threading.Thread(target=restart)
    restarting.start()
    # The publisher is idle (its thread waits at the gate), so it answers at once.
    eventually(lambda: not publisher.is_connected().get(), timeout=60, what="the restart cutting the publisher off")
    broker_down.set()  # job 20 is published while the broker is away: it must wait for it, not fail
    restarting.join(120)
    publishing.join(120)
    assert not restarting.is_alive() and not restart_failures, restart_failures
    assert not publishing.is_alive()

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
    assert len(confirmed) == 40  # job 20 among them: a publish that spanned the restart was confirmed
    again = [e for e in delivered() if e.body == job("held") and e is not held]
    assert again and all(e.redelivered and e.deliveries >= 2 for e in again)


# --- delivery counts -----------------------------------------------------------------


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_the_delivery_count_lives_in_the_job_not_in_the_gateway(make_broker, queue_type):
    publisher = make_broker(queue_type=queue_type)
    publisher.declare().get()
    publisher.publish(job(1)).get()

    counts = []
    for n in range(1, 4):  # each gateway takes the job and goes, as its process would
        gateway = make_broker(queue_type=queue_type)
        holder = Recorder.start().proxy()
        gateway.consume(f"holder-{n}", holder).get()
        [event] = eventually(lambda holder=holder: seen(holder), what=f"delivery {n}")
        counts.append((event.deliveries, event.redelivered))
        gateway.actor_ref.stop()  # its connection closes: RabbitMQ requeues the job
    assert counts == [(1, False), (2, True), (3, True)]

    survivor = Acker.start(publisher).proxy()
    publisher.consume("survivor", survivor).get()
    eventually(lambda: seen(survivor), what="delivery 4")
    publisher.publish(job("marker")).get()  # a copy left behind would arrive before the marker
    eventually(lambda: len(seen(survivor)) >= 2, what="the marker")
    assert [(e.body, e.deliveries) for e in seen(survivor)] == [(job(1), 4), (job("marker"), 1)]


def test_a_counted_copy_keeps_the_job_persistent_json_and_carries_its_count(rabbitmq, job_queue, make_broker):
    broker = make_broker()
    broker.declare().get()
    broker.publish(job(1)).get()
    first, second = Recorder.start().proxy(), Recorder.start().proxy()
    broker.consume("first", first).get()
    eventually(lambda: seen(first), what="first delivery")
    broker.cancel("first").get()
    broker.consume("second", second).get()
    [again] = eventually(lambda: seen(second), what="the counted copy")
    assert again.deliveries == 2
    broker.cancel("second").get()  # the copy goes back to the queue: read it as it is stored

    method, properties, body = raw_get(rabbitmq.url, job_queue.queue)
    assert body == job(1)
    assert properties.headers == {DELIVERIES_HEADER: 2}
    assert (properties.delivery_mode, properties.content_type) == (2, "application/json")
    assert method.redelivered
    assert raw_get(rabbitmq.url, job_queue.queue) == (None, None, None)  # the original was acked: no duplicate


def test_a_redelivered_job_is_handed_out_uncounted_when_its_copy_cannot_be_published(make_broker):
    publisher = make_broker()
    publisher.declare().get()
    # This gateway consumes the test's queue, but would publish to an exchange
    # that does not exist: every counted copy is refused.
    stranded = make_broker(exchange=f"photomark.test.nowhere.{uuid.uuid4().hex[:10]}")
    publisher.publish(job(1)).get()
    first, second = Recorder.start().proxy(), Recorder.start().proxy()
    stranded.consume("first", first).get()
    eventually(lambda: seen(first), what="first delivery")
    stranded.cancel("first").get()

    stranded.consume("second", second).get()
    [again] = eventually(lambda: seen(second), what="the original, handed out")
    assert (again.body, again.redelivered, again.deliveries) == (job(1), True, 2)
    stranded.ack("second", again.delivery_tag).get()

    publisher.publish(job("marker")).get()  # the job, had it been requeued, would arrive before the marker
    eventually(lambda: len(seen(second)) >= 2, what="the marker")
    assert [e.body for e in seen(second)] == [job(1), job("marker")]
    assert publisher.dead_letters().get() == []
