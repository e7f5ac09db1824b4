"""Who may do what, where (权限与辖区), and how users prove who they are.

* officer — the applications, households and procedures of their police
  station's county; sees persons of that county in full, others masked;
* keeper — the public collective household of their own community (§4.1, §4.4);
* analyst — aggregates only, never a person;
* admin — users and the audit trail.

Passwords are hashed with argon2, at most ``SecuritySettings.hash_concurrency`` at a
time in the whole process (each hash takes ~50 ms of a core and 64 MiB). Logins are
throttled by ``registry.throttle``; sessions are ``registry.sessions``.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hukou.registry.errors import Forbidden, RegistryError

_hasher = PasswordHasher()


def _minutes(name: str, default: float) -> dt.timedelta:
    raw = os.environ.get(name)
    try:
        return dt.timedelta(minutes=float(raw)) if raw else dt.timedelta(minutes=default)
    except ValueError:
        raise RegistryError(
            f"{name} 应为分钟数", f"{name} must be a number of minutes", name
        ) from None


@dataclass(frozen=True)
class SecuritySettings:
    """Operating limits of log-in and sessions (not law: the operator may change them;
    ``from_env`` reads ``HUKOU_SESSION_IDLE_MINUTES`` and ``HUKOU_SESSION_MAX_MINUTES``).

    Throttling (``registry.throttle``) gives each key some attempts free, then makes the
    next wait ``first_delay`` and doubles the wait with each further attempt, up to
    ``max_delay``; a key quiet for ``forget_after`` starts again. Keys: one account from
    one address, and one address over all accounts — so a flood from one address slows
    that address down, and cannot lock the account's owner out elsewhere. Only after
    ``hard_lock_after`` failures in a row from anywhere is the account locked, until an
    admin unlocks it (``hukou users unlock``)."""

    free_per_account: int = 5
    free_per_address: int = 20
    first_delay: dt.timedelta = dt.timedelta(seconds=2)
    max_delay: dt.timedelta = dt.timedelta(minutes=15)
    forget_after: dt.timedelta = dt.timedelta(hours=24)
    hard_lock_after: int = 50
    session_idle: dt.timedelta = dt.timedelta(minutes=30)
    session_absolute: dt.timedelta = dt.timedelta(hours=8)  # one working day
    hash_concurrency: int = 2
    hash_wait: dt.timedelta = dt.timedelta(seconds=10)  # longer in the queue: refused

    @classmethod
    def from_env(cls) -> SecuritySettings:
        return cls(
            session_idle=_minutes("HUKOU_SESSION_IDLE_MINUTES", 30),
            session_absolute=_minutes("HUKOU_SESSION_MAX_MINUTES", 8 * 60),
        )


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    role: str
    jurisdiction: str | None = None

    def can_see_county(self, county: str | None) -> bool:
        """Full (unmasked) personal data of a person registered or applying in ``county``."""
        if self.role == "admin":
            return True
        return self.role == "officer" and county is not None and county == self.jurisdiction

    def require_officer(self, county: str | None) -> None:
        if self.role != "officer" or county != self.jurisdiction:
            raise Forbidden(
                "仅限本辖区派出所民警办理", "only an officer of this jurisdiction may do this"
            )

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden("无此权限", f"this needs the role {' or '.join(roles)}")


SYSTEM = Actor(None, "system", "admin")


_hash_slots = threading.BoundedSemaphore(SecuritySettings().hash_concurrency)
_hash_seconds = [0.05]  # a running mean of how long a check takes here


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def pause_like_a_hash() -> None:
    """Wait as long as a password check takes, without its CPU: a throttled attempt or an
    impossible name is answered after the same time as a wrong password."""
    time.sleep(_hash_seconds[0])


def check_password(stored: str | None, password: str, wait: dt.timedelta) -> bool | None:
    """Does ``password`` match the stored hash? With no stored hash (an unknown user) a
    hash of the same cost is computed anyway, so the answer takes the same time. At most
    ``hash_concurrency`` hashes run at once in the process; None when no slot came free
    within ``wait`` (a flood: the caller answers "busy", and counts nothing)."""
    if not _hash_slots.acquire(timeout=wait.total_seconds()):
        return None
    started = time.perf_counter()
    try:
        if stored is None:
            _hasher.hash(password)
            return False
        try:
            return bool(_hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False
    finally:
        _hash_slots.release()
        _hash_seconds[0] = 0.9 * _hash_seconds[0] + 0.1 * (time.perf_counter() - started)
