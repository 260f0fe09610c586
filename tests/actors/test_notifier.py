"""The Notifier wakes every caller watching a photo when its job finishes, and only those;
a stopped Notifier wakes every waiter with None, so none waits out its timeout."""

from __future__ import annotations

import pykka
import pytest

from actorkit.messaging import tell_call
from actors.notifier import Notifier

pytestmark = pytest.mark.timeout(60)

PHOTO = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
WAKE = 10.0  # seconds a woken future may take to be set: a deadline, never a wait that passes


def asleep(future: pykka.Future) -> bool:
    """Whether ``future`` is still unset, looked at now without waiting."""
    try:
        future.get(timeout=0)
    except pykka.Timeout:
        return True
    return False


@pytest.fixture
def notifier() -> pykka.ActorProxy:
    return Notifier.start().proxy()


def watching(notifier: pykka.ActorProxy, photo_id: str) -> pykka.Future:
    """A future watching ``photo_id``, as a waiting Status handler registers it."""
    future = pykka.ThreadingFuture()
    notifier.watch(photo_id, future).get()
    return future


def finish(notifier: pykka.ActorProxy, photo_id: str) -> None:
    """Tells the Notifier a job finished, the way the PendingList does."""
    assert tell_call(notifier, "on_job_finished", photo_id)


def test_every_watcher_of_a_photo_wakes_when_its_job_finishes(notifier):
    first, second = watching(notifier, PHOTO), watching(notifier, PHOTO)

    finish(notifier, PHOTO)

    assert first.get(timeout=WAKE) == PHOTO
    assert second.get(timeout=WAKE) == PHOTO


def test_the_watchers_of_another_photo_sleep_on(notifier):
    other = watching(notifier, OTHER)
    mine = watching(notifier, PHOTO)

    finish(notifier, PHOTO)

    assert mine.get(timeout=WAKE) == PHOTO  # the same call would have woken the other
    assert asleep(other)
    finish(notifier, OTHER)
    assert other.get(timeout=WAKE) == OTHER


def test_an_unwatched_future_is_not_woken(notifier):
    gone, staying = watching(notifier, PHOTO), watching(notifier, PHOTO)

    notifier.unwatch(PHOTO, gone).get()
    finish(notifier, PHOTO)

    assert staying.get(timeout=WAKE) == PHOTO
    assert asleep(gone)


def test_unwatching_the_last_watcher_forgets_the_photo(notifier):
    future = watching(notifier, PHOTO)

    notifier.unwatch(PHOTO, future).get()
    notifier.unwatch(PHOTO, future).get()  # twice, or a future never watched: no harm
    notifier.unwatch(OTHER, pykka.ThreadingFuture()).get()

    assert notifier.watchers.get() == {}


def test_a_job_that_finished_before_the_watch_does_not_wake_it(notifier):
    """A caller re-checks the status after watching: a finish it missed is not replayed to it."""
    finish(notifier, PHOTO)
    late = watching(notifier, PHOTO)
    later = watching(notifier, OTHER)

    finish(notifier, OTHER)

    assert later.get(timeout=WAKE) == OTHER
    assert asleep(late)


def test_a_stopped_notifier_wakes_every_waiter_with_none(notifier):
    futures = [watching(notifier, PHOTO), watching(notifier, PHOTO), watching(notifier, OTHER)]

    notifier.actor_ref.stop(block=True, timeout=10)

    assert [future.get(timeout=WAKE) for future in futures] == [None, None, None]


def test_a_future_watched_twice_wakes_once_and_the_notifier_goes_on(notifier):
    twice, other = watching(notifier, PHOTO), watching(notifier, PHOTO)
    notifier.watch(PHOTO, twice).get()

    finish(notifier, PHOTO)

    assert twice.get(timeout=WAKE) == PHOTO
    assert other.get(timeout=WAKE) == PHOTO
    after = watching(notifier, OTHER)  # answered: the Notifier did not crash
    finish(notifier, OTHER)
    assert after.get(timeout=WAKE) == OTHER


def test_a_future_watching_two_photos_does_not_keep_the_others_asleep_at_stop(notifier):
    shared = watching(notifier, PHOTO)
    notifier.watch(OTHER, shared).get()
    waiter = watching(notifier, OTHER)
    finish(notifier, PHOTO)
    assert shared.get(timeout=WAKE) == PHOTO

    notifier.actor_ref.stop(block=True, timeout=10)

    assert waiter.get(timeout=WAKE) is None
    assert shared.get(timeout=0) == PHOTO  # woken once, by its first photo


def test_a_notifier_that_crashed_wakes_its_waiters_with_none(notifier):
    waiter = watching(notifier, PHOTO)

    assert tell_call(notifier, "on_job_finished")  # a told call with a missing argument crashes it

    assert waiter.get(timeout=WAKE) is None
    assert not notifier.actor_ref.is_alive()
