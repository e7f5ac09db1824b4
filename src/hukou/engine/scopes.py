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
SINCE_UNSTATED = dt.date(1900, 1, 1)  # a start date not given: it never holds a condition back


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


def _town(code: str | None) -> bool | None:
    """In a designated town (建制镇, §5.1's small towns)."""
    if code is None:
        return None
    return places.urban_rural_codes()[code].town


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


class FactKeys(dict[str, str]):
    """``name -> "<scope path>.<name>"``: the keys facts are recorded under in a trace,
    made once per scope path rather than once per read."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def __missing__(self, name: str) -> str:
        key = self[name] = f"{self.path}.{name}"
        return key


_FACT_KEYS: dict[str, FactKeys] = {}


def fact_keys(path: str) -> FactKeys:
    keys = _FACT_KEYS.get(path)
    if keys is None:
        if len(_FACT_KEYS) > 4096:
            _FACT_KEYS.clear()
        keys = _FACT_KEYS[path] = FactKeys(path)
    return keys


# Qualification levels -> their rank, by enum member (as ``rank`` gives it)
_RANK_OF: dict[str, dict[Any, int]] = {
    scale: {member: rank(scale, member) for member in SCALES[scale]}
    for scale in ("education", "title", "vocational")
}
_EDUCATION, _TITLE, _VOCATIONAL = (_RANK_OF[s] for s in ("education", "title", "vocational"))


# Scopes are made by copying these (all facts unknown) and filling in what is known:
# much cheaper than building a dict of 30-odd entries from scratch.
_DWELLING: Scope = dict.fromkeys(
    (
        "__path__",
        "__owner__",
        "__kind__",
        "__keys__",
        "tenure",
        "commercial",
        "in_jiaxing",
        "urban",
        "town",
        "central_town",
        "hukou_here",
        "stretch_exists",
        "stretch_start",
        "stretch_end",
        "__sources__",
    )
)
_DWELLING["__kind__"] = "dwelling"
_PERSON: Scope = dict.fromkeys(
    (
        "__path__",
        "__kind__",
        "__keys__",
        "sex",
        "birth_date",
        "education",
        "title",
        "vocational",
        "sv_graduate",
        "sv_graduation_date",
        "labour_contract",
        "local_business",
        "lives_in",
        "residence_registration",
        "registration_since",
        "permit_held",
        "permit_county",
        "permit_since",
        "hukou_kind",
        "hukou_in_jiaxing",
        "hukou_urban",
        "owner_consent",
        "department_consent",
        "lost_registration",
        "rural_origin",
        "employed_in_town_since",
        "family_migrated_together",
        "offer_relative_household",
        "offer_unit_collective",
        "offer_talent_collective",
        "registered_poor",
        "residence_history_known",
        "dwellings",
    )
)
_PERSON["__kind__"] = "person"


def _dwelling_scope(
    d: Dwelling, owner: Person, path: str, owner_path: str, p: ResolvedParameters
) -> Scope:
    address = d.address
    county = address.county if address is not None else None
    tenure = d.tenure
    scope = _DWELLING.copy()
    scope["__path__"] = path
    scope["__owner__"] = owner_path
    scope["__keys__"] = fact_keys(path)
    if tenure:
        scope["tenure"] = tenure._value_
    scope["commercial"] = d.commercial_housing
    scope["central_town"] = d.central_town
    if county is not None:
        scope["in_jiaxing"] = county in places.jiaxing_counties()
    if address is not None:
        scope["urban"] = _urban(address.urban_rural_code)
        scope["town"] = _town(address.urban_rural_code)
    if county is not None:
        scope["hukou_here"] = _hukou_here(county, owner.hukou)
    history = owner.residence_history
    if history is not None and county is not None:
        stretch = residence_stretch(
            history,
            places.area_of(county),
            p.on,
            # before §8 no parameter is in force, and nothing is judged: any value will do
            p.values.get("s1_urban.residence_gap_tolerance_days", 0),
        )
        scope["stretch_exists"] = stretch is not None
        if stretch is not None:
            scope["stretch_start"], scope["stretch_end"] = stretch
    if county is None:
        # derived facts open because the dwelling's own county is unknown: that county
        # answers them, with the owner's fact only if it is unknown too (naming only the
        # owner's, as the vocabulary does, would ask for a fact already given)
        here = f"{path}.address.county"
        hukou = owner.hukou
        hukou_known = hukou is not None and (
            hukou.address is not None
            or (hukou.kind is not None and hukou.kind._value_ == "outside_jiaxing")
        )
        stretch_sources = (
            (here,) if history is not None else (here, f"{owner_path}.residence_history")
        )
        scope["__sources__"] = {
            "hukou_here": (here,) if hukou_known else (here, f"{owner_path}.hukou.address.county"),
            **dict.fromkeys(DERIVED_FACTS - {"hukou_here"}, stretch_sources),
        }
    return scope


DERIVED_FACTS = frozenset(("hukou_here", "stretch_exists", "stretch_start", "stretch_end"))
"""A dwelling's facts derived from several of the case's fields: which of them answer one
depends on what the case knows (``__sources__``, ``evaluate.sources_of``)."""


def _registration(
    held: bool | None, since: dt.date | None, on: dt.date
) -> tuple[bool | None, dt.date]:
    """居住登记 as facts: whether held (one starting on or after the decision date was
    applied for: held from then, R29) and since when (``SINCE_UNSTATED`` when not given)."""
    if since is not None and since >= on:
        return True, since
    return held, since if since is not None else SINCE_UNSTATED


def _hukou_here(county: str, h: Hukou | None) -> bool | None:
    """The dwelling's county lies in the area (市本级 as one) of the owner's hukou."""
    if h is None:
        return None
    if h.kind is not None and h.kind._value_ == "outside_jiaxing":
        return False
    if h.address is None:
        return None
    return places.area_of(county) == places.area_of(h.address.county)


def _hukou(h: Hukou | None) -> tuple[Any, ...]:
    if h is None:
        return (None,) * 6
    kind = h.kind._value_ if h.kind else None
    address = h.address
    county = address.county if address is not None else None
    if kind == "outside_jiaxing":
        in_jx: bool | None = False
    elif county is not None:
        in_jx = county in places.jiaxing_counties()
    else:
        in_jx = None
    urban = _urban(address.urban_rural_code) if address is not None else None
    return kind, in_jx, urban, h.owner_consent, h.department_consent, county


def person_scope(person: Person, path: str, p: ResolvedParameters) -> Scope:
    f = person.__dict__  # the model's fields, read in bulk (attribute access is slower)
    scope = _PERSON.copy()
    scope["__path__"] = path
    scope["__keys__"] = fact_keys(path)
    # each fact stays None (unknown) unless the case gives it
    if (v := f["sex"]) is not None:
        scope["sex"] = v._value_
    if (v := f["birth_date"]) is not None:
        scope["birth_date"] = v
    if (v := f["education"]) is not None:
        scope["education"] = _EDUCATION[v]
    if (v := f["professional_title"]) is not None:
        scope["title"] = _TITLE[v]
    if (v := f["vocational_qualification"]) is not None:
        scope["vocational"] = _VOCATIONAL[v]
    if (v := f["secondary_vocational_graduate"]) is not None:
        scope["sv_graduate"] = v
    if (v := f["secondary_vocational_graduation_date"]) is not None:
        scope["sv_graduation_date"] = v
    if (v := f["local_labour_contract"]) is not None:
        scope["labour_contract"] = v
    if (v := f["local_business"]) is not None:
        scope["local_business"] = v
    if (v := f["lives_in"]) is not None:
        scope["lives_in"] = v
    scope["residence_registration"], scope["registration_since"] = _registration(
        f["residence_registration"], f["residence_registration_since"], p.on
    )
    if (permit := f["residence_permit"]) is not None:
        issued = permit.issued_on
        # a permit issued on or after the decision date is one applied for (a case states the
        # facts as of its decision date): held from that day
        scope["permit_held"] = True if issued is not None and issued >= p.on else permit.held
        scope["permit_county"] = permit.county
        scope["permit_since"] = issued if issued is not None else SINCE_UNSTATED
    else:
        scope["permit_since"] = SINCE_UNSTATED
    if (hukou := f["hukou"]) is not None:
        (
            scope["hukou_kind"],
            scope["hukou_in_jiaxing"],
            scope["hukou_urban"],
            scope["owner_consent"],
            scope["department_consent"],
            _county,
        ) = _hukou(hukou)
    if (v := f["lost_registration"]) is not None:
        scope["lost_registration"] = v._value_
    if (v := f["rural_origin"]) is not None:
        scope["rural_origin"] = v
    if (v := f["employed_in_town_since"]) is not None:
        scope["employed_in_town_since"] = v
    if (v := f["family_migrated_together"]) is not None:
        scope["family_migrated_together"] = v
    if (v := f["registered_poor"]) is not None:
        scope["registered_poor"] = v
    if (offers := f["registration_offers"]) is not None:
        scope["offer_relative_household"] = offers.relative_family_household
        scope["offer_unit_collective"] = offers.unit_collective
        scope["offer_talent_collective"] = offers.talent_service_collective
    scope["residence_history_known"] = f["residence_history"] is not None
    if (dwellings := f["dwellings"]) is not None:
        scope["dwellings"] = [
            _dwelling_scope(d, person, f"{path}.dwellings[{i}]", path, p)
            for i, d in enumerate(dwellings)
        ]
    if isinstance(person, Relative):
        scope["__kind__"] = "relative"
        scope["relation"] = f["relation"]._value_
        scope["lives_with"] = f["lives_with_applicant"]
    return scope


def case_scopes(case: Case, p: ResolvedParameters) -> tuple[Scope, list[Scope]]:
    """The applicant's scope (with ``relatives``) and each relative's."""
    applicant = person_scope(case.applicant, "applicant", p)
    relatives = [person_scope(r, f"relatives[{i}]", p) for i, r in enumerate(case.relatives)]
    applicant["relatives"] = relatives
    return applicant, relatives
