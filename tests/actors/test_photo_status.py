"""Where a photo stands, from its pending entry and what storage holds (``actors/photo_status.py``)."""

import pytest

from actors.pending_state import FAILED, PENDING, Entry
from actors.photo_status import FAILED_STATE, NOT_FOUND, PROCESSING, READY, status_of

ID = "a" * 32
PENDING_ENTRY = Entry(ID, None, PENDING, attempts=2)
FAILED_ENTRY = Entry(ID, None, FAILED, reason="poison job")


def test_the_states_have_the_names_clients_see():
    assert (READY, PROCESSING, FAILED_STATE, NOT_FOUND) == ("READY", "PROCESSING", "FAILED", "NOT_FOUND")


@pytest.mark.parametrize("entry", [None, PENDING_ENTRY, FAILED_ENTRY])
@pytest.mark.parametrize("photo_stored", [False, True])
def test_a_written_report_makes_the_photo_ready_whatever_else_is_known(entry, photo_stored):
    assert status_of(entry, photo_stored, report_stored=True) == (READY, "marked")


@pytest.mark.parametrize("photo_stored", [False, True])
def test_a_failed_entry_says_why(photo_stored):
    assert status_of(FAILED_ENTRY, photo_stored, report_stored=False) == (FAILED_STATE, "poison job")


@pytest.mark.parametrize("photo_stored", [False, True])
def test_a_pending_entry_is_processing_and_says_which_attempt(photo_stored):
    assert status_of(PENDING_ENTRY, photo_stored, report_stored=False) == (
        PROCESSING,
        "waiting for a worker (attempt 2)",
    )


def test_a_pending_entry_whose_photo_is_not_stored_yet_is_processing():
    assert status_of(Entry(ID, None), photo_stored=False, report_stored=False) == (
        PROCESSING,
        "waiting for a worker (attempt 1)",
    )


def test_a_stored_photo_without_a_pending_entry_is_processing():
    assert status_of(None, photo_stored=True, report_stored=False) == (PROCESSING, "waiting for a worker")


def test_a_photo_neither_stored_nor_pending_is_not_found():
    assert status_of(None, photo_stored=False, report_stored=False) == (NOT_FOUND, "no photo with this id")
