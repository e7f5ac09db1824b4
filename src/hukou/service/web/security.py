"""Sessions, CSRF tokens, signed interview state and the security headers of the pages.

* The login session is a server-side session (``registry.sessions``, kind ``page``)
  whose token is kept in a ``Secure; HttpOnly; SameSite=Strict`` cookie; logout,
  idleness and the other ends of a session apply as to the API's bearer tokens.
* Every signature here is keyed by the register's signing key (``registry.keys``),
  the same in every worker.
* Every POST form carries a CSRF token: an HMAC of a random per-browser value kept
  in its own HttpOnly cookie (signed double submit); a POST without the right
  token is refused with 403.
* The self-check's answers travel in one signed hidden form field: nothing is
  stored on the server and nothing personal appears in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from hukou.registry.access import Actor

SESSION_COOKIE = "hukou_session"
CSRF_COOKIE = "hukou_csrf"
LANG_COOKIE = "lang"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _key(request: Request, purpose: str) -> bytes:
    base: bytes = request.app.state.registry.keys.signing
    return hmac.new(base, f"hukou-web:{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---- CSRF ------------------------------------------------------------------------


class CsrfError(Exception):
    """A POST without a valid CSRF token."""


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(request: Request, secret: str) -> str:
    return _b64(hmac.new(_key(request, "csrf"), secret.encode(), hashlib.sha256).digest())


def csrf_secret(request: Request) -> str:
    """This browser's CSRF secret (set by the middleware when it had none)."""
    found = getattr(request.state, "csrf_secret", None)
    return str(found) if found else request.cookies.get(CSRF_COOKIE, "")


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token is checked."""
    form = await request.form()
    sent = form.get("csrf")
    secret = request.cookies.get(CSRF_COOKIE, "")
    if (
        not secret
        or not isinstance(sent, str)
        or not sent.isascii()  # compare_digest refuses non-ASCII text: a 500, not a 403
        or not hmac.compare_digest(sent.encode(), csrf_token(request, secret).encode())
    ):
        raise CsrfError
    return form


# ---- login session ---------------------------------------------------------------


def session_actor(request: Request) -> Actor | None:
    """The logged-in user of this browser, or None (no cookie, or the session ended)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found: Actor | None = request.app.state.registry.session_actor(token, "page")
    return found


# ---- signed interview state -------------------------------------------------------


def sign_state(request: Request, state: dict[str, Any]) -> str:
    payload = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
    sig = hmac.new(_key(request, "interview"), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(sig)}"


def read_state(request: Request, text: str | None) -> dict[str, Any] | None:
    """The state a page sent back, or None if it is missing, altered or malformed."""
    if not text:
        return None
    try:
        body, sig = text.split(".", 1)
        payload = _unb64(body)
        good = hmac.new(_key(request, "interview"), payload, hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(sig), good):
            return None
        data = json.loads(payload)
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None
