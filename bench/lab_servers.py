"""Shared by the benchmarks that run the lab deployment as real processes.

``private_lab(base)`` starts a private RabbitMQ node (always our own, never a
shared broker on 5672, so deleting the job queues touches nobody else) and a
``tests.cluster.lab.Lab`` with its Spread daemon, and stops every process it
started, by pid, on the way out (normal end, error, Ctrl-C, or SIGTERM, which
``exit_on_sigterm`` turns into SystemExit so the ``finally`` blocks run).
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.cluster.lab import Lab  # noqa: E402
from tests.integration.rabbitmq_server import RabbitServer  # noqa: E402

JOB_QUEUES = ("photomark.jobs", "photomark.jobs.dead")
JOB_EXCHANGES = ("photomark", "photomark.jobs.dead")


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit in the main thread, so cleanup in ``finally`` runs as on Ctrl-C."""

    def handler(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def private_rabbit(base: Path) -> Iterator[RabbitServer]:
    rabbit = RabbitServer.private(base)
    try:
        rabbit.start()
        rabbit.delete(queues=JOB_QUEUES, exchanges=JOB_EXCHANGES)
        yield rabbit
    finally:
        rabbit.close()


@contextlib.contextmanager
def private_lab(base: Path) -> Iterator[tuple[RabbitServer, Lab]]:
    """A private RabbitMQ and a Lab whose Spread daemon already runs; both stopped at the end."""
    with private_rabbit(base / "rabbitmq") as rabbit:
        lab = Lab(base / "lab", rabbit.url, base / "storage")
        try:
            lab.start_spread()
            yield rabbit, lab
        finally:
            lab.stop()


def until(predicate, timeout: float, what: str, pause: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
