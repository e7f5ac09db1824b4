"""The web pages (issue 6): server-rendered, bilingual (zh-CN default, English), no JavaScript needed.

``install(app)`` adds them to the API's FastAPI app: the routers, ``/static``, the
security headers (CSP without inline scripts or styles), the per-browser CSRF secret,
and HTML error pages for the page routes (the API keeps its JSON errors).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hukou.policy.facts import InputError, field_label
from hukou.registry.errors import RegistryError
from hukou.service.web import citizen, i18n, residence, staff
from hukou.service.web.common import HERE, error_page
from hukou.service.web.security import (
    CSRF_COOKIE,
    SECURITY_HEADERS,
    CsrfError,
    new_csrf_secret,
)

NOT_PAGES = ("/api", "/docs", "/redoc", "/openapi.json")

Handler = Callable[[Request, Exception], Awaitable[Response]]
log = logging.getLogger("hukou.service")

# pydantic's error types -> the problem's i18n key (anything else: "problem.other")
_PROBLEMS = {
    "int_parsing": "problem.int_parsing",
    "int_type": "problem.int_parsing",
    "missing": "problem.missing",
    "greater_than": "problem.range",
    "greater_than_equal": "problem.range",
    "less_than": "problem.range",
    "less_than_equal": "problem.range",
    "too_long": "problem.too_long",
    "string_too_long": "problem.too_long",
    "date_parsing": "problem.date",
    "date_from_datetime_parsing": "problem.date",
    "date_type": "problem.date",
    "literal_error": "problem.choice",
    "enum": "problem.choice",
}


def validation_message(errors: Any, lang: str) -> str:
    """A page's request validation errors as sentences, the parameter named in the page's
    language (never pydantic's English)."""
    lines = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("path", "query") else "body"
        name = next((p for p in reversed(loc) if p not in ("path", "query", "body")), "")
        label = i18n.t(f"param.{name}", lang)
        if label == f"param.{name}":
            label = name
        problem = i18n.t(_PROBLEMS.get(str(e.get("type")), "problem.other"), lang)
        field = f"“{label}”" if lang == "zh" else label
        lines.append(i18n.t(f"error.422.{where}", lang, field=field, problem=problem))
    return ("；" if lang == "zh" else "; ").join(dict.fromkeys(lines))


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
    app.include_router(residence.router)  # §6: permits (issue 16)
    app.include_router(analytics_api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    app.add_middleware(PageMiddleware)

    api_registry_error: Handler | None = app.exception_handlers.get(RegistryError)  # type: ignore[assignment]
    api_input_error: Handler | None = app.exception_handlers.get(InputError)  # type: ignore[assignment]

    async def _registry_error(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) and api_registry_error is not None:
            return await api_registry_error(request, exc)
        from hukou.service.app import public_error

        assert isinstance(exc, RegistryError)
        exc = public_error(exc)
        # the page looks up the session in the database: not on the event loop
        return await run_in_threadpool(error_page, request, exc.status, exc.zh, exc.en)

    async def _input_error(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) and api_input_error is not None:
            return await api_input_error(request, exc)
        assert isinstance(exc, InputError)
        p = exc.problems[0]
        zh, en = (
            citizen.labelled(p[lang], p["field"], field_label(p["field"], lang), lang)
            for lang in i18n.LANGS
        )  # the field as a person names it, not the case model's path
        return await run_in_threadpool(error_page, request, 422, zh, en)

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

    api_validation: Handler | None = app.exception_handlers.get(RequestValidationError)  # type: ignore[assignment]

    async def _http_error(request: Request, exc: Exception) -> Response:
        """An unknown address, a method a page does not take: a page (the API: JSON)."""
        assert isinstance(exc, StarletteHTTPException)
        if not is_page(request.url.path):
            return await http_exception_handler(request, exc)
        status = exc.status_code
        key = {404: "error.404", 405: "error.405"}.get(status, "error.http")
        heading = "error.404.heading" if status == 404 else "error.heading"
        zh, en = (i18n.t(key, lang, status=status) for lang in i18n.LANGS)
        response = await run_in_threadpool(error_page, request, status, zh, en, heading=heading)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def _validation(request: Request, exc: Exception) -> Response:
        """A page's path or query that does not parse (``/officer/app/abc``): a 422 page
        naming the parameter in words."""
        if not is_page(request.url.path) and api_validation is not None:
            return await api_validation(request, exc)
        assert isinstance(exc, RequestValidationError)
        zh, en = (validation_message(exc.errors(), lang) for lang in i18n.LANGS)
        return await run_in_threadpool(
            error_page, request, 422, zh, en, heading="error.422.heading"
        )

    async def _server_error(request: Request, exc: Exception) -> Response:
        """Anything unforeseen: a page that says so (the API: its JSON error), without
        the register (it may be what failed). Starlette logs the exception all the same.
        Outside the page middleware: the security headers are set here."""
        if not is_page(request.url.path):
            problem = {"field": "(service)", "zh": "服务器内部错误", "en": "internal server error"}
            return JSONResponse({"errors": [problem]}, status_code=500)
        try:
            response: Response = error_page(
                request,
                500,
                i18n.t("error.500", "zh"),
                i18n.t("error.500", "en"),
                heading="error.500.heading",
                anonymous=True,
            )
        except Exception:  # the page itself cannot be made: plain text, both languages
            log.exception("the 500 page could not be rendered")
            response = Response(
                f"{i18n.t('error.500', 'zh')}\n{i18n.t('error.500', 'en')}\n",
                status_code=500,
                media_type="text/plain; charset=utf-8",
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(CsrfError, _csrf)
    app.add_exception_handler(staff.LoginRequired, _login)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _server_error)


__all__ = ["install"]
