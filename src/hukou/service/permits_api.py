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
import inspect
import re
from dataclasses import dataclass
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
    new). The ID number comes with the name, as on the ID card: a name differing from the
    register's is refused (422 naming ``name``; the register's is never shown)."""

    id_number: IdNumber
    county: County
    name: Text | None = Field(
        None,
        min_length=1,
        max_length=NAME_MAX,
        description="姓名（与身份证一致，必填） / name, as on the ID card (required)",
    )
    since: Day | None = Field(
        None,
        description="居住起始日（默认今日，至多追溯30日；迁自他县时为今日） / living there "
        "since (default today; at most 30 days back; today when it ends a registration in "
        "another county)",
    )


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


# ---- the writes: one step of the register each -------------------------------------------


@dataclass(frozen=True)
class Write:
    """A write endpoint: one step of the register (``Registry.<step>``, which checks role,
    jurisdiction, state and version) on the record its path names (``{registration_id}`` or
    ``{permit_id}``; none for a new record). Its arguments are the body's fields, named
    here (a nested model as a dict of the fields given); the answer is the record the step
    returned. Every endpoint of §6 that writes is a row of ``WRITE_ENDPOINTS``."""

    name: str  # the endpoint's name: FastAPI makes the operationId from it
    path: str
    step: str
    body: type[BaseModel]
    summary: str
    args: tuple[str, ...] = ()  # body fields, positional after the actor and the record
    kwargs: tuple[str, ...] = ()  # body fields, by name
    optional: bool = False  # the body may be left out (every field has a default)
    status_code: int = 200
    pool: bool = False  # the rules decide: in the decisions' pool, within its time budget
    doc: str | None = None

    @property
    def record(self) -> str | None:
        """The path parameter naming the record, if any."""
        found = re.search(r"\{(\w+)\}", self.path)
        return found.group(1) if found else None

    @property
    def answer(self) -> type[BaseModel]:
        registration = self.path.startswith("/api/residence-registrations")
        return RegistrationOut if registration else PermitOut


HOUSING_FIELDS = ("housing", "dwelling_id", "address", "provider")
REGISTRATIONS = "/api/residence-registrations"
PERMITS = "/api/residence-permits"
STEP = f"{PERMITS}/{{permit_id}}"
WRITE_ENDPOINTS: tuple[Write, ...] = (
    Write(
        "register_residence", REGISTRATIONS, "register_residence", ResidenceIn,
        "居住登记 / register a person's residence",
        args=("id_number", "county"), kwargs=("name", *HOUSING_FIELDS, "since"),
        status_code=201,
        doc="An open registration the person holds in another county ends (``moved_away``).",
    ),
    Write(
        "change_address", f"{REGISTRATIONS}/{{registration_id}}:change-address",
        "change_residence_address", AddressChangeIn,
        "变更居住地址 / change of address (the new record)",
        kwargs=(*HOUSING_FIELDS, "on", "version"),
    ),
    Write(
        "end_residence", f"{REGISTRATIONS}/{{registration_id}}:end", "end_residence",
        ResidenceEndIn,
        "注销居住登记 / end a registration (the county's permit is cancelled with it)",
        args=("reason",), kwargs=("on", "version"), optional=True,
    ),
    Write(
        "apply_for_permit", PERMITS, "apply_for_residence_permit", PermitApplyIn,
        "申领居住证（受理） / take an application",
        args=("id_number", "county", "ground"), kwargs=("facts",), status_code=201,
    ),
    Write(
        "review_permit", f"{STEP}:review", "review_residence_permit", ReviewIn,
        "审核（记录规则结论） / review: the officer's finding and the rules' decision",
        kwargs=("note", "version"), optional=True, pool=True,
        doc="Decided by the permit rules in the decisions' pool, within its time budget (503 "
        "past\nit, and nothing written).",
    ),
    Write(
        "issue_permit", f"{STEP}:issue", "issue_residence_permit", StepIn,
        "签发 / issue (refused when the rules found the person not eligible)",
        kwargs=("version",), optional=True, pool=True,
        doc="The rules decide again on the day of issue, in the decisions' pool, within its "
        "time budget (503 past\nit, and nothing written).",
    ),
    Write(
        "refuse_permit", f"{STEP}:refuse", "refuse_residence_permit", RefuseIn,
        "不予签发 / refuse, with the reasons", args=("reasons",), kwargs=("version",),
    ),
    Write(
        "withdraw_permit", f"{STEP}:withdraw", "withdraw_residence_permit", StepIn,
        "撤回申领 / withdraw an undecided application", kwargs=("version",), optional=True,
    ),
    Write(
        "endorse_permit", f"{STEP}:endorse", "endorse_residence_permit", StepIn,
        "签注 / the yearly endorsement (late: restores a lapsed permit)",
        kwargs=("version",), optional=True,
    ),
    Write(
        "replace_permit", f"{STEP}:replace", "replace_residence_permit", ReplaceIn,
        "补领、换领 / replace a lost or damaged permit (the new one)",
        args=("reason",), kwargs=("version",), status_code=201,
    ),
    Write(
        "cancel_permit", f"{STEP}:cancel", "cancel_residence_permit", CancelIn,
        "注销居住证 / cancel (left: the registration ends too; issued in error)",
        args=("reason",), kwargs=("version",),
    ),
)  # fmt: skip


BUSY = {"description": "繁忙，请重试 / busy, try again"}


def _argument(body: BaseModel, name: str) -> Any:
    value = getattr(body, name)
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


def _add_write(w: Write) -> None:
    """``w``'s endpoint on the router: the register's step in a worker thread, or in the
    decisions' pool within its budget (``w.pool``: 503 past it, and nothing written)."""

    def step(values: dict[str, Any]) -> tuple[Registry, Any, tuple[Any, ...]]:
        registry = _registry(values["request"])
        body = w.body() if values["body"] is None else values["body"]  # left out: defaults
        call = functools.partial(
            getattr(registry, w.step), **{k: _argument(body, k) for k in w.kwargs}
        )
        record = (values[w.record],) if w.record else ()
        return registry, call, (values["who"], *record, *(_argument(body, a) for a in w.args))

    def answer(registry: Registry, who: Actor, row: Any) -> dict[str, Any]:
        return registration_out(row) if w.answer is RegistrationOut else _permit(registry, who, row)

    if w.pool:

        async def endpoint(**values: Any) -> dict[str, Any]:
            registry, call, args = step(values)
            return answer(registry, args[0], await _pool(values["request"]).run_write(call, *args))

    else:

        def endpoint(**values: Any) -> dict[str, Any]:  # type: ignore[misc]
            registry, call, args = step(values)
            return answer(registry, args[0], call(*args))

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("request", keyword, annotation=Request)]
    if w.record:
        params.append(inspect.Parameter(w.record, keyword, annotation=PathId))
    body = w.body | None if w.optional else w.body
    required = inspect.Parameter.empty
    params.append(
        inspect.Parameter(
            "body", keyword, annotation=body, default=None if w.optional else required
        )
    )
    params.append(inspect.Parameter("who", keyword, annotation=Who))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = w.name
    router.add_api_route(
        w.path,
        endpoint,
        methods=["POST"],
        name=w.name,
        status_code=w.status_code,
        response_model=w.answer,
        responses={**PERMIT_ERRORS, 503: BUSY} if w.pool else PERMIT_ERRORS,
        summary=w.summary,
        description=w.doc or "",
    )


for _write in WRITE_ENDPOINTS:
    _add_write(_write)


# ---- the reads ------------------------------------------------------------------------------


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


# the POST routes of this module that write the register, and the id field each names
NAMED_FIELD = {"registration_id": "registration_id", "permit_id": "residence_permit_id"}
WRITES: dict[str, str | None] = {
    w.path: NAMED_FIELD[w.record] if w.record else None for w in WRITE_ENDPOINTS
}
