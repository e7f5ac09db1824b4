"""Calendar arithmetic the notice relies on (期间计算).

* Age in full years (周岁) is reached on the birthday.
* A period of N years starting on day D ends on D's anniversary N years later.
* Civil Code art. 202: a period counted in years or months ends on the
  corresponding day; where the month has no corresponding day (29 February in a
  common year) it ends on the last day of that month — 28 February. The
  alternative reading (1 March) is the parameter
  ``readings.leap_day_anniversary`` (see docs/readings.md).
* Civil Code art. 203: a period whose last day is a statutory rest day (法定休假日)
  ends on the day after the rest days end — China's official holidays and adjusted
  working days (调休) from ``chinesecalendar`` (``deadline``, ``period_end``,
  ``next_working_day``; reading R9a, parameter ``readings.civil_code_art_203``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import chinese_calendar  # type: ignore[import-untyped]
from chinese_calendar import constants as _holiday_data

LEAP_DAY_ANNIVERSARY_READINGS = ("feb28", "mar1")


def add_years(start: dt.date, years: int, leap_day: str = "feb28") -> dt.date:
    """``start`` moved by whole calendar years."""
    year = start.year + years
    try:
        return start.replace(year=year)
    except ValueError:  # 29 February in a common year
        if leap_day == "mar1":
            return dt.date(year, 3, 1)
        return dt.date(year, 2, 28)


def age_on(birth: dt.date, on: dt.date, leap_day: str = "feb28") -> int:
    """Full years of age (周岁) on ``on``."""
    years = on.year - birth.year
    if add_years(birth, years, leap_day) > on:
        years -= 1
    return years


# ---- Civil Code art. 203: a period's last day and the State's holidays ------------------
#
# 民法典第二百零三条：期间的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日。
# 期间的最后一日的截止时间为二十四时；有业务时间的，停止业务活动的时间为截止时间。
#
# 法定休假日 is read as every day the State gives as rest: Saturdays and Sundays (国务院关于
# 职工工作时间的规定) and the public holidays (全国年节及纪念日放假办法), as the State
# Council's annual arrangement moves them — a weekend day made a working day (调休上班) is
# no rest day, a weekday made a rest day is one. The days come from ``chinesecalendar``
# (import name ``chinese_calendar``), which follows those annual notices; it knows only the
# years whose arrangement was published when it was released. For any other year the
# caller chooses: ``uncovered="error"`` raises ``HolidaysUnknown``; ``uncovered="weekends"``
# counts Saturdays and Sundays alone and marks the answer ``provisional``.
# See docs/readings.md, R9a.

UNCOVERED_YEAR_MODES = ("error", "weekends")


class HolidaysUnknown(LookupError):
    """The installed holiday calendar has no arrangement for ``year``."""

    def __init__(self, year: int) -> None:
        self.year = year
        first, last = holiday_years()
        self.zh = (
            f"节假日日历（chinesecalendar）未收录{year}年的放假安排（已收录{first}—{last}年），"
            "无法确定期间的最后一日；请更新该库"
        )
        self.en = (
            f"the holiday calendar (chinesecalendar) has no arrangement for {year} (it covers "
            f"{first}-{last}); the last day of the period cannot be fixed — update the library"
        )
        super().__init__(f"{self.en} / {self.zh}")


@functools.cache
def holiday_years() -> tuple[int, int]:
    """The first and last year whose holidays and adjusted working days the library holds."""
    days = list(_holiday_data.holidays) + list(_holiday_data.workdays)
    return min(days).year, max(days).year


def holidays_known(day: dt.date) -> bool:
    first, last = holiday_years()
    return first <= day.year <= last


def is_rest_day(day: dt.date) -> bool:
    """法定休假日: a weekend day not made a working day, or a public holiday (调休 included).
    Raises ``HolidaysUnknown`` for a year the calendar does not cover."""
    if not holidays_known(day):
        raise HolidaysUnknown(day.year)
    return not bool(chinese_calendar.is_workday(day))


def _rest(day: dt.date, uncovered: str) -> tuple[bool, bool]:
    """(rest day?, judged on weekends alone?)"""
    if uncovered not in UNCOVERED_YEAR_MODES:
        raise ValueError(f"uncovered is one of {UNCOVERED_YEAR_MODES}, not {uncovered!r}")
    if holidays_known(day):
        return is_rest_day(day), False
    if uncovered == "error":
        raise HolidaysUnknown(day.year)
    return day.weekday() >= 5, True


@dataclasses.dataclass(frozen=True)
class PeriodEnd:
    """The last day of a period: as counted (``nominal``) and after art. 203 (``last_day``).

    ``provisional``: some day on the way was judged on weekends alone, its year's holidays
    being unknown to the installed calendar — the date may still move when they are known.
    Acts are in time up to the end of ``last_day`` (24:00 Beijing time; at a station, its
    closing time — art. 203, second paragraph)."""

    nominal: dt.date
    last_day: dt.date
    provisional: bool = False

    @property
    def extended(self) -> bool:
        return self.last_day != self.nominal


def deadline(nominal: dt.date, *, art_203: bool = True, uncovered: str = "error") -> PeriodEnd:
    """Art. 203 applied to a period whose last day, as counted, is ``nominal``: if that is a
    rest day, the period ends on the day after the rest days end — the next working day."""
    if not art_203:
        return PeriodEnd(nominal, nominal)
    day, provisional = nominal, False
    for _ in range(366):  # the longest run of rest days is a few weeks
        rest, guessed = _rest(day, uncovered)
        provisional = provisional or guessed
        if not rest:
            return PeriodEnd(nominal, day, provisional)
        day += dt.timedelta(days=1)
    raise AssertionError(f"no working day within a year of {nominal}")  # pragma: no cover


def next_working_day(day: dt.date, *, uncovered: str = "error") -> dt.date:
    """The first working day after ``day``."""
    return deadline(day + dt.timedelta(days=1), uncovered=uncovered).last_day


def period_end(
    start: dt.date, days: int, *, art_203: bool = True, uncovered: str = "error"
) -> PeriodEnd:
    """A period of ``days`` days whose first day is ``start`` (the register's count: a
    30-day notice published on 1 June runs through 30 June as counted), then art. 203."""
    if days < 1:
        raise ValueError(f"a period has at least one day, not {days}")
    return deadline(start + dt.timedelta(days=days - 1), art_203=art_203, uncovered=uncovered)
