"""Waiting for something to become true, for tests: poll with a deadline, never sleep-and-hope."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0, what: str = "condition", interval: float = 0.01) -> T:
    """Polls ``check()`` until it returns something truthy, and returns that; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last value {value!r}")
        time.sleep(interval)


def finishes(call: Callable[[], T], timeout: float, what: str = "the call") -> T:
    """Runs ``call()`` in a thread and waits for it to return: returns its value, raises what it raised,
    and fails the test if it is still running at the deadline (a call that hangs, where one must not:
    the thread is left to end on its own).  The deadline is how long the test is willing to wait for
    the state "it returned", not a time the test measures."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"finishes {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"timed out after {timeout} s waiting for {what} to return")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
