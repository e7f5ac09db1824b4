"""The API of §6 (issue 16): residence registration (居住登记), residence permits (居住证,
国务院令第663号) and the anonymous permit check.

* ``POST /api/permit/check`` (anonymous, stores nothing): the rules of order 663 art. 2
  (``engine.permit.decide_permit``) on a case, as ``POST /api/check`` decides the notice's:
  the same case model and parser (``engine.messages.read_case``), the same 422
  ``{"errors": [{field, zh, en}]}``, in the decisions' pool within its time budget (503
  past it), rate-limited with ``/api/check`` (``limits.RATE_LIMITED``).
* The register's operations (``registry.permits.ResidenceOffice``), one endpoint each, for
  an officer of the record's county: ``/api/residence-registrations`` (start, change of
  address, end) and ``/api/residence-permits`` (apply, review, issue, refuse, withdraw,
  endorse, replace, cancel). The register checks role, jurisdiction (``scope.Named``: 403
  or 404 naming the field, before anything is written), the state and the version (409).
  Review decides the case with the permit rules: it runs in the decisions' pool, within the
  budget, and commits nothing past it (``DecisionPool.run_write``).
* Reads, each audited (``service.reads``): one permit (``read.residence_permit``), the
  queue of one's county — applications to review or issue, endorsements due or lapsed,
  applications past the 15 days of art. 9 (``read.permit_queue``) — and a person's
  registrations and permits, the ID number in the body (``read.residence``, with a keyed
  digest of the number, never the number). The queue masks every ID number (a list needs
  none) and, outside one's county, names; the history and one permit are in full for the
  county's officer (and the admin).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hukou.engine import messages
from hukou.engine.permit import decide_permit, permit_json
from hukou.policy.facts import NAME_MAX, InputError, Note, Text, check_id_number
from hukou.policy.permit import load_parameters
from hukou.privacy import mask_id, mask_name
from hukou.registry.access import Actor
from hukou.registry.errors import RegistryError
from hukou.registry.models import (
    Person,
    ResidencePermit,
    ResidencePermitEndorsement,
    ResidenceRegistration,
)
from hukou.registry.permits import (
    endorsement_window,
    permit_status,
    registration_state,
    residence_years,
)
from hukou.registry.scope import Named
from hukou.registry.service import Registry
from hukou.service import reads, tokens
from hukou.service.limits import DecisionPool

router = APIRouter(tags=["residence permits / 居住证"])

MAX_ID = 2_147_483_647
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
EARLIEST_DAY, LATEST_DAY = dt.date(1900, 1, 1), dt.date(2099, 12, 31)
Day = Annotated[dt.date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)]
Version = Annotated[int | None, Field(None, ge=1, le=MAX_ID, description="记录版本 / version")]
IdNumber = Annotated[
    str, Field(min_length=18, max_length=18, description="身份证号码 / ID number (GB 11643)")
]
County = Annotated[str, Field(pattern=r"^\d{6}$", description="县（市、区）代码 / county code")]
QUEUE_STATES = ("applied", "under_review")

# ---- bodies -----------------------------------------------------------------------------


class Housing(BaseModel):
    housing: Literal["dwelling", "employer", "school"] = Field(
        "dwelling", description="住所类别：登记簿住所、单位或学校提供 / kind of housing"
    )
    dwelling_id: RowId | None = Field(None, description="登记簿住所 / a dwelling of the register")
    address: Text | None = Field(
        None, max_length=255, description="单位、学校提供的住所地址 / its address"
    )
    provider: Text | None = Field(
        None, max_length=128, description="提供住所的单位或学校 / the employer or school"
    )


class ResidenceIn(Housing):
    """居住登记 / register that a person lives in the county (created in the register when
    new: then the name is needed)."""

    id_number: IdNumber
    county: County
    name: Text | None = Field(None, min_length=1, max_length=NAME_MAX, description="姓名 / name")
    since: Day | None = Field(None, description="居住起始日（默认今日） / living there since")


class AddressChangeIn(Housing):
    """变更居住地址 / a new address in the same county, from ``on`` (default today)."""

    on: Day | None = Field(None, description="变更日期 / the day of the change")
    version: Version = None


class ResidenceEndIn(BaseModel):
    """注销居住登记 / the person has left the county."""

    reason: Literal["left"] = "left"
    on: Day | None = Field(None, description="离开日期 / the day they left")
    version: Version = None


class GroundFactsIn(BaseModel):
    """申领依据的事实 / the evidence of the ground (case fields of the applicant); the
    register gives the rest (who, where they live, since when, their hukou)."""

    model_config = ConfigDict(extra="forbid")

    local_labour_contract: bool | None = Field(
        None, description="与嘉兴用人单位签订劳动合同 / a labour contract with a Jiaxing employer"
    )
    local_business: bool | None = Field(
        None, description="在嘉兴经商办企业 / runs a business in Jiaxing"
    )
    continuous_study: bool | None = Field(None, description="在嘉兴连续就读 / studying in Jiaxing")
    dwellings: list[dict[str, Any]] | None = Field(
        None, max_length=20, description="住所（案件格式） / dwellings (as in a case)"
    )


class PermitApplyIn(BaseModel):
    """申领居住证 (受理) / take an application for a residence permit."""

    id_number: IdNumber
    county: County
    ground: Literal["employment", "dwelling", "study"] = Field(
        description="申领依据 / the ground of art. 2"
    )
    facts: GroundFactsIn | None = None


class ReviewIn(BaseModel):
    note: Note | None = Field(None, max_length=2000, description="审核意见 / the finding")
    version: Version = None


class RefuseIn(BaseModel):
    reasons: Note = Field(min_length=1, max_length=2000, description="不予签发的理由 / reasons")
    version: Version = None


class StepIn(BaseModel):
    version: Version = None


class ReplaceIn(BaseModel):
    reason: Literal["lost", "damaged"] = Field(description="丢失补领、损坏换领 / lost, damaged")
    version: Version = None


class CancelIn(BaseModel):
    reason: Literal["left", "issued_in_error"] = Field(
        description="离开居住地、签发错误 / left the county, issued in error"
    )
    version: Version = None


class HistoryIn(BaseModel):
    """The ID number goes in the body, never in a URL."""

    id_number: IdNumber


# ---- answers ----------------------------------------------------------------------------


class RegistrationOut(BaseModel):
    id: int
    person_id: int
    county: str
    state: Literal["open", "ended"]
    housing: str
    dwelling_id: int | None
    address: str
    provider: str | None
    start_date: dt.date
    end_date: dt.date | None
    end_reason: str | None
    previous_id: int | None
    version: int


class EndorsementOut(BaseModel):
    endorsed_on: dt.date
    late: bool = Field(description="逾期补办 / late (after a lapse)")
    valid_until: dt.date


class Window(BaseModel):
    opens: dt.date = Field(description="签注期起 / the window opens")
    closes: dt.date = Field(description="签注期止（即有效期末日） / the last day of validity")


class RulesSummary(BaseModel):
    status: str
    grounds: list[str]
    earliest_date: str | None
    missing_facts: list[str]


class PermitOut(BaseModel):
    id: int
    reference: str = Field(description="受理编号 / reference")
    number: str | None = Field(description="居住证号 / permit number (once issued)")
    person_id: int
    name: str | None = Field(description="姓名（辖区外遮蔽） / name, masked outside one's county")
    id_number: str | None = Field(description="身份证号码（列表中遮蔽） / masked in lists")
    county: str
    ground: str
    state: str
    status: str = Field(
        description="今日状态：issued 按日期为 valid 或 lapsed / today: an issued permit is "
        "valid or lapsed by date; other states as stored"
    )
    lapsed: bool
    applied_on: dt.date
    reviewed_on: dt.date | None
    decided_on: dt.date | None
    issued_on: dt.date | None
    valid_until: dt.date | None
    endorsement_window: Window | None
    residence_since: dt.date | None
    residence_years: int
    closed_on: dt.date | None
    close_reason: str | None
    replaces_id: int | None
    reasons: str | None
    review_note: str | None
    rule_version: str | None
    rules: RulesSummary | None = Field(description="规则结论摘要 / the rules' decision, in short")
    overdue: bool = Field(description="受理逾期未办结（第九条） / undecided past art. 9's days")
    version: int


class PermitDetailOut(PermitOut):
    decision: dict[str, Any] | None = Field(description="规则结论（hukou.permit-decision/1）")
    endorsements: list[EndorsementOut]


class QueueOut(BaseModel):
    on: dt.date
    applications: list[PermitOut] = Field(description="待审核、待签发 / to review or issue")
    endorsements_due: list[PermitOut] = Field(description="签注期内或已逾期 / due or lapsed")
    overdue: list[PermitOut] = Field(description="受理逾期 / past art. 9's days")


class PersonOut(BaseModel):
    person_id: int
    name: str
    id_number: str


class HistoryOut(BaseModel):
    person: PersonOut | None = Field(
        description="此人（仅当本辖区有其记录） / the person, when one's county holds records"
    )
    registrations: list[RegistrationOut]
    permits: list[PermitDetailOut]


class PermitCheckOut(BaseModel):
    """hukou.permit-decision/1 (docs/permits.md); more fields than listed here."""

    model_config = ConfigDict(extra="allow")

    schema_: str = Field(alias="schema")
    decision_date: str
    status: Literal["eligible", "not_eligible", "undetermined", "not_in_force"]
    earliest_date: str | None
    eligible_until: str | None
    grounds: list[str]
    missing_facts: list[str]
    missing_labels: list[dict[str, str]]
    materials: list[dict[str, Any]]
    explanation: dict[str, Any]


# ---- views ------------------------------------------------------------------------------


def registration_out(r: ResidenceRegistration) -> dict[str, Any]:
    return {
        "id": r.id,
        "person_id": r.person_id,
        "county": r.county,
        "state": registration_state(r),
        "housing": r.housing,
        "dwelling_id": r.dwelling_id,
        "address": r.address,
        "provider": r.provider,
        "start_date": r.start_date,
        "end_date": r.end_date,
        "end_reason": r.end_reason,
        "previous_id": r.previous_id,
        "version": r.version,
    }


def _rules(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    if not decision:
        return None
    return {
        "status": str(decision.get("status")),
        "grounds": list(decision.get("grounds") or []),
        "earliest_date": decision.get("earliest_date"),
        "missing_facts": list(decision.get("missing_facts") or []),
    }


def permit_out(
    p: ResidencePermit,
    person: Person | None,
    actor: Actor,
    today: dt.date,
    *,
    listing: bool = False,
    overdue_before: dt.date | None = None,
) -> dict[str, Any]:
    """A permit as the API shows it: the name in full inside one's county (masked outside),
    the ID number masked in a listing (``listing``)."""
    full = actor.can_see_county(p.county)
    name = person.name if person else None
    number = person.id_number if person else None
    window = None
    if p.state == "issued" and p.valid_until is not None:
        opens, closes = endorsement_window(p, load_parameters().at(today))
        window = {"opens": opens, "closes": closes}
    status = permit_status(p, today)
    return {
        "id": p.id,
        "reference": p.reference,
        "number": p.number,
        "person_id": p.person_id,
        "name": name if full else mask_name(name),
        "id_number": mask_id(number) if listing or not full else number,
        "county": p.county,
        "ground": p.ground,
        "state": p.state,
        "status": status,
        "lapsed": status == "lapsed",
        "applied_on": p.applied_on,
        "reviewed_on": p.reviewed_on,
        "decided_on": p.decided_on,
        "issued_on": p.issued_on,
        "valid_until": p.valid_until,
        "endorsement_window": window,
        "residence_since": p.residence_since,
        "residence_years": residence_years(p, today),
        "closed_on": p.closed_on,
        "close_reason": p.close_reason,
        "replaces_id": p.replaces_id,
        "reasons": p.reasons,
        "review_note": p.review_note if full else None,
        "rule_version": p.rule_version,
        "rules": _rules(p.decision),
        "overdue": overdue_before is not None
        and p.state in QUEUE_STATES
        and p.applied_on < overdue_before,
        "version": p.version,
    }


def overdue_before(today: dt.date) -> dt.date:
    """Applications taken before this day and still undecided are overdue (art. 9)."""
    days = load_parameters().at(today)["r663_register.issue_within_days"]
    return today - dt.timedelta(days=days)


def permit_detail(s: Session, p: ResidencePermit, actor: Actor, today: dt.date) -> dict[str, Any]:
    """One permit with the rules' decision and its endorsements (``p`` authorised)."""
    endorsements = s.execute(
        select(ResidencePermitEndorsement)
        .where(ResidencePermitEndorsement.permit_id == p.id)
        .order_by(ResidencePermitEndorsement.id)
    ).scalars()
    full = actor.can_see_county(p.county)
    return {
        **permit_out(
            p, s.get(Person, p.person_id), actor, today, overdue_before=overdue_before(today)
        ),
        "decision": p.decision if full else None,
        "endorsements": [
            {"endorsed_on": e.endorsed_on, "late": e.late, "valid_until": e.valid_until}
            for e in endorsements
        ],
    }


def load_permit(registry: Registry, actor: Actor, permit_id: int) -> dict[str, Any]:
    """One permit, resolved through ``scope.Named`` (an officer's county; an admin any):
    403 naming ``residence_permit_id`` elsewhere, 404 when there is none."""
    actor.require_role("officer", "admin")
    today = registry.clock.today()

    def query(s: Session) -> dict[str, Any]:
        return permit_detail(s, Named(s, actor).residence_permit(permit_id), actor, today)

    return registry.read(query)


def open_applications(registry: Registry, actor: Actor) -> list[ResidencePermit]:
    """Applications to review or issue: one's county (an admin: all), oldest first, at
    most ``reads.LIST_MAX``."""
    actor.require_role("officer", "admin")

    def query(s: Session) -> list[ResidencePermit]:
        stmt = select(ResidencePermit).where(ResidencePermit.state.in_(QUEUE_STATES))
        if actor.role == "officer":
            stmt = stmt.where(ResidencePermit.county == actor.jurisdiction)
        order = (ResidencePermit.applied_on, ResidencePermit.id)
        return list(s.execute(stmt.order_by(*order).limit(reads.LIST_MAX)).scalars())

    return registry.read(query)


def persons_of(registry: Registry, permits: list[ResidencePermit]) -> dict[int, Person]:
    ids = sorted({p.person_id for p in permits})
    if not ids:
        return {}
    return registry.read(
        lambda s: {p.id: p for p in s.execute(select(Person).where(Person.id.in_(ids))).scalars()}
    )


def queue(registry: Registry, actor: Actor) -> dict[str, Any]:
    """The permit queue of one's county (``QueueOut``)."""
    today = registry.clock.today()
    apps = open_applications(registry, actor)
    due = registry.endorsements_due(actor, today)[: reads.LIST_MAX]
    late = registry.overdue_permit_applications(actor, today)[: reads.LIST_MAX]
    persons = persons_of(registry, [*apps, *due, *late])
    before = overdue_before(today)

    def shown(rows: list[ResidencePermit]) -> list[dict[str, Any]]:
        return [
            permit_out(
                p, persons.get(p.person_id), actor, today, listing=True, overdue_before=before
            )
            for p in rows
        ]

    return {
        "on": today,
        "applications": shown(apps),
        "endorsements_due": shown(due),
        "overdue": shown(late),
    }


def history(registry: Registry, actor: Actor, id_number: str) -> dict[str, Any]:
    """A person's registrations and permits in one's county (an admin: all), by ID number:
    the person named only when there is something to show."""
    actor.require_role("officer", "admin")
    try:
        number = check_id_number(id_number)
    except ValueError as exc:
        zh, _, en = str(exc).partition(" / ")
        raise RegistryError(zh, en or zh, "id_number") from None
    registrations = registry.residence_history(actor, number)
    permits = registry.residence_permits(actor, number)
    today = registry.clock.today()

    def query(s: Session) -> dict[str, Any]:
        person = s.execute(select(Person).where(Person.id_number == number)).scalar_one_or_none()
        shown = person is not None and bool(registrations or permits)
        return {
            "person": {"person_id": person.id, "name": person.name, "id_number": person.id_number}
            if shown and person is not None
            else None,
            "registrations": [registration_out(r) for r in registrations],
            # each permit listed was authorised by ``residence_permits`` (one's county)
            "permits": [permit_detail(s, p, actor, today) for p in permits],
        }

    return registry.read(query)


def history_detail(registry: Registry, number: str, found: dict[str, Any]) -> dict[str, Any]:
    """The audit detail of a history read: a keyed digest of the number, the rows shown."""
    return {
        "number": reads.number_digest(registry, number),
        "found": 1 if found["person"] else 0,
        "registrations": [r["id"] for r in found["registrations"]],
        "permits": [p["id"] for p in found["permits"]],
    }


# ---- the permit check ---------------------------------------------------------------------

# the rules add six months to the registration's start: a start this late cannot be computed
LAST_SINCE = dt.date(9999, 6, 30)


def permit_check_bytes(body: bytes, on: dt.date | None) -> bytes:
    """``POST /api/permit/check``'s work, as ``app.check_bytes``: the case parsed by the
    case model (``messages.read_case``: every problem named, in zh and en), the permit
    rules, orjson. CPU only: in the decisions' pool."""
    case = messages.read_case(body, decision_date=on)
    since = case.applicant.residence_registration_since
    if since is not None and since > LAST_SINCE:
        raise InputError(
            [
                {
                    "field": "applicant.residence_registration_since",
                    "label": "",
                    "zh": f"居住登记起始日 {since} 超出可计算的范围",
                    "en": f"the registration's start {since} is beyond the dates that can be "
                    "computed",
                    "code": "date_range",
                }
            ]
        )
    return orjson.dumps(permit_json(decide_permit(case)))


# ---- routes -------------------------------------------------------------------------------


def _actor(request: Request) -> Actor:
    return tokens.bearer_actor(request)


Who = Annotated[Actor, Depends(_actor)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="记录编号 / row id")]


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _pool(request: Request) -> DecisionPool:
    pool: DecisionPool = request.app.state.decisions
    return pool


def _permit(registry: Registry, actor: Actor, p: ResidencePermit) -> dict[str, Any]:
    """A permit a write returned, with its person (the write authorised it)."""
    today = registry.clock.today()
    person = registry.read(lambda s: s.get(Person, p.person_id))
    return permit_out(p, person, actor, today, overdue_before=overdue_before(today))


PERMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "角色或辖区不符 / role or jurisdiction"},
    404: {"description": "无此记录 / no such record"},
    409: {"description": "状态不符或版本过期 / wrong state or stale version"},
    422: {"description": "输入有误（指明字段） / bad input, naming the field"},
}


@router.post(
    "/api/permit/check",
    response_class=Response,
    summary="居住证申领条件自测 / may one apply for a residence permit, and from when",
    responses={
        200: {"model": PermitCheckOut, "description": "hukou.permit-decision/1"},
        422: {"description": "输入有误（指明字段） / bad input, naming the field"},
        503: {"description": "繁忙，请重试 / busy, try again"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "案件事实 / the facts of a case (`hukou schema`)",
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": True}}
            },
        }
    },
)
async def permit_check(
    request: Request,
    on: Annotated[
        dt.date | None, Query(description="决定日期 / decision date (default: the case's)")
    ] = None,
) -> Response:
    """居住证暂行条例第二条：可否申领居住证、自何日起；不作任何保存 / order 663 art. 2 on a
    case: eligible, not yet (from which date), or open (the facts still missing). Nothing
    is stored."""
    body = await _pool(request).run(permit_check_bytes, await request.body(), on)
    return Response(body, media_type="application/json")


@router.post(
    "/api/residence-registrations",
    status_code=201,
    response_model=RegistrationOut,
    responses=PERMIT_ERRORS,
    summary="居住登记 / register a person's residence",
)
def register_residence(request: Request, body: ResidenceIn, who: Who) -> dict[str, Any]:
    """An open registration the person holds in another county ends (``moved_away``)."""
    reg = _registry(request).register_residence(
        who,
        body.id_number,
        body.county,
        name=body.name,
        housing=body.housing,
        dwelling_id=body.dwelling_id,
        address=body.address,
        provider=body.provider,
        since=body.since,
    )
    return registration_out(reg)


@router.post(
    "/api/residence-registrations/{registration_id}:change-address",
    response_model=RegistrationOut,
    responses=PERMIT_ERRORS,
    summary="变更居住地址 / change of address (the new record)",
)
def change_address(
    request: Request, registration_id: PathId, body: AddressChangeIn, who: Who
) -> dict[str, Any]:
    reg = _registry(request).change_residence_address(
        who,
        registration_id,
        housing=body.housing,
        dwelling_id=body.dwelling_id,
        address=body.address,
        provider=body.provider,
        on=body.on,
        version=body.version,
    )
    return registration_out(reg)


@router.post(
    "/api/residence-registrations/{registration_id}:end",
    response_model=RegistrationOut,
    responses=PERMIT_ERRORS,
    summary="注销居住登记 / end a registration (the county's permit is cancelled with it)",
)
def end_residence(
    request: Request, registration_id: PathId, who: Who, body: ResidenceEndIn | None = None
) -> dict[str, Any]:
    body = body or ResidenceEndIn()
    reg = _registry(request).end_residence(
        who, registration_id, body.reason, on=body.on, version=body.version
    )
    return registration_out(reg)


@router.post(
    "/api/residence/history",
    response_model=HistoryOut,
    responses=PERMIT_ERRORS,
    summary="某人的居住登记与居住证 / a person's registrations and permits (audited)",
)
def residence_history(request: Request, body: HistoryIn, who: Who) -> dict[str, Any]:
    """One's county's records of the person (an admin: all), the ID number in the body.
    Audited (``read.residence``) with a keyed digest of the number; a refusal too."""
    registry = _registry(request)
    found = reads.checked(
        registry,
        who,
        "read.residence",
        "person",
        "",
        lambda: history(registry, who, body.id_number),
    )
    person = found["person"]
    reads.done(
        registry,
        who,
        "read.residence",
        "person",
        person["person_id"] if person else "",
        "api",
        history_detail(registry, body.id_number.upper(), found),
    )
    return found


@router.post(
    "/api/residence-permits",
    status_code=201,
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="申领居住证（受理） / take an application",
)
def apply_for_permit(request: Request, body: PermitApplyIn, who: Who) -> dict[str, Any]:
    registry = _registry(request)
    facts = body.facts.model_dump(exclude_none=True) if body.facts else None
    permit = registry.apply_for_residence_permit(
        who, body.id_number, body.county, body.ground, facts=facts
    )
    return _permit(registry, who, permit)


@router.get(
    "/api/residence-permits/queue",
    response_model=QueueOut,
    responses=PERMIT_ERRORS,
    summary="居住证工作队列 / the permit queue of one's county (audited)",
)
def permit_queue(request: Request, who: Who) -> dict[str, Any]:
    """Applications to review or issue, permits whose endorsement is due or lapsed, and
    applications undecided past art. 9's days; the newest ``reads.LIST_MAX`` of each. ID
    numbers masked. Audited: ``read.permit_queue``."""
    registry = _registry(request)
    return reads.audited(
        registry,
        who,
        "read.permit_queue",
        "residence_permit",
        "",
        lambda: queue(registry, who),
        lambda q: {
            "shown": sorted(
                {p["id"] for k in ("applications", "endorsements_due", "overdue") for p in q[k]}
            )
        },
    )


@router.get(
    "/api/residence-permits/{permit_id}",
    response_model=PermitDetailOut,
    responses=PERMIT_ERRORS,
    summary="一件居住证或申领 / one permit or application (audited)",
)
def get_permit(request: Request, permit_id: PathId, who: Who) -> dict[str, Any]:
    registry = _registry(request)
    return reads.audited(
        registry,
        who,
        "read.residence_permit",
        "residence_permit",
        permit_id,
        lambda: load_permit(registry, who, permit_id),
    )


@router.post(
    "/api/residence-permits/{permit_id}:review",
    response_model=PermitOut,
    responses={**PERMIT_ERRORS, 503: {"description": "繁忙，请重试 / busy, try again"}},
    summary="审核（记录规则结论） / review: the officer's finding and the rules' decision",
)
async def review_permit(
    request: Request, permit_id: PathId, who: Who, body: ReviewIn | None = None
) -> dict[str, Any]:
    """Decided by the permit rules in the decisions' pool, within its time budget (503 past
    it, and nothing written)."""
    body = body or ReviewIn()
    registry = _registry(request)
    review = functools.partial(
        registry.review_residence_permit, note=body.note, version=body.version
    )
    permit = await _pool(request).run_write(review, who, permit_id)
    return _permit(registry, who, permit)


@router.post(
    "/api/residence-permits/{permit_id}:issue",
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="签发 / issue (refused when the rules found the person not eligible)",
)
def issue_permit(
    request: Request, permit_id: PathId, who: Who, body: StepIn | None = None
) -> dict[str, Any]:
    registry = _registry(request)
    version = (body or StepIn()).version
    return _permit(registry, who, registry.issue_residence_permit(who, permit_id, version=version))


@router.post(
    "/api/residence-permits/{permit_id}:refuse",
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="不予签发 / refuse, with the reasons",
)
def refuse_permit(request: Request, permit_id: PathId, body: RefuseIn, who: Who) -> dict[str, Any]:
    registry = _registry(request)
    permit = registry.refuse_residence_permit(who, permit_id, body.reasons, version=body.version)
    return _permit(registry, who, permit)


@router.post(
    "/api/residence-permits/{permit_id}:withdraw",
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="撤回申领 / withdraw an undecided application",
)
def withdraw_permit(
    request: Request, permit_id: PathId, who: Who, body: StepIn | None = None
) -> dict[str, Any]:
    registry = _registry(request)
    version = (body or StepIn()).version
    permit = registry.withdraw_residence_permit(who, permit_id, version=version)
    return _permit(registry, who, permit)


@router.post(
    "/api/residence-permits/{permit_id}:endorse",
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="签注 / the yearly endorsement (late: restores a lapsed permit)",
)
def endorse_permit(
    request: Request, permit_id: PathId, who: Who, body: StepIn | None = None
) -> dict[str, Any]:
    registry = _registry(request)
    version = (body or StepIn()).version
    permit = registry.endorse_residence_permit(who, permit_id, version=version)
    return _permit(registry, who, permit)


@router.post(
    "/api/residence-permits/{permit_id}:replace",
    status_code=201,
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="补领、换领 / replace a lost or damaged permit (the new one)",
)
def replace_permit(
    request: Request, permit_id: PathId, body: ReplaceIn, who: Who
) -> dict[str, Any]:
    registry = _registry(request)
    permit = registry.replace_residence_permit(who, permit_id, body.reason, version=body.version)
    return _permit(registry, who, permit)


@router.post(
    "/api/residence-permits/{permit_id}:cancel",
    response_model=PermitOut,
    responses=PERMIT_ERRORS,
    summary="注销居住证 / cancel (left: the registration ends too; issued in error)",
)
def cancel_permit(request: Request, permit_id: PathId, body: CancelIn, who: Who) -> dict[str, Any]:
    registry = _registry(request)
    permit = registry.cancel_residence_permit(who, permit_id, body.reason, version=body.version)
    return _permit(registry, who, permit)


# the POST routes of this module that write the register, and the id field each names
WRITES: dict[str, str | None] = {
    "/api/residence-registrations": None,
    "/api/residence-registrations/{registration_id}:change-address": "registration_id",
    "/api/residence-registrations/{registration_id}:end": "registration_id",
    "/api/residence-permits": None,
    **{
        f"/api/residence-permits/{{permit_id}}:{action}": "residence_permit_id"
        for action in ("review", "issue", "refuse", "withdraw", "endorse", "replace", "cancel")
    },
}
