"""From a case to the facts the rules read (事实取值).

Each scope is a plain dict: fact name -> value, ``None`` when unknown. A few facts
are derived here from the case model — whether a place is in Jiaxing or urban
(from the shipped code tables), a qualification's rank on its ladder, and the
§1.2 residence stretch. The analytics layer derives the same facts in SQL;
differential tests keep the two equal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.policy import places
from hukou.policy.facts import Case, Dwelling, Hukou, Person, Relative, ResidencePeriod
from hukou.policy.params import ResolvedParameters
from hukou.policy.scales import SCALES, rank

Scope = dict[str, Any]

ONGOING = dt.date.max  # the end of a stretch of residence that has not ended


LEVEL_FACTS = {"education": "education", "title": "title", "vocational": "vocational"}


def display_value(name: str, value: Any) -> Any:
    """A fact's value as a person reads it: ladder positions back to their level names."""
    scale = LEVEL_FACTS.get(name)
    if scale is not None and isinstance(value, int):
        return list(SCALES[scale])[value].value
    if isinstance(value, dt.date):
        return None if value == ONGOING else value.isoformat()
    if isinstance(value, list):
        return f"[{len(value)}]"
    return value


def _urban(code: str | None) -> bool | None:
    if code is None:
        return None
    return places.urban_rural_codes()[code].urban


def residence_stretch(
    history: list[ResidencePeriod], area: str, on: dt.date, gap_days: int
) -> tuple[dt.date, dt.date] | None:
    """§1.2 The latest unbroken stretch of residence within ``area`` begun by ``on``.

    Periods in the area are merged when the next begins no more than ``gap_days``
    days after the previous ends (0: the next day at the latest). Periods
    elsewhere do not count. Returns (start, end), end = ``ONGOING`` if open.
    """
    spans = sorted(
        (p.start, p.end or ONGOING)
        for p in history
        if p.start <= on and places.area_of(p.county) == area
    )
    stretch: tuple[dt.date, dt.date] | None = None
    for start, end in spans:
        if stretch is not None and (
            stretch[1] == ONGOING or start.toordinal() <= stretch[1].toordinal() + 1 + gap_days
        ):
            stretch = (stretch[0], max(stretch[1], end))
        else:
            stretch = (start, end)
    return stretch


def _dwelling_scope(
    d: Dwelling, owner: Person, path: str, owner_path: str, p: ResolvedParameters
) -> Scope:
    address = d.address
    county = address.county if address else None
    scope: Scope = {
        "__path__": path,
        "__owner__": owner_path,
        "__kind__": "dwelling",
        "tenure": d.tenure.value if d.tenure else None,
        "commercial": d.commercial_housing,
        "in_jiaxing": None if county is None else places.in_jiaxing(county),
        "urban": _urban(address.urban_rural_code) if address else None,
        "stretch_exists": None,
        "stretch_start": None,
        "stretch_end": None,
    }
    if owner.residence_history is not None and county is not None:
        stretch = residence_stretch(
            owner.residence_history,
            places.area_of(county),
            p.on,
            p["s1_urban.residence_gap_tolerance_days"],
        )
        scope["stretch_exists"] = stretch is not None
        if stretch is not None:
            scope["stretch_start"], scope["stretch_end"] = stretch
    return scope


def _hukou(h: Hukou | None) -> tuple[Any, ...]:
    if h is None:
        return (None,) * 6
    kind = h.kind.value if h.kind else None
    county = h.address.county if h.address else None
    if kind == "outside_jiaxing":
        in_jx: bool | None = False
    elif county is not None:
        in_jx = places.in_jiaxing(county)
    else:
        in_jx = None
    urban = _urban(h.address.urban_rural_code) if h.address else None
    return kind, in_jx, urban, h.owner_consent, h.department_consent, county


def person_scope(person: Person, path: str, p: ResolvedParameters) -> Scope:
    permit = person.residence_permit
    kind, in_jx, urban, consent, dept, _county = _hukou(person.hukou)
    offers = person.registration_offers
    scope: Scope = {
        "__path__": path,
        "__kind__": "person",
        "sex": person.sex.value if person.sex else None,
        "birth_date": person.birth_date,
        "education": rank("education", person.education) if person.education else None,
        "title": rank("title", person.professional_title) if person.professional_title else None,
        "vocational": rank("vocational", person.vocational_qualification)
        if person.vocational_qualification
        else None,
        "sv_graduate": person.secondary_vocational_graduate,
        "sv_graduation_date": person.secondary_vocational_graduation_date,
        "labour_contract": person.local_labour_contract,
        "local_business": person.local_business,
        "lives_in": person.lives_in,
        "residence_registration": person.residence_registration,
        "permit_held": permit.held if permit else None,
        "permit_county": permit.county if permit else None,
        "hukou_kind": kind,
        "hukou_in_jiaxing": in_jx,
        "hukou_urban": urban,
        "owner_consent": consent,
        "department_consent": dept,
        "lost_registration": person.lost_registration.value if person.lost_registration else None,
        "rural_origin": person.rural_origin,
        "employed_in_town_since": person.employed_in_town_since,
        "family_migrated_together": person.family_migrated_together,
        "offer_relative_household": offers.relative_family_household if offers else None,
        "offer_unit_collective": offers.unit_collective if offers else None,
        "offer_talent_collective": offers.talent_service_collective if offers else None,
        "residence_history_known": person.residence_history is not None,
        "dwellings": None
        if person.dwellings is None
        else [
            _dwelling_scope(d, person, f"{path}.dwellings[{i}]", path, p)
            for i, d in enumerate(person.dwellings)
        ],
    }
    if isinstance(person, Relative):
        scope["__kind__"] = "relative"
        scope["relation"] = person.relation.value
        scope["lives_with"] = person.lives_with_applicant
    return scope


def case_scopes(case: Case, p: ResolvedParameters) -> tuple[Scope, list[Scope]]:
    """The applicant's scope (with ``relatives``) and each relative's."""
    applicant = person_scope(case.applicant, "applicant", p)
    relatives = [person_scope(r, f"relatives[{i}]", p) for i, r in enumerate(case.relatives)]
    applicant["relatives"] = relatives
    return applicant, relatives
