"""Who may do what, where (权限与辖区), and how users prove who they are.

* officer — the applications, households and procedures of their police
  station's county; sees persons of that county in full, others masked;
* keeper — the public collective household of their own community (§4.1, §4.4);
* analyst — aggregates only, never a person;
* admin — users and the audit trail.

Passwords are hashed with argon2; repeated failures lock the account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hukou.registry.errors import Forbidden
from hukou.registry.models import User

MAX_FAILED_LOGINS = 5  # then the account is locked …
LOCKOUT = dt.timedelta(minutes=15)  # … for this long

_hasher = PasswordHasher()


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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def authenticate(session: Session, username: str, password: str, now: dt.datetime) -> Actor:
    """Check a login; count failures and lock the account after too many."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    refused = Forbidden("用户名或密码错误", "wrong username or password", "password")
    if user is None:
        _hasher.hash(password)  # spend the same time as for a real user
        raise refused
    locked = user.locked_until
    if locked is not None and locked.tzinfo is None:
        locked = locked.replace(tzinfo=dt.UTC)
    if locked is not None and locked > now:
        raise Forbidden(
            f"账户已锁定至 {locked:%Y-%m-%d %H:%M} UTC",
            f"account locked until {locked:%Y-%m-%d %H:%M} UTC",
        )
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        raise refused from None
    user.failed_logins = 0
    user.locked_until = None
    return Actor(user.id, user.username, user.role, user.jurisdiction)
