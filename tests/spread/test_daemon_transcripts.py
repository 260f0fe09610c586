"""The daemon, driven through every recorded scenario, sends what the real Spread 4.4.0 daemon sent."""

from __future__ import annotations

import pytest

from spread.daemon import SpreadDaemon
from tests.spread.scenario import play
from tests.spread.transcripts import transcript_files

NAMES = [path.name for path in transcript_files()]


@pytest.fixture
def daemon():
    d = SpreadDaemon("127.0.0.1", 0, "localhost").start()
    yield d
    d.stop()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", NAMES)
def test_daemon_answers_the_recorded_client_bytes_as_the_real_daemon_did(daemon, name):
    assert play(name, daemon.address, "raw") == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", NAMES)
def test_our_client_and_daemon_replay_the_recorded_scenario(daemon, name):
    assert play(name, daemon.address, "client") == []


def test_the_group_id_holds_the_daemon_address_and_one_membership_time(daemon):
    assert daemon.proc_id == 0x7F000001
    assert abs(daemon.memb_time - __import__("time").time()) < 60
