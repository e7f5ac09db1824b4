"""Limits on anonymous use and on input (issue 12): plain ASGI middlewares and the pool the
decisions run in.

* ``BodyLimit``: every request body is bounded. A ``Content-Length`` beyond the limit is
  refused up front, before a byte of the body is read; a body without one (chunked) is
  counted as it arrives and refused once past the limit. 413, with a bilingual JSON error
  for ``/api/`` and a small bilingual page elsewhere.
* ``RateLimit``: the anonymous endpoints that cost CPU or touch the register — ``POST
  /api/check``, the self-check pages (``/check``, GET and POST), ``/check/apply`` and
  ``/track`` — are rate-limited per client address with token buckets. 429 with
  ``Retry-After`` (seconds) and a bilingual message. The buckets live in the memory of
  each process: with ``--workers N`` a client may get up to N times the limit (each worker
  has its own buckets, and the kernel spreads connections over them). Behind a reverse
  proxy the client address is the proxy's unless uvicorn is told to trust its
  ``X-Forwarded-For`` (``--forwarded-allow-ips``). IPv6 clients are counted per /64 (one
  host usually holds a whole /64). People behind one NAT share a bucket: the defaults
  leave room for that.
* ``ApiHeaders``: ``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff`` on
  every ``/api/`` response (the pages get theirs from ``web.PageMiddleware``).
* ``DecisionPool``: the engine runs in worker threads (at most ``decision_threads`` at
  once), never on the event loop, within a time budget: past it the request gets 503
  "try again" (``DecisionBusy``) and the event loop is free all along.

Every number is a field of ``Limits``; ``create_app(registry, limits=Limits(...))``
overrides them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class Limits:
    """The service's limits (the defaults are production's)."""

    # The largest case the case model accepts (20 relatives, each with 50 residence
    # periods and 20 dwellings, every name and address at its maximum length in Chinese)
    # is 0.68 MB as compact UTF-8, 1.19 MB with every CJK character escaped (\uXXXX, the
    # default of most JSON encoders) and 1.33 MB escaped and indented
    # (tests/security/maximal.py measures it). A real family's case is a few kB.
    max_body_bytes: int = 2 * MIB
    # Page forms (URL-encoded: a Chinese character is 9 bytes). The largest is a rejection
    # with its 2,000-character reasons: 18 kB. The interview's, its answers signed in one
    # hidden field, is 4 kB for the largest family it asks about (nine relatives); the
    # analyst's reform form 4.5 kB with every field at its longest.
    max_page_body_bytes: int = 64 * KIB
    # POST /api/check, anonymous: a page or an app asking for its user decides a case a
    # few times; a script deciding thousands is stopped after the first sixty.
    check_api: Rate | None = Rate(per_second=2.0, burst=60)
    # The self-check pages (GET and POST /check, GET /track): the longest interview is
    # about forty steps (42 requests for nine relatives, a step back included), each a
    # click after reading the page; the bucket holds two whole interviews and more, and
    # refills one a second, faster than anyone reads.
    check_pages: Rate | None = Rate(per_second=1.0, burst=120)
    # POST /track: a look-up by reference number. A citizen looks a few times (a typo, a
    # day later); a reference guesser gets one try every ten seconds.
    track: Rate | None = Rate(per_second=0.1, burst=10)
    # POST /check/apply: files an application in the register. One per family, a few
    # retries after a mistyped name or number; a service hall sharing one address still
    # files one a minute.
    apply: Rate | None = Rate(per_second=1 / 60, burst=10)
    # POST /api/login and POST /login: a password check costs ~50 ms of a core. A station's
    # officers behind one address log in a few times a day each; the burst lets thirty in
    # at once (the morning), then one a second. The log-in throttle (registry.throttle)
    # limits guessing per account; this limits the CPU a flood can take.
    login: Rate | None = Rate(per_second=1.0, burst=30)
    # log-ins checked at once in each process (``LoginSlots``): the register hashes at most
    # ``SecuritySettings.hash_concurrency`` (2) passwords at once and the rest wait for it
    # in worker threads, up to 10 s, so a flood of log-ins from many addresses took every
    # thread of the pool the synchronous routes share. Past ``login_slots`` a log-in waits
    # on the event loop (no thread) at most ``login_wait`` seconds, then is told 503 busy.
    login_slots: int = 4
    login_wait: float = 0.1
    # distinct client addresses remembered per bucket (least recently seen forgotten first)
    max_clients: int = 100_000
    # decisions running at once in each process, in worker threads. The engine is pure
    # Python: threads share one GIL, and each one more takes the GIL from the event loop
    # more often. bench/health_under_load.py (the largest cases, 4 connections, one
    # process): with one thread /api/health answers in 35 ms (p50) / 67 ms (p99) and 36
    # decisions/s are made; with two, 54 / 115 ms and 32/s. More workers, more throughput.
    decision_threads: int = 1
    # how long a request may wait for its decision, queueing included, before it is told to
    # try again (503). The largest case the model accepts is decided in about 30 ms.
    decision_seconds: float = 5.0
    # the rate limit's clock, in seconds (tests hold it still)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def from_env(cls) -> Limits:
        """Production's limits; ``HUKOU_RATE_LIMITS=off`` turns the rate limits off (a
        benchmark driving the service from one address; never in production)."""
        if os.environ.get("HUKOU_RATE_LIMITS", "").lower() == "off":
            return cls.unlimited()
        return cls()

    @classmethod
    def unlimited(cls, **changes: Any) -> Limits:
        """No rate limits (tests that drive many requests from one address)."""
        return cls(
            **{
                "check_api": None,
                "check_pages": None,
                "track": None,
                "apply": None,
                "login": None,
                **changes,
            }
        )


# ---- responses ---------------------------------------------------------------------


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} · 户口</title><link rel="stylesheet" href="/static/site.css"></head>
<body><main><h1>{status}</h1><p>{zh}</p><p lang="en">{en}</p>
<p><a href="/">返回首页 / Home</a></p></main></body></html>
"""


async def refuse(
    scope: Scope,
    send: Send,
    status: int,
    field_name: str,
    zh: str,
    en: str,
    headers: dict[str, str] | None = None,
) -> None:
    """A refusal sent by a middleware: JSON ``{"errors": [...]}`` for the API, a small
    bilingual page (with the pages' security headers) elsewhere."""
    out = dict(headers or {})
    if is_api(scope["path"]):
        body = orjson.dumps({"errors": [{"field": field_name, "zh": zh, "en": en}]})
        out["content-type"] = "application/json"
    else:
        from hukou.service.web.security import SECURITY_HEADERS  # (web imports this module)

        body = _PAGE.format(status=status, zh=zh, en=en).encode()
        out["content-type"] = "text/html; charset=utf-8"
        out.update(SECURITY_HEADERS)
    out["content-length"] = str(len(body))
    if status == 413:  # the rest of the body is not read: the connection cannot go on
        out["connection"] = "close"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in out.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---- the body limit ------------------------------------------------------------------


class BodyLimit:
    """413 for a request body larger than the limit (``Limits.max_body_bytes`` for the
    API, ``max_page_body_bytes`` for pages)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    def limit(self, path: str) -> int:
        return self.limits.max_body_bytes if is_api(path) else self.limits.max_page_body_bytes

    async def too_large(self, scope: Scope, send: Send, limit: int) -> None:
        await refuse(
            scope,
            send,
            413,
            "(body)",
            f"请求内容过大（上限 {limit // KIB} KiB）",
            f"the request body is too large (the limit is {limit // KIB} KiB)",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        length: str | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value.decode("latin-1")
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None and not chunked:
            if not length.strip().isdigit() or int(length) > limit:
                await self.too_large(scope, send, limit)
                return
            # the server delivers no more than Content-Length says
            await self.app(scope, receive, send)
            return
        if not chunked:  # no Content-Length, no Transfer-Encoding: no body
            await self.app(scope, receive, send)
            return
        # chunked: read and count it all before the app sees any of it
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self.too_large(scope, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---- the rate limit -----------------------------------------------------------------


class TokenBuckets:
    """One token bucket per client, in this process's memory; at most ``max_clients``
    remembered (the least recently seen forgotten first: a forgotten bucket was, or soon
    would be, full again)."""

    def __init__(
        self, rate: Rate, max_clients: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when the client may go ahead (a token is taken), else the seconds until a
        token is there again."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - then) * self.rate.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate.per_second
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def client_key(scope: Scope) -> str:
    """The client's address as the server sees it; an IPv6 address by its /64."""
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# the Limits field that counts each anonymous route
RATE_LIMITED: dict[str, tuple[tuple[str, str], ...]] = {
    "check_api": (("POST", "/api/check"), ("POST", "/api/permit/check")),
    "check_pages": (
        ("GET", "/check"),
        ("POST", "/check"),
        ("GET", "/track"),
        ("GET", "/check/permit"),
        ("POST", "/check/permit"),
    ),
    "track": (("POST", "/track"),),
    "apply": (("POST", "/check/apply"),),
    "login": (("POST", "/api/login"), ("POST", "/login")),
}


# called with the Limits field's name, the client's address and the seconds it must wait
Refused = Callable[[str, str, int], Awaitable[None]]


class RateLimit:
    """429 with ``Retry-After`` once a client has used up its bucket (see ``Limits``).

    ``on_refused`` (the service audits refused log-ins with it) hears of the first refusal
    of each run of refusals of a client on a bucket, not of every one: a flood of refused
    requests must not become a flood of writes. The run ends with the client's next
    request let through."""

    def __init__(self, app: ASGIApp, limits: Limits, on_refused: Refused | None = None) -> None:
        self.app = app
        self.buckets: dict[tuple[str, str], TokenBuckets] = {}
        self.names: dict[tuple[str, str], str] = {}
        self.on_refused = on_refused
        self.max_clients = limits.max_clients
        self._refusing: OrderedDict[tuple[str, str], None] = OrderedDict()
        for name, routes in RATE_LIMITED.items():
            rate: Rate | None = getattr(limits, name)
            if rate is None:
                continue
            shared = TokenBuckets(rate, limits.max_clients, limits.clock)
            for route in routes:
                self.buckets[route] = shared
                self.names[route] = name

    async def _refused(self, name: str, client: str, seconds: int) -> None:
        key = (name, client)
        if self.on_refused is None or key in self._refusing:
            return
        self._refusing[key] = None
        while len(self._refusing) > self.max_clients:
            self._refusing.popitem(last=False)
        await self.on_refused(name, client, seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"].rstrip("/") or "/"
            route = (scope["method"], path)
            bucket = self.buckets.get(route)
            if bucket is not None:
                client = client_key(scope)
                wait = bucket.take(client)
                if wait <= 0:
                    self._refusing.pop((self.names[route], client), None)
                else:
                    seconds = max(1, math.ceil(wait))
                    await self._refused(self.names[route], client, seconds)
                    await refuse(
                        scope,
                        send,
                        429,
                        "(rate)",
                        f"请求过于频繁，请 {seconds} 秒后再试",
                        f"too many requests: try again in {seconds} s",
                        {"retry-after": str(seconds)},
                    )
                    return
        await self.app(scope, receive, send)


# ---- headers on the API ----------------------------------------------------------------

API_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


class ApiHeaders:
    """``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff`` on every
    ``/api/`` response: decisions and register data are personal, never to be kept by a
    browser or a proxy, and JSON is never to be sniffed as something else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---- log-ins: a bounded number at once ---------------------------------------------------


class LoginSlots:
    """At most ``slots`` log-ins in worker threads at once (``Limits.login_slots``); one
    more waits for a slot on the event loop, holding no thread, at most ``wait`` seconds,
    then is refused: ``Busy`` (503, try again), nothing counted against the account."""

    def __init__(self, slots: int, wait: float) -> None:
        self.limiter = anyio.CapacityLimiter(slots)
        self.wait = wait

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        from hukou.registry.errors import Busy

        got = False
        with anyio.move_on_after(self.wait):  # a free slot is taken at once
            await self.limiter.acquire()
            got = True
        if not got:
            raise Busy()
        try:
            yield
        finally:
            self.limiter.release()


# ---- the decisions, off the event loop --------------------------------------------------


class DecisionBusy(Exception):
    """A decision did not finish within its time budget (queueing included)."""

    ZH = "服务繁忙，请稍后再试"
    EN = "the service is busy: please try again shortly"


class _Budget:
    """A write run within the decisions' time budget: ``given_up`` once its request was
    answered 503; ``committing`` while one of its transactions commits (too late to give
    up: its answer is waited for)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.given_up = False
        self.committing = False
        self.flushed = False  # the transaction being committed has written something
        self.committed = False  # a change is in the register: the answer must be waited for


_writing = threading.local()  # the _Budget of the write this worker thread runs


def commit_within_budget(_session: Any) -> None:
    """A SQLAlchemy ``before_commit`` listener (``create_app`` sets it on the register's
    sessions): a write run by ``DecisionPool.run_write`` whose request has been told
    "try again" commits nothing (the transaction is rolled back)."""
    budget: _Budget | None = getattr(_writing, "budget", None)
    if budget is None:
        return
    with budget.lock:
        if budget.given_up:
            raise DecisionBusy
        budget.committing = True


def commit_ended(_session: Any, *_args: Any) -> None:
    """``after_rollback``: the commit ``commit_within_budget`` let through did not happen
    (a write may commit more than once: reading the session, then the change)."""
    budget: _Budget | None = getattr(_writing, "budget", None)
    if budget is not None:
        with budget.lock:
            budget.committing = budget.flushed = False


def flushed(_session: Any, _context: Any) -> None:
    """``after_flush``: the transaction has written rows (a read-only one commits too)."""
    budget: _Budget | None = getattr(_writing, "budget", None)
    if budget is not None:
        with budget.lock:
            budget.flushed = True


def commit_done(_session: Any) -> None:
    """``after_commit``: something is in the register now, so the request waits for the
    write's own answer rather than being told that nothing was written."""
    budget: _Budget | None = getattr(_writing, "budget", None)
    if budget is not None:
        with budget.lock:
            budget.committed = budget.committed or budget.flushed
            budget.committing = budget.flushed = False


BUDGET_EVENTS = (
    ("before_commit", commit_within_budget),
    ("after_flush", flushed),
    ("after_commit", commit_done),
    ("after_rollback", commit_ended),
)


class _Call:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = False
        self.abandoned = False


class DecisionPool:
    """Runs the engine in worker threads: at most ``threads`` at once, each request
    waiting at most ``seconds`` for its answer (``DecisionBusy`` past that).

    A thread cannot be stopped: a decision whose request gave up runs to its end, and
    keeps its place in the pool until then, so the threads running decisions never
    exceed ``threads`` whatever the clients do.

    A decision makes many short-lived objects, and so many garbage collections; a full one
    also walks every long-lived object of the process (the modules, the app, the rules:
    about 60 ms with the largest case, holding the GIL, so the event loop waits too). Before
    the process's first decision they are collected once and frozen (``gc.freeze``): the
    collections then see only the decisions' own objects (1–2 ms)."""

    _frozen = False  # once per process

    def __init__(self, threads: int, seconds: float) -> None:
        self.limiter = anyio.CapacityLimiter(threads)
        self._threads = anyio.CapacityLimiter(threads)
        self.seconds = seconds

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if not DecisionPool._frozen:
            DecisionPool._frozen = True
            gc.collect()
            gc.freeze()
        try:
            return await asyncio.wait_for(self._run(fn, *args), self.seconds)
        except TimeoutError:
            raise DecisionBusy from None

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a change of the register that decides a case (an officer's
        approval or rejection), in the pool within the same time budget. Past it the
        request is told to try again and the change commits nothing: the thread cannot be
        stopped, but its commit is refused (``commit_within_budget``). A change already
        committing when the budget runs out is waited for, and answered."""
        budget = _Budget()

        def work() -> T:
            _writing.budget = budget
            try:
                return fn(*args)
            finally:
                _writing.budget = None

        task = asyncio.ensure_future(self._run(work))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if not done:
            with budget.lock:
                budget.given_up = not (budget.committing or budget.committed)
            if budget.given_up:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, DecisionBusy):
                    await task
                raise DecisionBusy
        return await task

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        token = object()
        await self.limiter.acquire_on_behalf_of(token)
        loop = asyncio.get_running_loop()
        call = _Call()

        def release() -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self.limiter.release_on_behalf_of, token)

        def work() -> T | None:
            with call.lock:
                if call.abandoned:  # given up before it started: its place is free already
                    return None
                call.started = True
            try:
                return fn(*args)
            finally:
                release()

        try:
            result = await anyio.to_thread.run_sync(
                work, abandon_on_cancel=True, limiter=self._threads
            )
        except BaseException:
            with call.lock:
                if not call.started:
                    call.abandoned = True
                    self.limiter.release_on_behalf_of(token)
            raise
        return result  # type: ignore[return-value]  # None only when abandoned
