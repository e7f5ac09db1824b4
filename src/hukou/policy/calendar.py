"""Calendar arithmetic the notice relies on (期间计算).

* Age in full years (周岁) is reached on the birthday.
* A period of N years starting on day D ends on D's anniversary N years later.
* Civil Code art. 202: a period counted in years or months ends on the
  corresponding day; where the month has no corresponding day (29 February in a
  common year) it ends on the last day of that month — 28 February. The
  alternative reading (1 March) is the parameter
  ``readings.leap_day_anniversary`` (see docs/readings.md).
"""

from __future__ import annotations

import datetime as dt

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
