"""Time for the register: injectable, so procedures with deadlines can be tested by date."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def today(self) -> dt.date: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        # the register's day is Beijing time (UTC+8)
        return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()


class FixedClock:
    """A clock that stands still until moved (tests, replays)."""

    def __init__(self, day: dt.date):
        self.day = day
        self.shift = dt.timedelta(0)  # time of day past 09:00 (``tick``)

    def now(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(9, 0), dt.UTC) + self.shift

    def tick(self, delta: dt.timedelta) -> None:
        """Move the time on by ``delta`` (timeouts, delays); the day stays."""
        self.shift += delta

    def today(self) -> dt.date:
        return self.day

    def advance(self, days: int) -> None:
        self.day += dt.timedelta(days=days)
