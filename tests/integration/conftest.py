"""Shared fixtures of the integration tests: the real servers they run against."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pykka
import pytest

from tests.integration.rabbitmq_server import RabbitServer


@dataclass(frozen=True)
class JobQueue:
    """Names of one test's own job queue and dead-letter queue."""

    queue: str
    dead_letter_queue: str


@pytest.fixture
def job_queue(rabbitmq: RabbitServer) -> Iterator[JobQueue]:
    """Queue names unique to the test; deleted afterwards, once every actor
    (consumers included) is stopped."""
    name = f"photomark.test.{uuid.uuid4().hex[:10]}"
    names = JobQueue(queue=f"{name}.jobs", dead_letter_queue=f"{name}.jobs.dead")
    yield names
    pykka.ActorRegistry.stop_all()
    try:
        rabbitmq.delete(queues=(names.queue, names.dead_letter_queue), exchanges=(names.dead_letter_queue,))
    except Exception as error:  # noqa: BLE001 - a broker restarted by the test may be slow
        print(f"could not delete {names}: {error}")
