"""The Owner closes what it was given when it stops, once, and a failing close does not fail the stop."""

from __future__ import annotations

from actorkit.owner import Owner


def test_the_resource_is_closed_when_the_owner_stops_and_not_before():
    closed = []
    owner = Owner.start("a resource", lambda: closed.append(True))
    assert closed == []
    owner.stop()
    assert closed == [True]


def test_a_close_that_fails_is_logged_and_the_stop_goes_on():
    def close():
        raise OSError("already gone")

    owner = Owner.start("a resource", close)
    owner.stop()
    assert not owner.is_alive()
