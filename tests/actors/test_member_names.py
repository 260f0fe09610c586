"""Group member names that sort by start time (``actors/member_names.py``)."""

import string

import pytest

from actors import member_names
from actors.member_names import DIGITS, base36, member_name, role_of


def test_base36_digits_are_digits_then_lower_case_letters():
    assert DIGITS == string.digits + string.ascii_lowercase


@pytest.mark.parametrize(
    ("number", "width", "text"),
    [
        (0, 3, "000"),
        (35, 2, "0z"),
        (36, 2, "10"),
        (36**2 + 2 * 36 + 3, 3, "123"),
        (36**8 - 1, 8, "zzzzzzzz"),
        (1_700_000_000_000, 8, "loyw3v28"),
    ],
)
def test_base36_writes_a_number_in_fixed_width(number, width, text):
    assert base36(number, width) == text


@pytest.mark.parametrize(("number", "width"), [(36**8, 8), (36, 1), (1, 0)])
def test_a_number_too_large_for_the_width_is_refused(number, width):
    with pytest.raises(ValueError, match="^number too large for the width$"):
        base36(number, width)


def test_a_member_name_is_the_role_letter_the_start_time_and_a_random_digit():
    name = member_name("svc", 1_700_000_000_000)
    assert len(name) == 10 and name[:9] == "sloyw3v28" and name[9] in DIGITS
    assert member_name("register", 0)[:9] == "r00000000"


def test_the_random_digit_varies_between_names_started_together():
    assert len({member_name("svc", 5)[9] for _ in range(200)}) > 1


def test_a_member_name_without_a_start_time_takes_the_clock_in_milliseconds(monkeypatch):
    monkeypatch.setattr(member_names.time, "time", lambda: 1_700_000_000.1239)
    assert member_name("worker")[:9] == "w" + base36(1_700_000_000_123, 8)


def test_member_names_sort_by_start_time():
    starts = [0, 1, 35, 36, 1_000, 36**7, 1_700_000_000_000, 36**8 - 1]
    names = [member_name("svc", ms)[:9] for ms in starts]
    assert names == sorted(names) and len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("#s0mhd1x2ka#localhost", "s"),
        ("#r0mhd1x2ka#host", "r"),
        ("s0mhd1x2ka", "s"),
        ("w", "w"),
        ("", ""),
        ("#wx#h", "w"),
    ],
)
def test_the_role_is_the_first_letter_of_the_user_name(name, role):
    assert role_of(name) == role
