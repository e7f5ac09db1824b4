"""Reads of the register that are audited (issue 12, P6), and the application queue (X7/X8).

Every read that shows personal data — a case, a household, a person looked up, a notice
printed, an export, a page of the queue — leaves one audit record once it has succeeded:
who, what (``action``), which row, and a detail that never holds an ID number or a name
in clear. A read refused (another county, the wrong role, no such row, bad input) is a
security event: ``read.refused``, naming the action asked and the reason. The actions:

* ``read.application`` — a case (``GET /api/applications/{id}``, ``/officer/app/{id}``);
* ``read.queue`` — a page of the queue, with the filters used (API and ``/officer``);
* ``read.household`` — a household (``GET /api/households/{id}``, the keeper's page);
* ``read.person`` — a person looked up by ID number (``POST /api/persons/lookup``);
* ``read.notice`` — a decision notice printed (the PDF);
* ``read.export`` — a download (the reform run's workbook or HTML);
* ``read.materials`` — an application's materials (``GET /api/applications/{id}/materials``);
* ``read.move_outs`` — the list of move-out procedures (``/officer/move-outs``, the newest
  ``LIST_MAX``) or those due (``GET /api/move-outs/due``);
* ``read.moves`` — the page of notices received and permits issued (``/officer/moves``);
* ``read.notices`` — the notices received (``GET /api/notices``);
* ``read.permits`` — the permits issued (``GET /api/permits``).

A person looked up by ID number on a page (a move-out requested, a person attached to a
community) is ``read.person`` too, found or not: a miss is recorded (``found: 0``) as a hit
is. The number asked is never kept, only ``number_digest`` of it (a keyed digest: whoever
holds the audit key can tell which look-ups asked for a given number; the trail alone
cannot).

All begin with ``read.``: a record of a change never does.

The queue (``GET /api/applications`` and the officer's ``/officer`` page) is paged and
filtered the same way in both (``QueueFilter``, ``queue_page``): a flood of applications
cannot bury the real ones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hukou.registry import audit
from hukou.registry.access import Actor
from hukou.registry.errors import RegistryError
from hukou.registry.models import APPLICATION_KINDS, APPLICATION_STATES, Application
from hukou.registry.service import Registry

T = TypeVar("T")

REFUSED = "read.refused"
LIST_MAX = 200  # the rows a list without pages shows (the newest)
_REASONS = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}


def refused(
    registry: Registry, actor: Actor, action: str, entity: str, entity_id: object, exc: Exception
) -> None:
    """Record a refused read (a security event): the action asked and why it was refused."""
    status = getattr(exc, "status", 500)
    registry.audit_event(
        actor,
        REFUSED,
        entity,
        str(entity_id)[:32],
        {
            "action": action,
            "reason": _REASONS.get(status, str(status)),
            "field": getattr(exc, "field", None),
        },
    )


def done(
    registry: Registry,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    via: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a read that succeeded (``via``: ``api`` or ``page``)."""
    registry.audit_event(actor, action, entity, str(entity_id)[:32], {"via": via, **(detail or {})})


def number_digest(registry: Registry, number: str) -> str:
    """A keyed digest of an ID number asked for, for the audit record (never the number)."""
    return audit.number_digest(registry.keys.audit, number)


def looked_up(
    registry: Registry,
    actor: Actor,
    number: str,
    persons: list[int],
    via: str,
    purpose: str,
) -> None:
    """Record a look-up by ID number (``read.person``), whether or not it found anyone."""
    done(
        registry,
        actor,
        "read.person",
        "person",
        persons[0] if len(persons) == 1 else "",
        via,
        {
            "found": len(persons),
            "persons": persons,
            "number": number_digest(registry, number),
            "for": purpose,
        },
    )


def checked(
    registry: Registry,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    read: Callable[[], T],
) -> T:
    """Run ``read``; if it is refused (a ``RegistryError``, re-raised), audit the refusal.
    The caller records the success (``done``) once what was read has been shown."""
    try:
        return read()
    except RegistryError as exc:
        refused(registry, actor, action, entity, entity_id, exc)
        raise


def audited(
    registry: Registry,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    read: Callable[[], T],
    detail: Callable[[T], dict[str, Any]] | None = None,
    via: str = "api",
) -> T:
    """Run ``read``; audit it as ``action`` once it succeeded, or as refused if it raised a
    ``RegistryError`` (re-raised). Should the audit record fail, so does the read: nothing
    is shown that is not recorded."""
    result = checked(registry, actor, action, entity, entity_id, read)
    done(registry, actor, action, entity, entity_id, via, detail(result) if detail else None)
    return result


# ---- the queue ------------------------------------------------------------------------

SOURCES = ("self_service", "officer")  # taken online (no officer's user) or at a station
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
BEIJING = dt.timedelta(hours=8)  # the register's day (``clock.SystemClock.today``)
REFERENCE_LENGTH = len("HK-20250301-0123456789")
# a 受理编号 or the start of one: never an ID number or a name (the filter is audited)
_REFERENCE = re.compile(r"^HK(-\d{0,8}|-\d{8}-[0-9A-F]{0,10})?$")


class QueueFilter(BaseModel):
    """申请队列的筛选 / which applications the queue shows, newest first, a page at a time."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    state: str | None = Field(None, description="状态 / state", max_length=16)
    kind: str | None = Field(None, description="申请类别 / kind (s1_1 …)", max_length=24)
    source: Literal["self_service", "officer"] | None = Field(
        None, description="受理渠道 / taken online (self_service) or at a station (officer)"
    )
    taken_from: dt.date | None = Field(
        None, alias="from", ge=EARLIEST, le=LATEST, description="受理日期起 / taken on or after"
    )
    taken_to: dt.date | None = Field(
        None, alias="to", ge=EARLIEST, le=LATEST, description="受理日期止 / taken on or before"
    )
    reference: str | None = Field(
        None, max_length=32, description="受理编号（完整或开头部分） / reference, or its start"
    )
    page: int = Field(1, ge=1, le=100_000, description="页码 / page")
    size: int = Field(50, ge=1, le=200, description="每页条数 / per page")

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v is not None and v not in APPLICATION_STATES:
            raise ValueError(f"state must be one of {', '.join(APPLICATION_STATES)}")
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str | None) -> str | None:
        if v is not None and v not in APPLICATION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(APPLICATION_KINDS)}")
        return v

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().upper()
        if v and not _REFERENCE.match(v):
            raise ValueError("a reference looks like HK-20250301-0123456789 (or its start)")
        return v or None

    @field_validator("taken_to")
    @classmethod
    def _order(cls, v: dt.date | None, info: Any) -> dt.date | None:
        start = info.data.get("taken_from")
        if v is not None and start is not None and v < start:
            raise ValueError("'to' is before 'from'")
        return v

    @classmethod
    def from_query(cls, params: dict[str, str]) -> QueueFilter:
        """From a page's query string: an empty field is no filter; a bad one is a 422
        naming the field, in both languages (never a 500)."""
        try:
            return cls.model_validate({k: v for k, v in params.items() if v != ""})
        except ValidationError as exc:
            e = exc.errors()[0]
            field = ".".join(str(p) for p in e["loc"]) or "query"
            raise RegistryError(f"查询条件「{field}」无效", f"{field}: {e['msg']}", field) from None

    def used(self) -> dict[str, Any]:
        """The filters in force, for the audit record (no personal data can be in them)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def query(self) -> dict[str, str]:
        """As a query string's fields (the page's links to other pages)."""
        return {k: str(v) for k, v in self.used().items() if k != "page"}


def _day_start(day: dt.date) -> dt.datetime:
    """The start of a day of the register (Beijing time), in UTC."""
    return dt.datetime.combine(day, dt.time(0), dt.UTC) - BEIJING


def taken_on(app: Application) -> str:
    """The day an application was taken, on the register's calendar."""
    at = app.created_at
    if at.tzinfo is None:  # SQLite keeps the UTC wall time
        at = at.replace(tzinfo=dt.UTC)
    return (at + BEIJING).date().isoformat()


def source_of(app: Application) -> str:
    """``self_service`` when no officer's user took it (the citizen's page), else ``officer``."""
    return "self_service" if app.created_by is None else "officer"


def queue_page(s: Session, actor: Actor, f: QueueFilter) -> tuple[int, list[Application]]:
    """One page of the queue an officer (their county) or an admin (all) may see: the
    total matching, and the page's applications, newest first."""
    stmt = select(Application)
    if actor.role != "admin":
        stmt = stmt.where(Application.county == actor.jurisdiction)
    if f.state:
        stmt = stmt.where(Application.state == f.state)
    if f.kind:
        stmt = stmt.where(Application.kind == f.kind)
    if f.source == "self_service":
        stmt = stmt.where(Application.created_by.is_(None))
    elif f.source == "officer":
        stmt = stmt.where(Application.created_by.is_not(None))
    if f.taken_from:
        stmt = stmt.where(Application.created_at >= _day_start(f.taken_from))
    if f.taken_to:
        stmt = stmt.where(Application.created_at < _day_start(f.taken_to + dt.timedelta(days=1)))
    if f.reference:
        if len(f.reference) == REFERENCE_LENGTH:
            stmt = stmt.where(Application.reference == f.reference)
        else:
            stmt = stmt.where(Application.reference.startswith(f.reference, autoescape=True))
    total = int(s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())
    rows = s.execute(
        stmt.order_by(Application.id.desc()).offset((f.page - 1) * f.size).limit(f.size)
    ).scalars()
    return total, list(rows)


def listed(f: QueueFilter, total: int, apps: list[Application]) -> dict[str, Any]:
    """The audit detail of a page of the queue: the filters, the count, the row ids shown."""
    return {"filters": f.used(), "total": total, "shown": [a.id for a in apps]}
