"""Bearer tokens of the API (登录令牌): server-side sessions (``registry.sessions``).

``POST /api/login`` opens a session of kind ``api`` and returns its token; every request
sends it as ``Authorization: Bearer <token>``, and every request checks it against the
session record: logout, a disabled or locked user, a password reset, a key rotation,
30 minutes idle or 8 hours since login end it.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from hukou.registry.access import Actor
from hukou.registry.errors import Forbidden


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: set uvicorn's
    ``--forwarded-allow-ips`` so that this is the real client). An IPv6 client counts by
    its /64, as the rate limits do: one host usually holds a whole /64."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def bearer_actor(request: Request) -> Actor:
    """The logged-in user behind a request's bearer token, or 403."""
    header = request.headers.get("authorization") or ""
    if not header.startswith("Bearer "):
        raise Forbidden("请先登录", "log in first", "authorization")
    found = request.app.state.registry.session_actor(header[7:].strip())
    if found is None:
        raise Forbidden("登录已过期或无效", "the login has expired or is invalid", "authorization")
    return found  # type: ignore[no-any-return]
