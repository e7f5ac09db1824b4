"""Residence registration (居住登记) and residence permits (居住证), 国务院令第663号.

**Residence registration.** A station registers that a person lives in its county away from
their hukou's place (a person whose hukou the register holds in that county's area is
refused: they are residents, not migrants — by county, 市本级 (南湖区 and 秀洲区) one area,
``places.area_of``, as the rules read 离开常住户口所在地), at a dwelling of the register or
in housing an employer or a school provides (described by text), from a start date. A change
of address ends the record (``address_change``) and opens a new one the same day in the same
county, linked by ``previous_id``; the end (``left``) closes it. Records run from
``start_date`` to ``end_date`` inclusive, so the day of a change counts in both. A start, a
change or an end is dated today or earlier, but at most
``r663_register.registration_backdate_days`` (30: this project's reading, a parameter)
before today: years of residence (§1.2 counts them) and order 663's half year are not made
by dating back. One open
registration per person, city-wide (a partial unique index): **registering in another county
ends the open registration where the person lived before** (``moved_away``, on the new start
date, within the same days back, never before that record's start or its permit's own
dates: the move is dated the day the person moved, and that station is told the date)
together with that county's live permit —
the person has moved; the new station does it in its own transaction, audited under its
officer, the way a registration closes a hukou membership in another county
(``Registry._move``), and **that county's station is told**: a ``StationNotice`` of kind
``residence_moved_away`` (naming the registration ended) in its queue, in the same
transaction. Only this path and settlement (below) touch another county's records: ending,
changing or cancelling them directly is refused (``scope.Named``). The person may be new to the register: created
from the ID number (GB 11643: sex and birth date from the number), as an applicant is. The
number comes with the name (from the ID card in hand): a missing name, or one differing from
the register's, is refused naming ``name`` and the register's is never shown — an ID number
alone does not open a person's record to another county's station.

**Refusals and races.** A refused write is audited (``refusals_audited``: who, which record
or a keyed digest of the ID number, why); nothing else of it is kept. Every write holds the
person it acts on first (``Named.hold_person``, as ``Registry._move`` does for settlement),
so two writes on one person — a settlement and a residence registration in its area — run
one after the other and the second reads what the first committed.

**Residence permit.** The state machine (``PERMIT_TRANSITIONS``; anything else is refused)::

                        ┌─review (again)─┐
                        ▼                │
    applied ──review──▶ under_review ────┴──issue──▶ issued ──endorse (yearly)──▶ issued
       │                    │                           ├──replace (lost, damaged)──▶ void,
       └──withdraw──┬───────┘──refuse──▶ refused        │    and a new permit (new number)
                    ▼                                   └──cancel──▶ cancelled
                withdrawn

An application needs the person's open residence registration in the county (its hukou not
in the county's area), and one live application or permit per person, city-wide. Review
records the officer's finding and the rules' decision (``hukou.engine.permit.decide_permit``:
status, grounds, rule version) with the application; an application under review may be
reviewed again (a "not yet" — ``not_eligible`` with an earliest date, or ``undetermined`` —
decided anew once the date has come or the facts are known; the audit keeps the finding and
decision replaced). **Issue decides anew**: the rules' decision on the day of issue is kept
with the permit (decision, rule version), and the permit is issued only when it is
``eligible`` *and* lists the application's ground (``GROUND_RULES``: ``employment`` →
``stable_employment``, ``dwelling`` → ``stable_dwelling``, ``study`` →
``continuous_study``); otherwise refused naming ``decision`` (with the rules' reasons, or the
facts still missing) or ``ground``. The case the rules decide (``permit_case``) is the
application's facts for its ground and what the register holds — the person, the county
lived in, the open registration (its chain's start), the hukou, and, for a registration at a
dwelling of the register, **that dwelling** as the case's only one: dwellings typed that
disagree with it are not decided on but kept as ``register_conflicts`` (``{field, typed,
register}``) in the decision JSON, as a settlement application keeps its own. Issue gives
the number (``permit_number``: ``JZ``, the county code, the issue date ``YYYYMMDD`` and 8
random hexadecimal digits — 24 characters), the issue date and ``valid_until``: the last day
of the first full year (``r663_register.endorsement_period_months``) — art. 10: 每年签注1次.
The residence years count from ``residence_since``: the start of the person's unbroken chain
of registrations in the county (address changes do not break it).

**Endorsement (签注, art. 10).** Within the ``r663_register.endorsement_window_months``
before each full year (from ``valid_until`` + 1 day back by the window, to ``valid_until``)
an endorsement moves ``valid_until`` to the end of the next full year **counted from the
anchor** (``endorsement_anchor``: the first issue of the permit's chain of replacements, or
the last late endorsement, which restarted the years): the k-th year ends the day before the
k-th anniversary of the anchor, or, in a month that lacks the anchor's day, on that month's
last day (``period_end``; Civil Code art. 202) — a permit issued on 29 February is valid to
28 February each year, and its anniversary is 29 February again in a leap year (not moved a
day earlier for good, as counting from the last ``valid_until`` would). Earlier than the
window is refused, naming the day it opens. After ``valid_until`` the permit has **lapsed**
(使用功能中止) — computed by date (``permit_status``), nothing is written. A late endorsement
(补办签注) restores it: valid for a year from that day, and the residence years count again
from that day (``residence_since``). Months are calendar months; a day the shorter month
lacks becomes its last day (a permit whose anniversary is 31 March is endorsed from 28 or 29
February). The last day is not moved off a rest day (the permit states it; unlike the §4.5
notice, the holder is not asked to act on a day the station chose). A date the calendar
cannot hold (past 9999-12-31) is refused, naming the field (``valid_until``), not clamped.

**Loss, damage (art. 11).** The old permit becomes ``void`` (its number dead) and a new one
with a new number carries the validity and the residence years on; a lapsed permit is
endorsed (late) first.

**Cancellation.** When the person's hukou is registered in the permit's county's area
(settlement: ``settled_in``, called by ``Registry._move`` in the registration's own
transaction — if the registration fails, nothing is cancelled or sent), when the person
leaves (``left``: ending the registration cancels the permit, and cancelling for ``left``
ends the registration), when the person moves to another county (``moved_away``), or when
it was issued in error. An open application in the county is withdrawn with them.
Settlement reads the area as registration does (``places.area_of``: a hukou in 南湖区 ends a
registration and permit in 秀洲区, and the other way round — the rules give no permit there,
r663 ``hukou_area``): the registration in the area ends (``settled``) with its county's
permit, and when that county is not the settlement's, **its station is told** as on
``moved_away`` (a ``residence_moved_away`` notice naming the registration, whose
``end_reason`` says ``settled``; the settling station acts on the other county's records in
its own transaction, audited under its officer). A registration or permit in another area
is left as it is: the person may live there still. **No close precedes the record's own
dates**: a registration's end (and with it its permit's cancellation or application's
withdrawal, ``moved_away`` included) is refused, naming the date's field, when it is dated
before the registration's start or the permit's application, issue or last endorsement
(``close_floor``); the database refuses a permit closed before its issue
(``ck_residence_permits_closed_after_issue``).

Jurisdiction: only an officer of the record's county acts on it; every object a write names
(registration, permit, dwelling) is resolved through ``scope.Named`` in the write's
transaction, before anything is written. Every change is audited.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import inspect
import logging
import secrets
import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hukou.engine.permit import decide_permit, permit_json
from hukou.policy.facts import (
    CONTROL_MESSAGE,
    MAX_RESIDENCE_PERIODS,
    InputError,
    bad_text,
    id_birth_date,
    id_sex,
    parse_case,
)
from hukou.policy.permit import GROUNDS, load_parameters
from hukou.policy.places import area_of, in_jiaxing, jiaxing_counties
from hukou.registry import audit
from hukou.registry.access import Actor
from hukou.registry.errors import Conflict, Forbidden, InvalidTransition, RegistryError
from hukou.registry.models import (
    RESIDENCE_HOUSING,
    RESIDENCE_PERMIT_GROUNDS,
    Dwelling,
    Household,
    Membership,
    Person,
    ResidencePermit,
    ResidencePermitEndorsement,
    ResidenceRegistration,
    StationNotice,
)
from hukou.registry.moves import same_name
from hukou.registry.scope import Named, county_of_person

if TYPE_CHECKING:
    from hukou.policy.params import ParameterSet, ResolvedParameters
    from hukou.registry.clock import Clock
    from hukou.registry.keys import KeyRing

T = TypeVar("T")
log = logging.getLogger(__name__)

REGISTRATION_FIELDS = (
    "person_id",
    "county",
    "housing",
    "dwelling_id",
    "address",
    "provider",
    "start_date",
    "end_date",
    "end_reason",
    "previous_id",
    "version",
)
PERMIT_FIELDS = (
    "reference",
    "number",
    "person_id",
    "county",
    "ground",
    "state",
    "applied_on",
    "reviewed_on",
    "decided_on",
    "rule_version",
    "issued_on",
    "valid_until",
    "residence_since",
    "closed_on",
    "close_reason",
    "replaces_id",
    "version",
)

# 居住登记: (state, action) -> new state; the state is ``open`` until ``end_date`` is set
REGISTRATION_TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "change_address"): "ended",  # and a new open record, the same day
    ("open", "end"): "ended",
    ("open", "apply"): "open",  # a permit applied for on it (the officer's page)
}
# 居住证: (state, action) -> new state. Anything else is refused (409, naming the state).
PERMIT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("applied", "review"): "under_review",  # 审核（记录民警意见、规则结论）
    ("applied", "withdraw"): "withdrawn",
    ("under_review", "review"): "under_review",  # 重新审核（如"暂不符合"后），记录新结论
    ("under_review", "issue"): "issued",  # 签发：编号、签发日期、有效期
    ("under_review", "refuse"): "refused",  # 不予签发，说明理由
    ("under_review", "withdraw"): "withdrawn",
    ("issued", "endorse"): "issued",  # 签注（按时或逾期补办）
    ("issued", "replace"): "void",  # 挂失补领、损坏换领：原证作废，另发新证
    ("issued", "cancel"): "cancelled",  # 注销
}
ACTION_WORDS = {
    "review": "审核",
    "withdraw": "撤回",
    "issue": "签发",
    "refuse": "不予签发",
    "endorse": "签注",
    "replace": "补领换领",
    "cancel": "注销",
    "change_address": "变更居住地址",
    "end": "注销居住登记",
    "apply": "申领居住证",
}
END_REASONS = ("left",)  # an officer's; address_change, moved_away, settled are the register's
CANCEL_REASONS = ("left", "issued_in_error")  # an officer's; settled, moved_away the register's
REPLACE_REASONS = ("lost", "damaged")
# the ground of an application (art. 2) -> the rules' condition for it (``policy.permit.GROUNDS``:
# the keys a decision's ``grounds`` lists)
GROUND_RULES = {
    "employment": "stable_employment",
    "dwelling": "stable_dwelling",
    "study": "continuous_study",
}
# a ground's words: its condition's label (``policy.permit.GROUNDS``) without the
# explanation in brackets
_GROUND_CONDITIONS = {c.key: c for c in GROUNDS}
GROUND_WORDS = {
    ground: (
        _GROUND_CONDITIONS[rule].zh.split("（")[0].removeprefix("有"),
        _GROUND_CONDITIONS[rule].en.split(" (")[0],
    )
    for ground, rule in GROUND_RULES.items()
}
ADDRESS_MAX, PROVIDER_MAX, TEXT_MAX = 255, 128, 2000


# ---- dates ---------------------------------------------------------------------------


def _month(day: dt.date, months: int, field: str) -> tuple[int, int, int]:
    """(year, month, its number of days) ``months`` calendar months from ``day``'s; a month
    past 9999-12 (or before 0001-01) is refused naming ``field``: the register holds no date
    the calendar (``datetime.date``) cannot."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise RegistryError(
            f"日期超出登记簿可记载的范围（{dt.date.min} 至 {dt.date.max}）",
            f"the date lies outside what the register can hold ({dt.date.min} to {dt.date.max})",
            field,
        )
    return year, month + 1, calendar.monthrange(year, month + 1)[1]


def add_months(day: dt.date, months: int, field: str = "valid_until") -> dt.date:
    """``day`` moved by whole calendar months; a day the month lacks becomes its last. A date
    past 9999-12-31 is refused (``RegistryError`` naming ``field``), not clamped."""
    year, month, last = _month(day, months, field)
    return dt.date(year, month, min(day.day, last))


def period_end(anchor: dt.date, months: int, field: str = "valid_until") -> dt.date:
    """The last day of ``months`` calendar months counted from ``anchor`` (that day the first):
    the day before the corresponding day ``months`` on (the anniversary); when that month
    lacks the day (29 February, a 31st), the month's last day — the anniversary is then the
    next month's first (Civil Code art. 202: a period with no corresponding day ends on the
    month's last day). 2024-02-29 + 12 months: 2025-02-28; + 48: 2028-02-28. Past
    9999-12-31: refused, naming ``field``."""
    year, month, last = _month(anchor, months, field)
    if anchor.day > last:
        return dt.date(year, month, last)
    return dt.date(year, month, anchor.day) - dt.timedelta(days=1)


def next_period_end(anchor: dt.date, after: dt.date, months: int) -> dt.date:
    """The first end of a period counted from ``anchor`` (``period_end`` of ``months``,
    2 × ``months``, …) later than ``after``: the next ``valid_until`` of a permit whose
    years run from ``anchor``."""
    k = max(1, ((after.year - anchor.year) * 12 + after.month - anchor.month) // months)
    while (end := period_end(anchor, months * k)) <= after:
        k += 1
    return end


def valid_for_a_period(start: dt.date, params: ResolvedParameters) -> dt.date:
    """The last day of one period of validity begun on ``start`` (art. 10: yearly)."""
    return period_end(start, params["r663_register.endorsement_period_months"])


def endorsement_window(
    permit: ResidencePermit, params: ResolvedParameters
) -> tuple[dt.date, dt.date]:
    """(first, last day) of the on-time endorsement window: the
    ``r663_register.endorsement_window_months`` before the full year (art. 10 ¶2)."""
    assert permit.valid_until is not None
    anniversary = permit.valid_until + dt.timedelta(days=1)
    months = params["r663_register.endorsement_window_months"]
    return add_months(anniversary, -months), permit.valid_until


def permit_status(permit: ResidencePermit, day: dt.date) -> str:
    """The state on ``day``: an issued permit is ``valid`` through ``valid_until`` and
    ``lapsed`` (使用功能中止, art. 10 ¶3) after it; any other state as stored."""
    if permit.state != "issued":
        return permit.state
    assert permit.valid_until is not None
    return "valid" if day <= permit.valid_until else "lapsed"


def residence_years(permit: ResidencePermit, day: dt.date) -> int:
    """Full years of residence counted on the permit on ``day`` (0 unless it is valid)."""
    if permit_status(permit, day) != "valid" or permit.residence_since is None:
        return 0
    since = permit.residence_since
    years = day.year - since.year
    if add_months(since, 12 * years) > day:
        years -= 1
    return max(years, 0)


def permit_number(county: str, day: dt.date) -> str:
    """居住证号: ``JZ``, the county code, the issue date, 8 random hex digits (24 characters)."""
    return f"JZ{county}{day:%Y%m%d}{secrets.token_hex(4).upper()}"


def _reference(day: dt.date) -> str:
    """受理编号 of a permit application: ``JZ-YYYYMMDD-`` and 40 random bits."""
    return f"JZ-{day:%Y%m%d}-{secrets.token_hex(5).upper()}"


# ---- input ---------------------------------------------------------------------------


def _text(value: str | None, field: str, limit: int, zh: str, en: str) -> str:
    """Free text as kept: NFC, stripped, no control character, within ``limit``."""
    text = unicodedata.normalize("NFC", value or "").strip()
    if not text:
        raise RegistryError(f"须填写{zh}", f"the {en} is required", field)
    if len(text) > limit:
        raise RegistryError(
            f"{zh}过长（至多{limit}字）", f"the {en} is too long (at most {limit:,})", field
        )
    if bad_text(text) is not None:
        czh, _, cen = CONTROL_MESSAGE.partition(" / ")
        raise RegistryError(czh, cen, field)
    return text


def _county(county: str, field: str = "county") -> str:
    if not isinstance(county, str) or not in_jiaxing(county):
        raise RegistryError(
            "县（市、区）代码无效：须为嘉兴市所辖县级代码（如 330402）",
            "unknown county: a Jiaxing county-level code is needed (e.g. 330402)",
            field,
        )
    return county


def _housing(
    housing: str, dwelling_id: int | None, address: str | None, provider: str | None
) -> tuple[str | None, str | None]:
    """(address, provider) checked for the kind of housing; a dwelling's come from its row."""
    if housing not in RESIDENCE_HOUSING:
        raise RegistryError(
            "住所类别无效", f"housing is one of {', '.join(RESIDENCE_HOUSING)}", "housing"
        )
    if housing == "dwelling":
        if dwelling_id is None:
            raise RegistryError("须指定住所", "the dwelling is required", "dwelling_id")
        return None, None
    if dwelling_id is not None:
        raise RegistryError(
            "单位、学校提供的住所以文字登记，不指定登记簿住所",
            "housing an employer or school provides is described by text, not a dwelling",
            "dwelling_id",
        )
    who = ("单位", "employer") if housing == "employer" else ("学校", "school")
    return (
        _text(address, "address", ADDRESS_MAX, "居住地址", "address"),
        _text(provider, "provider", PROVIDER_MAX, f"提供住所的{who[0]}", who[1]),
    )


def _day(value: dt.date | None, today: dt.date, field: str) -> dt.date:
    """The day a registration's step is dated (default today): not after today, nor more than
    ``r663_register.registration_backdate_days`` before it."""
    day = value or today
    if day > today:
        raise RegistryError("日期不能晚于今日", "the date cannot be after today", field)
    days = load_parameters().at(today)["r663_register.registration_backdate_days"]
    earliest = today - dt.timedelta(days=min(days, today.toordinal() - 1))
    if day < earliest:
        raise RegistryError(
            f"日期不能早于 {earliest}（居住登记至多追溯{days}日）",
            f"the date cannot be before {earliest} (a residence registration is dated at "
            f"most {days} days back)",
            field,
        )
    return day


def _version(row: ResidencePermit | ResidenceRegistration, version: int | None) -> None:
    if version is not None and row.version != version:
        raise Conflict(
            "记录已被他人修改，请刷新后重试",
            "the record was changed by someone else; reload and retry",
            "version",
        )


def _step(state: str, action: str, table: dict[tuple[str, str], str], what: str) -> str:
    new = table.get((state, action))
    if new is None:
        raise InvalidTransition(
            f"{'居住登记' if what == 'registration' else '居住证'}状态为「{state}」，"
            f"不能{ACTION_WORDS.get(action, action)}",
            f"a residence {what} in state {state} cannot take the step {action!r}",
            "state",
        )
    return new


def registration_state(r: ResidenceRegistration) -> str:
    return "open" if r.end_date is None else "ended"


def _area_counties(county: str) -> list[str]:
    """The counties of ``county``'s area (``places.area_of``): 南湖区 and 秀洲区 for either
    (市本级), else the county alone."""
    area = area_of(county)
    return sorted({county} | {c for c in jiaxing_counties() if area_of(c) == area})


def _hukou_here(s: Session, person: Person, county: str) -> bool:
    """The person's hukou (as the register holds it) is in ``county``'s area: by county, 市本级
    (南湖区 and 秀洲区) one (``places.area_of``, as the rules read 离开常住户口所在地)."""
    hukou = county_of_person(s, person)
    return hukou is not None and area_of(hukou) == area_of(county)


def _ground_facts(ground: str, facts: dict[str, Any] | None) -> dict[str, Any] | None:
    """An application's ground and its evidence checked (the facts NFC, as kept)."""
    if ground not in RESIDENCE_PERMIT_GROUNDS:
        raise RegistryError(
            "申领依据无效：合法稳定就业、合法稳定住所或连续就读",
            f"the ground is one of {', '.join(RESIDENCE_PERMIT_GROUNDS)}",
            "ground",
        )
    if facts is None:
        return None
    bad = bad_text(facts, "facts")
    if bad is not None:
        czh, _, cen = CONTROL_MESSAGE.partition(" / ")
        raise RegistryError(czh, cen, bad)
    facts = _nfc(facts)
    unknown = sorted(set(facts) - set(GROUND_FACTS))
    if unknown:
        raise RegistryError(
            "申领依据的事实无此项",
            f"the facts of a ground are {', '.join(GROUND_FACTS)}",
            f"facts.{unknown[0]}",
        )
    return facts


W = TypeVar("W", bound=Callable[..., Any])
_REFUSAL_REASONS = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}


def refusals_audited(action: str, entity: str | None = None) -> Callable[[W], W]:
    """A refused residence write leaves its trace in the audit trail (``<action>.refused``,
    in a transaction of its own once the write's is rolled back): who asked, about which
    record (of ``entity``, by default the action's) or which ID number (a keyed digest,
    ``audit.number_digest``), why, naming the field. Nothing of the refused write is kept;
    an officer trying ID numbers and names, or another county's records, is seen. The
    service being busy (503) is not a refusal."""

    def wrap(method: W) -> W:
        # the subject: the parameter after the actor, passed by position or by name
        subject_name = list(inspect.signature(method).parameters)[2]

        @functools.wraps(method)
        def run(self: ResidenceOffice, actor: Actor, *args: Any, **kw: Any) -> Any:
            try:
                return method(self, actor, *args, **kw)
            except RegistryError as exc:
                if exc.status != 503:
                    subject = args[0] if args else kw.get(subject_name)
                    self._refused(actor, action, entity, subject, exc)
                raise

        return cast(W, run)

    return wrap


class ResidenceOffice:
    """The residence-registration and residence-permit operations of ``Registry`` (a mixin:
    each public method is one transaction of ``Registry._tx``, checked and audited; a
    refused one is audited too, ``refusals_audited``)."""

    if TYPE_CHECKING:
        clock: Clock
        parameters: ParameterSet

        def _tx(self) -> AbstractContextManager[Session]: ...

        def _audit(
            self,
            s: Session,
            actor: Actor,
            action: str,
            entity: str,
            entity_id: object,
            before: dict[str, Any] | None,
            after: dict[str, Any] | None,
        ) -> None: ...

        def _add_person(
            self,
            s: Session,
            actor: Actor,
            number: str,
            name: str,
            sex: str,
            birth_date: dt.date,
            **noted: str,
        ) -> Person: ...

        def read(self, fn: Callable[[Session], T]) -> T: ...

        def _send_notice(
            self, s: Session, actor: Actor, notice: StationNotice
        ) -> StationNotice: ...

        def audit_event(
            self,
            actor: Actor | str,
            action: str,
            entity: str,
            entity_id: object = "",
            detail: dict[str, Any] | None = None,
        ) -> None: ...

        keys: KeyRing

    def _refused(
        self, actor: Actor, action: str, entity: str | None, subject: Any, exc: RegistryError
    ) -> None:
        """The audit record of a refused write (``refusals_audited``)."""
        entity = entity or action.partition(".")[0]
        by_number = isinstance(subject, str)
        detail = {
            "reason": _REFUSAL_REASONS.get(exc.status, str(exc.status)),
            "field": exc.field,
        }
        if by_number:  # an ID number, perhaps mistyped: never kept in clear
            detail["number"] = audit.number_digest(self.keys.audit, subject.strip().upper())
        try:
            self.audit_event(
                actor, f"{action}.refused", entity, "" if by_number else str(subject)[:32], detail
            )
        except Exception:  # the refusal itself stands; its caller must see it, not this
            log.warning("a refused %s left no audit record", action, exc_info=True)

    # ---- residence registration --------------------------------------------------------
    @refusals_audited("residence_registration.start")
    def register_residence(
        self,
        actor: Actor,
        id_number: str,
        county: str,
        *,
        name: str | None = None,
        housing: str = "dwelling",
        dwelling_id: int | None = None,
        address: str | None = None,
        provider: str | None = None,
        since: dt.date | None = None,
    ) -> ResidenceRegistration:
        """居住登记: the person (by ID number and ``name``, which must be the register's for
        a person it holds; created when new) lives in ``county`` from ``since`` (default today; at most
        ``r663_register.registration_backdate_days`` back) at a dwelling of the register
        (``dwelling_id``, in the county) or in housing an employer or school provides
        (``housing`` ``employer``/``school`` with ``address`` and ``provider``). Refused when
        the person's hukou is in ``county``'s area (市本级 one), or they are registered in it
        already (change the address instead). An open registration in another county ends
        (``moved_away``, on ``since``: refused when that precedes its start or its permit's
        own dates) and that county's station is told, with the date (a
        ``residence_moved_away`` notice). Nor may ``since`` precede the day the person's
        hukou left this area (those days were a resident's)."""
        actor.require_role("officer")
        county = _county(county)
        given_address, given_provider = _housing(housing, dwelling_id, address, provider)
        today = self.clock.today()
        start = _day(since, today, "start_date")
        given_name = _text(name, "name", 64, "姓名", "name")
        with self._tx() as s:
            named = Named(s, actor)
            named.authorise(county, "county", ResidenceRegistration)
            number, person = named.resident(id_number, lock=True)
            if person is None:
                person = self._add_person(
                    s, actor, number, given_name, id_sex(number).value, id_birth_date(number)
                )
            elif not same_name(given_name, person.name):
                # the number and the name together identify the person (from the ID card
                # in hand); the register's name is never shown, and the refusal is audited
                raise RegistryError(
                    "姓名与登记簿中该身份证号码的记录不符（更正姓名须另行办理）",
                    "the name differs from the register's record for this ID number "
                    "(correcting a registered name is a separate procedure)",
                    "name",
                )
            if start < person.birth_date:
                raise RegistryError(
                    "居住起始日不能早于出生日期",
                    "the start date cannot precede the birth date",
                    "start_date",
                )
            if _hukou_here(s, person, county):
                raise RegistryError(
                    "此人户口在本地（县级，市本级南湖区、秀洲区为一地），无须办理居住登记",
                    "this person's hukou is in this area (by county; the city proper, Nanhu "
                    "and Xiuzhou, is one): residence registration is for people living away "
                    "from their hukou's place",
                    "county",
                )
            left = s.execute(
                select(func.max(Membership.end_date))
                .join(Household, Household.id == Membership.household_id)
                .where(
                    Membership.person_id == person.id,
                    Membership.end_date.is_not(None),
                    Household.county.in_(_area_counties(county)),
                )
            ).scalar_one()
            if left is not None and start < left:
                # the days the hukou was here are a resident's, not a migrant's
                raise RegistryError(
                    f"居住起始日早于此人户口迁离本地（县级，市本级为一地）之日（{left}）",
                    f"the start date precedes the day the person's hukou left this area "
                    f"({left}; by county, the city proper one)",
                    "start_date",
                )
            where, detail = self._place(named, county, housing, dwelling_id)
            ended = s.execute(
                select(func.max(ResidenceRegistration.end_date)).where(
                    ResidenceRegistration.person_id == person.id,
                    ResidenceRegistration.end_date.is_not(None),
                )
            ).scalar_one()
            if ended is not None and start < ended:
                # the days before would count twice, here and where the person lived
                # (§1.2's stretch is per area): a registration starts when the last ended
                raise RegistryError(
                    f"居住起始日早于此人上一处居住登记的结束日（{ended}）",
                    f"the start date precedes the end of the person's last residence "
                    f"registration ({ended})",
                    "start_date",
                )
            current = self._open_registration(s, person.id)
            if current is not None:
                if current.county == county:
                    raise Conflict(
                        "此人已在本县（市、区）办理居住登记；地址变化请办理变更",
                        "this person is registered as living in this county already; a new "
                        "address is a change of address",
                        "id_number",
                    )
                if start < current.start_date:
                    raise RegistryError(
                        "居住起始日早于此人在原居住地登记的起始日",
                        "the start date precedes the start of the person's registration "
                        "where they lived before",
                        "start_date",
                    )
                self._end_registration(
                    s, actor, current, start, "moved_away", by=county, field="start_date"
                )
            reg = ResidenceRegistration(
                person_id=person.id,
                county=county,
                housing=housing,
                dwelling_id=dwelling_id if housing == "dwelling" else None,
                address=where or given_address or "",
                provider=detail or given_provider,
                start_date=start,
                registered_by=actor.user_id,
                created_at=self.clock.now(),
            )
            s.add(reg)
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_registration.start",
                "residence_registration",
                reg.id,
                None,
                audit.snapshot(reg, REGISTRATION_FIELDS),
            )
            return reg

    @refusals_audited("residence_registration.change_address")
    def change_residence_address(
        self,
        actor: Actor,
        registration_id: int,
        *,
        housing: str = "dwelling",
        dwelling_id: int | None = None,
        address: str | None = None,
        provider: str | None = None,
        on: dt.date | None = None,
        version: int | None = None,
    ) -> ResidenceRegistration:
        """变更居住地址 within the county: the record ends (``address_change``) on ``on``
        (default today; at most ``r663_register.registration_backdate_days`` back) and a new
        one opens that day; the new one is returned."""
        actor.require_role("officer")
        given_address, given_provider = _housing(housing, dwelling_id, address, provider)
        today = self.clock.today()
        day = _day(on, today, "on")
        with self._tx() as s:
            named = Named(s, actor)
            old = named.residence_registration(registration_id, lock=True)
            _version(old, version)
            _step(
                registration_state(old), "change_address", REGISTRATION_TRANSITIONS, "registration"
            )
            if day < old.start_date:
                raise RegistryError(
                    "变更日期不能早于原登记的起始日",
                    "the change cannot precede the registration's start",
                    "on",
                )
            where, detail = self._place(named, old.county, housing, dwelling_id)
            new_address = where or given_address or ""
            if (housing, dwelling_id, new_address) == (old.housing, old.dwelling_id, old.address):
                raise RegistryError(
                    "居住地址未变化",
                    "the address is the same",
                    "dwelling_id" if dwelling_id else "address",
                )
            self._end_registration(s, actor, old, day, "address_change", action="change_address")
            reg = ResidenceRegistration(
                person_id=old.person_id,
                county=old.county,
                housing=housing,
                dwelling_id=dwelling_id if housing == "dwelling" else None,
                address=new_address,
                provider=detail or given_provider,
                start_date=day,
                previous_id=old.id,
                registered_by=actor.user_id,
                created_at=self.clock.now(),
            )
            s.add(reg)
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_registration.start",
                "residence_registration",
                reg.id,
                None,
                audit.snapshot(reg, REGISTRATION_FIELDS),
            )
            return reg

    @refusals_audited("residence_registration.end")
    def end_residence(
        self,
        actor: Actor,
        registration_id: int,
        reason: str = "left",
        *,
        on: dt.date | None = None,
        version: int | None = None,
    ) -> ResidenceRegistration:
        """注销居住登记: the person has left the county (``left``) on ``on`` (default today,
        at most ``r663_register.registration_backdate_days`` back; not before the
        registration's start, nor its permit's application, issue or last endorsement). The
        county's live permit is cancelled and an open application withdrawn with it."""
        if reason not in END_REASONS:
            raise RegistryError(
                "注销原因无效", f"the reason is one of {', '.join(END_REASONS)}", "reason"
            )
        actor.require_role("officer")
        day = _day(on, self.clock.today(), "on")
        with self._tx() as s:
            reg = Named(s, actor).residence_registration(registration_id, lock=True)
            _version(reg, version)
            _step(registration_state(reg), "end", REGISTRATION_TRANSITIONS, "registration")
            if day < reg.start_date:
                raise RegistryError(
                    "注销日期不能早于登记的起始日",
                    "the end cannot precede the registration's start",
                    "on",
                )
            self._end_registration(s, actor, reg, day, reason)
            return reg

    def residence_history(
        self, actor: Actor, id_number: str, county: str | None = None
    ) -> list[ResidenceRegistration]:
        """A person's residence registrations, oldest first: an officer sees those of their
        county (asking for another county is refused), an admin all of them."""
        actor.require_role("officer", "admin")
        if county is not None:
            _county(county)
            if actor.role == "officer" and county != actor.jurisdiction:
                raise Forbidden(
                    "仅可查看本辖区的居住登记",
                    "only your county's residence registrations",
                    "county",
                )
        where = county if actor.role == "admin" else actor.jurisdiction

        def query(s: Session) -> list[ResidenceRegistration]:
            _number, person = Named(s, actor).resident(id_number)
            if person is None:
                return []
            stmt = select(ResidenceRegistration).where(ResidenceRegistration.person_id == person.id)
            if where is not None:
                stmt = stmt.where(ResidenceRegistration.county == where)
            order = (ResidenceRegistration.start_date, ResidenceRegistration.id)
            return list(s.execute(stmt.order_by(*order)).scalars())

        return self.read(query)

    # ---- residence permits -----------------------------------------------------------
    @refusals_audited("residence_permit.apply")
    def apply_for_residence_permit(
        self,
        actor: Actor,
        id_number: str,
        county: str,
        ground: str,
        *,
        facts: dict[str, Any] | None = None,
    ) -> ResidencePermit:
        """申领居住证 (受理): on one ground of art. 2 (``employment``, ``dwelling``, ``study``),
        with the ground's evidence (``facts``, kept as given, NFC). The person must hold an
        open residence registration in ``county``, and no hukou in its area (市本级 one);
        one live application or permit each."""
        actor.require_role("officer")
        county = _county(county)
        facts = _ground_facts(ground, facts)
        with self._tx() as s:
            named = Named(s, actor)
            named.authorise(county, "county", ResidencePermit)
            _number, person = named.resident(id_number, lock=True)
            return self._apply(s, actor, person, county, ground, facts)

    @refusals_audited("residence_permit.apply", entity="residence_registration")
    def apply_on_registration(
        self,
        actor: Actor,
        registration_id: int,
        ground: str,
        *,
        facts: dict[str, Any] | None = None,
    ) -> ResidencePermit:
        """申领居住证 for the person of the open registration named (the officer's page), as
        ``apply_for_residence_permit`` for that person in the registration's county: the
        registration resolved and authorised, its person held, in the same transaction."""
        actor.require_role("officer")
        facts = _ground_facts(ground, facts)
        with self._tx() as s:
            reg = Named(s, actor).residence_registration(registration_id, lock=True)
            _step(registration_state(reg), "apply", REGISTRATION_TRANSITIONS, "registration")
            person = s.get(Person, reg.person_id)
            return self._apply(s, actor, person, reg.county, ground, facts)

    def _apply(
        self,
        s: Session,
        actor: Actor,
        person: Person | None,
        county: str,
        ground: str,
        facts: dict[str, Any] | None,
    ) -> ResidencePermit:
        """An application taken, in the caller's transaction (the person held)."""
        today = self.clock.today()
        current = self._open_registration(s, person.id) if person is not None else None
        if person is None or current is None or current.county != county:
            raise RegistryError(
                "申领居住证须先在本县（市、区）办理居住登记",
                "a residence permit needs the person's residence registration in this county first",
                "id_number",
            )
        if _hukou_here(s, person, county):
            raise RegistryError(
                "此人户口在本地（县级，市本级南湖区、秀洲区为一地），不能申领居住证",
                "this person's hukou is in this area (by county; the city proper, Nanhu "
                "and Xiuzhou, is one): no residence permit",
                "county",
            )
        live = s.execute(
            select(ResidencePermit.id).where(
                ResidencePermit.person_id == person.id,
                ResidencePermit.state.in_(tuple(PERMIT_LIVE)),
            )
        ).first()
        if live is not None:
            raise Conflict(
                "此人已有居住证或未办结的申领",
                "this person already holds a residence permit or has an open application",
                "id_number",
            )
        check_permit_case(permit_case(s, person, county, facts, today)[0], facts)
        permit = ResidencePermit(
            reference=_reference(today),
            person_id=person.id,
            county=county,
            ground=ground,
            facts=facts,
            state="applied",
            applied_on=today,
            created_by=actor.user_id,
            created_at=self.clock.now(),
        )
        s.add(permit)
        self._flush(s)
        self._audit(
            s,
            actor,
            "residence_permit.apply",
            "residence_permit",
            permit.id,
            None,
            audit.snapshot(permit, PERMIT_FIELDS),
        )
        return permit

    @refusals_audited("residence_permit.review")
    def review_residence_permit(
        self,
        actor: Actor,
        permit_id: int,
        *,
        note: str | None = None,
        version: int | None = None,
    ) -> ResidencePermit:
        """审核: the officer's finding (``note``) and the rules' decision on the person's
        registered residence, kept with the application. An application under review is
        reviewed again the same way (a "not yet" decided anew); the audit's ``before`` keeps
        the finding and decision replaced."""
        given = _text(note, "note", TEXT_MAX, "审核意见", "note") if note is not None else None
        with self._tx() as s:
            permit = self._load_permit(s, actor, permit_id, version)
            new = _step(permit.state, "review", PERMIT_TRANSITIONS, "permit")
            before = audit.snapshot(permit, PERMIT_FIELDS)
            if permit.state == "under_review":  # reviewed again: what the new review replaces
                before.update(note=permit.review_note, decision=_decision_summary(permit.decision))
            today = self.clock.today()
            permit.state = new
            permit.reviewed_on = today
            permit.review_note = given
            permit.decision, permit.rule_version = permit_decision(
                s, permit, self._person_of(s, permit), today
            )
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_permit.review",
                "residence_permit",
                permit.id,
                before,
                {
                    **audit.snapshot(permit, PERMIT_FIELDS),
                    "note": given,
                    "decision": _decision_summary(permit.decision),
                },
            )
            return permit

    @refusals_audited("residence_permit.issue")
    def issue_residence_permit(
        self, actor: Actor, permit_id: int, *, version: int | None = None
    ) -> ResidencePermit:
        """签发: the number, the issue date (today), ``valid_until`` a period on, the residence
        years counted from the start of the person's registrations in the county. The rules
        decide anew on the day (the decision kept with the permit, replacing the review's):
        refused unless they find the person ``eligible`` on the application's ground; refused
        when the registration has ended."""
        with self._tx() as s:
            permit = self._load_permit(s, actor, permit_id, version)
            new = _step(permit.state, "issue", PERMIT_TRANSITIONS, "permit")
            current = self._open_registration(s, permit.person_id)
            if current is None or current.county != permit.county:
                raise InvalidTransition(
                    "此人在本县（市、区）的居住登记已结束，不能签发",
                    "the person's residence registration in this county has ended; the permit "
                    "cannot be issued",
                    "registration",
                )
            today = self.clock.today()
            decision, rule_version = permit_decision(s, permit, self._person_of(s, permit), today)
            refused = _not_issued(decision, permit.ground)
            if refused is not None:
                raise InvalidTransition(*refused)
            valid_until = valid_for_a_period(today, load_parameters().at(today))
            before = audit.snapshot(permit, PERMIT_FIELDS)
            permit.state = new
            permit.number = permit_number(permit.county, today)
            permit.issued_on = today
            permit.decided_on = today
            permit.decision, permit.rule_version = decision, rule_version
            permit.valid_until = valid_until
            permit.residence_since = self._chain_start(s, current)
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_permit.issue",
                "residence_permit",
                permit.id,
                before,
                {
                    **audit.snapshot(permit, PERMIT_FIELDS),
                    "decision": _decision_summary(permit.decision),
                },
            )
            return permit

    @refusals_audited("residence_permit.refuse")
    def refuse_residence_permit(
        self, actor: Actor, permit_id: int, reasons: str, *, version: int | None = None
    ) -> ResidencePermit:
        """不予签发, with the reasons."""
        text = _text(reasons, "reasons", TEXT_MAX, "不予签发的理由", "reasons")
        with self._tx() as s:
            permit = self._load_permit(s, actor, permit_id, version)
            new = _step(permit.state, "refuse", PERMIT_TRANSITIONS, "permit")
            before = audit.snapshot(permit, PERMIT_FIELDS)
            permit.state = new
            permit.reasons = text
            permit.decided_on = self.clock.today()
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_permit.refuse",
                "residence_permit",
                permit.id,
                before,
                {**audit.snapshot(permit, PERMIT_FIELDS), "reasons": text},
            )
            return permit

    @refusals_audited("residence_permit.withdraw")
    def withdraw_residence_permit(
        self, actor: Actor, permit_id: int, *, version: int | None = None
    ) -> ResidencePermit:
        """The applicant withdraws an application not yet decided."""
        with self._tx() as s:
            permit = self._load_permit(s, actor, permit_id, version)
            self._permit_step(s, actor, permit, "withdraw", self.clock.today(), None)
            return permit

    @refusals_audited("residence_permit.endorse")
    def endorse_residence_permit(
        self, actor: Actor, permit_id: int, *, version: int | None = None
    ) -> ResidencePermit:
        """签注 (art. 10): in the window before the full year, valid a period more; after
        ``valid_until`` (lapsed), a late endorsement (补办): valid a period from today, and
        the residence years count again from today. Before the window: refused. The person
        must still be registered as living in the county."""
        with self._tx() as s:
            permit = self._load_permit(s, actor, permit_id, version)
            new = _step(permit.state, "endorse", PERMIT_TRANSITIONS, "permit")
            today = self.clock.today()
            params = load_parameters().at(today)
            opens, last = endorsement_window(permit, params)
            if today < opens:
                raise InvalidTransition(
                    f"签注期自 {opens} 起至 {last} 止，尚未开始",
                    f"the endorsement window runs from {opens} to {last}; it has not opened",
                    "valid_until",
                )
            current = self._open_registration(s, permit.person_id)
            if current is None or current.county != permit.county:
                raise InvalidTransition(
                    "此人在本县（市、区）的居住登记已结束，不能签注",
                    "the person's residence registration in this county has ended; no endorsement",
                    "registration",
                )
            before = audit.snapshot(permit, PERMIT_FIELDS)
            late = today > last
            if late:
                permit.valid_until = valid_for_a_period(today, params)
                permit.residence_since = today  # art. 10 ¶3: counted again from today
            else:  # the next year from the anchor, not from the last day (29 February stays)
                permit.valid_until = next_period_end(
                    endorsement_anchor(s, permit),
                    last,
                    params["r663_register.endorsement_period_months"],
                )
            permit.state = new
            endorsement = ResidencePermitEndorsement(
                permit_id=permit.id,
                county=permit.county,
                endorsed_on=today,
                late=late,
                valid_until=permit.valid_until,
                endorsed_by=actor.user_id,
            )
            s.add(endorsement)
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_permit.endorse",
                "residence_permit",
                permit.id,
                before,
                {**audit.snapshot(permit, PERMIT_FIELDS), "late": late},
            )
            return permit

    @refusals_audited("residence_permit.reissue")
    def replace_residence_permit(
        self, actor: Actor, permit_id: int, reason: str, *, version: int | None = None
    ) -> ResidencePermit:
        """补领 (``lost``) or 换领 (``damaged``), art. 11: the permit becomes ``void`` and a
        new one with a new number is issued today, carrying the validity and the residence
        years on; returned. A lapsed permit is endorsed (late) first."""
        if reason not in REPLACE_REASONS:
            raise RegistryError(
                "补领换领原因无效", f"the reason is one of {', '.join(REPLACE_REASONS)}", "reason"
            )
        with self._tx() as s:
            old = self._load_permit(s, actor, permit_id, version)
            _step(old.state, "replace", PERMIT_TRANSITIONS, "permit")
            today = self.clock.today()
            if permit_status(old, today) == "lapsed":
                raise InvalidTransition(
                    f"居住证已于 {old.valid_until} 后逾期未签注，须先补办签注再补领换领",
                    f"the permit lapsed after {old.valid_until}; endorse it (late) before it is "
                    "replaced",
                    "valid_until",
                )
            self._permit_step(s, actor, old, "replace", today, reason)
            new = ResidencePermit(
                reference=_reference(today),
                number=permit_number(old.county, today),
                person_id=old.person_id,
                county=old.county,
                ground=old.ground,
                facts=old.facts,
                state="issued",
                applied_on=today,
                reviewed_on=old.reviewed_on,
                review_note=old.review_note,
                decision=old.decision,
                rule_version=old.rule_version,
                decided_on=today,
                issued_on=today,
                valid_until=old.valid_until,
                residence_since=old.residence_since,
                replaces_id=old.id,
                created_by=actor.user_id,
                created_at=self.clock.now(),
            )
            s.add(new)
            self._flush(s)
            self._audit(
                s,
                actor,
                "residence_permit.reissue",
                "residence_permit",
                new.id,
                None,
                {**audit.snapshot(new, PERMIT_FIELDS), "reason": reason},
            )
            return new

    @refusals_audited("residence_permit.cancel")
    def cancel_residence_permit(
        self, actor: Actor, permit_id: int, reason: str, *, version: int | None = None
    ) -> ResidencePermit:
        """注销: the person has left the county (``left``: their residence registration
        there ends today too) or the permit was issued in error (``issued_in_error``).
        Settlement cancels a permit by itself (``settled_in``)."""
        if reason not in CANCEL_REASONS:
            raise RegistryError(
                "注销原因无效", f"the reason is one of {', '.join(CANCEL_REASONS)}", "reason"
            )
        with self._tx() as s:
            permit = self._load_permit(s, actor, permit_id, version)
            _step(permit.state, "cancel", PERMIT_TRANSITIONS, "permit")
            today = self.clock.today()
            if reason == "left":
                current = self._open_registration(s, permit.person_id)
                if current is not None and current.county == permit.county:
                    # ends the registration and, with it, this permit
                    self._end_registration(s, actor, current, today, "left")
                    return permit
            self._permit_step(s, actor, permit, "cancel", today, reason)
            return permit

    def residence_permits(self, actor: Actor, id_number: str) -> list[ResidencePermit]:
        """A person's permits and applications, oldest first: an officer's county only."""
        actor.require_role("officer", "admin")

        def query(s: Session) -> list[ResidencePermit]:
            _number, person = Named(s, actor).resident(id_number)
            if person is None:
                return []
            stmt = select(ResidencePermit).where(ResidencePermit.person_id == person.id)
            if actor.role == "officer":
                stmt = stmt.where(ResidencePermit.county == actor.jurisdiction)
            return list(s.execute(stmt.order_by(ResidencePermit.id)).scalars())

        return self.read(query)

    def endorsements_due(self, actor: Actor, on: dt.date | None = None) -> list[ResidencePermit]:
        """Issued permits of the officer's county (all, for an admin) whose endorsement
        window is open on ``on`` (default today), or that have lapsed, by ``valid_until``."""
        actor.require_role("officer", "admin")
        day = on or self.clock.today()
        params = load_parameters().at(day)

        def query(s: Session) -> list[ResidencePermit]:
            stmt = select(ResidencePermit).where(ResidencePermit.state == "issued")
            if actor.role == "officer":
                stmt = stmt.where(ResidencePermit.county == actor.jurisdiction)
            rows = s.execute(stmt.order_by(ResidencePermit.valid_until)).scalars()
            return [p for p in rows if endorsement_window(p, params)[0] <= day]

        return self.read(query)

    def overdue_permit_applications(
        self, actor: Actor, on: dt.date | None = None
    ) -> list[ResidencePermit]:
        """Applications of the officer's county (all, for an admin) still undecided more
        than ``r663_register.issue_within_days`` after they were taken (art. 9: 15 days)."""
        actor.require_role("officer", "admin")
        day = on or self.clock.today()
        days = load_parameters().at(day)["r663_register.issue_within_days"]
        last = day - dt.timedelta(days=days)

        def query(s: Session) -> list[ResidencePermit]:
            stmt = select(ResidencePermit).where(
                ResidencePermit.state.in_(("applied", "under_review")),
                ResidencePermit.applied_on < last,
            )
            if actor.role == "officer":
                stmt = stmt.where(ResidencePermit.county == actor.jurisdiction)
            return list(s.execute(stmt.order_by(ResidencePermit.applied_on)).scalars())

        return self.read(query)

    # ---- settlement: the hook of ``Registry._move`` ------------------------------------
    def settled_in(
        self, s: Session, actor: Actor, person: Person, county: str, day: dt.date
    ) -> None:
        """The person's hukou is registered in ``county`` now (in the caller's transaction):
        no residence registration or permit is held in the county's area (市本级, 南湖区 and
        秀洲区, one: ``places.area_of``, as the rules read it). Their open registration in
        the area ends (``settled``, audited ``settled_in``), its county's live permit is
        cancelled and an open application withdrawn; when that county is the area's other
        one, its station is told (a ``residence_moved_away`` notice naming the registration,
        which ended ``settled``), as when a person moves away. A live permit or application
        left in the area without an open registration there (none should be) closes too. A
        registration or permit in another area is left as it is (the person may live there
        still)."""
        area = area_of(county)
        current = self._open_registration(s, person.id)
        if current is not None and area_of(current.county) == area:
            self._end_registration(
                s, actor, current, max(day, current.start_date), "settled", by=county
            )
        for there in _area_counties(county):
            live = self._closing(s, person.id, there, day, "day")
            self._close_permits(s, actor, live, day, "settled")

    # ---- internals ---------------------------------------------------------------------
    def _place(
        self, named: Named, county: str, housing: str, dwelling_id: int | None
    ) -> tuple[str | None, str | None]:
        """(address, provider) of a dwelling named (resolved and authorised), which must lie
        in ``county``; (None, None) for housing described by text."""
        if housing != "dwelling":
            return None, None
        dwelling: Dwelling = named.dwelling(dwelling_id)
        if dwelling.county != county:
            raise RegistryError(
                "住所不在该县（市、区）", "the dwelling is not in that county", "dwelling_id"
            )
        return dwelling.address, None

    @staticmethod
    def _open_registration(s: Session, person_id: int) -> ResidenceRegistration | None:
        return s.execute(
            select(ResidenceRegistration)
            .where(
                ResidenceRegistration.person_id == person_id,
                ResidenceRegistration.end_date.is_(None),
            )
            .with_for_update()
        ).scalar_one_or_none()

    @staticmethod
    def _chain_start(s: Session, reg: ResidenceRegistration) -> dt.date:
        """The start of the unbroken chain of address changes ending with ``reg``."""
        start, previous = reg.start_date, reg.previous_id
        while previous is not None:
            row = s.execute(
                select(ResidenceRegistration.start_date, ResidenceRegistration.previous_id).where(
                    ResidenceRegistration.id == previous
                )
            ).one()
            start, previous = row.start_date, row.previous_id
        return start

    def _end_registration(
        self,
        s: Session,
        actor: Actor,
        reg: ResidenceRegistration,
        day: dt.date,
        reason: str,
        *,
        action: str = "end",
        by: str | None = None,
        field: str = "on",
    ) -> None:
        """End an open registration on ``day`` (audited); unless it is an address change,
        the county's live permit and open application end with it — refused (naming
        ``field``) when ``day`` precedes one of their own dates (``_closing``). Ended from
        another county (``by``: a registration there, ``moved_away``, audited ``moved_to``;
        the hukou settled there, ``settled``, audited ``settled_in``), the registration's
        county is told (a ``residence_moved_away`` notice in its station's queue)."""
        closing = (
            []
            if reason == "address_change"
            else self._closing(s, reg.person_id, reg.county, day, field)
        )
        before = audit.snapshot(reg, REGISTRATION_FIELDS)
        reg.end_date = day
        reg.end_reason = reason
        self._flush(s)
        after = audit.snapshot(reg, REGISTRATION_FIELDS)
        if by is not None:
            after["settled_in" if reason == "settled" else "moved_to"] = by
        self._audit(
            s,
            actor,
            f"residence_registration.{action}",
            "residence_registration",
            reg.id,
            before,
            after,
        )
        self._close_permits(s, actor, closing, day, reason)
        if by is not None and by != reg.county:
            self._send_notice(
                s,
                actor,
                StationNotice(
                    kind="residence_moved_away",
                    county=reg.county,
                    from_county=by,
                    person_id=reg.person_id,
                    closed_registration_id=reg.id,
                    moved_on=day,
                    state="pending",
                ),
            )

    @staticmethod
    def _closing(
        s: Session, person_id: int, county: str, day: dt.date, field: str
    ) -> list[ResidencePermit]:
        """The person's live permit and open application in ``county`` (locked), to be closed
        on ``day``: refused, naming ``field``, when ``day`` precedes one of its own dates —
        applied, issued, last endorsed (``close_floor``)."""
        live = list(
            s.execute(
                select(ResidencePermit)
                .where(
                    ResidencePermit.person_id == person_id,
                    ResidencePermit.county == county,
                    ResidencePermit.state.in_(tuple(PERMIT_LIVE)),
                )
                .with_for_update()
            ).scalars()
        )
        for permit in live:
            floor, zh, en = close_floor(s, permit)
            if day < floor:
                raise RegistryError(
                    f"日期不能早于此人在该县（市、区）居住证的{zh}（{floor}）",
                    f"the date cannot precede the {en} ({floor}) of the person's residence "
                    "permit in that county",
                    field,
                )
        return live

    def _close_permits(
        self, s: Session, actor: Actor, live: list[ResidencePermit], day: dt.date, reason: str
    ) -> None:
        """Each live permit (``_closing``) is cancelled (``reason``), an open application
        withdrawn."""
        for permit in live:
            action = "cancel" if permit.state == "issued" else "withdraw"
            self._permit_step(s, actor, permit, action, day, reason)

    def _permit_step(
        self,
        s: Session,
        actor: Actor,
        permit: ResidencePermit,
        action: str,
        day: dt.date,
        reason: str | None,
    ) -> None:
        """A step that closes a permit or application: state, ``closed_on`` and the reason."""
        new = _step(permit.state, action, PERMIT_TRANSITIONS, "permit")
        before = audit.snapshot(permit, PERMIT_FIELDS)
        permit.state = new
        permit.closed_on = day
        permit.close_reason = reason if action in ("cancel", "replace") else None
        if action == "withdraw":
            permit.decided_on = day
            permit.reasons = reason
        self._flush(s)
        self._audit(
            s,
            actor,
            f"residence_permit.{action}",
            "residence_permit",
            permit.id,
            before,
            {**audit.snapshot(permit, PERMIT_FIELDS), "reason": reason},
        )

    @staticmethod
    def _load_permit(
        s: Session, actor: Actor, permit_id: int, version: int | None
    ) -> ResidencePermit:
        """The permit a step is about: only an officer of its county takes a step."""
        actor.require_role("officer")
        permit = Named(s, actor).residence_permit(permit_id, lock=True)
        _version(permit, version)
        return permit

    @staticmethod
    def _person_of(s: Session, permit: ResidencePermit) -> Person:
        """The person of a permit resolved through ``Named`` (read only)."""
        person = s.get(Person, permit.person_id)
        assert person is not None
        return person

    @staticmethod
    def _flush(s: Session) -> None:
        try:
            s.flush()
        except IntegrityError as exc:
            # PostgreSQL names the index, SQLite the column of the partial unique index
            text = str(exc.orig)
            if (
                "uq_residence_registrations_open_person" in text
                or "residence_registrations.person_id" in text
            ):
                raise Conflict(
                    "此人刚在他处办理了居住登记，请刷新后重试",
                    "this person was just registered elsewhere; reload and retry",
                    "id_number",
                ) from None
            if "uq_residence_permits_live_person" in text or "residence_permits.person_id" in text:
                raise Conflict(
                    "此人已有居住证或未办结的申领",
                    "this person already holds a residence permit or has an open application",
                    "id_number",
                ) from None
            raise


PERMIT_LIVE = frozenset({"applied", "under_review", "issued"})


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


# the facts an application may give for its ground (case fields of the applicant); the
# register gives the rest — who, where they live, their registration and hukou
GROUND_FACTS = (
    "local_labour_contract",
    "local_business",
    "continuous_study",
    "dwellings",
    "hukou",
)
_CASE_HUKOU_KIND = {
    "family": "own_family_household",
    "unit_collective": "unit_collective",
    "talent_service_collective": "talent_service_collective",
    "community_collective": "community_collective",
}


def permit_case(
    s: Session,
    person: Person,
    county: str,
    given: dict[str, Any] | None,
    day: dt.date,
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """The case the rules for permits decide: the application's facts for its ground,
    then what the register holds — the person, the county lived in, the open residence
    registration there (and its chain's start), the dwelling registered, the hukou — and
    the typed dwellings that disagree with the registered one (``{field, typed, register}``
    each, ``_dwelling_conflicts``; None when nothing was compared: no dwelling typed, or the
    registration is not at a dwelling of the register). The register is the source: a
    registration at a dwelling of the register makes that dwelling the case's, whatever was
    typed."""
    applicant: dict[str, Any] = {k: v for k, v in (given or {}).items() if k in GROUND_FACTS}
    conflicts: list[dict[str, Any]] | None = None
    applicant.update(id_number=person.id_number, name=person.name, lives_in=county)
    reg = s.execute(
        select(ResidenceRegistration).where(
            ResidenceRegistration.person_id == person.id,
            ResidenceRegistration.end_date.is_(None),
        )
    ).scalar_one_or_none()
    if reg is not None and reg.county == county:
        applicant["residence_registration"] = True
        applicant["residence_registration_county"] = county
        since = ResidenceOffice._chain_start(s, reg)
        applicant["residence_registration_since"] = since.isoformat()
        if reg.housing == "dwelling":
            # the dwelling of a registration whose permit (or itself) was resolved by Named
            dwelling = s.get(Dwelling, reg.dwelling_id)
            if dwelling is not None:
                register = [
                    {
                        "tenure": dwelling.tenure,
                        "commercial_housing": dwelling.commercial_housing,
                        "address": {
                            "county": dwelling.county,
                            "urban_rural_code": dwelling.urban_rural_code,
                        },
                    }
                ]
                if "dwellings" in applicant:
                    conflicts = _dwelling_conflicts(applicant["dwellings"], register)
                applicant["dwellings"] = register
    else:
        applicant["residence_registration"] = False
    hukou = s.execute(
        select(Household.kind, Household.county)
        .join(Membership, Membership.household_id == Household.id)
        .where(Membership.person_id == person.id, Membership.end_date.is_(None))
    ).first()
    if hukou is not None:  # the register's record, not what was typed
        applicant["hukou"] = {
            "kind": _CASE_HUKOU_KIND.get(hukou.kind, "own_family_household"),
            "address": {"county": hukou.county},
        }
    elif "hukou" not in applicant:
        # the register is the system of record of Jiaxing's hukou: a person it holds no
        # hukou for has theirs outside Jiaxing (typed facts may say where)
        applicant["hukou"] = {"kind": "outside_jiaxing"}
    case = {"decision_date": day.isoformat(), "applicant": applicant, "relatives": []}
    return case, conflicts


def _agrees(typed: Any, register: Any) -> bool:
    """What was typed says nothing the register's record contradicts: a fact not typed, or
    one the record does not hold (a key it lacks, a value unknown), contradicts nothing."""
    if isinstance(typed, dict) and isinstance(register, dict):
        return all(_agrees(v, register[k]) for k, v in typed.items() if k in register)
    return typed is None or register is None or typed == register


def _dwelling_conflicts(typed: Any, register: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The typed dwellings (``applicant.dwellings``) that disagree with the registered one,
    as ``register_conflicts`` are kept on the settlement side (``_conflicts``)."""
    if not isinstance(typed, list):
        return None  # not a case's dwellings: refused when the case is checked
    return [
        {"field": f"applicant.dwellings[{i}]", "typed": d, "register": register}
        for i, d in enumerate(typed)
        if not _agrees(d, register[0])
    ]


def check_permit_case(case: dict[str, Any], given: dict[str, Any] | None = None) -> None:
    """The case parses (the application's facts are well formed, the dwellings typed
    included where the register's stand for them), else 422 naming ``facts.<field>``."""
    if given and "dwellings" in given:
        case = {**case, "applicant": {**case["applicant"], "dwellings": given["dwellings"]}}
    try:
        parse_case(case)
    except InputError as exc:
        p = exc.problems[0]
        field = str(p["field"]).removeprefix("applicant.")
        raise RegistryError(p["zh"], p["en"], f"facts.{field}") from None


def permit_decision(
    s: Session, permit: ResidencePermit, person: Person, day: dt.date
) -> tuple[dict[str, Any], str]:
    """The rules' decision (``hukou.engine.permit``) on the application: its JSON form
    (names and numbers masked; ``register_conflicts``, the typed dwellings the register's
    replaced that disagree with it, when any were typed) and the rule version."""
    case, conflicts = permit_case(s, person, permit.county, permit.facts, day)
    decision = decide_permit(parse_case(case), day)
    v = decision.rule_version
    out = permit_json(decision)
    if conflicts is not None:
        out["register_conflicts"] = conflicts
    return out, f"{v.ruleset}/{v.code}/{v.parameters_as_of}/{v.digest}"


def _decision_summary(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    if not decision:
        return None
    summary = {"status": decision.get("status"), "grounds": decision.get("grounds")}
    if "register_conflicts" in decision:
        summary["register_conflicts"] = decision["register_conflicts"]
    return summary


def _not_issued(decision: dict[str, Any], ground: str) -> tuple[str, str, str] | None:
    """(zh, en, field) of why the rules' decision does not let the permit be issued: not
    ``eligible`` (their reasons, or the facts still missing), or eligible on other grounds
    than the application's; None when it may be."""
    status = decision.get("status")
    if status == "not_eligible":
        zh, en = _not_eligible(decision) or ("不符合申领条件", "not eligible")
        return (
            f"按居住证规则审查结论为「不符合」，不能签发：{zh}",
            f"the rules for residence permits found the person not eligible, so it cannot be "
            f"issued: {en}",
            "decision",
        )
    if status == "undetermined":
        labels = decision.get("missing_labels") or []
        zh = "、".join(str(m.get("zh")) for m in labels) or "部分事实"
        en = "; ".join(str(m.get("en")) for m in labels) or "some facts"
        return (
            f"按居住证规则审查结论为「无法确定」，不能签发：尚缺 {zh}",
            f"the rules for residence permits could not decide, so it cannot be issued: "
            f"still unknown: {en}",
            "decision",
        )
    if status != "eligible":
        return (
            "居住证规则于今日不适用，不能签发",
            "the rules for residence permits do not apply today; it cannot be issued",
            "decision",
        )
    found = decision.get("grounds") or []
    if GROUND_RULES[ground] in found:
        return None
    words = {rule: GROUND_WORDS[g] for g, rule in GROUND_RULES.items()}
    zh_found = "、".join(words[k][0] for k in found if k in words) or "无"
    en_found = ", ".join(words[k][1] for k in found if k in words) or "none"
    zh, en = GROUND_WORDS[ground]
    return (
        f"按居住证规则审查，申领依据「{zh}」不成立（规则认定的依据：{zh_found}），不能签发",
        f"the rules for residence permits do not find the application's ground, {en} (they "
        f"find: {en_found}), so it cannot be issued",
        "ground",
    )


def _not_eligible(decision: dict[str, Any] | None) -> tuple[str, str] | None:
    """(zh, en) of the rules' reasons when they found the person not eligible: the
    conditions that do not hold, and the earliest date when there is one."""
    if not decision or decision.get("status") != "not_eligible":
        return None
    failed = [
        c.get("text") or {}
        for c in (decision.get("explanation") or {}).get("children") or []
        if c.get("value") is False
    ]
    zh = "；".join(str(t.get("zh")) for t in failed if t.get("zh")) or "不符合申领条件"
    en = "; ".join(str(t.get("en")) for t in failed if t.get("en")) or "not eligible"
    earliest = decision.get("earliest_date")
    if earliest:
        zh += f"（最早可于 {earliest}）"
        en += f" (from {earliest} at the earliest)"
    return zh, en


# ---- the register as the source of a settlement case's residence facts ---------------
#
# A settlement application names people by ID number. For each one the register holds a
# residence registration of (begun by the decision date), the residence facts of the case
# are the register's, not what was typed: the decision is made on them, and what was typed
# that disagrees is kept as ``register_conflicts`` for the officer. ``hukou batch
# --from-registry`` (``analytics.registry_source``) reads the same facts in SQL, by the
# same rules.

# the case fields of a person the register gives (``policy.facts.Person``)
REGISTER_FIELDS = (
    "lives_in",
    "residence_registration",
    "residence_registration_since",
    "residence_registration_county",
    "residence_permit",
    "residence_history",
)


def held_permit(s: Session, person_id: int, day: dt.date) -> ResidencePermit | None:
    """The permit the person holds on ``day``: issued by then and valid (not lapsed:
    ``valid_until`` not passed; not void, cancelled, refused …: state ``issued``)."""
    return (
        s.execute(
            select(ResidencePermit)
            .where(
                ResidencePermit.person_id == person_id,
                ResidencePermit.state == "issued",
                ResidencePermit.issued_on <= day,
                ResidencePermit.valid_until >= day,
            )
            .order_by(ResidencePermit.id.desc())
        )
        .scalars()
        .first()
    )


def _chain(s: Session, permit: ResidencePermit) -> list[tuple[int, dt.date | None]]:
    """(id, issue date) of ``permit`` and of each permit it replaced (补领、换领), newest
    first."""
    chain, previous = [(permit.id, permit.issued_on)], permit.replaces_id
    while previous is not None:
        row = s.execute(
            select(ResidencePermit.issued_on, ResidencePermit.replaces_id).where(
                ResidencePermit.id == previous
            )
        ).one()
        chain.append((previous, row.issued_on))
        previous = row.replaces_id
    return chain


def first_issued(s: Session, permit: ResidencePermit) -> dt.date | None:
    """首次领取日期: the issue date of the first permit of the chain of replacements (补领、
    换领) ending with ``permit``."""
    day = None
    for _id, issued in _chain(s, permit):
        day = issued or day
    return day


def endorsement_anchor(s: Session, permit: ResidencePermit) -> dt.date:
    """The day an issued permit's years run from — each ``valid_until`` is the last day of a
    whole number of periods from it (``period_end``): the last late endorsement (补办签注,
    which restarted them) of the permit or of one it replaced, else the first issue."""
    chain = _chain(s, permit)
    late = s.execute(
        select(func.max(ResidencePermitEndorsement.endorsed_on)).where(
            ResidencePermitEndorsement.permit_id.in_([i for i, _day in chain]),
            ResidencePermitEndorsement.late.is_(True),
        )
    ).scalar_one()
    anchor = late or first_issued(s, permit)
    assert anchor is not None
    return anchor


def close_floor(s: Session, permit: ResidencePermit) -> tuple[dt.date, str, str]:
    """(day, zh, en) of the last of a permit's own dates — applied, reviewed, issued, last
    endorsed: no close (cancellation, withdrawal, the registration's end that carries them)
    is dated before it."""
    floor = (permit.applied_on, "申领日期", "application date")
    if permit.reviewed_on is not None and permit.reviewed_on > floor[0]:
        floor = (permit.reviewed_on, "审核日期", "review date")
    if permit.issued_on is not None and permit.issued_on > floor[0]:
        floor = (permit.issued_on, "签发日期", "issue date")
    endorsed = s.execute(
        select(func.max(ResidencePermitEndorsement.endorsed_on)).where(
            ResidencePermitEndorsement.permit_id == permit.id
        )
    ).scalar_one()
    if endorsed is not None and endorsed > floor[0]:
        floor = (endorsed, "最近一次签注日期", "last endorsement")
    return floor


def register_residence_facts(s: Session, person_id: int, day: dt.date) -> dict[str, Any] | None:
    """The person's residence facts as the register holds them on ``day``, in the case's
    JSON form (``REGISTER_FIELDS``); None when the register holds no residence registration
    of theirs begun by ``day`` — then it says nothing about where they live, and the
    application's facts stand.

    * ``residence_registration``: a registration covers ``day`` (start to end inclusive);
      ``_since`` the start of its chain of address changes (``previous_id``), ``_county``
      its county; ``lives_in`` that county. Without one: not registered, since and county
      null, ``lives_in`` not given (left as typed).
    * ``residence_permit``: ``{held: true, county, issued_on}`` of the permit valid on
      ``day`` (``held_permit``; ``issued_on`` the first of its replacements), else
      ``{held: false}`` — a lapsed, void, cancelled or refused permit is not held.
    * ``residence_history``: every registration begun by ``day``, one period each
      (``evidence`` ``residence_registration``), periods in one county that touch (an
      address change: the next starts by the day after the last ends) merged, the newest
      ``MAX_RESIDENCE_PERIODS`` kept — §1.2's continuous residence is computed from them
      (``engine.scopes.residence_stretch`` merges the same way, so merging changes
      nothing)."""
    regs = list(
        s.execute(
            select(ResidenceRegistration)
            .where(
                ResidenceRegistration.person_id == person_id,
                ResidenceRegistration.start_date <= day,
            )
            .order_by(ResidenceRegistration.start_date, ResidenceRegistration.id)
        ).scalars()
    )
    if not regs:
        return None
    covering = [r for r in regs if r.end_date is None or r.end_date >= day]
    current = covering[-1] if covering else None
    facts: dict[str, Any] = {
        "residence_registration": current is not None,
        "residence_registration_since": None,
        "residence_registration_county": None,
    }
    if current is not None:
        by_id = {r.id: r for r in regs}
        since, previous = current.start_date, current.previous_id
        while previous is not None and previous in by_id:
            since, previous = by_id[previous].start_date, by_id[previous].previous_id
        facts["residence_registration_since"] = since.isoformat()
        facts["residence_registration_county"] = current.county
        facts["lives_in"] = current.county
    permit = held_permit(s, person_id, day)
    if permit is not None:
        issued = first_issued(s, permit)
        facts["residence_permit"] = {
            "held": True,
            "county": permit.county,
            "issued_on": issued.isoformat() if issued else None,
        }
    else:
        facts["residence_permit"] = {"held": False}
    facts["residence_history"] = [
        {
            "start": start.isoformat(),
            "end": end.isoformat() if end else None,
            "county": county,
            "evidence": "residence_registration",
        }
        for start, end, county in _merged([(r.start_date, r.end_date, r.county) for r in regs])[
            -MAX_RESIDENCE_PERIODS:
        ]
    ]
    return facts


Span = tuple[dt.date, dt.date | None, str]


def _merged(spans: list[Span]) -> list[Span]:
    """Periods in one county that touch (the next begins by the day after the last ends)
    as one, ordered by start."""
    out: list[Span] = []
    for start, end, county in sorted(spans, key=lambda x: (x[0], x[2])):
        for i in range(len(out) - 1, -1, -1):
            s0, e0, c0 = out[i]
            if c0 == county and (e0 is None or start <= e0 + dt.timedelta(days=1)):
                out[i] = (s0, None if e0 is None or end is None else max(e0, end), c0)
                break
        else:
            out.append((start, end, county))
    return sorted(out, key=lambda x: (x[0], x[2]))


def _history_key(periods: list[Any]) -> list[dict[str, Any]]:
    """Periods in Jiaxing (the register holds no other) as compared: start, end, county —
    touching periods of one county merged, as the register's are."""
    spans: list[Span] = [(p.start, p.end, p.county) for p in periods if in_jiaxing(p.county)]
    return [
        {"start": a.isoformat(), "end": b.isoformat() if b else None, "county": c}
        for a, b, c in _merged(spans)
    ]


def _conflicts(path: str, typed: Any, register: dict[str, Any]) -> list[dict[str, Any]]:
    """The typed residence facts of one person (``policy.facts.Person``) that disagree with
    the register's (``register_residence_facts``): ``{field, typed, register}`` each, the
    field a case path (``applicant.residence_permit.held``). A fact not typed disagrees
    with nothing; a permit's county or issue date is compared only when the register says
    it is held."""
    out: list[dict[str, Any]] = []

    def differs(field: str, given: Any, theirs: Any) -> None:
        if given is not None and given != theirs:
            out.append({"field": f"{path}.{field}", "typed": given, "register": theirs})

    def iso(day: dt.date | None) -> str | None:
        return day.isoformat() if day else None

    if "lives_in" in register:
        differs("lives_in", typed.lives_in, register["lives_in"])
    differs(
        "residence_registration", typed.residence_registration, register["residence_registration"]
    )
    differs(
        "residence_registration_since",
        iso(typed.residence_registration_since),
        register["residence_registration_since"],
    )
    differs(
        "residence_registration_county",
        typed.residence_registration_county,
        register["residence_registration_county"],
    )
    permit = typed.residence_permit
    if permit is not None:
        theirs = register["residence_permit"]
        given = {"held": permit.held, "county": permit.county, "issued_on": iso(permit.issued_on)}
        for key in ("held", "county", "issued_on"):
            if key in theirs:
                differs(f"residence_permit.{key}", given[key], theirs[key])
    if typed.residence_history is not None:
        mine = _history_key(typed.residence_history)
        theirs_h = [
            {k: p[k] for k in ("start", "end", "county")} for p in register["residence_history"]
        ]
        if mine != theirs_h:
            out.append({"field": f"{path}.residence_history", "typed": mine, "register": theirs_h})
    return out


def settlement_facts(
    s: Session, facts: dict[str, Any], day: dt.date
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """A settlement case's facts (as the application keeps them) with the residence facts of
    every person it names whom the register holds a residence registration of replaced by
    the register's on ``day`` (``register_residence_facts``; a typed history's periods
    outside Jiaxing are kept beside the register's), and the typed facts that disagree
    (``{field, typed, register}``; None when the register holds no such person, so nothing
    was compared). The facts given are not changed. Read only: callers resolve the
    application through ``Named`` first."""
    case = parse_case(facts)
    people: list[tuple[str, Any]] = [("applicant", case.applicant)]
    people += [(f"relatives[{i}]", r) for i, r in enumerate(case.relatives)]
    numbers = {p.id_number: path for path, p in people if p.id_number}
    if not numbers:
        return facts, None
    known: dict[str, int] = {
        number: pid
        for number, pid in s.execute(
            select(Person.id_number, Person.id).where(Person.id_number.in_(list(numbers)))
        ).all()
    }
    merged: dict[str, Any] | None = None
    conflicts: list[dict[str, Any]] | None = None
    for path, typed in people:
        person_id = known.get(typed.id_number) if typed.id_number else None
        if person_id is None:
            continue
        register = register_residence_facts(s, person_id, day)
        if register is None:
            continue
        if merged is None:
            merged = {
                **facts,
                "applicant": dict(facts["applicant"]),
                "relatives": [dict(r) for r in facts.get("relatives") or []],
            }
            conflicts = []
        assert conflicts is not None
        conflicts += _conflicts(path, typed, register)
        target = (
            merged["applicant"]
            if path == "applicant"
            else merged["relatives"][int(path[len("relatives[") : -1])]
        )
        elsewhere = [
            p.model_dump(mode="json")
            for p in typed.residence_history or []
            if not in_jiaxing(p.county)
        ]
        history = sorted(
            register["residence_history"] + elsewhere, key=lambda p: (p["start"], p["county"])
        )
        target.update(register, residence_history=history[-MAX_RESIDENCE_PERIODS:])
    if merged is None:
        return facts, None
    return merged, conflicts
