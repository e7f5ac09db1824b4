"""Pages for staff: login, the officer's workbench (queue, case, PDF notice, §4.5, §4.4),
the keeper's collective household and the analyst's aggregates.

Every page calls the register with the logged-in ``Actor``, so the register's role and
jurisdiction checks apply; a refusal is a 403 page in both languages.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from hukou.engine.decide import decide
from hukou.engine.report import trace_json
from hukou.policy.facts import (
    ADDRESS_MAX,
    NAME_MAX,
    InputError,
    clean_text,
    field_label,
    parse_case,
)
from hukou.privacy import mask_id, mask_name
from hukou.registry import moves, s5_2
from hukou.registry.access import Actor
from hukou.registry.errors import Busy, Conflict, NotFound, RegistryError
from hukou.registry.models import (
    APPLICATION_KINDS,
    PLACEMENT_REASONS,
    Application,
    ApplicationEvent,
    Community,
    DocumentReceived,
    Household,
    MaterialWaiver,
    Membership,
    MoveInPermit,
    MoveOutProcedure,
    Person,
    ResidenceRegistration,
    StationNotice,
)
from hukou.registry.permits import settlement_facts
from hukou.registry.service import (
    APPLICATION_TRANSITIONS,
    MOVE_OUT_TRANSITIONS,
    Registry,
    current_members,
)
from hukou.service import reads, tokens
from hukou.service.limits import DecisionPool
from hukou.service.web import explain, i18n, panels
from hukou.service.web.citizen import _channel_view
from hukou.service.web.common import env, page_lang, registry_of, render
from hukou.service.web.panels import PANELS
from hukou.service.web.security import SESSION_COOKIE, checked_form, session_actor

router = APIRouter(include_in_schema=False)

HOME_OF_ROLE = {
    "officer": "/officer",
    "admin": "/officer",
    "keeper": "/keeper",
    "analyst": "/analyst",
}


class LoginRequired(Exception):
    """No (valid) session: the page sends the browser to the login form."""


def require(request: Request, *roles: str) -> Actor:
    actor = session_actor(request)
    if actor is None:
        raise LoginRequired
    actor.require_role(*roles)
    return actor


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---- login -----------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", error="")


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    form = await checked_form(request)
    registry = registry_of(request)
    username = unicodedata.normalize("NFC", str(form.get("username") or ""))[:65]
    password = str(form.get("password") or "")[:256]
    lang = page_lang(request)
    address = tokens.client_address(request)
    try:
        # argon2 takes ~50 ms of a core: off the event loop, a bounded number at once (a
        # flood is told 503 busy, holding no thread: ``limits.LoginSlots``)
        async with request.app.state.logins.slot():
            actor, token = await run_in_threadpool(
                registry.login_session, username, password, address, "page"
            )
    except RegistryError as exc:
        error = exc.zh if lang == "zh" else exc.en
        status = 503 if isinstance(exc, Busy) else 403  # every refusal looks the same
        return render(request, "login.html", status=status, error=error)
    response = _see_other(HOME_OF_ROLE.get(actor.role, "/"))
    response.set_cookie(
        SESSION_COOKIE,
        token or "",
        max_age=int(registry.security.session_absolute.total_seconds()),
        secure=True,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    """Log out: every session of the user ends, here and in other browsers."""
    await checked_form(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(registry_of(request).logout, token)
    response = _see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


# ---- officer: queue and case -------------------------------------------------------

STATES = ("draft", "submitted", "under_review", "approved", "rejected", "registered", "withdrawn")


def conflict_rows(conflicts: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The register's conflicts (``{field, typed, register}`` each) as the page shows them."""
    from hukou.service.web.residence import conflict_rows as rows

    return rows(conflicts)


def _shown_person(
    actor: Actor, county: str | None, name: str | None, number: str | None
) -> tuple[str, str]:
    if actor.can_see_county(county):
        return name or "", number or ""
    return mask_name(name) or "", mask_id(number) or ""


T = TypeVar("T")


def _reader(request: Request, action: str, entity: str, entity_id: object, *roles: str) -> Actor:
    """The logged-in user, who must have one of ``roles`` for the read ``action``: a refusal
    is a security event, audited (``reads.refused``)."""
    actor = session_actor(request)
    if actor is None:
        raise LoginRequired
    try:
        actor.require_role(*roles)
    except RegistryError as exc:
        reads.refused(registry_of(request), actor, action, entity, entity_id, exc)
        raise
    return actor


def _checked(
    request: Request,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    read: Callable[[], T],
) -> T:
    """``read``, its refusal audited; the page records the success once it is rendered."""
    return reads.checked(registry_of(request), actor, action, entity, entity_id, read)


def _shown(
    request: Request, actor: Actor, action: str, entity: str, entity_id: object, **detail: Any
) -> None:
    reads.done(registry_of(request), actor, action, entity, entity_id, "page", detail)


@router.get("/officer", response_class=HTMLResponse)
def officer_queue(request: Request) -> HTMLResponse:
    """申请队列: one's county (an admin: all), newest first, a page at a time, filtered by
    state, kind, how it was taken, the day taken and reference (``reads.QueueFilter``, as
    ``GET /api/applications``). Each page shown is audited, with the filters used."""
    action = "read.queue"
    actor = _reader(request, action, "application", "", "officer", "admin")
    registry = registry_of(request)

    def load() -> tuple[reads.QueueFilter, int, list[dict[str, Any]]]:
        f = reads.QueueFilter.from_query(dict(request.query_params))

        def query(s: Session) -> tuple[int, list[dict[str, Any]]]:
            total, apps = reads.queue_page(s, actor, f)
            out = []
            for a in apps:
                name, _ = _shown_person(actor, a.county, a.applicant_name, a.applicant_id_number)
                out.append(
                    {
                        "id": a.id,
                        "reference": a.reference,
                        "name": name,
                        "kind": a.kind,
                        "state": a.state,
                        "county": a.county,
                        "taken_on": reads.taken_on(a),
                        "source": reads.source_of(a),
                    }
                )
            return total, out

        return (f, *registry.read(query))

    f, total, apps = _checked(request, actor, action, "application", "", load)
    pages = max(1, -(-total // f.size))

    def link(page: int) -> str:
        return "/officer?" + urlencode({**f.query(), "page": page})

    response = render(
        request,
        "officer_queue.html",
        actor=actor,
        apps=apps,
        states=STATES,
        kinds=APPLICATION_KINDS,
        sources=reads.SOURCES,
        f=f,
        total=total,
        pages=pages,
        prev_url=link(f.page - 1) if f.page > 1 else "",
        next_url=link(f.page + 1) if f.page < pages else "",
    )
    _shown(
        request,
        actor,
        action,
        "application",
        "",
        filters=f.used(),
        total=total,
        shown=[a["id"] for a in apps],
    )
    return response


def _load(s: Session, actor: Actor, app_id: int) -> Application:
    app = s.get(Application, app_id)
    if app is None:
        raise NotFound("无此申请", "no such application", "app_id")
    if actor.role != "admin":
        actor.require_officer(app.county)
    return app


def _facts_rows(value: Any, path: str, lang: str, full: bool) -> list[tuple[str, str]]:
    """The facts as (label, value) rows, names and ID numbers masked unless ``full``."""
    rows: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            rows += _facts_rows(v, f"{path}.{k}" if path else k, lang, full)
    elif isinstance(value, list):
        if not value:
            rows.append((field_label(path, lang), "—"))
        for i, v in enumerate(value):
            rows += _facts_rows(v, f"{path}[{i}]", lang, full)
    else:
        text = str(value)
        if path.endswith(".name") and not full:
            text = mask_name(text) or ""
        if path.endswith(".id_number") and not full:
            text = mask_id(text) or ""
        if isinstance(value, bool):
            text = i18n.t("opt.yes" if value else "opt.no", lang)
        elif path.endswith((".county", "lives_in")) and text.isdigit():
            text = i18n.county(text, lang)
        elif path.endswith(".relation"):
            text = i18n.t(f"rel.{text}", lang)
        elif isinstance(value, str) and i18n.t(f"opt.{text}", lang) != f"opt.{text}":
            text = i18n.t(f"opt.{text}", lang)
        rows.append((field_label(path, lang), text))
    return rows


@router.get("/officer/app/{app_id}", response_class=HTMLResponse)
def officer_case(request: Request, app_id: int, done: str | None = None) -> HTMLResponse:
    """One case (audited: ``read.application``; refused: ``read.refused``)."""
    app_id = _row_id(app_id, "app_id")  # beyond SQL's integer: names nothing (404)
    actor = _reader(request, "read.application", "application", app_id, "officer", "admin")
    registry = registry_of(request)
    lang = page_lang(request)
    today = registry.clock.today()

    def query(s: Session) -> dict[str, Any]:
        app = _load(s, actor, app_id)
        full = actor.can_see_county(app.county)
        name, number = _shown_person(actor, app.county, app.applicant_name, app.applicant_id_number)
        received = {
            d.material: d.received_on.isoformat()
            for d in s.execute(
                select(DocumentReceived).where(DocumentReceived.application_id == app.id)
            ).scalars()
        }
        waived = {
            w.material: {"reason": w.reason, "on": w.waived_on.isoformat()}
            for w in s.execute(
                select(MaterialWaiver).where(MaterialWaiver.application_id == app.id)
            ).scalars()
        }
        events = [
            {
                "from": e.from_state,
                "to": e.to_state,
                "at": e.at.strftime("%Y-%m-%d %H:%M"),
                "note": e.note or "",
            }
            for e in s.execute(
                select(ApplicationEvent)
                .where(ApplicationEvent.application_id == app.id)
                .order_by(ApplicationEvent.id)
            ).scalars()
        ]
        communities = [
            (c.id, f"{c.township} {c.name}")
            for c in s.execute(
                select(Community).where(Community.county == app.county).order_by(Community.id)
            ).scalars()
        ]
        household = s.get(Household, app.target_household_id) if app.target_household_id else None
        # the case as the register decides it (``Registry._register_case``): the typed facts
        # with the residence facts of everyone named whom the register holds a residence
        # registration of replaced by the register's, on the day of the decision — today
        # for an application not yet decided (what approval or rejection would decide now,
        # and the conflicts it would keep), the decision's day for one decided (with the
        # conflicts kept with that decision)
        day = app.decided_on or today
        case_facts: dict[str, Any] = dict(app.facts)
        conflicts: list[dict[str, Any]] | None = None
        if app.kind not in s5_2.KINDS:
            with suppress(InputError):  # no longer a case: refused below, naming the field
                case_facts, conflicts = settlement_facts(s, app.facts, day)
        if app.decided_on is not None:
            conflicts = app.register_conflicts
        return {
            "id": app.id,
            "reference": app.reference,
            "kind": app.kind,
            "state": app.state,
            "county": app.county,
            "version": app.version,
            "name": name,
            "id_number": number,
            "reasons": app.reasons or "",
            "facts": dict(app.facts),
            "full": full,
            "received": received,
            "waived": waived,
            "events": events,
            "communities": communities,
            "household": household.number if household else "",
            "decided_on": app.decided_on.isoformat() if app.decided_on else "",
            # identity differences found when taken: for the officer's eyes only
            "identity_flags": list(app.identity_flags or []) if full else [],
            # the applicant's facts against the register's residence and permit records
            "register_conflicts": conflict_rows(conflicts) if full else [],
            "register_facts": conflicts is not None,  # decided on the register's facts
            "case_facts": case_facts,
            "decision_day": day,
            "place": Registry._decided_place(app) or {},
            "permits": [
                {
                    "number": m.number,
                    "state": m.state,
                    "issued_on": m.issued_on.isoformat(),
                    "valid_until": m.valid_until.isoformat(),
                    "persons": list(m.persons),
                    "usable": moves.usable(m, today),
                }
                for m in s.execute(
                    select(MoveInPermit)
                    .where(MoveInPermit.application_id == app.id)
                    .order_by(MoveInPermit.id)
                ).scalars()
            ],
        }

    data = _checked(
        request, actor, "read.application", "application", app_id, lambda: registry.read(query)
    )
    if data["kind"] in s5_2.KINDS:
        # §5.2 sets a task, not conditions: no engine decision, the category's papers
        decision = None
        channel = None
        channels = []
        materials = [
            {
                "key": m.key,
                "text": m.zh if lang == "zh" else m.en,
                "clause": "§5.2",
                "received": data["received"].get(m.key) or data["received"].get(m.zh, ""),
                "waived": data["waived"].get(m.key),
            }
            for m in s5_2.materials(data["kind"], data["facts"])
        ]
    else:
        decision = decide(
            parse_case(data["case_facts"]), on=data["decision_day"], parameters=registry.parameters
        )
        channel = next((c for c in decision.channels if c.key == data["kind"]), None)
        channels = [_channel_view(c, lang) for c in decision.channels]
        materials = []
    if channel is not None:
        for m in channel.materials:
            text = m.zh if lang == "zh" else m.en
            materials.append(
                {
                    "key": m.zh,
                    "text": text,
                    "clause": m.clause,
                    "received": data["received"].get(m.zh, ""),
                    "waived": data["waived"].get(m.zh),
                }
            )
    trace = (
        explain.explanation(
            trace_json(channel.explanation, decision.decision_date.toordinal()), lang
        )
        if channel and decision
        else None
    )
    relatives = []
    for r in decision.relatives if decision else []:
        assert decision is not None
        shown, _ = _shown_person(actor, data["county"], r.name, r.id_number)
        route = next((x for x in r.routes if x.status == "eligible"), None)
        anchor = explain.is_anchor(r, decision)  # the person joined, not "No"
        relatives.append(
            {
                "relation": i18n.t(f"rel.{r.relation}", lang),
                "name": shown,
                "status": i18n.t("result.anchor" if anchor else f"status.{r.status}", lang),
                "css": "anchor"
                if anchor
                else {"eligible": "yes", "undetermined": "open"}.get(r.status, "no"),
                "route": f"{route.clause} {route.zh if lang == 'zh' else route.en}"
                if route
                else "",
                "note": (
                    " ".join(zh if lang == "zh" else en for zh, en in r.notes)
                    or i18n.t("result.anchor_open", lang)
                )
                if anchor
                else "",
            }
        )
    actions = sorted(
        {a for (st, a) in APPLICATION_TRANSITIONS if st == data["state"]} - {"withdraw"}
    )
    response = render(
        request,
        "officer_case.html",
        actor=actor,
        a=data,
        channels=channels,
        facts=_facts_rows(data["facts"], "", lang, data["full"]),
        materials=materials,
        trace=trace,
        relatives=relatives,
        actions=actions,
        reasons=PLACEMENT_REASONS,
        live_permit=next((m for m in data["permits"] if m["usable"]), None),
        done=done
        if done
        in ("submit", "review", "approve", "reject", "register", "receive", "reissue_permit")
        else "",
    )
    _shown(request, actor, "read.application", "application", app_id)
    return response


@router.post("/officer/app/{app_id}", response_model=None)
async def officer_act(request: Request, app_id: int) -> Response:
    form = await checked_form(request)
    # the register (and, for approve and reject, the engine): in a worker thread, never on
    # the event loop (a SQLite write lock held elsewhere would freeze every request);
    # approve and reject in the decisions' pool, within its time budget (503 past it, and
    # nothing written: ``DecisionPool.run_write``)
    if str(form.get("action") or "") in ("approve", "reject"):
        pool: DecisionPool = request.app.state.decisions
        return await pool.run_write(_officer_act, request, app_id, form)
    return await run_in_threadpool(_officer_act, request, app_id, form)


def _officer_act(request: Request, app_id: int, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    registry = registry_of(request)
    app_id = _row_id(app_id, "app_id")
    action = _form_text(form, "action", 32)
    version = _form_int(form, "version")
    if action in ("submit", "review"):
        registry.act(actor, app_id, action, version)
    elif action == "approve":
        registry.approve(actor, app_id, version)
    elif action == "reject":
        registry.reject(actor, app_id, _form_text(form, "reasons", 2000, multiline=True), version)
    elif action == "receive":
        registry.receive_document(
            actor, app_id, _form_text(form, "material", 255), _form_text(form, "clause", 16)
        )
    elif action == "waive":  # 材料免交: with the reason, audited (``Registry.waive_material``)
        registry.waive_material(
            actor,
            app_id,
            _form_text(form, "material", 255),
            _form_text(form, "reason", 1000, multiline=True),
        )
    elif action == "register":
        # one transaction: the dwelling typed in the form is recorded only if the
        # registration on it goes through (``Registry.register``'s ``new_dwelling``)
        community = _form_int(form, "community_id")
        household = _form_text(form, "household_number", 20)
        reason = _form_text(form, "placement_reason", 32) or None
        documents = [
            {
                "person": _form_text(form, f"doc{i}_person", 16),
                "kind": _form_text(form, f"doc{i}_kind", 16) or "paper",
                "number": _form_text(form, f"doc{i}_number", 64),
            }
            for i in range(20)
            if _form_text(form, f"doc{i}_number", 64)
        ]
        if household:
            registry.register(
                actor,
                app_id,
                household_id=_household_by_number(registry, household),
                version=version,
                placement_reason=reason,
                migration_documents=documents,
            )
        else:
            address = _form_text(form, "address", ADDRESS_MAX)
            if not address:
                raise RegistryError(
                    "须填写落户住所地址", "the address of the dwelling is required", "address"
                )
            registry.register(
                actor,
                app_id,
                version=version,
                new_dwelling={"address": address, "community_id": community},
                placement_reason=reason,
                migration_documents=documents,
            )
    elif action == "reissue_permit":
        registry.reissue_permit(actor, app_id)
    else:
        raise RegistryError("操作无效", "unknown action", "action")
    return _see_other(f"/officer/app/{app_id}?done={action}")


MAX_ID = 2_147_483_647  # row ids and versions are SQL integers


def _form_int(form: FormData, key: str) -> int | None:
    """An integer form field (a version, a community): None when empty; anything but a whole
    number from 1 to ``MAX_ID`` in ASCII digits is refused (422 naming the field)."""
    raw = str(form.get(key) or "").strip()
    if not raw:
        return None
    if len(raw) > 10 or not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ID:
        raise RegistryError(
            f"{key}：须为 1 至 {MAX_ID} 的整数",
            f"{key}: must be a whole number from 1 to {MAX_ID}",
            key,
        )
    return int(raw)


def _form_text(form: FormData, key: str, max_length: int, *, multiline: bool = False) -> str:
    """A text form field, NFC: one line (stripped) unless ``multiline``; a control character
    or more than ``max_length`` characters is refused (422 naming the field)."""
    raw = str(form.get(key) or "")
    try:
        return clean_text(raw if multiline else raw.strip(), max_length, multiline=multiline)
    except ValueError as exc:
        zh, _, en = str(exc).partition(" / ")
        raise RegistryError(f"{key}：{zh}", f"{key}: {en}", key) from None


def _household_by_number(registry: Registry, number: str) -> int:
    """户号 -> row id (the register then resolves and authorises it like any named object)."""
    found = registry.read(
        lambda s: s.execute(select(Household.id).where(Household.number == number)).scalar()
    )
    if found is None:
        raise NotFound("无此户号", "no household with that number", "household_number")
    return int(found)


@router.get("/officer/app/{app_id}/notice.pdf")
def officer_notice(request: Request, app_id: int) -> Response:
    """准予落户 / 不予落户 决定书 (PDF, Chinese, Noto CJK); each print audited (``read.notice``)."""
    app_id = _row_id(app_id, "app_id")  # beyond SQL's integer: names nothing (404)
    actor = _reader(request, "read.notice", "application", app_id, "officer", "admin")
    registry = registry_of(request)

    def query(s: Session) -> dict[str, Any]:
        app = _load(s, actor, app_id)
        if app.state not in ("approved", "rejected", "registered"):
            raise RegistryError("尚未作出决定", "no decision has been made yet", "state")
        return {
            "reference": app.reference,
            "state": app.state,
            "kind": app.kind,
            "county": app.county,
            "name": app.applicant_name,
            "id_number": mask_id(app.applicant_id_number),
            "decided_on": app.decided_on.isoformat() if app.decided_on else "",
            "reasons": app.reasons or "",
            "rule_version": app.rule_version or "",
            "decision": app.decision or {},
        }

    data = _checked(
        request, actor, "read.notice", "application", app_id, lambda: registry.read(query)
    )
    channel = next(
        (c for c in data["decision"].get("channels", []) if c["key"] == data["kind"]), None
    )
    html = env.get_template("notice.html").render(
        a=data,
        channel=channel,
        county=i18n.county(data["county"], "zh"),
        approved=data["state"] in ("approved", "registered"),
        today=registry.clock.today().isoformat(),
    )
    from weasyprint import HTML

    pdf = HTML(string=html).write_pdf()
    _shown(request, actor, "read.notice", "application", app_id, state=data["state"])
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="notice-{data["reference"]}.pdf"'},
    )


# ---- officer: §4.5 move-outs and §4.4 attachment ------------------------------------


@router.get("/officer/move-outs", response_class=HTMLResponse)
def move_outs(request: Request, done: str | None = None) -> HTMLResponse:
    """迁出: one's county's move-out procedures (an admin: all), the newest
    ``reads.LIST_MAX``; each page shown is audited (``read.move_outs``)."""
    actor = _reader(request, "read.move_outs", "move_out", "", "officer", "admin")
    registry = registry_of(request)
    today = registry.clock.today()

    def query(s: Session) -> list[dict[str, Any]]:
        stmt = select(MoveOutProcedure, Person).join(
            Person, Person.id == MoveOutProcedure.person_id
        )
        if actor.role == "officer":
            stmt = stmt.where(MoveOutProcedure.county == actor.jurisdiction)
        out = []
        rows = s.execute(stmt.order_by(MoveOutProcedure.id.desc()).limit(reads.LIST_MAX))
        for p, person in rows.all():
            name, _ = _shown_person(actor, p.county, person.name, person.id_number)
            out.append(
                {
                    "id": p.id,
                    "reference": p.reference,
                    "state": p.state,
                    "version": p.version,
                    "name": name,
                    "requested_on": p.requested_on.isoformat(),
                    "notice_until": p.notice_until.isoformat() if p.notice_until else "",
                    "due": p.state == "public_notice"
                    and p.notice_until is not None
                    and p.notice_until < today,
                    "actions": [a for (st, a) in MOVE_OUT_TRANSITIONS if st == p.state],
                }
            )
        return out

    procs = registry.read(query)
    response = render(
        request,
        "move_outs.html",
        actor=actor,
        procs=procs,
        reasons=("land_expropriation", "demolition", "ownership_transfer", "divorce", "other"),
        done=done or "",
    )
    _shown(request, actor, "read.move_outs", "move_out", "", shown=[p["id"] for p in procs])
    return response


@router.post("/officer/move-outs", response_model=None)
async def move_out_request(request: Request) -> Response:
    """§4.5 书面申请: the person is named by ID number in the form; their dwelling is the
    one of the household their hukou is in now."""
    form = await checked_form(request)
    return await run_in_threadpool(_move_out_request, request, form)  # off the event loop


def _move_out_request(request: Request, form: FormData) -> Response:
    actor = _reader(request, "read.person", "person", "", "officer", "admin")
    registry = registry_of(request)
    number = _form_text(form, "id_number", 18).upper()

    def query(s: Session) -> tuple[int, int | None] | None:
        row = s.execute(
            select(Person.id, Household.dwelling_id)
            .join(Membership, Membership.person_id == Person.id)
            .join(Household, Household.id == Membership.household_id)
            .where(Person.id_number == number, Membership.end_date.is_(None))
        ).first()
        return None if row is None else (int(row[0]), row[1])

    found = registry.read(query)
    # a look-up by ID number: audited whether or not it found someone
    reads.looked_up(registry, actor, number, [found[0]] if found else [], "page", "move_out")
    if found is None or found[1] is None:
        raise NotFound(
            "登记簿中无此人，或其户口不在住所上",
            "no such person in the register, or their hukou is not on a dwelling",
            "id_number",
        )
    registry.request_move_out(
        actor,
        found[1],
        found[0],
        _form_text(form, "requester_name", NAME_MAX),
        _form_text(form, "requester_role", 16),
        _form_text(form, "property_proof", 128),
    )
    return _see_other("/officer/move-outs?done=request")


@router.post("/officer/move-outs/{procedure_id}", response_model=None)
async def move_out_step(request: Request, procedure_id: int) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_move_out_step, request, procedure_id, form)


def _move_out_step(request: Request, procedure_id: int, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    registry_of(request).move_out_step(
        actor,
        _row_id(procedure_id, "procedure_id"),
        _form_text(form, "action", 32),
        _form_int(form, "version"),
        _form_text(form, "note", 2000, multiline=True) or None,
    )
    return _see_other("/officer/move-outs?done=step")


@router.post("/officer/attach", response_model=None)
async def attach(request: Request) -> Response:
    """§4.4: the person is named by ID number in the form (never in a URL)."""
    form = await checked_form(request)
    return await run_in_threadpool(_attach, request, form)  # off the event loop


def _attach(request: Request, form: FormData) -> Response:
    actor = _reader(request, "read.person", "person", "", "officer", "admin")
    registry = registry_of(request)
    number = _form_text(form, "id_number", 18).upper()
    person_id = registry.read(
        lambda s: s.execute(
            select(Person.id).where(Person.id_number == number)
        ).scalar_one_or_none()
    )
    # a look-up by ID number: audited whether or not it found someone
    found = [int(person_id)] if person_id is not None else []
    reads.looked_up(registry, actor, number, found, "page", "attach")
    if person_id is None:
        raise NotFound("登记簿中无此人", "no such person in the register", "id_number")
    registry.attach_to_community(actor, int(person_id), _form_text(form, "reason", 32))
    return _see_other("/officer/move-outs?done=attach")


# ---- officer: moves between counties (notices received, permits issued) ---------------


@router.get("/officer/moves", response_class=HTMLResponse)
def moves_page(request: Request, done: str | None = None) -> HTMLResponse:
    """迁移: the notices other stations sent this one (a hukou moved away; or, marked with
    why, a residence registration here ended by one there: the person moved there, or their
    hukou settled there, in the same area), and the move-in permits this station issued,
    with those about to run out marked (the newest ``reads.LIST_MAX`` of each; each page
    shown audited: ``read.moves``)."""
    actor = _reader(request, "read.moves", "move", "", "officer", "admin")
    registry = registry_of(request)
    today = registry.clock.today()
    due = {p.id for p in registry.due_permits(actor)}

    def query(s: Session) -> dict[str, Any]:
        notices = (
            select(StationNotice, Person, ResidenceRegistration.end_reason)
            .join(Person, Person.id == StationNotice.person_id)
            .outerjoin(
                ResidenceRegistration,
                ResidenceRegistration.id == StationNotice.closed_registration_id,
            )
        )
        permits = select(MoveInPermit, Application).join(
            Application, Application.id == MoveInPermit.application_id
        )
        if actor.role == "officer":
            notices = notices.where(StationNotice.county == actor.jurisdiction)
            permits = permits.where(MoveInPermit.county == actor.jurisdiction)
        return {
            "notices": [
                {
                    "id": n.id,
                    "version": n.version,
                    "state": n.state,
                    "kind": n.kind,  # move_out, or residence_moved_away (a residence here ended)
                    "reason": ended,  # why it ended (moved_away, settled); None for move_out
                    "name": _shown_person(actor, n.county, p.name, p.id_number)[0],
                    "to": n.from_county,
                    "moved_on": n.moved_on.isoformat(),
                }
                for n, p, ended in s.execute(
                    notices.order_by(StationNotice.id.desc()).limit(reads.LIST_MAX)
                ).all()
            ],
            "permits": [
                {
                    "id": m.id,
                    "number": m.number,
                    "app_id": a.id,
                    "reference": a.reference,
                    "state": m.state,
                    "origin": m.origin_county,
                    "valid_until": m.valid_until.isoformat(),
                    "due": m.id in due,
                    "lapsed": m.state == "issued" and m.valid_until < today,
                }
                for m, a in s.execute(
                    permits.order_by(MoveInPermit.id.desc()).limit(reads.LIST_MAX)
                ).all()
            ],
        }

    data = registry.read(query)
    response = render(request, "moves.html", actor=actor, done=done or "", **data)
    _shown(
        request,
        actor,
        "read.moves",
        "move",
        "",
        notices=[n["id"] for n in data["notices"]],
        permits=[m["id"] for m in data["permits"]],
    )
    return response


@router.post("/officer/moves/notice/{notice_id}", response_model=None)
async def notice_ack(request: Request, notice_id: int) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_notice_ack, request, notice_id, form)


def _notice_ack(request: Request, notice_id: int, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    registry_of(request).acknowledge_notice(
        actor, _row_id(notice_id, "notice_id"), _form_int(form, "version")
    )
    return _see_other("/officer/moves?done=acknowledge")


@router.post("/officer/moves/permit/{permit_id}", response_model=None)
async def permit_action(request: Request, permit_id: int) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_permit_action, request, permit_id, form)


def _permit_action(request: Request, permit_id: int, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    registry_of(request).permit_step(
        actor, _row_id(permit_id, "permit_id"), _form_text(form, "action", 32)
    )
    return _see_other("/officer/moves?done=permit")


def _row_id(value: int, field: str) -> int:
    """A row id from a path: beyond SQL's integer it names nothing (404, never a 500)."""
    if not 1 <= value <= MAX_ID:
        raise NotFound("无此记录", "no such record", field)
    return value


# ---- keeper ------------------------------------------------------------------------


@router.get("/keeper", response_class=HTMLResponse)
def keeper(request: Request) -> HTMLResponse:
    """The keeper's community collective household (audited: ``read.household``)."""
    actor = _reader(request, "read.household", "household", "", "keeper")
    registry = registry_of(request)

    def query(s: Session) -> dict[str, Any]:
        h = s.execute(
            select(Household).where(
                Household.kind == "community_collective",
                Household.community_id == int(actor.jurisdiction or 0),
                Household.dissolved_on.is_(None),
            )
        ).scalar_one_or_none()
        if h is None:
            raise NotFound("本社区无公共集体户", "your community has no collective household")
        community = s.get(Community, h.community_id)
        rows = current_members(s, h.id)
        return {
            "id": h.id,
            "number": h.number,
            "county": h.county,
            "community": f"{community.township} {community.name}" if community else "",
            "members": [
                {
                    "name": p.name,
                    "id_number": mask_id(p.id_number),
                    "since": m.start_date.isoformat(),
                    "reason": m.reason_in or "",
                    "attached": (m.reason_in or "").startswith(("§4.4", "§4.5")),
                }
                for p, m in rows
            ],
        }

    h = _checked(request, actor, "read.household", "household", "", lambda: registry.read(query))
    response = render(request, "keeper.html", actor=actor, h=h)
    _shown(request, actor, "read.household", "household", h["id"], members=len(h["members"]))
    return response


# ---- analyst ----------------------------------------------------------------------
# Aggregates only (the analyst role's rule): application counts, the §7 indicators per
# county and period, and reform runs on the demo population (web/panels.py).

CHARTS = ("settlements", "permits", "eligible")


def _application_counts(registry: Registry) -> list[tuple[str, str, str, int]]:
    def query(s: Session) -> list[tuple[str, str, str, int]]:
        stmt = select(
            Application.county, Application.kind, Application.state, func.count()
        ).group_by(Application.county, Application.kind, Application.state)
        return [(c, k, st, int(n)) for c, k, st, n in s.execute(stmt).all()]

    return sorted(registry.read(query))


def _span(start: dt.date | None, end: dt.date | None, lang: str) -> str:
    if not start and not end:
        return i18n.t("analyst.all_time", lang)
    return f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"


def _query_string(period: str, start: dt.date | None, end: dt.date | None, lang: str) -> str:
    from urllib.parse import urlencode

    return urlencode(
        {
            "period": period,
            "from": start.isoformat() if start else "",
            "to": end.isoformat() if end else "",
            "lang": lang,
        }
    )


def _reform_form(
    lang: str, today: dt.date, example: str | None, submitted: dict[str, str] | None
) -> dict[str, Any]:
    """The reform form's fields: the submitted values, an example's, or the law's."""
    found = panels.examples()
    chosen = example if example in found else ""
    values: dict[str, str] = {}
    name_zh, name_en = i18n.t("reform.default_name", "zh"), i18n.t("reform.default_name", "en")
    on = today.isoformat()
    if chosen:
        data = found[chosen]
        values = panels.example_values(data)
        name = data.get("name")
        if isinstance(name, dict):
            name_zh, name_en = str(name.get("zh", name_zh)), str(name.get("en", name_en))
        dates = data.get("dates")
        first = dates[0] if isinstance(dates, list) and dates else dates
        if isinstance(first, dt.date | str):
            on = str(first)
    if submitted is not None:
        values = {k: v for k, v in submitted.items() if "." in k}
        name_zh = submitted.get("name_zh", name_zh)
        name_en = submitted.get("name_en", name_en)
        on = submitted.get("dates", on)
    try:
        day = dt.date.fromisoformat(on)
    except ValueError:
        day = today
    fields = panels.reform_fields(day, values)
    for f in fields:
        key = f"reform.param.{f.path}"
        if i18n.t(key, "zh") != key:
            f.zh, f.en = i18n.t(key, "zh"), i18n.t(key, "en")
    labels = []
    for stem, data in found.items():
        name = data.get("name")
        text = stem
        if isinstance(name, dict):
            text = str(name.get("zh" if lang == "zh" else "en") or stem)
        elif isinstance(name, str):
            text = name
        labels.append((stem, text))
    return {
        "examples": labels,
        "example": chosen,
        "fields": [f for f in fields if f.kind != "bool"],
        "readings": [f for f in fields if f.kind == "bool"],
        "name_zh": name_zh,
        "name_en": name_en,
        "dates": on,
    }


def _error_target(name: str) -> str:
    """The form input a reform problem is about."""
    if name.startswith("parameters."):
        rest = name.removeprefix("parameters.")
        head, _, tail = rest.rpartition(".")
        return head if tail[:4].isdigit() and head else rest
    if name in ("name", "name.zh"):
        return "name_zh"
    if name == "name.en":
        return "name_en"
    if name.startswith("dates"):
        return "dates"
    return name


def _analyst_page(
    request: Request,
    actor: Actor,
    *,
    submitted: dict[str, str] | None = None,
    reform_errors: list[dict[str, str]] | None = None,
    reform_notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    registry = registry_of(request)
    lang = page_lang(request)
    today = registry.clock.today()
    q = request.query_params
    period, start, end, problems = panels.parse_query(
        q.get("period"), q.get("from"), q.get("to"), today
    )
    k = panels.suppress_below(request.app.state)
    pop = panels.population_dir(request.app.state, registry)
    data = None if problems else panels.indicators(registry, pop, period, start, end)

    rows = _application_counts(registry)
    by_county: dict[str, int] = defaultdict(int)
    by_state: dict[str, int] = defaultdict(int)
    for c, _k, st, n in rows:
        by_county[c] += n
        by_state[st] += n
    top = max(by_county.values(), default=1)
    errors = reform_errors or []
    if status == 200 and problems:
        status = 422
    return render(
        request,
        "analyst.html",
        status=status,
        actor=actor,
        rows=rows,
        by_county=sorted(by_county.items()),
        by_state=[(st, by_state[st]) for st in STATES if st in by_state],
        top=top,
        total=sum(by_county.values()),
        panels=[fn(registry, lang) for fn in PANELS],
        today=today.isoformat(),
        period=period,
        periods=panels.PERIODS,
        start=start.isoformat() if start else "",
        end=end.isoformat() if end else "",
        problems=problems,
        data=data,
        k=k,
        n=lambda v: panels.shown(v, k),
        span=_span(start, end, lang),
        qs=_query_string(period, start, end, lang),
        charts=CHARTS,
        pop=str(pop),
        reform=_reform_form(lang, today, q.get("example"), submitted),
        reform_errors=errors,
        error_for={_error_target(e["field"]): e for e in errors},
        reform_notice=reform_notice,
        # the analyst's latest reform runs: kept in the register, across restarts
        recent=[
            {
                "id": j.id,
                "state": j.state,
                "progress": j.progress,
                "name": (j.params.get("reform") or {}).get("name") or {},
                "at": j.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for j in registry.recent_jobs(actor)
        ]
        if actor.user_id is not None
        else [],
    )


@router.get("/analyst", response_class=HTMLResponse)
def analyst(request: Request) -> HTMLResponse:
    """Aggregates only: application counts, the §7 indicators, the reform form."""
    actor = require(request, "analyst", "admin")
    return _analyst_page(request, actor)


def _county_labels(codes: list[str], lang: str) -> list[str]:
    from hukou.analytics.indicators import county_labels

    return [county_labels(c)[1 if lang == "zh" else 2] for c in codes]


@router.get("/analyst/chart/{name}.svg")
def analyst_chart(request: Request, name: str) -> Response:
    """One §7 indicator per county, summed over the period chosen (SVG, no script)."""
    require(request, "analyst", "admin")
    if name not in CHARTS:
        raise NotFound("无此图表", "no such chart", "name")
    registry = registry_of(request)
    lang = page_lang(request)
    q = request.query_params
    period, start, end, problems = panels.parse_query(
        q.get("period"), q.get("from"), q.get("to"), registry.clock.today()
    )
    if problems:
        p = problems[0]
        raise RegistryError(p["zh"], p["en"], p["field"])
    k = panels.suppress_below(request.app.state)
    pop = panels.population_dir(request.app.state, registry)
    data = panels.indicators(registry, pop, period, start, end)
    rows = {"settlements": data.settlements, "permits": data.permits}.get(name, data.eligible or [])
    measure = {"settlements": "persons", "permits": "permits"}.get(name, "eligible_not_settled")
    totals = panels.per_county(rows, measure)
    title = i18n.t(
        {"settlements": "analyst.settled_persons", "permits": "analyst.permits"}.get(
            name, "analyst.eligible"
        ),
        lang,
    )
    title = (
        f"{title}（{_span(start, end, lang)}）"
        if lang == "zh"
        else f"{title} ({_span(start, end, lang)})"
    )
    key = (name, lang, k, title, tuple(totals))
    svg = panels.cached_svg(
        key,
        lambda: panels.svg_chart(
            title,
            _county_labels([c for c, _ in totals], lang),
            [panels.Bars(i18n.t("analyst.persons", lang), tuple(v for _, v in totals))],
            k,
        ),
    )
    return _svg(svg)


def _svg(body: bytes) -> Response:
    # an image: its own policy (matplotlib's SVG carries a <style> element, no script)
    return Response(
        body,
        media_type="image/svg+xml",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=300",
        },
    )


@router.post("/analyst/reform", response_model=None)
async def analyst_reform(request: Request) -> Response:
    """Run a reform on the demo population (the parameters are POSTed, never in a URL)."""
    form = await checked_form(request)
    # the run takes seconds of CPU, and the page reads the register: in a worker thread
    return await run_in_threadpool(_analyst_reform, request, form)


def _analyst_reform(request: Request, form: FormData) -> Response:
    actor = require(request, "analyst", "admin")
    registry = registry_of(request)
    submitted: dict[str, str] = {}
    bad: list[dict[str, str]] = []
    for k, v in form.items():
        if k == "csrf" or not isinstance(v, str) or len(k) > 200:
            continue
        try:  # a number, a date or a reform's name: one line of text, NFC
            submitted[k] = clean_text(v[:200], 200)
        except ValueError as exc:
            zh, _, en = str(exc).partition(" / ")
            bad.append({"field": k, "zh": zh, "en": en})
            submitted[k] = ""
    if bad:
        return _analyst_page(request, actor, submitted=submitted, reform_errors=bad, status=422)
    from hukou.analytics.reform import ReformError

    try:
        reform = panels.reform_from_form(submitted, registry.clock.today())
    except ReformError as exc:
        return _analyst_page(
            request, actor, submitted=submitted, reform_errors=exc.problems, status=422
        )
    pop = panels.population_dir(request.app.state, registry)
    try:
        panels.check_reform_available(pop)
    except panels.ReformUnavailable as exc:
        lang = page_lang(request)
        return _analyst_page(
            request,
            actor,
            submitted=submitted,
            reform_notice=i18n.t(exc.key, lang, dir=str(pop)),
            status=503,
        )
    # a background job: the result page shows its progress and reloads itself until done
    job_id = panels.start_reform_job(
        registry, actor, pop, reform, panels.suppress_below(request.app.state)
    )
    return _see_other(f"/analyst/reform/{job_id}")


NO_RUN = ("无此改革模拟", "no such reform run")


def _job_or_run(request: Request, run_id: str) -> tuple[Any, panels.ReformRun | None]:
    """The reform job ``run_id`` and, once done, its run (404 for an unknown id)."""
    actor = require(request, "analyst", "admin")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,24}", run_id):
        raise NotFound(*NO_RUN, "run")
    try:
        return panels.reform_run(
            registry_of(request), actor, run_id, panels.runs_of(request.app.state)
        )
    except NotFound:
        raise NotFound(*NO_RUN, "run") from None


def _run(request: Request, run_id: str) -> panels.ReformRun:
    """A finished run (its charts and downloads): 404 if unknown, 409 while not done."""
    job, run = _job_or_run(request, run_id)
    if run is None:
        raise Conflict(
            f"改革模拟尚未完成（{job.state}）",
            f"the reform run is not finished ({job.state})",
            "run",
        )
    return run


@router.get("/analyst/reform/{run_id}", response_class=HTMLResponse)
def analyst_reform_result(request: Request, run_id: str) -> HTMLResponse:
    job, found = _job_or_run(request, run_id)
    if found is None:
        # queued, running, failed or interrupted: the progress page (reloads while it runs)
        page = render(
            request,
            "analyst_job.html",
            job=job,
            waiting=job.state in ("queued", "running"),
            elapsed=panels.job_seconds(job),
            name=job.params.get("reform", {}).get("name", {}),
        )
        if job.state in ("queued", "running"):
            page.headers["Refresh"] = "2"  # as the page's meta: reload until it is done
            page.headers["Cache-Control"] = "no-store"
        return page
    run = found
    lang = page_lang(request)
    report = run.report
    from hukou.analytics.reform import version_text
    from hukou.policy.params import load

    law = load()
    changed = []
    for path, dated in report.reform.parameters.items():
        spec = law.parameters[path]
        for start, value in dated.items():
            try:
                before = spec.at(report.on)
            except ValueError:
                before = None
            changed.append(
                {
                    "path": path,
                    "clause": spec.reference,
                    "from": start.isoformat(),
                    "before": panels._form_value(before),
                    "after": panels._form_value(value),
                }
            )
    grid = report.tables["by_county_channel"].to_pylist()
    return render(
        request,
        "analyst_reform.html",
        run=run,
        report=report,
        name=report.reform.name_zh if lang == "zh" else report.reform.name_en,
        breakdowns=panels.reform_breakdowns(report, lang),
        grid=grid,
        changed=changed,
        versions=(version_text(report.baseline_version), version_text(report.reform_version)),
        k=run.k,
        n=lambda v: panels.shown(v, run.k),
        net=lambda r: _net(r, run.k),
    )


def _net(row: dict[str, Any], k: int) -> str:
    """The net change, hidden when a count behind it is suppressed."""
    if any(panels.suppressed(int(row.get(c) or 0), k) for c in ("gains", "loses")):
        return "—"
    return f"{int(row['net']):+,}"


@router.get("/analyst/reform/{run_id}/chart/{group}.svg")
def analyst_reform_chart(request: Request, run_id: str, group: int) -> Response:
    """Gains and losses for one breakdown (channel, county, age band, sex), SVG."""
    run = _run(request, run_id)
    lang = page_lang(request)
    groups = panels.reform_breakdowns(run.report, lang)
    if not 0 <= group < len(groups):
        raise NotFound("无此图表", "no such chart", "group")
    key = f"chart-{group}-{lang}.svg"
    if key not in run.files:
        title, rows = groups[group]
        run.files[key] = panels.svg_chart(
            title,
            [label for label, _ in rows],
            [
                panels.Bars(
                    i18n.t("reform.gains", lang),
                    tuple(int(r["gains"]) for _, r in rows),
                    panels.GAIN,
                    1,
                ),
                panels.Bars(
                    i18n.t("reform.loses", lang),
                    tuple(int(r["loses"]) for _, r in rows),
                    panels.LOSS,
                    -1,
                ),
            ],
            run.k,
        )
    return _svg(run.files[key])


def _export(request: Request, run_id: str) -> tuple[panels.ReformRun, Actor]:
    """A reform run to export, and who exports it; a refusal is audited (the run's id only
    if it looks like one: a path may hold anything)."""
    shown_id = run_id if re.fullmatch(r"[A-Za-z0-9_-]{16}", run_id) else ""
    actor = _reader(request, "read.export", "reform_run", shown_id, "analyst", "admin")
    return _checked(
        request, actor, "read.export", "reform_run", shown_id, lambda: _run(request, run_id)
    ), actor


@router.get("/analyst/reform/{run_id}/reform.xlsx")
def analyst_reform_xlsx(request: Request, run_id: str) -> Response:
    run, actor = _export(request, run_id)
    if "xlsx" not in run.files:
        run.files["xlsx"] = panels.reform_workbook(run)
    _shown(request, actor, "read.export", "reform_run", run.id, format="xlsx")
    return Response(
        run.files["xlsx"],
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="reform.xlsx"'},
    )


@router.get("/analyst/reform/{run_id}/reform.html")
def analyst_reform_html(request: Request, run_id: str) -> Response:
    run, actor = _export(request, run_id)
    lang = page_lang(request)
    key = f"html-{lang}"
    if key not in run.files:
        run.files[key] = panels.reform_html(run, lang)
    _shown(request, actor, "read.export", "reform_run", run.id, format="html")
    return Response(
        run.files[key],
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="reform.html"'},
    )
