"""Pages for citizens: the self-check (anonymous, stores nothing), applying, tracking."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.datastructures import FormData

from hukou.engine.decide import ChannelResult, Decision, decide
from hukou.engine.report import materials_channels
from hukou.policy.facts import (
    NAME_MAX,
    InputError,
    check_id_number,
    clean_text,
    field_label,
    parse_case,
)
from hukou.policy.places import in_jiaxing, is_known_county
from hukou.policy.rules import CLAUSE_TEXTS, REGISTRATION_PLACE
from hukou.privacy import mask_id, mask_name
from hukou.registry.access import Actor
from hukou.registry.errors import RegistryError
from hukou.registry.models import Application
from hukou.registry.service import SecondOpenApplication
from hukou.service.web import explain, i18n, interview
from hukou.service.web.common import error_page, page_lang, registry_of, render
from hukou.service.web.interview import UNKNOWN, Question, Shown
from hukou.service.web.security import checked_form, read_state, sign_state

router = APIRouter(include_in_schema=False)

_PLACES = {o.value: (o.zh, o.en) for o in REGISTRATION_PLACE.options}
# an interview answer is a choice, a date or an ID number: anything longer is not one
ANSWER_MAX = 32
REFERENCE_MAX = 32  # 受理编号 HK-YYYYMMDD-XXXXXXXXXX (24), with room for spaces


def form_text(value: object, max_length: int) -> tuple[str, str | None]:
    """A one-line form field, stripped and NFC: (text, None), or ("", the bilingual problem)
    when it holds a control character or is too long."""
    try:
        return clean_text(str(value or "").strip(), max_length), None
    except ValueError as exc:
        return "", str(exc)


def _decide_answers(answers: dict[str, str], today: dt.date) -> Decision:
    return decide(parse_case(interview.build_case(answers, today)), on=today)


WEB_CLERK = "web-self-service"  # the audit's name for applications filed from the pages


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/check", response_class=HTMLResponse)
def check_start(request: Request) -> HTMLResponse:
    return render(request, "check_start.html", expired=False)


def relative_name(relation: str, index: int, answers: dict[str, str], lang: str) -> str:
    """'Spouse', 'Child 2', 'Parent 1' for relative ``index``."""
    relations = interview.family(answers)
    n = sum(1 for r in relations[: index + 1] if r == relation)
    return i18n.t(f"who.{relation}", lang, n=n)


def step_title(shown: Shown, answers: dict[str, str], lang: str) -> str:
    i = shown.step.relative
    if i is None:
        return i18n.t(shown.step.title, lang)
    relation = interview.family(answers)[i]
    return i18n.t(shown.step.title, lang, who=relative_name(relation, i, answers, lang))


def options(q: Question) -> list[str]:
    """The values a question offers (its 'don't know' last)."""
    if q.kind == "yesno":
        return ["yes", "no", UNKNOWN]
    if q.kind == "area":
        return ["urban", "rural", UNKNOWN]
    if q.kind == "county":
        return [*i18n.jiaxing_counties(), "elsewhere", UNKNOWN]
    if q.kind == "count":
        return [str(n) for n in range(q.max_count + 1)]
    if q.kind == "select":
        extra = [] if q.key == "sex" else [UNKNOWN]
        return [*q.options, *extra]
    return []


def option_label(q: Question, value: str, lang: str) -> str:
    if q.kind == "county" and value not in ("elsewhere", UNKNOWN):
        return i18n.county(value, lang)
    if q.kind == "count":
        return value
    if q.key == "lost_registration" and value == "none":
        return i18n.t("opt.lost.none", lang)
    return i18n.t(f"opt.{value}", lang)


def _field_view(
    q: Question, answers: dict[str, str], lang: str, errors: dict[str, str]
) -> dict[str, Any]:
    value = answers.get(q.key, "")
    opts = options(q)
    return {
        "key": q.key,
        "kind": q.kind,
        "label": i18n.t(q.label_key, lang),
        "value": "" if value == UNKNOWN else value,
        "answered": q.key in answers,
        "radio": q.kind in ("yesno", "area", "count") or (q.kind == "select" and len(opts) <= 4),
        "options": [(v, option_label(q, v, lang)) for v in opts],
        "error": errors.get(q.key),
        "optional": q.key in ("id_number", "birth_date", "sex"),
    }


def _answer_label(q: Question, value: str, lang: str) -> str:
    if value == UNKNOWN:
        return i18n.t("opt.?", lang)
    if q.key == "id_number":
        return mask_id(value) or ""  # on screen (and in screenshots) masked
    if q.kind in ("text", "date"):
        return value
    return option_label(q, value, lang)


def _answers_view(answers: dict[str, str], trail: list[str], lang: str) -> list[dict[str, Any]]:
    out = []
    for sid in trail:
        s = interview.step_by_id(answers, sid)
        if s is None:
            continue
        shown = Shown(s, [q for q in s.questions if q.key in answers])
        items = [
            (i18n.t(q.label_key, lang), _answer_label(q, answers[q.key], lang))
            for q in shown.questions
            if not (q.key in ("id_number", "birth_date", "sex") and answers[q.key] == UNKNOWN)
        ]
        if items:
            out.append({"id": sid, "title": step_title(shown, answers, lang), "entries": items})
    return out


def _status(c: ChannelResult) -> tuple[str, str]:
    """(css class, catalogue key): yes / no / not yet (from a date) / open."""
    if c.status == "eligible":
        return "yes", "status.eligible"
    if c.status == "undetermined":
        return "open", "status.undetermined"
    if c.earliest_date:
        return "later", "status.not_yet"
    return "no", "status.not_eligible"


def _place_text(c: ChannelResult, lang: str) -> str:
    p = c.registration_place
    if p is None:
        return ""
    if p.kind is None and p.candidates:
        names = [_PLACES.get(k, (k, k))[0 if lang == "zh" else 1] for k in p.candidates]
        return i18n.t("result.place_open", lang, c=("、" if lang == "zh" else ", ").join(names))
    text = f"{p.clause} {p.zh if lang == 'zh' else p.en}"
    where = p.where_zh if lang == "zh" else p.where_en
    return f"{text}{'：' if lang == 'zh' else ': '}{where}" if where else text


def _channel_view(c: ChannelResult, lang: str) -> dict[str, Any]:
    css, key = _status(c)
    notes = []
    if c.earliest_date:
        notes.append(i18n.t("result.from", lang, date=c.earliest_date.isoformat()))
    if c.eligible_until:
        notes.append(i18n.t("result.until", lang, date=c.eligible_until.isoformat()))
    if c.missing_facts:
        labels = ("；" if lang == "zh" else "; ").join(
            field_label(f, lang) for f in c.missing_facts[:4]
        )
        notes.append(i18n.t("result.open_facts", lang, facts=labels))
    return {
        "key": c.key,
        "clause": c.clause,
        "title": c.zh if lang == "zh" else c.en,
        "css": css,
        "status": i18n.t(key, lang),
        "notes": notes,
        "self_only": c.self_only,
        "clause_text": CLAUSE_TEXTS.get(c.clause, ""),
        "place": _place_text(c, lang),
        "materials": [
            {
                "text": m.zh if lang == "zh" else m.en,
                "clause": m.clause,
                "if_applicable": m.if_applicable,
            }
            for m in c.materials
        ],
    }


def result_view(d: Decision, answers: dict[str, str], lang: str) -> dict[str, Any]:
    channels = [_channel_view(c, lang) for c in d.channels]
    relatives = []
    for r in d.relatives:
        routes = []
        anchor = explain.is_anchor(r, d)  # the person joined: not "may not come"
        for route in [] if anchor else r.routes:
            if not explain.route_applies(route):
                continue  # §3.1 "a parent joins" for a spouse: cannot apply, not listed
            if r.status == "eligible" and route.status != "eligible":
                continue  # they may come: the routes they do not come by do not matter
            css, key = _status(route)
            view = _channel_view(route, lang)
            routes.append(
                {
                    "title": view["title"],
                    "clause": route.clause,
                    "css": css,
                    "status": i18n.t(key, lang),
                    "notes": view["notes"],
                }
            )
        css, key = _status_of_relative(r.status, r.earliest_date)
        notes = [zh if lang == "zh" else en for zh, en in r.notes]
        if anchor:
            css, key = "anchor", "result.anchor"
            notes = notes or [i18n.t("result.anchor_open", lang)]
        relatives.append(
            {
                "who": relative_name(r.relation, r.index, answers, lang),
                "css": css,
                "status": i18n.t(key, lang),
                "routes": routes,
                "notes": notes,
                "anchor": anchor,
            }
        )
    best = d.best
    listed = {c.key for c in materials_channels(d)}
    return {
        "status": d.status,
        "summary": i18n.t(f"result.summary.{d.status}", lang),
        "earliest": d.earliest_date.isoformat()
        if d.status != "eligible" and d.earliest_date
        else None,
        "date": d.decision_date.isoformat(),
        "channels": channels,
        "relatives": relatives,
        "best_place": _place_text(best, lang) if best else "",
        "best_clause": best.clause if best else "",
        "some_open": any(c.status == "undetermined" for c in d.channels),
        # what to bring: for the channel that applies (else for each open one, by name)
        "material_groups": [c for c in channels if c["materials"] and c["key"] in listed],
        "priority": [
            p.zh if lang == "zh" else p.en for p in d.priority_groups if p.status == "eligible"
        ],
        "eligible": [c for c in channels if c["css"] == "yes"],
    }


def labelled(message: str, field: str, label: str, lang: str) -> str:
    """An input error's message naming the question as the page does ("Birth date is in
    the future"), never the case model's field ("birth_date is in the future")."""
    leaf = field.rsplit(".", 1)[-1].split("[", 1)[0]
    if leaf and message.startswith(leaf):
        rest = message[len(leaf) :]
        return f"{label}{rest}" if lang == "en" else f"{label}{rest.lstrip()}"
    if label in message:
        return message
    return f"{label}{i18n.t('sep', lang)}{message}"


def _status_of_relative(status: str, earliest: dt.date | None) -> tuple[str, str]:
    if status == "eligible":
        return "yes", "status.eligible"
    if status == "undetermined":
        return "open", "status.undetermined"
    return ("later", "status.not_yet") if earliest else ("no", "status.not_eligible")


def _identity_errors(answers: dict[str, str], lang: str) -> dict[str, str]:
    number = answers.get("id_number", UNKNOWN)
    if number not in ("", UNKNOWN):
        try:
            answers["id_number"] = check_id_number(number)
        except ValueError as exc:
            zh, _, en = str(exc).partition(" / ")
            return {"id_number": zh if lang == "zh" else en}
        return {}
    if answers.get("birth_date", UNKNOWN) == UNKNOWN or answers.get("sex", UNKNOWN) == UNKNOWN:
        return {"id_number": i18n.t("check.id_or_birth", lang)}
    return {}


@router.post("/check", response_class=HTMLResponse)
async def check_step(request: Request) -> HTMLResponse:
    """One step of the self-check. Its pages are rendered in a worker thread: ``render``
    looks up (and touches) a logged-in browser's session in the register."""
    form = await checked_form(request)
    lang = page_lang(request)
    switch = form.get("switch_lang")
    if isinstance(switch, str) and switch in i18n.LANGS:
        lang = switch
    action = str(form.get("action") or "next")
    state = read_state(request, str(form.get("state") or ""))
    if action in ("start", "restart"):
        state = {"a": {}, "t": []}
    elif state is None:
        return await run_in_threadpool(render, request, "check_start.html", lang=lang, expired=True)
    answers: dict[str, str] = {str(k): str(v) for k, v in dict(state.get("a", {})).items()}
    trail: list[str] = [str(s) for s in state.get("t", [])]
    errors: dict[str, str] = {}
    general_errors: list[str] = []
    show: str | None = None

    if action == "next":
        step_id = str(form.get("step") or "")
        step = interview.step_by_id(answers, step_id)
        if step is not None:
            keys = {q.key for q in step.questions}
            for k in form.getlist("q"):
                if isinstance(k, str) and k in keys:
                    value = form.get(k)
                    text, problem = form_text(value if isinstance(value, str) else "", ANSWER_MAX)
                    if problem:
                        zh, _, en = problem.partition(" / ")
                        errors[k] = zh if lang == "zh" else en
                        continue
                    answers[k] = text or UNKNOWN
            if step_id == "identity":
                errors |= _identity_errors(answers, lang)
            if errors or switch:
                show = step_id
            else:
                trail = [s for s in trail if s != step_id] + [step_id]
    elif action == "back":
        if trail:
            show = trail.pop()
    elif action.startswith("goto:"):
        show = action[5:]
        trail = [s for s in trail if s != show]

    today = registry_of(request).clock.today()
    decision: Decision | None = None
    try:
        # CPU: in the decisions' worker threads, within their time budget (503 past it)
        decision = await request.app.state.decisions.run(_decide_answers, answers, today)
    except InputError as exc:
        for p in exc.problems:
            q = interview.question_for(p["field"], answers)
            message = p["zh"] if lang == "zh" else p["en"]
            if q is not None:
                errors[q.key] = labelled(message, p["field"], i18n.t(q.label_key, lang), lang)
                for s in interview.steps(answers):
                    if q in s.questions:
                        show = s.id
                        trail = [x for x in trail if x != s.id]
            else:
                general_errors.append(message)
    missing = interview.outcome_missing(decision) if decision else []
    if decision is None and errors:
        # the steps still to come, as if the answers at fault were not given (else the
        # page would read "step 1 of about 1" with a full bar)
        cleared = {k: v for k, v in answers.items() if k not in errors}
        with contextlib.suppress(InputError):
            missing = interview.outcome_missing(
                await request.app.state.decisions.run(_decide_answers, cleared, today)
            )
    shown = interview.revisit(answers, show, missing) if show else None
    if shown is None and decision is not None:
        shown = interview.next_step(answers, missing)
    signed = sign_state(request, {"a": answers, "t": trail})
    if shown is None and decision is not None:
        return await run_in_threadpool(
            render,
            request,
            "check_result.html",
            lang=lang,
            state=signed,
            r=result_view(decision, answers, lang),
            answers_view=_answers_view(answers, trail, lang),
            apply_counties=_apply_counties(answers),
            id_number=answers.get("id_number", "") if answers.get("id_number") != UNKNOWN else "",
        )
    if shown is None:  # bad input outside any question: start again
        return await run_in_threadpool(render, request, "check_start.html", lang=lang, expired=True)
    n = len(trail) + 1
    # this step, and those still to come after it (an answered step shown again, after an
    # error or to change an answer, is this one: not counted twice, nor left out)
    total = n + interview.remaining(answers, missing, skip=shown.step.id)
    return await run_in_threadpool(
        render,
        request,
        "check_step.html",
        lang=lang,
        state=signed,
        step_id=shown.step.id,
        title=step_title(shown, answers, lang),
        hint=i18n.t(shown.step.title + ".hint", lang)
        if shown.step.id in ("identity", "family")
        else "",
        fields=[_field_view(q, answers, lang, errors) for q in shown.questions],
        errors=[*general_errors, *errors.values()],
        n=n,
        total=total,
        can_go_back=bool(trail),
    )


def _apply_counties(answers: dict[str, str]) -> list[str]:
    """The counties to offer for the station, the likeliest first."""
    first = [
        answers[k]
        for k in ("dw_county", "lives_in", "hukou_county")
        if k in answers and in_jiaxing(answers[k])
    ]
    rest = [c for c in i18n.jiaxing_counties() if c not in first]
    return list(dict.fromkeys(first)) + rest


@router.post("/check/apply", response_class=HTMLResponse)
async def apply(request: Request) -> HTMLResponse:
    """Turn a self-check into an application at the county's station (with a reference)."""
    form = await checked_form(request)
    # the register's writes, and a refusal's audit record: in a worker thread, never on
    # the event loop (a SQLite write lock held elsewhere would freeze every request)
    return await run_in_threadpool(_apply, request, form)


def _apply(request: Request, form: FormData) -> HTMLResponse:
    lang = page_lang(request)
    state = read_state(request, str(form.get("state") or ""))
    if state is None:
        return render(request, "check_start.html", lang=lang, expired=True)
    answers: dict[str, str] = {str(k): str(v) for k, v in dict(state.get("a", {})).items()}
    name, bad_name = form_text(form.get("name"), NAME_MAX)
    number = str(form.get("id_number") or "").strip()
    kind = str(form.get("kind") or "")
    county = str(form.get("county") or "")
    problems: list[str] = []
    if bad_name:
        zh, _, en = bad_name.partition(" / ")
        return error_page(request, 422, f"姓名：{zh}", f"name: {en}")
    if not name:
        problems.append(i18n.t("apply.name", lang))
    try:
        number = check_id_number(number)
    except ValueError as exc:
        zh, _, en = str(exc).partition(" / ")
        problems.append(zh if lang == "zh" else en)
    if kind not in i18n.CHANNEL_KINDS or not in_jiaxing(county):
        problems.append(i18n.t("apply.channel", lang))
    if problems:
        return error_page(request, 422, "；".join(problems), "; ".join(problems))
    answers["id_number"] = number
    registry = registry_of(request)
    facts = interview.build_case(answers, registry.clock.today())
    facts["applicant"]["name"] = name
    said = ((facts["applicant"].get("hukou") or {}).get("address") or {}).get("county")
    if said is None or answers.get("hukou_county") == "elsewhere":
        # where the hukou is now decides how it moves (a move-in permit from outside
        # Zhejiang); the self-check only asked whether it is in Jiaxing
        origin = str(form.get("origin_county") or "").strip()
        if not (origin.isdigit() and len(origin) == 6 and is_known_county(origin)):
            return error_page(
                request,
                422,
                "请填写现户口所在地的县级行政区划代码（6位）",
                "give the six-digit county code of where your hukou is now",
            )
        hukou = facts["applicant"].setdefault("hukou", {})
        hukou["address"] = {**(hukou.get("address") or {}), "county": origin}
    for i, relative in enumerate(facts["relatives"]):
        # the family members who come along need a name and an ID number to be registered
        r_name, bad_name = form_text(form.get(f"r{i}_name"), NAME_MAX)
        if bad_name:
            zh, _, en = bad_name.partition(" / ")
            return error_page(
                request, 422, f"亲属{i + 1}姓名：{zh}", f"relative {i + 1} name: {en}"
            )
        r_number = str(form.get(f"r{i}_id_number") or "").strip()
        if r_name:
            relative["name"] = r_name
        if r_number:
            relative["id_number"] = r_number
            relative.pop("birth_date", None)  # the ID number says it
            relative.pop("sex", None)
    # citizens have no login: the application is taken at the county's station by the
    # self-service counter, which acts as that station (its checks and audit apply)
    clerk = Actor(None, WEB_CLERK, "officer", county)
    try:
        app = registry.create_application(clerk, kind, county, facts, self_service=True)
        registry.act(clerk, app.id, "submit", note="网上提交 / submitted online")
    except SecondOpenApplication:
        # one open application per ID number: the answer is the same whoever holds the open
        # one, taken wherever, under whatever name — no reference, county or name, and not
        # that it is someone else's; the officer's own refusal says what it is. Recorded as
        # a security event (a stranger's number tried), without the number or the name.
        registry.audit_event(
            WEB_CLERK,
            "apply.refused",
            "application",
            "",
            {"reason": "open_application", "county": county, "kind": kind},
        )
        return error_page(
            request, 409, i18n.t("apply.not_taken", "zh"), i18n.t("apply.not_taken", "en")
        )
    except RegistryError as exc:
        return error_page(request, exc.status, exc.zh, exc.en)
    return render(request, "apply_done.html", lang=lang, reference=app.reference)


@router.get("/track", response_class=HTMLResponse)
def track_form(request: Request) -> HTMLResponse:
    return render(request, "track.html", found=None, asked=False)


@router.post("/track", response_class=HTMLResponse)
async def track(request: Request) -> HTMLResponse:
    form = await checked_form(request)
    return await run_in_threadpool(_track, request, form)  # the register's read: off the loop


def _track(request: Request, form: FormData) -> HTMLResponse:
    reference, problem = form_text(form.get("reference"), REFERENCE_MAX)
    if problem:
        zh, _, en = problem.partition(" / ")
        return error_page(request, 422, f"受理编号：{zh}", f"reference: {en}")
    reference = reference.upper()

    def query(s: Any) -> dict[str, Any] | None:
        a = s.execute(
            select(Application).where(Application.reference == reference)
        ).scalar_one_or_none()
        if a is None:
            return None
        return {
            "reference": a.reference,
            "state": a.state,
            "kind": a.kind,
            "county": a.county,
            "applicant": mask_name(a.applicant_name),
            "decided_on": a.decided_on.isoformat() if a.decided_on else "",
            "reasons": a.reasons if a.state == "rejected" else "",
        }

    found = registry_of(request).read(query) if reference else None
    return render(request, "track.html", found=found, asked=True)
