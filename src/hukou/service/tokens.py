"""Signed, expiring bearer tokens for the API (登录令牌).

A token is ``base64(payload).base64(hmac-sha256)``; the payload holds the user,
role, jurisdiction and expiry. The key comes from ``HUKOU_SECRET_KEY`` or, when
unset, is drawn at start-up (tokens then end with the process).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets

from hukou.registry.access import Actor

TOKEN_LIFETIME = dt.timedelta(hours=8)  # one working day


def _key() -> bytes:
    env = os.environ.get("HUKOU_SECRET_KEY")
    return env.encode() if env else _RANDOM_KEY


_RANDOM_KEY = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(actor: Actor, now: dt.datetime) -> str:
    payload = json.dumps(
        {
            "uid": actor.user_id,
            "u": actor.username,
            "r": actor.role,
            "j": actor.jurisdiction,
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
        },
        separators=(",", ":"),
    ).encode()
    sig = hmac.new(_key(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(sig)}"


def read(token: str, now: dt.datetime) -> Actor | None:
    """The actor a token stands for, or None if it is forged, malformed or expired."""
    try:
        body, sig = token.split(".", 1)
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(sig), hmac.new(_key(), payload, hashlib.sha256).digest()):
            return None
        data = json.loads(payload)
        if int(data["exp"]) < now.timestamp():
            return None
        return Actor(data["uid"], data["u"], data["r"], data["j"])
    except (ValueError, KeyError, TypeError):
        return None
