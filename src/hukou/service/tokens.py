"""Bearer tokens of the API (登录令牌): server-side sessions (``registry.sessions``).

``POST /api/login`` opens a session of kind ``api`` and returns its token; every request
sends it as ``Authorization: Bearer <token>``, and every request checks it against the
session record: logout, a disabled or locked user, a password reset, a key rotation,
30 minutes idle or 8 hours since login end it.
"""

from __future__ import annotations

from starlette.requests import Request

from hukou.registry.access import Actor
from hukou.registry.errors import Forbidden
from hukou.service.limits import client_key


def client_address(request: Request) -> str:
    """The client's address, as the rate limits count it (``limits.client_key``: an IPv6
    client by its /64). Behind a proxy, set uvicorn's ``--forwarded-allow-ips`` so that
    this is the real client."""
    return client_key(request.scope)


def bearer_actor(request: Request) -> Actor:
    """The logged-in user behind a request's bearer token, or 403."""
    header = request.headers.get("authorization") or ""
    if not header.startswith("Bearer "):
        raise Forbidden("请先登录", "log in first", "authorization")
    found = request.app.state.registry.session_actor(header[7:].strip())
    if found is None:
        raise Forbidden("登录已过期或无效", "the login has expired or is invalid", "authorization")
    return found  # type: ignore[no-any-return]
