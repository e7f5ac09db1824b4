"""Periods a person must act within, by Civil Code art. 203 (reading R9a): a last day on a
statutory rest day — a public holiday or a weekend, as the State Council's 调休 moves them —
runs on to the next working day. The holidays come from ``chinesecalendar``."""

from __future__ import annotations

import datetime as dt

import pytest

from hukou.policy import calendar
from hukou.policy.calendar import (
    HolidaysUnknown,
    PeriodEnd,
    deadline,
    holiday_years,
    next_working_day,
    period_end,
)
from hukou.policy.params import load

D = dt.date


# ---- art. 203 on single days -------------------------------------------------------


@pytest.mark.clause("§4.5")
def test_a_last_day_on_national_day_runs_to_the_first_working_day_after_the_holiday() -> None:
    # 2025: National Day and Mid-Autumn together, 1-8 October; 9 October is a Thursday
    end = deadline(D(2025, 10, 1))
    assert end == PeriodEnd(D(2025, 10, 1), D(2025, 10, 9))
    assert end.extended and not end.provisional
    for day in range(1, 9):  # every day of the holiday lands on the same working day
        assert deadline(D(2025, 10, day)).last_day == D(2025, 10, 9)


@pytest.mark.clause("§4.5")
@pytest.mark.parametrize(
    "day",
    [
        D(2025, 9, 28),  # Sunday made a working day before National Day (调休上班)
        D(2025, 10, 11),  # Saturday made a working day after it
        D(2025, 1, 26),  # Sunday made a working day before the Spring Festival
        D(2025, 2, 8),  # Saturday made a working day after it
    ],
)
def test_an_adjusted_working_weekend_day_is_no_rest_day(day: dt.date) -> None:
    assert day.weekday() >= 5
    end = deadline(day)
    assert end.last_day == day and not end.extended


@pytest.mark.clause("§4.5")
@pytest.mark.parametrize("day", [D(2025, 3, 8), D(2025, 3, 9)])
def test_an_ordinary_weekend_runs_to_monday(day: dt.date) -> None:
    """法定休假日 is read to include the weekly rest days (R9a)."""
    assert deadline(day).last_day == D(2025, 3, 10)


@pytest.mark.clause("§4.5")
def test_a_holiday_ending_on_a_weekday_then_working() -> None:
    # Labour Day 2025: 1-5 May (Thursday to Monday); 6 May is a Tuesday
    assert deadline(D(2025, 5, 1)).last_day == D(2025, 5, 6)
    assert deadline(D(2025, 5, 5)).last_day == D(2025, 5, 6)


def test_a_working_day_is_its_own_last_day() -> None:
    assert deadline(D(2025, 10, 9)) == PeriodEnd(D(2025, 10, 9), D(2025, 10, 9))
    assert deadline(D(2025, 9, 30)).last_day == D(2025, 9, 30)  # the eve of the holiday


def test_next_working_day_is_strictly_after() -> None:
    assert next_working_day(D(2025, 9, 30)) == D(2025, 10, 9)
    assert next_working_day(D(2025, 9, 27)) == D(2025, 9, 28)  # Saturday -> the 调休 Sunday
    assert next_working_day(D(2025, 3, 7)) == D(2025, 3, 10)  # Friday -> Monday


def test_without_art_203_the_counted_day_stands() -> None:
    end = deadline(D(2025, 10, 1), art_203=False)
    assert end.last_day == D(2025, 10, 1) and not end.extended
    assert period_end(D(2025, 9, 2), 30, art_203=False).last_day == D(2025, 10, 1)


# ---- periods counted in days: the day before / of / after ------------------------------


@pytest.mark.clause("§4.5")
@pytest.mark.parametrize(
    ("days", "nominal", "last_day"),
    [
        (29, D(2025, 9, 30), D(2025, 9, 30)),  # counted to the day before the holiday: stands
        (30, D(2025, 10, 1), D(2025, 10, 9)),  # counted to the holiday's first day: extended
        (31, D(2025, 10, 2), D(2025, 10, 9)),
        (37, D(2025, 10, 8), D(2025, 10, 9)),  # the holiday's last day
        (38, D(2025, 10, 9), D(2025, 10, 9)),  # the first working day itself
        (39, D(2025, 10, 10), D(2025, 10, 10)),
    ],
)
def test_a_period_counted_in_days_from_its_first_day(
    days: int, nominal: dt.date, last_day: dt.date
) -> None:
    """The day the period starts is its first day (the register's count, R9/R26)."""
    end = period_end(D(2025, 9, 2), days)
    assert (end.nominal, end.last_day) == (nominal, last_day)


def test_a_period_has_at_least_one_day() -> None:
    assert period_end(D(2025, 3, 3), 1).last_day == D(2025, 3, 3)
    with pytest.raises(ValueError):
        period_end(D(2025, 3, 3), 0)


# ---- years the calendar does not cover -----------------------------------------------


def test_the_installed_calendar_covers_the_years_the_tests_use() -> None:
    first, last = holiday_years()
    assert first <= 2025 <= last


@pytest.mark.parametrize("day", [D(1999, 10, 1), D(2099, 10, 1)])
def test_an_uncovered_year_is_an_error_by_default(day: dt.date) -> None:
    with pytest.raises(HolidaysUnknown) as err:
        deadline(day)
    assert err.value.year == day.year
    assert str(day.year) in err.value.zh and str(day.year) in err.value.en
    with pytest.raises(HolidaysUnknown):
        calendar.is_rest_day(day)


def test_an_uncovered_year_counted_on_weekends_alone_is_flagged() -> None:
    # 2099-10-01 is a Thursday: no weekend, so it stands — but only provisionally
    end = deadline(D(2099, 10, 1), uncovered="weekends")
    assert end == PeriodEnd(D(2099, 10, 1), D(2099, 10, 1), provisional=True)
    # 2099-10-03 is a Saturday: Monday, provisionally
    end = deadline(D(2099, 10, 3), uncovered="weekends")
    assert end.last_day == D(2099, 10, 5) and end.provisional


def test_a_period_running_from_a_covered_year_into_an_uncovered_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the days looked at matter: a last day in a covered year is never provisional."""
    monkeypatch.setattr(calendar, "holiday_years", lambda: (2004, 2025))
    covered = period_end(D(2025, 11, 3), 30, uncovered="weekends")
    assert covered.last_day == D(2025, 12, 2) and not covered.provisional
    # 2025-12-31 (Wednesday) + 10 days = 2026-01-09 (Friday), 2026 unknown here
    beyond = period_end(D(2025, 12, 31), 10, uncovered="weekends")
    assert beyond.last_day == D(2026, 1, 9) and beyond.provisional
    with pytest.raises(HolidaysUnknown):
        period_end(D(2025, 12, 31), 10)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        deadline(D(2025, 10, 1), uncovered="guess")


# ---- the parameter -------------------------------------------------------------------


def test_art_203_applies_by_default_and_can_be_switched_off() -> None:
    params = load()
    assert params.at(D(2020, 8, 1))["readings.civil_code_art_203"] is True
    assert params.at(D(2025, 10, 1))["readings.civil_code_art_203"] is True
    reform = params.with_overrides({"readings.civil_code_art_203": {D(2026, 1, 1): False}})
    assert reform.at(D(2026, 1, 1))["readings.civil_code_art_203"] is False
    assert reform.at(D(2025, 12, 31))["readings.civil_code_art_203"] is True
