"""The HTTP service (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Anonymous: ``POST /api/check`` decides a case and stores nothing. Everything
else needs a bearer token from ``POST /api/login`` and is bound by the role and
jurisdiction rules of ``registry.access``. Errors are JSON with the field and a
message in Chinese and English: 422 for bad input, 403 outside one's role or
jurisdiction, 404, and 409 for a stale update or a broken invariant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import logging
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import event, func, select
from starlette.types import ASGIApp, Receive, Scope, Send

import hukou
from hukou.engine import messages
from hukou.engine.decide import decide
from hukou.engine.report import decision_json
from hukou.policy.facts import (
    ADDRESS_MAX,
    NAME_MAX,
    InputError,
    Note,
    Text,
    check_id_number,
)
from hukou.privacy import mask_id, mask_name
from hukou.registry import logmask
from hukou.registry.access import Actor
from hukou.registry.errors import NotFound, RegistryError
from hukou.registry.keys import KeyError_
from hukou.registry.models import (
    Application,
    Household,
    Membership,
    MoveInPermit,
    MoveOutProcedure,
    Person,
    StationNotice,
)
from hukou.registry.scope import household_reach
from hukou.registry.service import WAIVER_REASON_MAX, Registry, current_members
from hukou.service import reads, tokens
from hukou.service.limits import (
    BUDGET_EVENTS,
    ApiHeaders,
    BodyLimit,
    DecisionBusy,
    DecisionPool,
    Limits,
    LoginSlots,
    RateLimit,
)

log = logging.getLogger(__name__)

MAX_ID = 2_147_483_647  # ids are SQL integers
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="记录编号 / row id")]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]


def check_bytes(body: bytes, on: dt.date | None) -> bytes:
    """``POST /api/check``'s work: the case model's own JSON parser (through
    ``engine.messages.read_case``, as ``hukou check``: a byte-order mark accepted, a body
    not in UTF-8 named with its encoding, malformed JSON with its line and column, every
    validation error translated), the engine, the report, orjson (no generic encoder walks
    the tree again). CPU only: it runs in a worker thread of the app's ``DecisionPool``
    (``service.limits``), never on the event loop."""
    return orjson.dumps(decision_json(decide(messages.read_case(body, decision_date=on))))


def request_problem(e: Mapping[str, Any]) -> dict[str, str]:
    """One error of a request's path, query or body (FastAPI's ``RequestValidationError``)
    as ``{field, zh, en, code}``: the message translated by the error's type
    (``engine.messages.error_text``; a day that does not exist says so), never the
    validation library's English. The field is the path below the body (``reason``,
    ``new_dwelling.address``), or ``query.on``, ``path.app_id``."""
    kind = str(e.get("type", ""))
    loc = [part for part in e.get("loc", ()) if part != "body"]
    if kind == "json_invalid":  # FastAPI's own parse of a body: ("body", character offset)
        said = str((e.get("ctx") or {}).get("error", ""))
        zh, en = messages.JSON_PROBLEMS.get(said, messages.JSON_SYNTAX)
        if loc and isinstance(loc[0], int):
            zh = f"JSON 格式错误：第 {loc[0] + 1} 个字符处，{zh}"
            en = f"malformed JSON at character {loc[0] + 1}: {en}"
        else:
            zh, en = f"JSON 格式错误：{zh}", f"malformed JSON: {en}"
        return {"field": "(body)", "zh": zh, "en": en, "code": kind}
    zh, en = messages.error_text(e)
    field = ".".join(str(part) for part in loc)
    return {"field": field or "(body)", "zh": zh, "en": en, "code": kind}


_DATE = TypeAdapter(dt.date)


class CheckFastPath:
    """``POST /api/check`` served without the per-request machinery of the framework and of
    the middlewares meant for pages (dependency solving, a task per request): about two
    thirds of the CPU a decision cost through the full stack. Same work (``check_bytes``),
    same answers: 200 with the decision, 422 ``{"errors": [...]}`` naming the field. The
    FastAPI route stays: it documents the endpoint in the OpenAPI schema, and it serves the
    app built with ``fast_check=False`` (the tests compare the two byte for byte). The
    decision runs in the ``DecisionPool``'s threads, within its time budget (503 past it)."""

    def __init__(self, app: ASGIApp, decisions: DecisionPool) -> None:
        self.app = app
        self.decisions = decisions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/check" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        status, on = 200, None
        try:
            for key, value in parse_qsl(scope["query_string"].decode("latin-1")):
                if key == "on":
                    on = _DATE.validate_python(value)
        except ValidationError as exc:  # as the route's answer (``request_problem``)
            status = 422
            problems = [
                request_problem({**e, "loc": ("query", "on")})
                for e in exc.errors(include_url=False)
            ]
            body = orjson.dumps({"errors": problems})
        headers = [(b"content-type", b"application/json")]
        if status == 200:
            try:
                body = await self.decisions.run(check_bytes, b"".join(chunks), on)
            except InputError as exc:
                status, body = 422, orjson.dumps({"errors": exc.problems})
            except DecisionBusy:
                status, body = 503, _BUSY
                headers.append((b"retry-after", b"1"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_BUSY = orjson.dumps(
    {"errors": [{"field": "(service)", "zh": DecisionBusy.ZH, "en": DecisionBusy.EN}]}
)


def _login_rate_limited(registry: Registry) -> Callable[[str, str, int], Awaitable[None]]:
    """A log-in refused by the rate limit (429) is a security event, audited
    (``login.rate_limited``, with the client's address) — the first of each run of
    refusals from an address (``RateLimit``), off the event loop."""

    async def refused(name: str, client: str, seconds: int) -> None:
        if name != "login":
            return
        try:
            await anyio.to_thread.run_sync(
                registry.audit_event,
                "anonymous",
                "login.rate_limited",
                "user",
                "",
                {"address": client, "retry_after": seconds},
            )
        except Exception:  # the 429 goes out all the same
            log.exception("could not audit a refused log-in")

    return refused


class ServiceMisconfigured(RegistryError):
    """What a client is told of a key-file problem (503): the path and the advice are the
    operator's, and go to the server's log (``public_error``)."""

    status = 503


def public_error(exc: RegistryError) -> RegistryError:
    """``exc`` as a client may see it: a key-file problem (``registry.keys.KeyError_``)
    names a path on the server, so it is logged and the client gets a plain 503."""
    if isinstance(exc, KeyError_):
        log.error("the service's keys: %s", exc.en)
        return ServiceMisconfigured(
            "服务暂时无法办理，请联系系统管理员",
            "the service cannot work at the moment; please contact its administrator",
            "(service)",
        )
    return exc


def _problem(status: int, problems: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=status, content={"errors": problems})


# Every text in a body is ``Text`` (one line) or ``Note`` (a text area): no control
# characters (NUL above all: PostgreSQL refuses it), NFC, and a maximum length that fits the
# register's column.


class LoginIn(BaseModel):
    username: Text = Field(min_length=1, max_length=64)
    # compared, never stored or looked up: taken as typed (no NFC, which would change it)
    password: str = Field(min_length=1, max_length=256)


class ApplicationIn(BaseModel):
    kind: Literal["s1_1", "s2_1", "s2_2", "s3_1", "s3_3", "s4_4", "s5_2_no_hukou", "s5_2_overseas"]
    county: str = Field(pattern=r"^\d{6}$")
    facts: dict[str, Any]


class VersionIn(BaseModel):
    version: int | None = Field(None, ge=1, le=MAX_ID)
    note: Note | None = Field(None, max_length=2000)


class DocumentIn(BaseModel):
    material: Text = Field(min_length=1, max_length=255, description="材料 / the material")
    clause: Text = Field("", max_length=16, description="条款 / clause (§5.2: set by the kind)")


class WaiverIn(BaseModel):
    reason: Note = Field(
        min_length=1, max_length=WAIVER_REASON_MAX, description="免交理由 / why it is waived"
    )
    version: int | None = Field(None, ge=1, le=MAX_ID)


class RejectIn(BaseModel):
    version: int | None = Field(None, ge=1, le=MAX_ID)
    reasons: Note = Field(min_length=1, max_length=2000)


PlacementReason = Literal[
    "dwelling_not_in_register",
    "anchor_household_changed",
    "consent_withdrawn",
    "household_dissolved",
    "authority_order",
    "data_correction",
]


class MigrationDocumentIn(BaseModel):
    """户口迁移证 (paper) or the one-stop move's electronic confirmation, per person."""

    person: str = Field(
        pattern=r"^(applicant|relatives\[\d{1,2}\])$", description="applicant / relatives[i]"
    )
    kind: Literal["paper", "electronic"]
    number: Text = Field(min_length=1, max_length=64, description="证件编号 / its number")


class NewDwellingIn(BaseModel):
    address: Text = Field(min_length=1, max_length=ADDRESS_MAX)
    urban_rural_code: str = Field("111", pattern=r"^\d{3}$")
    tenure: Literal["owned", "rented_registered", "rented_unregistered"] = "owned"
    commercial_housing: bool = True
    community_id: BodyId | None = None


class RegisterIn(BaseModel):
    version: int | None = Field(None, ge=1, le=MAX_ID)
    household_id: BodyId | None = None
    dwelling_id: BodyId | None = None
    new_dwelling: NewDwellingIn | None = None
    placement_reason: PlacementReason | None = Field(
        None, description="§4.3 另行安置的理由 / why the place differs from the decision's"
    )
    migration_documents: list[MigrationDocumentIn] = Field(default_factory=list, max_length=20)


class AttachIn(BaseModel):
    reason: Literal["land_expropriation", "demolition", "ownership_transfer", "divorce", "other"]


class PersonLookupIn(BaseModel):
    """An ID number goes in the body, never in a URL (server logs, proxies, history)."""

    id_number: str = Field(
        min_length=18, max_length=18, description="身份证号码 / ID number (GB 11643)"
    )


class MoveOutIn(BaseModel):
    dwelling_id: BodyId
    person_id: BodyId
    requester_name: Text = Field(min_length=1, max_length=NAME_MAX)
    requester_role: Literal["householder", "owner", "tenant"]
    property_proof: Text = Field(min_length=1, max_length=128)


def _application(app: Application, actor: Actor) -> dict[str, Any]:
    """An application as the API shows it: in full to whom may see its county (the county's
    officer, an admin), else names and ID numbers masked and neither the decision nor the
    ``register_conflicts`` — the typed residence facts that disagree with the register's
    (``[{field, typed, register}]``; ``[]`` when they agree, null when the register holds
    no residence registration of anyone the case names: ``permits.settlement_facts``)."""
    full = actor.can_see_county(app.county)
    return {
        "id": app.id,
        "reference": app.reference,
        "kind": app.kind,
        "state": app.state,
        "county": app.county,
        "version": app.version,
        "applicant_name": app.applicant_name if full else mask_name(app.applicant_name),
        "applicant_id_number": app.applicant_id_number
        if full
        else mask_id(app.applicant_id_number),
        "decided_on": app.decided_on.isoformat() if app.decided_on else None,
        "rule_version": app.rule_version,
        "reasons": app.reasons,
        "approved_relatives": app.approved_relatives,
        "target_household_id": app.target_household_id,
        "decision": app.decision if full else None,
        "register_conflicts": app.register_conflicts if full else None,
    }


def _procedure(p: MoveOutProcedure) -> dict[str, Any]:
    return {
        "id": p.id,
        "reference": p.reference,
        "state": p.state,
        "county": p.county,
        "dwelling_id": p.dwelling_id,
        "person_id": p.person_id,
        "version": p.version,
        "requested_on": str(p.requested_on),
        "notified_on": p.notified_on and str(p.notified_on),
        "notice_from": p.notice_from and str(p.notice_from),
        "notice_until": p.notice_until and str(p.notice_until),
        "closed_on": p.closed_on and str(p.closed_on),
        "target_household_id": p.target_household_id,
    }


def _permit(p: MoveInPermit) -> dict[str, Any]:
    return {
        "id": p.id,
        "number": p.number,
        "application_id": p.application_id,
        "county": p.county,
        "origin_county": p.origin_county,
        "persons": p.persons,
        "state": p.state,
        "issued_on": str(p.issued_on),
        "valid_until": str(p.valid_until),
        "closed_on": p.closed_on and str(p.closed_on),
        "version": p.version,
    }


def _notice(n: StationNotice) -> dict[str, Any]:
    """A station notice: ``kind`` ``move_out`` (a hukou moved out: ``to_household_id``) or
    ``residence_moved_away`` (a residence registration in ``county`` ended by another
    county's station: ``closed_registration_id``)."""
    return {
        "id": n.id,
        "kind": n.kind,
        "county": n.county,
        "from_county": n.from_county,
        "person_id": n.person_id,
        "to_household_id": n.to_household_id,
        "closed_registration_id": n.closed_registration_id,
        "application_id": n.application_id,
        "moved_on": str(n.moved_on),
        "state": n.state,
        "acknowledged_on": n.acknowledged_on and str(n.acknowledged_on),
        "version": n.version,
    }


def _actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The logged-in user behind a request's bearer token (a server-side session)."""
    return tokens.bearer_actor(request)


Who = Annotated[Actor, Depends(_actor)]


DOCS_ASSETS = "/docs/assets"
# the documentation pages fetch from this server only: the browser is told so, and does
# not even try a CDN (ReDoc's footer logo is on one); inline code: FastAPI's page starts
# Swagger UI with an inline script, and both inject their styles
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'"
)


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from the files the pinned ``fastapi-offline``
    package ships, under ``/docs/assets``: they work without internet (FastAPI's own pages
    load their scripts from a CDN; ReDoc's Google fonts are left out too)."""
    from fastapi.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    spec = importlib.util.find_spec("fastapi_offline")  # its files only: not its FastAPI
    assert spec is not None and spec.origin is not None, "fastapi-offline is not installed"
    assets = pathlib.Path(spec.origin).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def local_only(page: HTMLResponse) -> HTMLResponse:
        page.headers["content-security-policy"] = DOCS_CSP
        return page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — Swagger UI",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            # no badge from the public validator: nothing leaves the server's own address
            swagger_ui_parameters={"validatorUrl": None},
        )
        return local_only(page)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        return local_only(page)


def interrupt_stale_jobs(registry: Registry) -> int:
    """At start-up: the jobs a stopped process left queued or running are marked
    ``interrupted`` now, not only when someone reads them (``Registry.interrupt_stale_jobs``).
    Safe with several workers starting together: only a job whose worker is gone is marked
    (a live worker's process, or a heartbeat renewed, keeps its job), and two workers
    marking the same job settle on its version (the second does nothing). A register that
    cannot be reached here is logged, not fatal: reading a job marks it all the same."""
    try:
        done = registry.interrupt_stale_jobs()
    except Exception:
        log.exception("interrupting the jobs of stopped processes failed at start-up")
        return 0
    if done:
        log.warning("%d job(s) of a stopped process marked interrupted at start-up", done)
    return done


def create_app(
    registry: Registry, fast_check: bool = True, *, limits: Limits | None = None
) -> FastAPI:
    """The service on ``registry``; ``limits``: body size, rates and the decisions' pool
    (``service.limits.Limits``, production's defaults when not given). When it starts
    (each worker's lifespan), the jobs of stopped processes are marked interrupted."""
    limits = limits or Limits.from_env()
    decisions = DecisionPool(limits.decision_threads, limits.decision_seconds)
    logins = LoginSlots(limits.login_slots, limits.login_wait)
    # an officer's decision past its time budget commits nothing (DecisionPool.run_write)
    for name, listener in BUDGET_EVENTS:
        if not event.contains(registry.factory, name, listener):
            event.listen(registry.factory, name, listener)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(interrupt_stale_jobs, registry)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="hukou — 嘉兴市落户审查与户籍登记",
        version=hukou.__version__,
        description="嘉政办发〔2020〕28号 as explained rules, and the register that follows "
        "from it.",
        docs_url=None,  # served below from local files, not a CDN
        redoc_url=None,
    )
    app.state.registry = registry
    install_docs(app)
    logmask.install()  # ID numbers and names are masked in every log record

    @app.exception_handler(RegistryError)
    async def _registry_error(_req: Request, exc: RegistryError) -> JSONResponse:
        exc = public_error(exc)
        answer = _problem(exc.status, [exc.as_dict()])
        if exc.status == 503:  # busy (a log-in flood) or misconfigured: say when to retry
            answer.headers["Retry-After"] = "1"
        return answer

    @app.exception_handler(InputError)
    async def _input_error(_req: Request, exc: InputError) -> JSONResponse:
        return _problem(422, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, [request_problem(e) for e in exc.errors()])

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": hukou.__version__}

    @app.post(
        "/api/check",
        response_class=Response,
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "案件事实 / the facts of a case (`hukou schema`)",
                "content": {
                    "application/json": {"schema": {"type": "object", "additionalProperties": True}}
                },
            },
            "responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}},
        },
    )
    async def check(
        request: Request,
        on: Annotated[dt.date | None, Query(description="决定日期 / decision date")] = None,
    ) -> Response:
        """审查一个案件，不作任何保存 / decide a case; nothing is stored (hukou.decision/1).

        The body goes straight to the case model's JSON parser, and the report is serialised
        with orjson: no generic encoder walks the tree again. The work runs in a worker
        thread of the decisions' pool, within its time budget (503: try again)."""
        body = await decisions.run(check_bytes, await request.body(), on)
        return Response(body, media_type="application/json")

    @app.post("/api/login")
    async def login(body: LoginIn, request: Request) -> dict[str, Any]:
        """登录 / log in. Every refusal is the same 403, whatever the reason (unknown user,
        wrong password, too many attempts, account disabled or locked). When every log-in
        slot is taken (a flood), 503 at once: a log-in never holds a worker thread waiting
        for a password hash (``LoginSlots``)."""
        async with logins.slot():
            who, token = await anyio.to_thread.run_sync(
                registry.login_session,
                body.username,
                body.password,
                tokens.client_address(request),
                "api",
            )
        return {
            "token": token,
            "role": who.role,
            "jurisdiction": who.jurisdiction,
            "expires_in": int(registry.security.session_absolute.total_seconds()),
            "idle_timeout": int(registry.security.session_idle.total_seconds()),
        }

    @app.post("/api/logout", status_code=204)
    def logout(request: Request, who: Who) -> Response:
        """退出登录 / log out: every session of this user ends (all browsers and tokens)."""
        registry.logout((request.headers.get("authorization") or "")[7:].strip())
        return Response(status_code=204)

    @app.post("/api/applications", status_code=201)
    def create_application(body: ApplicationIn, who: Who) -> dict[str, Any]:
        return _application(
            registry.create_application(who, body.kind, body.county, body.facts), who
        )

    @app.get("/api/applications")
    def list_applications(who: Who, f: Annotated[reads.QueueFilter, Query()]) -> dict[str, Any]:
        """申请队列 / the queue: one's county (an admin: all), newest first, a page at a time,
        filtered by state, kind, channel (``source``: self-service or at a station), the day
        taken (``from``/``to``, inclusive) and reference (whole, or its start). Audited."""

        def read() -> tuple[int, list[Application]]:
            who.require_role("officer", "admin")
            return registry.read(lambda s: reads.queue_page(s, who, f))

        total, apps = reads.audited(
            registry,
            who,
            "read.queue",
            "application",
            "",
            read,
            lambda r: reads.listed(f, *r),
        )
        return {
            "page": f.page,
            "size": f.size,
            "total": total,
            "items": [
                {
                    **_application(a, who),
                    "taken_on": reads.taken_on(a),
                    "source": reads.source_of(a),
                }
                for a in apps
            ],
        }

    @app.get("/api/applications/{app_id}")
    def get_application(app_id: RowId, who: Who) -> dict[str, Any]:
        """一件申请 / one application (audited: ``read.application``)."""

        def read() -> dict[str, Any]:
            who.require_role("officer", "admin")
            found = registry.read(lambda s: s.get(Application, app_id))
            if found is None:
                raise NotFound("无此申请", "no such application", "application_id")
            if who.role == "officer":
                who.require_officer(found.county)
            return _application(found, who)

        return reads.audited(registry, who, "read.application", "application", app_id, read)

    @app.post("/api/applications/{app_id}/documents", status_code=201)
    def receive_document(app_id: RowId, body: DocumentIn, who: Who) -> dict[str, Any]:
        """材料接收 / record a document received (§5.2: one of the category's materials)."""
        return {"id": registry.receive_document(who, app_id, body.material, body.clause)}

    @app.get("/api/applications/{app_id}/materials")
    def materials(app_id: RowId, who: Who) -> dict[str, Any]:
        """应交材料与已收材料 / the materials needed, and those received (audited:
        ``read.materials``)."""
        return reads.audited(
            registry,
            who,
            "read.materials",
            "application",
            app_id,
            lambda: registry.materials(who, app_id),
        )

    @app.post("/api/applications/{app_id}/materials/{material:path}/waiver", status_code=201)
    def waive_material(
        app_id: RowId,
        material: Annotated[
            Text,
            Path(min_length=1, max_length=255, description="材料 / the material (its ``key``)"),
        ],
        body: WaiverIn,
        who: Who,
    ) -> dict[str, Any]:
        """材料免交 / waive one required material, giving the reason (audited:
        ``material.waive``): approval then counts it as settled. ``material`` is the
        ``key`` ``GET …/materials`` lists (URL-encoded). Refused for a material the
        application does not need, one received or waived already, or once decided."""
        return {"id": registry.waive_material(who, app_id, material, body.reason, body.version)}

    @app.post("/api/applications/{app_id}/{action}")
    def act(
        app_id: RowId,
        action: Literal["submit", "review", "withdraw"],
        who: Who,
        body: VersionIn | None = None,
    ) -> dict[str, Any]:
        body = body or VersionIn()
        return _application(registry.act(who, app_id, action, body.version, body.note), who)

    @app.post("/api/applications/{app_id}:approve")
    async def approve(app_id: RowId, who: Who, body: VersionIn | None = None) -> dict[str, Any]:
        """准予落户 / approve: decided by the engine in the decisions' pool, within its time
        budget (503 try again past it, and nothing written)."""
        version = (body or VersionIn()).version
        return _application(await decisions.run_write(registry.approve, who, app_id, version), who)

    @app.post("/api/applications/{app_id}:reject")
    async def reject(app_id: RowId, body: RejectIn, who: Who) -> dict[str, Any]:
        """不予落户 / reject, with the reasons (decided in the pool, as approval)."""
        rejected = await decisions.run_write(
            registry.reject, who, app_id, body.reasons, body.version
        )
        return _application(rejected, who)

    @app.post("/api/applications/{app_id}:register")
    def register(app_id: RowId, body: RegisterIn, who: Who) -> dict[str, Any]:
        """办理落户登记 / register the approved people (see ``Registry.register``)."""
        hid = registry.register(
            who,
            app_id,
            household_id=body.household_id,
            dwelling_id=body.dwelling_id,
            version=body.version,
            new_dwelling=body.new_dwelling.model_dump() if body.new_dwelling else None,
            placement_reason=body.placement_reason,
            migration_documents=[d.model_dump() for d in body.migration_documents],
        )
        return {"household_id": hid}

    @app.get("/api/households")
    def households(
        who: Who,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        size: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """本辖区的户 / the households of one's own county, newest first, a page at a time."""
        who.require_role("officer", "admin")

        def query(s: Any) -> dict[str, Any]:
            stmt = select(Household).where(Household.dissolved_on.is_(None))
            if who.role == "officer":
                stmt = stmt.where(Household.county == who.jurisdiction)
            total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
            rows = s.execute(
                stmt.order_by(Household.id.desc()).offset((page - 1) * size).limit(size)
            ).scalars()
            return {
                "page": page,
                "size": size,
                "total": total,
                "items": [
                    {"id": h.id, "number": h.number, "kind": h.kind, "county": h.county}
                    for h in rows
                ],
            }

        return registry.read(query)

    @app.get("/api/households/{household_id}")
    def household(household_id: RowId, who: Who) -> dict[str, Any]:
        """一户 / one household: in full inside one's county; elsewhere only the members an
        open application of one's own station names, masked (``scope.household_reach``)."""

        def query(s: Any) -> dict[str, Any]:
            h = s.get(Household, household_id)
            if h is None:
                raise NotFound("无此户", "no such household", "household_id")
            reach = household_reach(s, who, h)
            rows = current_members(s, h.id)
            return {
                "id": h.id,
                "number": h.number,
                "kind": h.kind,
                "county": h.county,
                "version": h.version,
                "partial": reach is not None,
                "members": [
                    {
                        "person_id": p.id,
                        # elsewhere, masked: filing a draft must not reveal a name
                        "name": p.name if reach is None else mask_name(p.name),
                        "id_number": p.id_number if reach is None else mask_id(p.id_number),
                        "relation_to_head": m.relation_to_head,
                        "since": str(m.start_date),
                        "reason_in": m.reason_in,
                    }
                    for p, m in rows
                    if reach is None or p.id in reach
                ],
            }

        return reads.audited(
            registry,
            who,
            "read.household",
            "household",
            household_id,
            lambda: registry.read(query),
            lambda h: {"partial": h["partial"], "members": len(h["members"])},
        )

    @app.post("/api/persons/lookup")
    def persons_lookup(body: PersonLookupIn, who: Who) -> list[dict[str, Any]]:
        """查询人员 (按身份证号码) / look a person up by ID number: full data inside one's
        county, masked outside. The number is in the body, so that it is in no URL
        (server logs, proxies, browser history); it must be a valid GB 11643 number."""
        try:
            who.require_role("officer", "admin")
            try:
                number = check_id_number(body.id_number)
            except ValueError as exc:
                zh, _, en = str(exc).partition(" / ")
                raise RegistryError(zh, en or zh, "id_number") from None
        except RegistryError as exc:  # a refused look-up is a security event
            reads.refused(registry, who, "read.person", "person", "", exc)
            raise

        def query(s: Any) -> list[dict[str, Any]]:
            out = []
            for p in s.execute(select(Person).where(Person.id_number == number)).scalars():
                current = s.execute(
                    select(Household)
                    .join(Membership)
                    .where(Membership.person_id == p.id, Membership.end_date.is_(None))
                ).scalar_one_or_none()
                county = current.county if current else None
                full = who.can_see_county(county)
                out.append(
                    {
                        "person_id": p.id,
                        "name": p.name if full else mask_name(p.name),
                        "id_number": p.id_number if full else mask_id(p.id_number),
                        "household_id": current.id if current and full else None,
                        "county": county,
                    }
                )
            return out

        found = registry.read(query)
        # audited once it succeeded, found or not: the rows found, never the number asked
        # (a keyed digest of it)
        reads.looked_up(registry, who, number, [p["person_id"] for p in found], "api", "lookup")
        return found

    @app.post("/api/move-outs", status_code=201)
    def request_move_out(body: MoveOutIn, who: Who) -> dict[str, Any]:
        """§4.5 书面申请 / a written request to move a hukou out of a dwelling."""
        return _procedure(
            registry.request_move_out(
                who,
                body.dwelling_id,
                body.person_id,
                body.requester_name,
                body.requester_role,
                body.property_proof,
            )
        )

    @app.post("/api/move-outs/{procedure_id}/{action}")
    def move_out_step(
        procedure_id: RowId,
        action: Literal[
            "notify", "unreachable", "refused", "moved_out", "move_ex_officio", "withdraw"
        ],
        who: Who,
        body: VersionIn | None = None,
    ) -> dict[str, Any]:
        body = body or VersionIn()
        return _procedure(
            registry.move_out_step(who, procedure_id, action, body.version, body.note)
        )

    @app.get("/api/move-outs/due")
    def move_outs_due(who: Who) -> list[dict[str, Any]]:
        """公示期满的迁出 / move-outs whose public notice has run out (audited:
        ``read.move_outs``)."""

        def read() -> list[dict[str, Any]]:
            who.require_role("officer", "admin")
            return [_procedure(p) for p in registry.due_move_outs(who)]

        return reads.audited(
            registry,
            who,
            "read.move_outs",
            "move_out",
            "",
            read,
            lambda found: {"due": True, "shown": [p["id"] for p in found]},
        )

    @app.post("/api/persons/{person_id}:attach")
    def attach(person_id: RowId, body: AttachIn, who: Who) -> dict[str, Any]:
        """§4.4 挂靠至现户口所在地社区（村）集体户."""
        return {"household_id": registry.attach_to_community(who, person_id, body.reason)}

    @app.get("/api/notices")
    def notices(who: Who, state: Literal["pending", "acknowledged"] | None = None) -> list[Any]:
        """迁出及居住登记通知 / notices that another station registered a person whose hukou
        was in one's own county (``move_out``; within Zhejiang: no 准迁证, one step), or
        whose residence registration here it ended (``residence_moved_away``: the person
        moved there, or their hukou settled in the same area); the newest
        ``reads.LIST_MAX``. Audited: ``read.notices``."""

        def query(s: Any) -> list[dict[str, Any]]:
            who.require_role("officer", "admin")
            stmt = select(StationNotice)
            if who.role == "officer":
                stmt = stmt.where(StationNotice.county == who.jurisdiction)
            if state:
                stmt = stmt.where(StationNotice.state == state)
            stmt = stmt.order_by(StationNotice.id.desc()).limit(reads.LIST_MAX)
            return [_notice(n) for n in s.execute(stmt).scalars()]

        return reads.audited(
            registry,
            who,
            "read.notices",
            "station_notice",
            "",
            lambda: registry.read(query),
            lambda found: {"state": state, "shown": [n["id"] for n in found]},
        )

    @app.post("/api/notices/{notice_id}:acknowledge")
    def acknowledge(notice_id: RowId, who: Who, body: VersionIn | None = None) -> dict[str, Any]:
        return _notice(registry.acknowledge_notice(who, notice_id, (body or VersionIn()).version))

    @app.get("/api/permits")
    def permits(who: Who, due: bool = False) -> list[dict[str, Any]]:
        """准予迁入证明 / move-in permits one's station issued (``due``: about to run out);
        the newest ``reads.LIST_MAX``. Audited: ``read.permits``."""

        def query(s: Any) -> list[dict[str, Any]]:
            stmt = select(MoveInPermit)
            if who.role == "officer":
                stmt = stmt.where(MoveInPermit.county == who.jurisdiction)
            stmt = stmt.order_by(MoveInPermit.id.desc()).limit(reads.LIST_MAX)
            return [_permit(p) for p in s.execute(stmt).scalars()]

        def read() -> list[dict[str, Any]]:
            who.require_role("officer", "admin")
            if due:
                return [_permit(p) for p in registry.due_permits(who)]
            return registry.read(query)

        return reads.audited(
            registry,
            who,
            "read.permits",
            "move_in_permit",
            "",
            read,
            lambda found: {"due": due, "shown": [p["id"] for p in found]},
        )

    @app.post("/api/permits/{permit_id}/{action}")
    def permit_step(
        permit_id: RowId,
        action: Literal["cancel", "expire"],
        who: Who,
        body: VersionIn | None = None,
    ) -> dict[str, Any]:
        return _permit(registry.permit_step(who, permit_id, action, (body or VersionIn()).version))

    @app.post("/api/applications/{app_id}:reissue-permit", status_code=201)
    def reissue_permit(app_id: RowId, who: Who) -> dict[str, Any]:
        """重新开具准予迁入证明 / a new permit when the last one expired or was cancelled."""
        return _permit(registry.reissue_permit(who, app_id))

    @app.get("/api/collectives/mine")
    def my_collective(who: Who) -> dict[str, Any]:
        """社区公共集体户（户籍协管员） / the keeper's community collective household."""
        who.require_role("keeper")

        def query(s: Any) -> int:
            hid = s.execute(
                select(Household.id).where(
                    Household.kind == "community_collective",
                    Household.community_id == int(who.jurisdiction or 0),
                    Household.dissolved_on.is_(None),
                )
            ).scalar_one_or_none()
            if hid is None:
                raise NotFound("本社区无公共集体户", "your community has no collective household")
            return int(hid)

        return household(registry.read(query), who)

    @app.get("/api/stats")
    def stats(who: Who) -> list[dict[str, Any]]:
        """申请汇总（按县、类别、状态） / applications counted by county, kind and state.

        Small-count suppression (小数抑制), as on the analyst page and ``/api/indicators``
        and for every role: a count from 1 to ``suppress_below - 1`` (``<5`` by default,
        ``HUKOU_SUPPRESS_BELOW``) is ``null``; 0 never appears (no row)."""
        from hukou.service.web import panels  # the one definition of the threshold

        who.require_role("analyst", "admin", "officer")
        k = panels.suppress_below(app.state)

        def query(s: Any) -> list[dict[str, Any]]:
            stmt = select(
                Application.county, Application.kind, Application.state, func.count()
            ).group_by(Application.county, Application.kind, Application.state)
            return [
                {
                    "county": c,
                    "kind": kd,
                    "state": st,
                    "count": None if panels.suppressed(n, k) else n,
                }
                for c, kd, st, n in s.execute(stmt).all()
            ]

        return registry.read(query)

    from hukou.service import permits_api  # §6: residence registration and permits

    app.include_router(permits_api.router)

    from hukou.service.web import install as install_web_pages  # the web pages (issue 6)

    install_web_pages(app)
    app.state.decisions = decisions  # the interview pages decide in it too
    app.state.logins = logins  # the login page's too

    from hukou.service.web.common import error_page

    async def _busy(request: Request, exc: Exception) -> Response:
        problem = {"field": "(service)", "zh": DecisionBusy.ZH, "en": DecisionBusy.EN}
        if request.url.path.startswith("/api"):
            return JSONResponse({"errors": [problem]}, 503, headers={"Retry-After": "1"})
        return error_page(request, 503, DecisionBusy.ZH, DecisionBusy.EN)

    app.add_exception_handler(DecisionBusy, _busy)
    # added last = outermost: the headers on every API answer, then the rate limit (before
    # a body is read), the body limit, and the lean /api/check
    if fast_check:
        app.add_middleware(CheckFastPath, decisions=decisions)
    app.add_middleware(BodyLimit, limits=limits)
    app.add_middleware(RateLimit, limits=limits, on_refused=_login_rate_limited(registry))
    app.add_middleware(ApiHeaders)
    return app
