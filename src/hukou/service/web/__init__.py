"""The web pages (issue 6): server-rendered, bilingual (zh-CN default, English), no JavaScript needed.

``install(app)`` adds them to the API's FastAPI app: the routers, ``/static``, the
security headers (CSP without inline scripts or styles), the per-browser CSRF secret,
and HTML error pages for the page routes (the API keeps its JSON errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hukou.policy.facts import InputError
from hukou.registry.errors import RegistryError
from hukou.service.web import citizen, staff
from hukou.service.web.common import HERE, error_page
from hukou.service.web.security import (
    CSRF_COOKIE,
    SECURITY_HEADERS,
    CsrfError,
    new_csrf_secret,
)

NOT_PAGES = ("/api", "/docs", "/redoc", "/openapi.json")

Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


class PageMiddleware:
    """Security headers and the per-browser CSRF secret, for page routes only.

    A plain ASGI middleware: API requests pass straight through without the
    cost of Starlette's ``BaseHTTPMiddleware`` (about 0.35 ms a request).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        fresh = None
        if CSRF_COOKIE not in Request(scope).cookies:
            fresh = new_csrf_secret()
            scope.setdefault("state", {})["csrf_secret"] = fresh

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if fresh:
                    cookie = Response()
                    cookie.set_cookie(
                        CSRF_COOKIE, fresh, secure=True, httponly=True, samesite="strict", path="/"
                    )
                    headers.append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    from hukou.service import analytics_api  # GET /api/indicators (analysts; JSON errors)

    app.include_router(citizen.router)
    app.include_router(staff.router)
    app.include_router(analytics_api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    app.add_middleware(PageMiddleware)

    api_registry_error: Handler | None = app.exception_handlers.get(RegistryError)  # type: ignore[assignment]
    api_input_error: Handler | None = app.exception_handlers.get(InputError)  # type: ignore[assignment]

    async def _registry_error(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) and api_registry_error is not None:
            return await api_registry_error(request, exc)
        assert isinstance(exc, RegistryError)
        # the page looks up the session in the database: not on the event loop
        return await run_in_threadpool(error_page, request, exc.status, exc.zh, exc.en)

    async def _input_error(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) and api_input_error is not None:
            return await api_input_error(request, exc)
        assert isinstance(exc, InputError)
        p = exc.problems[0]
        return await run_in_threadpool(
            error_page, request, 422, f"{p['field']}: {p['zh']}", f"{p['field']}: {p['en']}"
        )

    async def _csrf(request: Request, exc: Exception) -> Response:
        return await run_in_threadpool(
            error_page,
            request,
            403,
            "表单已失效（安全校验失败），请返回后重新提交。",
            "The form has expired (security check failed); go back and submit it again.",
        )

    async def _login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(CsrfError, _csrf)
    app.add_exception_handler(staff.LoginRequired, _login)


__all__ = ["install"]
