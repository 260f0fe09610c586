"""The Marker's decisions alone (``actors/marker_decisions.py``): mark, retry, or give a job up."""

from __future__ import annotations

import pytest

from actors.marker_decisions import (
    DEFAULT_MAX_DELIVERIES,
    REASON_LIMIT,
    RETRY_PAUSE,
    RETRY_PAUSE_MAX,
    GiveUp,
    Mark,
    Retry,
    after_outage,
    check_max_deliveries,
    check_ocr_timeout,
    on_delivery,
    retry_delay,
    short,
)


def test_a_delivery_within_the_limit_is_marked():
    assert on_delivery(1, 5) == Mark()
    assert on_delivery(5, 5) == Mark()
    assert on_delivery(1, 1) == Mark()


def test_a_delivery_over_the_limit_is_given_up_saying_how_often_the_job_was_handed_out():
    decision = on_delivery(6, 5)
    assert isinstance(decision, GiveUp)
    assert decision.reason.startswith("the job was handed to a worker 5 times and never finished: ")
    assert "--max-deliveries" in decision.reason
    assert on_delivery(2, 1).reason.startswith("the job was handed to a worker 1 time and never finished: ")


def test_after_an_outage_the_job_is_retried_until_its_last_allowed_delivery():
    for deliveries in range(1, 5):
        assert after_outage(deliveries, 5, "storage could not be written: EIO") == Retry(
            "storage could not be written: EIO"
        )
    assert after_outage(5, 5, "storage could not be written: EIO") == GiveUp(
        "storage could not be written: EIO (gave up after 5 deliveries)"
    )
    assert after_outage(9, 5, "x") == GiveUp("x (gave up after 9 deliveries)")
    assert after_outage(1, 1, "x") == GiveUp("x (gave up after 1 delivery)")


def test_the_pause_before_a_retry_doubles_with_each_delivery_and_is_capped():
    assert [retry_delay(n, 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert retry_delay(40, 1.0) == RETRY_PAUSE_MAX
    assert retry_delay(10**9, 1.0) == RETRY_PAUSE_MAX
    assert retry_delay(3, 0.0) == 0.0


def test_a_reason_is_one_line_of_bounded_length():
    assert short("Error in pix\n  whsize must be >= 2\n") == "Error in pix whsize must be >= 2"
    long = short("x" * 5000)
    assert len(long) == REASON_LIMIT and long.endswith("...")
    assert len(after_outage(5, 5, "y" * 5000).reason) == REASON_LIMIT
    assert after_outage(5, 5, "y" * 5000).reason.endswith("(gave up after 5 deliveries)")


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "5"])
def test_max_deliveries_is_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_deliveries"):
        check_max_deliveries(bad)
    assert check_max_deliveries(1) == 1 and DEFAULT_MAX_DELIVERIES == 5


def test_the_give_up_reason_says_the_limit_and_counts_in_words():
    assert on_delivery(3, 2) == GiveUp(
        "the job was handed to a worker 2 times and never finished: marking this photo may crash or hang the "
        "worker (at most 2 deliveries, photomark worker --max-deliveries)"
    )
    assert on_delivery(2, 1).reason.endswith("(at most 1 delivery, photomark worker --max-deliveries)")


def test_the_default_pause_starts_at_a_second_and_stops_at_half_a_minute():
    assert (RETRY_PAUSE, RETRY_PAUSE_MAX) == (1.0, 30.0)
    assert [retry_delay(n) for n in (1, 2, 5, 6, 7)] == [1.0, 2.0, 16.0, 30.0, 30.0]
    assert retry_delay(0) == retry_delay(-3) == 1.0  # never less than the first pause
    assert retry_delay(2, first=-1.0) == 0.0
    assert retry_delay(3, first=2.0, limit=5.0) == 5.0
    assert retry_delay(40, first=1e-9, limit=1e12) == 1e-9 * 2**30  # the exponent is capped at 30


def test_a_reason_at_the_limit_is_kept_whole_and_one_over_is_cut():
    assert short("z" * REASON_LIMIT) == "z" * REASON_LIMIT
    assert short("z" * (REASON_LIMIT + 1)) == "z" * (REASON_LIMIT - 3) + "..."
    assert short("a  b\tc", limit=3) == "..."
    assert short("a  b\tc", limit=5) == "a b c"


def test_an_outage_on_the_last_allowed_delivery_keeps_the_whole_reason_when_it_fits():
    reason = "r" * (REASON_LIMIT - len(" (gave up after 5 deliveries)"))
    assert after_outage(5, 5, reason) == GiveUp(reason + " (gave up after 5 deliveries)")
    assert after_outage(4, 5, "a\nb") == Retry("a b")


def test_no_ocr_timeout_leaves_marking_its_own_rule():
    assert check_ocr_timeout(None) is None


@pytest.mark.parametrize("seconds", [30, 0.5, 1e-9, 600.0])
def test_an_ocr_timeout_is_any_finite_number_of_seconds_over_zero_as_a_float(seconds):
    checked = check_ocr_timeout(seconds)
    assert checked == seconds and type(checked) is float


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, True, False, "30", [30]])
def test_an_ocr_timeout_that_is_no_positive_number_is_refused_and_named(bad):
    with pytest.raises(ValueError) as refused:
        check_ocr_timeout(bad)
    assert str(refused.value) == f"ocr_timeout must be a number of seconds > 0, not {bad!r}"


def test_an_ocr_timeout_of_nan_is_refused_as_no_positive_number():
    with pytest.raises(ValueError, match=r"^ocr_timeout must be a number of seconds > 0, not nan$"):
        check_ocr_timeout(float("nan"))


def test_an_endless_ocr_timeout_is_refused_as_infinite():
    with pytest.raises(ValueError) as refused:
        check_ocr_timeout(float("inf"))
    assert str(refused.value) == "ocr_timeout must be finite, not inf"
