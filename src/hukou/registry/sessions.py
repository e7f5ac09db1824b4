"""Server-side login sessions (登录会话), for pages (a cookie) and the API (a bearer token).

A token is ``<secret>.<mac>``: 32 random bytes, and an HMAC of them under the signing
key (``registry.keys``), so a forged or malformed token is refused without a database
read, and rotating the key ends every session. The database keeps only the secret's
SHA-256 (``user_sessions.id``): a copy of the database opens no session.

A session is good while none of these has happened (checked on every request):

* it was ended: logout, the user disabled, locked or given a new password, a key
  rotation (``ended_at``, ``end_reason``);
* it has been idle longer than ``SecuritySettings.session_idle`` (30 min by default);
* it is older than ``SecuritySettings.session_absolute`` (8 h: one working day);
* its user is disabled or locked now.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hukou.registry.access import Actor, SecuritySettings
from hukou.registry.models import User, UserSession

SESSION_KINDS = ("page", "api")
TOUCH_EVERY = dt.timedelta(minutes=1)  # last_seen_at is written at most this often


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(key: bytes, secret: str) -> str:
    return _b64(hmac.new(key, f"hukou-session:{secret}".encode(), hashlib.sha256).digest()[:18])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def start(
    s: Session,
    user_id: int,
    kind: str,
    now: dt.datetime,
    key: bytes,
    settings: SecuritySettings,
) -> str:
    """Open a session for a user who has just proved who they are; returns the token."""
    secret = secrets.token_urlsafe(32)
    s.add(
        UserSession(
            id=_digest(secret),
            user_id=user_id,
            kind=kind,
            created_at=now,
            last_seen_at=now,
            expires_at=now + settings.session_absolute,
        )
    )
    return f"{secret}.{_mac(key, secret)}"


def _secret(token: str, key: bytes) -> str | None:
    if len(token) > 200 or not token.isascii():  # compare_digest refuses non-ASCII str
        return None
    secret, _, mac = token.partition(".")
    if not secret or not hmac.compare_digest(mac.encode(), _mac(key, secret).encode()):
        return None
    return secret


def resolve(
    s: Session,
    token: str,
    now: dt.datetime,
    key: bytes,
    settings: SecuritySettings,
    kind: str,
) -> Actor | None:
    """The actor behind a token, or None: forged, unknown, of the other kind (a page's
    cookie is no bearer token, nor the reverse), ended, idle too long, past its end, or
    its user disabled or locked. An idle session found here is ended (recorded)."""
    secret = _secret(token, key)
    if secret is None:
        return None
    row = s.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == _digest(secret))
    ).first()
    if row is None:
        return None
    sess, user = row
    if (
        sess.kind != kind
        or sess.ended_at is not None
        or user.disabled_at is not None
        or user.locked_at is not None
    ):
        return None
    if now >= _aware(sess.expires_at):
        _end(s, sess, now, "expired")
        return None
    if now - _aware(sess.last_seen_at) > settings.session_idle:
        _end(s, sess, now, "idle")
        return None
    if now - _aware(sess.last_seen_at) >= TOUCH_EVERY:
        sess.last_seen_at = now
    return Actor(user.id, user.username, user.role, user.jurisdiction)


def _end(s: Session, sess: UserSession, now: dt.datetime, reason: str) -> None:
    sess.ended_at = now
    sess.end_reason = reason


def user_of(s: Session, token: str, key: bytes, now: dt.datetime) -> int | None:
    """The user of a token whose session is still open (an old, ended token logs nobody
    out)."""
    secret = _secret(token, key)
    if secret is None:
        return None
    found = s.get(UserSession, _digest(secret))
    if found is None or found.ended_at is not None or now >= _aware(found.expires_at):
        return None
    return found.user_id


def end_all(s: Session, user_id: int | None, now: dt.datetime, reason: str) -> int:
    """End every open session of a user (all users: ``None``); returns how many."""
    stmt = update(UserSession).where(UserSession.ended_at.is_(None))
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    result = s.execute(stmt.values(ended_at=now, end_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
