"""Fixtures of the cluster tests: a Lab of real processes on a real RabbitMQ."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from store.manager.replicate import STORE_DEAD_LETTERS, STORE_QUEUE
from tests.cluster.lab import Lab, LabError

JOB_QUEUES = ("photomark.jobs", "photomark.jobs.dead")
STORE_QUEUES = (STORE_QUEUE, STORE_DEAD_LETTERS)
STORE_EXCHANGES = ("photomark", STORE_DEAD_LETTERS)  # the dead-letter exchange is named like its queue


@pytest.fixture
def storage_dir(gluster_volume, request):
    """This test's own directory on the replica-3 GlusterFS mount, as the lab stores photos."""
    path = gluster_volume.mount_path / f"lab-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lab(rabbitmq, tmp_path, storage_dir, request) -> Iterator[Lab]:
    """A fresh lab (its own Spread daemon, empty job queues, its own storage); stopped by pid afterwards."""
    rabbitmq.delete(queues=JOB_QUEUES, exchanges=("photomark", "photomark.jobs.dead"))
    lab = Lab(tmp_path / "lab", rabbitmq.url, storage_dir)
    try:
        lab.start_spread()
        yield lab
    except LabError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        lab.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(lab.logs())
        rabbitmq.delete(queues=JOB_QUEUES, exchanges=("photomark", "photomark.jobs.dead"))


@pytest.fixture
def store_lab(rabbitmq, tmp_path, request) -> Iterator[Lab]:
    """A fresh lab for the replicated store: its own Spread daemon, empty replication queues (the
    session shares one broker), no Gluster (the store keeps objects on its nodes' directories); every
    process it starts is stopped by pid afterwards, and the queues deleted again."""
    rabbitmq.delete(queues=STORE_QUEUES, exchanges=STORE_EXCHANGES)
    lab = Lab(tmp_path / "lab", rabbitmq.url, tmp_path / "storage")
    try:
        lab.start_spread()
        yield lab
    except LabError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        lab.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(lab.logs())
        rabbitmq.delete(queues=STORE_QUEUES, exchanges=STORE_EXCHANGES)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
