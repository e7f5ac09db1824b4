"""Log-in throttling (登录限速): growing delays per account-and-address and per address.

An attempt is *reserved* before the password is checked, by an atomic compare-and-set on
the key's row (``login_throttle``): read the count, then ``UPDATE … WHERE attempts = <the
count read>``; whoever loses the race reads again. So forty concurrent guesses for one
account from one address get exactly ``free_per_account`` checks, and the rest wait.

Attempt ``n`` of a key may start at ``next_at``, which attempt ``n - 1`` set: at once
while ``n`` is within the free attempts, then ``first_delay``, doubling each time up to
``max_delay``. A success clears the account key and gives the address back the attempt
it used (so that colleagues behind one address are not slowed by each other's logins).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hukou.registry.access import SecuritySettings
from hukou.registry.models import LoginThrottle

RETRIES = 20


def account_key(username: str, address: str) -> str:
    return f"acct:{username.strip().lower()[:64]}|{address[:64]}"


def address_key(address: str) -> str:
    return f"addr:{address[:64]}"


def delay(attempt: int, free: int, settings: SecuritySettings) -> dt.timedelta:
    """How long after attempt ``attempt`` the next may start."""
    if attempt < free:
        return dt.timedelta(0)
    grown: dt.timedelta = settings.first_delay * 2 ** (attempt - free)
    return min(grown, settings.max_delay)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def reserve(
    factory: sessionmaker[Session],
    key: str,
    free: int,
    now: dt.datetime,
    settings: SecuritySettings,
) -> dt.datetime | None:
    """Take one attempt for ``key`` (its own short transaction). None when taken; else the
    time the next attempt may start."""
    for _ in range(RETRIES):
        try:
            with factory() as s, s.begin():
                row = s.execute(
                    select(
                        LoginThrottle.attempts, LoginThrottle.next_at, LoginThrottle.last_at
                    ).where(LoginThrottle.key == key)
                ).first()
                if row is None:
                    s.add(
                        LoginThrottle(
                            key=key,
                            attempts=1,
                            next_at=now + delay(1, free, settings),
                            last_at=now,
                        )
                    )
                    s.flush()
                    return None
                attempts, next_at, last_at = row
                if now - _aware(last_at) >= settings.forget_after:
                    start = 0
                elif _aware(next_at) > now:
                    return _aware(next_at)
                else:
                    start = attempts
                n = start + 1
                done = s.execute(
                    update(LoginThrottle)
                    .where(LoginThrottle.key == key, LoginThrottle.attempts == attempts)
                    .values(attempts=n, next_at=now + delay(n, free, settings), last_at=now)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    return None
        except (IntegrityError, OperationalError):
            pass  # another attempt won the row (or SQLite's write lock): read again
    return now + settings.first_delay  # contention this high is itself a flood


def clear(s: Session, key: str) -> None:
    s.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def give_back(s: Session, key: str) -> None:
    """Return one attempt to ``key`` (after a success through it), atomically."""
    s.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key, LoginThrottle.attempts > 0)
        .values(attempts=LoginThrottle.attempts - 1)
    )
