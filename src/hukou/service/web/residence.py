"""Pages of §6 (issue 16): the citizen's residence-permit self-check, and the officer's
permit queue and a person's residence registrations and permits, with the actions.

* ``/check/permit`` (anonymous, stores nothing): one form — where one lives, the hukou, the
  residence registration and since when, work, business, study, home — decided by the
  permit rules (``engine.permit.decide_permit``) in the decisions' pool: yes / not yet
  (from which date) / open (what is still needed), the grounds, the materials, the
  explanation and article 2 quoted.
* ``/officer/permits``: the queue of one's county (applications to review or issue,
  endorsements due or lapsed, applications past art. 9's 15 days; ID numbers never shown
  in it), a look-up by ID number (POSTed, never in a URL) and the form of a new residence
  registration. Each page shown is audited (``read.permit_queue``).
* ``/officer/residence/person/{id}``: one person's registrations and permits in one's
  county (``read.residence``), each with the forms of the steps its state allows. Every
  form carries its CSRF token; every action is one call of the register as the logged-in
  officer (role, jurisdiction, state and version are the register's), and the review —
  which decides the case with the permit rules — runs in the decisions' pool within its
  time budget (``DecisionPool.run_write``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from hukou.engine.permit import decide_permit, permit_json
from hukou.policy.facts import NAME_MAX, InputError, parse_case
from hukou.policy.permit import CLAUSE_TEXTS
from hukou.registry.access import Actor
from hukou.registry.errors import NotFound, RegistryError
from hukou.registry.models import Person, ResidencePermit
from hukou.registry.permits import PERMIT_TRANSITIONS
from hukou.service import permits_api, reads
from hukou.service.limits import DecisionPool
from hukou.service.web import explain, i18n
from hukou.service.web.citizen import form_text
from hukou.service.web.common import page_lang, registry_of, render
from hukou.service.web.security import checked_form
from hukou.service.web.staff import (
    _checked,
    _form_int,
    _form_text,
    _reader,
    _row_id,
    _see_other,
    _shown,
    require,
)

router = APIRouter(include_in_schema=False)

# ---- the citizen's permit self-check -------------------------------------------------------

UNKNOWN = "?"
YESNO = ("yes", "no", UNKNOWN)
DWELLINGS = ("owned", "rented_registered", "rented_unregistered", "none", UNKNOWN)
FIELDS = ("lives_in", "hukou", "registration", "reg_county", "reg_since", "labour_contract",
          "business", "study", "dwelling")  # fmt: skip
EARLIEST_SINCE = dt.date(1900, 1, 1)


def _choices(lang: str) -> dict[str, list[tuple[str, str]]]:
    counties = [(c, i18n.county(c, lang)) for c in i18n.jiaxing_counties()]
    yesno = [(v, i18n.t(f"opt.{v}", lang)) for v in YESNO]
    return {
        "lives_in": [*counties, (UNKNOWN, i18n.t("opt.?", lang))],
        "hukou": [
            *counties,
            ("elsewhere", i18n.t("pc.hukou.elsewhere", lang)),
            (UNKNOWN, i18n.t("opt.?", lang)),
        ],
        "registration": yesno,
        "reg_county": [("", i18n.t("pc.reg_county.same", lang)), *counties],
        "labour_contract": yesno,
        "business": yesno,
        "study": yesno,
        "dwelling": [(v, i18n.t(f"opt.{v}", lang)) for v in DWELLINGS],
    }


def permit_case(answers: dict[str, str], today: dt.date) -> tuple[dict[str, Any], dict[str, str]]:
    """The case the answers describe, and the problems of the answers ({field: key of the
    message}): a value not offered, or a date that is not one."""
    problems: dict[str, str] = {}
    offered = {k: {v for v, _ in opts} for k, opts in _choices("zh").items()}
    for key, allowed in offered.items():
        if answers.get(key, "") not in allowed | ({""} if key != "reg_county" else set()):
            problems[key] = "problem.choice"
    a: dict[str, Any] = {}
    lives = answers.get("lives_in", UNKNOWN)
    if lives not in ("", UNKNOWN):
        a["lives_in"] = lives
    hukou = answers.get("hukou", UNKNOWN)
    if hukou == "elsewhere":
        a["hukou"] = {"kind": "outside_jiaxing"}
    elif hukou not in ("", UNKNOWN):
        a["hukou"] = {"kind": "own_family_household", "address": {"county": hukou}}
    for key, fact in (
        ("registration", "residence_registration"),
        ("labour_contract", "local_labour_contract"),
        ("business", "local_business"),
        ("study", "continuous_study"),
    ):
        if answers.get(key) in ("yes", "no"):
            a[fact] = answers[key] == "yes"
    if answers.get("reg_county"):
        a["residence_registration_county"] = answers["reg_county"]
    since = answers.get("reg_since", "")
    if since:
        try:
            day = dt.date.fromisoformat(since)
        except ValueError:
            problems["reg_since"] = "problem.date"
        else:
            if not EARLIEST_SINCE <= day <= permits_api.LAST_SINCE:
                problems["reg_since"] = "problem.range"
            else:
                a["residence_registration_since"] = day.isoformat()
    dwelling = answers.get("dwelling", UNKNOWN)
    if dwelling == "none":
        a["dwellings"] = []
    elif dwelling in ("owned", "rented_registered", "rented_unregistered"):
        home: dict[str, Any] = {"tenure": dwelling}
        if "lives_in" in a:
            home["address"] = {"county": a["lives_in"]}
        a["dwellings"] = [home]
    return {"decision_date": today.isoformat(), "applicant": a, "relatives": []}, problems


def _decide(case: dict[str, Any]) -> dict[str, Any]:
    return permit_json(decide_permit(parse_case(case)))


def permit_view(d: dict[str, Any], lang: str) -> dict[str, Any]:
    """The permit decision (``permit_json``) as the page shows it, in one language."""
    status = d["status"]
    css = {"eligible": "yes", "undetermined": "open"}.get(status, "no")
    if status == "not_eligible" and d.get("earliest_date"):
        css = "later"
    grounds = []
    for g in d["ground_results"]:
        g_css = {"eligible": "yes", "undetermined": "open"}.get(g["status"], "no")
        grounds.append(
            {
                "clause": g["clause"],
                "title": g["title"][lang] or g["title"]["zh"],
                "css": g_css,
                "status": i18n.t(
                    {"yes": "status.eligible", "open": "status.undetermined"}.get(
                        g_css, "status.not_eligible"
                    ),
                    lang,
                ),
            }
        )
    return {
        "status": status,
        "css": css,
        "summary": i18n.t(f"pc.summary.{status}", lang),
        "earliest": d.get("earliest_date"),
        "until": d.get("eligible_until"),
        "date": d["decision_date"],
        "grounds": grounds,
        "missing": [m[lang] or m["zh"] for m in d.get("missing_labels") or []],
        "materials": [
            {
                "text": m[lang] or m["zh"],
                "clause": m["clause"],
                "if_applicable": m["if_applicable"],
            }
            for m in d.get("materials") or []
        ],
        "trace": explain.explanation(d["explanation"], lang),
        "clause_text": (d.get("clause_texts") or {}).get("R663.2") or CLAUSE_TEXTS.get("R663.2"),
    }


def _permit_form(
    request: Request,
    lang: str,
    answers: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "permit_check.html",
        status=status,
        lang=lang,
        choices=_choices(lang),
        answers=answers,
        errors=errors or {},
        r=result,
    )


@router.get("/check/permit", response_class=HTMLResponse)
def permit_check_form(request: Request) -> HTMLResponse:
    return _permit_form(request, page_lang(request), {})


@router.post("/check/permit", response_class=HTMLResponse)
async def permit_check(request: Request) -> HTMLResponse:
    """Decide the answers (the decisions' pool, within its budget); nothing is stored."""
    form = await checked_form(request)
    lang = page_lang(request)
    answers: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key in FIELDS:
        text, problem = form_text(form.get(key), 16)
        if problem:
            zh, _, en = problem.partition(" / ")
            errors[key] = zh if lang == "zh" else en
        answers[key] = text
    registry = registry_of(request)
    case, problems = permit_case(answers, registry.clock.today())
    for key, message in problems.items():
        errors.setdefault(key, i18n.t(message, lang))
    if errors:
        return await run_in_threadpool(
            _permit_form, request, lang, answers, errors=errors, status=422
        )
    pool: DecisionPool = request.app.state.decisions
    try:
        decided = await pool.run(_decide, case)
    except InputError as exc:
        p = exc.problems[0]
        errors["(case)"] = p["zh"] if lang == "zh" else p["en"]
        return await run_in_threadpool(
            _permit_form, request, lang, answers, errors=errors, status=422
        )
    return await run_in_threadpool(
        _permit_form, request, lang, answers, result=permit_view(decided, lang)
    )


# ---- officer: the queue -----------------------------------------------------------------


@router.get("/officer/permits", response_class=HTMLResponse)
def permit_queue(request: Request) -> HTMLResponse:
    """居住证工作台: the queue of one's county (an admin: all); audited."""
    action = "read.permit_queue"
    actor = _reader(request, action, "residence_permit", "", "officer", "admin")
    registry = registry_of(request)
    q = _checked(
        request,
        actor,
        action,
        "residence_permit",
        "",
        lambda: permits_api.queue(registry, actor),
    )
    response = render(request, "officer_permits.html", actor=actor, q=q)
    shown = sorted({p["id"] for k in ("applications", "endorsements_due", "overdue") for p in q[k]})
    _shown(request, actor, action, "residence_permit", "", shown=shown)
    return response


# ---- officer: a person ----------------------------------------------------------------------


def _person(registry: Any, person_id: int) -> Person:
    found: Person | None = registry.read(lambda s: s.get(Person, person_id))
    if found is None:
        raise NotFound("无此人员", "no such person", "person_id")
    return found


@router.get("/officer/residence/person/{person_id}", response_class=HTMLResponse)
def person_page(request: Request, person_id: int, done: str | None = None) -> HTMLResponse:
    """A person's residence registrations and permits in one's county (audited:
    ``read.residence``); 404 when one's county holds none of them."""
    person_id = _row_id(person_id, "person_id")
    action = "read.residence"
    actor = _reader(request, action, "person", person_id, "officer", "admin")
    registry = registry_of(request)

    def load() -> dict[str, Any]:
        person = _person(registry, person_id)
        found = permits_api.history(registry, actor, person.id_number)
        if found["person"] is None:
            raise NotFound(
                "本辖区没有此人的居住登记或居住证记录",
                "your county holds no residence registration or permit of this person",
                "person_id",
            )
        return found

    found = _checked(request, actor, action, "person", person_id, load)
    response = _history_page(request, actor, found, done=done)
    _shown(
        request,
        actor,
        action,
        "person",
        person_id,
        registrations=[r["id"] for r in found["registrations"]],
        permits=[p["id"] for p in found["permits"]],
    )
    return response


def _history_page(
    request: Request,
    actor: Actor,
    found: dict[str, Any],
    *,
    done: str | None = None,
    typed: str = "",
    status: int = 200,
) -> HTMLResponse:
    permits = []
    for p in found["permits"]:
        steps = {a for (st, a) in PERMIT_TRANSITIONS if st == p["state"]}
        permits.append({**p, "steps": steps})
    return render(
        request,
        "officer_residence.html",
        status=status,
        actor=actor,
        person=found["person"],
        registrations=found["registrations"],
        permits=permits,
        done=done if done in DONE else "",
        typed=typed,
    )


DONE = ("register", "change_address", "end", "apply", *sorted({a for _, a in PERMIT_TRANSITIONS}))


@router.post("/officer/residence", response_class=HTMLResponse, response_model=None)
async def lookup(request: Request) -> Response:
    """Look a person up by ID number (in the form, never in a URL): their page when one's
    county holds records of them, else this page with the form to register them. The
    look-up is audited whether it finds someone or not (``read.person``)."""
    form = await checked_form(request)
    return await run_in_threadpool(_lookup, request, form)


def _lookup(request: Request, form: FormData) -> Response:
    actor = _reader(request, "read.person", "person", "", "officer", "admin")
    registry = registry_of(request)
    number = _form_text(form, "id_number", 18).upper()
    found = reads.checked(
        registry,
        actor,
        "read.residence",
        "person",
        "",
        lambda: permits_api.history(registry, actor, number),
    )
    person = found["person"]
    reads.looked_up(
        registry, actor, number, [person["person_id"]] if person else [], "page", "residence"
    )
    if person is not None:
        return _see_other(f"/officer/residence/person/{person['person_id']}")
    # nothing in one's county: the form to register them, with the number typed
    return _history_page(request, actor, found, typed=number)


@router.post("/officer/residence/register", response_model=None)
async def register(request: Request) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_register, request, form)


def _since(form: FormData, key: str) -> dt.date | None:
    raw = _form_text(form, key, 10)
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise RegistryError(
            f"{key}：日期格式应为 年-月-日", f"{key}: a date is written YYYY-MM-DD", key
        ) from None
    if day.year < 1900:
        raise RegistryError(f"{key}：日期过早", f"{key}: the date is too early", key)
    return day


def _housing(form: FormData) -> dict[str, Any]:
    return {
        "housing": _form_text(form, "housing", 16) or "employer",
        "dwelling_id": _form_int(form, "dwelling_id"),
        "address": _form_text(form, "address", 255) or None,
        "provider": _form_text(form, "provider", 128) or None,
    }


def _register(request: Request, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    reg = registry_of(request).register_residence(
        actor,
        _form_text(form, "id_number", 18).upper(),
        actor.jurisdiction or "",
        name=_form_text(form, "name", NAME_MAX) or None,
        since=_since(form, "since"),
        **_housing(form),
    )
    return _see_other(f"/officer/residence/person/{reg.person_id}?done=register")


@router.post("/officer/residence/registration/{registration_id}", response_model=None)
async def registration_action(request: Request, registration_id: int) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_registration_action, request, registration_id, form)


def _registration_action(request: Request, registration_id: int, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    registry = registry_of(request)
    registration_id = _row_id(registration_id, "registration_id")
    action = _form_text(form, "action", 32)
    version = _form_int(form, "version")
    if action == "change_address":
        reg = registry.change_residence_address(
            actor, registration_id, on=_since(form, "on"), version=version, **_housing(form)
        )
        person_id = reg.person_id
    elif action == "end":
        reg = registry.end_residence(
            actor, registration_id, "left", on=_since(form, "on"), version=version
        )
        person_id = reg.person_id
    elif action == "apply":
        ground = _form_text(form, "ground", 16)
        facts = {
            fact: True
            for fact in ("local_labour_contract", "local_business", "continuous_study")
            if form.get(fact) == "yes"
        }
        applied = registry.apply_on_registration(
            actor, registration_id, ground, facts=facts or None
        )
        person_id = applied.person_id
    else:
        raise RegistryError("操作无效", "unknown action", "action")
    return _see_other(f"/officer/residence/person/{person_id}?done={action}")


@router.post("/officer/residence/permit/{permit_id}", response_model=None)
async def permit_action(request: Request, permit_id: int) -> Response:
    form = await checked_form(request)
    if str(form.get("action") or "") == "review":  # decides the case: in the pool, budgeted
        pool: DecisionPool = request.app.state.decisions
        return await pool.run_write(_permit_action, request, permit_id, form)
    return await run_in_threadpool(_permit_action, request, permit_id, form)


def _permit_action(request: Request, permit_id: int, form: FormData) -> Response:
    actor = require(request, "officer", "admin")
    registry = registry_of(request)
    permit_id = _row_id(permit_id, "residence_permit_id")
    action = _form_text(form, "action", 32)
    version = _form_int(form, "version")
    permit: ResidencePermit
    if action == "review":
        note = _form_text(form, "note", 2000, multiline=True) or None
        permit = registry.review_residence_permit(actor, permit_id, note=note, version=version)
    elif action == "issue":
        permit = registry.issue_residence_permit(actor, permit_id, version=version)
    elif action == "refuse":
        reasons = _form_text(form, "reasons", 2000, multiline=True)
        permit = registry.refuse_residence_permit(actor, permit_id, reasons, version=version)
    elif action == "withdraw":
        permit = registry.withdraw_residence_permit(actor, permit_id, version=version)
    elif action == "endorse":
        permit = registry.endorse_residence_permit(actor, permit_id, version=version)
    elif action == "replace":
        reason = _form_text(form, "reason", 16)
        permit = registry.replace_residence_permit(actor, permit_id, reason, version=version)
    elif action == "cancel":
        reason = _form_text(form, "reason", 16)
        permit = registry.cancel_residence_permit(actor, permit_id, reason, version=version)
    else:
        raise RegistryError("操作无效", "unknown action", "action")
    return _see_other(f"/officer/residence/person/{permit.person_id}?done={action}")


# ---- the settlement case page: where the applicant's facts differ from the register ---------


def register_conflicts(app: Any) -> list[dict[str, str]]:
    """The differences between what a settlement applicant typed and the register's
    residence and permit records (``register_conflicts``: a list of {field, typed,
    register}), wherever the application keeps them — an attribute of its own, or a key
    of its decision or facts; [] when there are none. Values shown as text."""
    found = getattr(app, "register_conflicts", None)
    for held in (getattr(app, "decision", None), getattr(app, "facts", None)):
        if not found and isinstance(held, dict):
            found = held.get("register_conflicts")
    return conflict_rows(found)


def conflict_rows(found: Any) -> list[dict[str, str]]:
    """A list of register conflicts ({field, typed, register}) as the page shows them:
    values as text; [] for anything else."""
    if not isinstance(found, list):
        return []
    out = []
    for c in found:
        if isinstance(c, dict) and c.get("field"):
            out.append(
                {
                    "field": str(c["field"]),
                    "typed": _shown_value(c.get("typed")),
                    "register": _shown_value(c.get("register")),
                }
            )
    return out


def _shown_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是 / yes" if value else "否 / no"
    return str(value)


__all__ = ["conflict_rows", "register_conflicts", "router"]
