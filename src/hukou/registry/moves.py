"""Moves of a hukou into a Jiaxing county (户口迁移), as the rules for them are.

* **Within Zhejiang** (浙江省常住户口登记管理规定, in force 2020-05-01): no 准迁证. The
  receiving station registers the person in one step; if the register holds the person's
  hukou in another county, that membership is closed in the same transaction and the
  sending station gets a notice in its queue (``StationNotice``, state ``pending`` until it
  acknowledges). A sending station outside Jiaxing is told through the provincial system:
  the notice is kept as ``forwarded``.
* **From outside Zhejiang**: approval issues a move-in permit (准予迁入证明) with a number
  and a validity (parameter ``s4_registration.move_in_permit_validity_days``); registration
  needs the permit still valid and, for each person it covers, the origin's 户口迁移证 number
  or the electronic confirmation of the inter-provincial one-stop move (跨省通办), kept as a
  received document. An unused permit expires; the station may cancel it, or issue a new one
  for an application still approved.

Periods a person must act within — the §4.5 public notice before a hukou is moved ex officio
and a move-in permit's validity — are counted from their first day and, by Civil Code
art. 203, a last day that falls on a statutory rest day (weekend or public holiday, as the
State Council's 调休 moves them) runs on to the next working day (``notice_period``,
``permit_validity``; reading R9a, parameter ``readings.civil_code_art_203``). A year whose
holidays the installed calendar does not know is counted on weekends alone and the record's
note says so; before the register acts against the person on such a date (``run_out``) the
date is checked again against the calendar, and refused while the year is still unknown.

Where a person's hukou comes from (``origin``): the register's own record when it holds
the person; else the case's ``hukou.address.county``; a relative whose case says nothing
moves from where the applicant does (families move together — reading R26).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hukou.policy.calendar import HolidaysUnknown, PeriodEnd, deadline, period_end
from hukou.policy.facts import id_birth_date
from hukou.policy.params import ResolvedParameters
from hukou.registry.errors import InvalidTransition, RegistryError
from hukou.registry.models import Household, Membership, MoveInPermit, Person

ZHEJIANG = "33"  # GB/T 2260 province prefix

# 准予迁入证明: (state, action) -> new state; "reissue" replaces an expired or cancelled permit
MOVE_IN_PERMIT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("issued", "use"): "used",  # registration with the origin's 迁移证
    ("issued", "expire"): "expired",  # its last day has passed unused
    ("issued", "cancel"): "cancelled",  # the applicant gives it up, or it was issued in error
}
# 迁出通知: (state, action) -> new state
NOTICE_TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "acknowledge"): "acknowledged",
}
MIGRATION_DOCUMENT_KINDS = {
    "paper": ("户口迁移证", "household migration certificate"),
    "electronic": ("跨省迁移电子信息确认", "electronic confirmation of the one-stop move"),
}


@dataclasses.dataclass(frozen=True)
class Mover:
    """One person a registration moves: their case path, facts, and where they come from."""

    path: str  # "applicant" or "relatives[i]"
    facts: dict[str, Any]
    person: Person | None  # the register's record, by ID number
    from_county: str | None  # county code of the current hukou; None when unknown
    in_register: bool  # the register holds the hukou (an open membership)

    @property
    def scope(self) -> str:
        """ "zhejiang" (one step), "other_province" (permit), "unknown"."""
        if self.from_county is None:
            return "unknown"
        return "zhejiang" if self.from_county.startswith(ZHEJIANG) else "other_province"


def _nfc(text: str | None) -> str:
    return unicodedata.normalize("NFC", text or "").strip()


# the separators names of ethnic minorities are written with (买买提·艾力), in the forms
# keyboards and fonts give them
_NAME_DOTS = re.compile(r"[\u00b7\u2022\u2027\u2219\u22c5\u30fb\uff0e\uff65.]")


def name_key(text: str | None) -> str:
    """A name as compared with the register's: compatibility forms folded (NFKC: full-width
    letters, ideographs' variants), spaces dropped, the middle-dot variants one — the same
    name typed on another keyboard is the same name; any other difference is not."""
    folded = unicodedata.normalize("NFKC", text or "")
    return _NAME_DOTS.sub("·", "".join(folded.split()))


def same_name(typed: str | None, registered: str | None) -> bool:
    return name_key(typed) == name_key(registered)


def identity_problems(s: Session, facts: dict[str, Any]) -> list[dict[str, str]]:
    """The applicant and relatives matched against the register by ID number: a name or a
    birth date that differs from the register's record is a problem naming the field."""
    out: list[dict[str, str]] = []
    people = [("applicant", facts.get("applicant") or {})]
    people += [(f"relatives[{i}]", r) for i, r in enumerate(facts.get("relatives") or [])]
    numbers = {str(p.get("id_number")).upper(): path for path, p in people if p.get("id_number")}
    if not numbers:
        return out
    known = {
        p.id_number: p
        for p in s.execute(select(Person).where(Person.id_number.in_(list(numbers)))).scalars()
    }
    for path, data in people:
        number = str(data.get("id_number") or "").upper()
        person = known.get(number)
        if person is None:
            continue
        if data.get("name") and not same_name(data["name"], person.name):
            out.append(
                {
                    "field": f"facts.{path}.name",
                    "zh": "姓名与登记簿中该身份证号码的记录不符（更正姓名须另行办理）",
                    "en": "the name differs from the register's record for this ID number "
                    "(correcting a registered name is a separate procedure)",
                }
            )
        given = data.get("birth_date")
        birth = dt.date.fromisoformat(given) if given else id_birth_date(number)
        if birth != person.birth_date:
            out.append(
                {
                    "field": f"facts.{path}.birth_date",
                    "zh": "出生日期与登记簿中该身份证号码的记录不符",
                    "en": "the birth date differs from the register's record for this ID number",
                }
            )
    return out


def refuse_identity(problems: list[dict[str, str]]) -> None:
    if problems:
        p = problems[0]
        raise RegistryError(p["zh"], p["en"], p["field"])


def _case_county(data: dict[str, Any]) -> str | None:
    hukou = data.get("hukou") or {}
    address = hukou.get("address") or {}
    county = address.get("county")
    return str(county) if county else None


_CASE_PATH = re.compile(r"^(applicant|relatives\[(\d+)\])(?:\.dwellings\[(\d+)\])?$")


def case_item(facts: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The person (``applicant``, ``relatives[1]``) or dwelling
    (``applicant.dwellings[0]``) a case path names — the paths a decision's registration
    place and a permit use; None when the facts hold no such item."""
    m = _CASE_PATH.match(path)
    if m is None:
        return None
    try:
        item = facts["applicant"] if m.group(2) is None else facts["relatives"][int(m.group(2))]
        found: dict[str, Any] = item if m.group(3) is None else item["dwellings"][int(m.group(3))]
        return found
    except (KeyError, IndexError, TypeError):
        return None


def movers(s: Session, facts: dict[str, Any], paths: list[str]) -> list[Mover]:
    """Each person to be registered (by case path), with their origin."""
    out = []
    default = None
    for path in paths:
        data = case_item(facts, path) or {}
        number = str(data.get("id_number") or "").upper()
        person = (
            s.execute(select(Person).where(Person.id_number == number)).scalar_one_or_none()
            if number
            else None
        )
        county = None
        if person is not None:
            county = s.execute(
                select(Household.county)
                .join(Membership, Membership.household_id == Household.id)
                .where(Membership.person_id == person.id, Membership.end_date.is_(None))
            ).scalar_one_or_none()
        in_register = county is not None
        if county is None:
            county = _case_county(data)
        if county is None and path != "applicant":
            county = default  # R26: a relative moves from where the applicant does
        if path == "applicant":
            default = county
        out.append(Mover(path, data, person, county, in_register))
    return out


def require_known_origins(found: list[Mover]) -> None:
    """A receiving station must know where each hukou comes from: it decides whether a
    move-in permit is needed."""
    for m in found:
        if m.scope == "unknown":
            raise RegistryError(
                "须填写现户口所在地（县级代码），以确定是否须开具准予迁入证明",
                "the county of the current hukou is needed: it decides whether a move-in "
                "permit is issued",
                f"facts.{m.path}.hukou.address.county",
            )


def permit_number(county: str, day: dt.date) -> str:
    """准予迁入证明编号: the receiving county, the day, 32 random bits."""
    return f"ZQ{county}{day:%Y%m%d}{secrets.token_hex(4).upper()}"


def art_203(params: ResolvedParameters) -> bool:
    """Whether Civil Code art. 203 moves a last day off a rest day (reading R9a)."""
    return bool(params.values.get("readings.civil_code_art_203", True))


def notice_period(start: dt.date, params: ResolvedParameters) -> PeriodEnd:
    """§4.5 公示期: ``s4_registration.move_out_public_notice_days`` days from the day the
    notice starts (that day counted), its last day moved off a rest day by art. 203."""
    days = params["s4_registration.move_out_public_notice_days"]
    return period_end(start, days, art_203=art_203(params), uncovered="weekends")


def permit_validity(issued_on: dt.date, params: ResolvedParameters) -> PeriodEnd:
    """准予迁入证明有效期: ``s4_registration.move_in_permit_validity_days`` days from the day
    of issue (that day counted), its last day moved off a rest day by art. 203."""
    days = params["s4_registration.move_in_permit_validity_days"]
    return period_end(issued_on, days, art_203=art_203(params), uncovered="weekends")


def period_note(end: PeriodEnd) -> str | None:
    """The note a record carries when its last day was counted on weekends alone."""
    if not end.provisional:
        return None
    return (
        f"期间最后一日 {end.last_day} 仅按周六、周日推算（节假日日历未收录该年放假安排），"
        "公布后复核 / the last day was counted on weekends alone (the holiday calendar "
        "does not know that year yet); checked again before the register acts on it"
    )


def run_out(last_day: dt.date, today: dt.date, params: ResolvedParameters) -> bool:
    """Whether a period whose recorded last day is ``last_day`` has run out on ``today`` —
    checked again against the calendar as it is now (a date once counted on weekends alone,
    or a holiday arrangement changed since), so that the register never acts against a
    person on a day still inside the period. Refused while the year's holidays are unknown."""
    if today <= last_day:
        return False
    if not art_203(params):
        return True
    try:
        confirmed = deadline(last_day, uncovered="error").last_day
    except HolidaysUnknown as err:
        raise RegistryError(err.zh, err.en, "calendar") from err
    return today > confirmed


def usable(permit: MoveInPermit, day: dt.date) -> bool:
    """An issued permit is usable through its last day; a recorded last day that the
    calendar now knows to be a rest day (a year counted on weekends alone when it was
    issued) runs on to the next working day — in the person's favour, never shortened."""
    if permit.state != "issued":
        return False
    if day <= permit.valid_until:
        return True
    return day <= deadline(permit.valid_until, uncovered="weekends").last_day


def transition(permit: MoveInPermit, action: str) -> str:
    new = MOVE_IN_PERMIT_TRANSITIONS.get((permit.state, action))
    if new is None:
        raise InvalidTransition(
            f"准予迁入证明状态为「{permit.state}」，不能{action}",
            f"a move-in permit in state {permit.state} cannot {action}",
            "state",
        )
    return new


def check_migration_documents(
    documents: list[dict[str, str]] | None, permit: MoveInPermit
) -> dict[str, dict[str, str]]:
    """One 户口迁移证 (or electronic confirmation) per person the permit covers, keyed by path."""
    by_path: dict[str, dict[str, str]] = {}
    for i, doc in enumerate(documents or []):
        who, kind, number = doc.get("person", ""), doc.get("kind", ""), _nfc(doc.get("number"))
        field = f"migration_documents[{i}]"
        if who not in permit.persons:
            raise RegistryError(
                "该人员不在准予迁入证明上",
                f"the permit covers {', '.join(permit.persons)}",
                f"{field}.person",
            )
        if kind not in MIGRATION_DOCUMENT_KINDS:
            raise RegistryError(
                "证件类别须为纸质户口迁移证或电子迁移信息",
                "kind is paper or electronic",
                f"{field}.kind",
            )
        if not number or len(number) > 64 or not number.isprintable():
            raise RegistryError(
                "须填写迁移证件编号（至多64字）",
                "the document's number (at most 64)",
                f"{field}.number",
            )
        if who in by_path:
            raise RegistryError(
                "同一人员只收取一份迁移证件", "one document per person", f"{field}.person"
            )
        by_path[who] = {"kind": kind, "number": number}
    for who in permit.persons:
        if who not in by_path:
            raise RegistryError(
                f"须收取{who}的户口迁移证（或跨省迁移电子信息）",
                f"the migration certificate (or electronic confirmation) of {who} is needed",
                "migration_documents",
            )
    return by_path
