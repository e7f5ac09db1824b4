"""Hypothesis strategies for case dicts (案件生成器), and helpers to complete them.

A case is generated as a plain JSON-like dict (what ``parse_case`` reads). Every
optional fact may be left out (unknown). The field tables below describe the case
model once; from them come three things:

* ``cases()`` — partial cases, facts left out at random;
* ``complete(draw, case)`` — a completion: every fact left out is filled in with a
  random value, facts already known are kept;
* ``set_path(draw, case, "relatives[1].hukou.kind")`` — answer one missing fact,
  named the way ``Decision.missing_facts`` names it.

Sex and birth date are given directly (no ID numbers). Every birth date lies on or
before the decision date (and before today, which the model checks); every period
of residence starts on or before the decision date, because the §1.2 stretch is
derived relative to the decision date.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from hukou.policy.calendar import add_years
from hukou.policy.facts import Case, parse_case


def examples(n: int) -> int:
    """How many examples a slow property runs: ``n`` scaled by ``HUKOU_TEST_DEPTH`` (1 by
    default, so ``make test`` stays within its time; ``make test-deep`` runs 5×)."""
    try:
        depth = float(os.environ.get("HUKOU_TEST_DEPTH", "1"))
    except ValueError:
        depth = 1.0
    return max(1, round(n * depth))


JIAXING_COUNTIES = ("330402", "330411", "330421", "330424", "330481", "330482", "330483")
OUTSIDE_COUNTIES = ("310101", "330102", "320505")
COUNTIES = JIAXING_COUNTIES + OUTSIDE_COUNTIES
URBAN_RURAL_CODES = ("111", "112", "121", "122", "123", "210", "220")
EDUCATION = (
    "below_secondary",
    "secondary_vocational",
    "high_school",
    "junior_college",
    "bachelor",
    "master",
    "doctor",
)
TITLE = ("none", "junior", "intermediate", "deputy_senior", "senior")
VOCATIONAL = ("none", "level5", "level4", "level3", "technician", "senior_technician")
LEVELS = {
    "education": EDUCATION,
    "professional_title": TITLE,
    "vocational_qualification": VOCATIONAL,
}
TENURES = ("owned", "rented_registered", "rented_unregistered")
HUKOU_KINDS = (
    "own_family_household",
    "relative_family_household",
    "unit_collective",
    "talent_service_collective",
    "community_collective",
    "outside_jiaxing",
)
LOSS_REASONS = (
    "none",
    "land_expropriation",
    "demolition",
    "ownership_transfer",
    "divorce",
    "other",
)

FIRST_DECISION = dt.date(2020, 8, 1)
LAST_DECISION = dt.date(2030, 12, 31)

# ---- dates ----------------------------------------------------------------------


def _clip(d: dt.date, lo: dt.date, hi: dt.date) -> dt.date:
    return max(lo, min(hi, d))


def _latest_birth(on: dt.date) -> dt.date:
    """Birth dates may be neither after the decision date nor in the future."""
    return min(on, dt.date.today())


def near(anchor: dt.date, days: int, lo: dt.date, hi: dt.date) -> st.SearchStrategy[dt.date]:
    """A date within ``days`` of ``anchor``, kept within [lo, hi]."""
    return st.integers(-days, days).map(lambda k: _clip(anchor + dt.timedelta(days=k), lo, hi))


def birth_dates(on: dt.date) -> st.SearchStrategy[dt.date]:
    """Any age up to 95, with weight on the birthdays that matter: 18, 55 and 60."""
    hi = _latest_birth(on)
    lo = dt.date(on.year - 95, 1, 1)
    around = [near(add_years(on, -n), 800, lo, hi) for n in (18, 55, 60)]
    # 29 February births, so the leap-day anniversary is exercised
    leap_days = [dt.date(y, 2, 29) for y in range(1932, 2024, 4) if lo <= dt.date(y, 2, 29) <= hi]
    leap = [st.sampled_from(leap_days)] if leap_days else []
    return st.one_of(st.dates(lo, hi), *around, *leap)


def past_dates(on: dt.date, years: int) -> st.SearchStrategy[dt.date]:
    """A date at most ``years`` years before the decision date, never after it."""
    lo = add_years(on, -years)
    return st.one_of(st.dates(lo, on), near(add_years(on, -(years // 2 or 1)), 400, lo, on))


# ---- field tables -----------------------------------------------------------------

Leaf = Callable[[dt.date], st.SearchStrategy[Any]]


@dataclass(frozen=True)
class Sub:
    """A nested object (``model``), or a list of them when ``max_items`` is set."""

    model: str
    min_items: int = 0
    max_items: int | None = None


def _const(strategy: st.SearchStrategy[Any]) -> Leaf:
    return lambda _on: strategy


_bool = _const(st.booleans())
_county = _const(st.sampled_from(COUNTIES))
_iso = lambda s: s.map(dt.date.isoformat)


PERSON: dict[str, Leaf | Sub] = {
    "sex": _const(st.sampled_from(["male", "female"])),
    "birth_date": lambda on: _iso(birth_dates(on)),
    "education": _const(st.sampled_from(EDUCATION)),
    "professional_title": _const(st.sampled_from(TITLE)),
    "vocational_qualification": _const(st.sampled_from(VOCATIONAL)),
    "secondary_vocational_graduate": _bool,
    "secondary_vocational_graduation_date": lambda on: _iso(past_dates(on, 20)),
    "local_labour_contract": _bool,
    "local_business": _bool,
    "lives_in": _const(st.sampled_from(COUNTIES)),
    "residence_registration": _bool,
    # a registration dated on or after the decision date is one applied for (R29), a
    # different fact from one left unknown: the generator draws past dates only
    "residence_registration_since": lambda on: _iso(
        st.dates(add_years(on, -10), on - dt.timedelta(days=1))
    ),
    "residence_registration_county": _const(st.sampled_from(JIAXING_COUNTIES)),
    "registered_poor": _bool,
    "residence_permit": Sub("permit"),
    "residence_history": Sub("period", 1, 3),
    "dwellings": Sub("dwelling", 0, 2),
    "hukou": Sub("hukou"),
    "lost_registration": _const(st.sampled_from(LOSS_REASONS)),
    "rural_origin": _bool,
    "employed_in_town_since": lambda on: _iso(past_dates(on, 10)),
    "family_migrated_together": _bool,
    "registration_offers": Sub("offers"),
    "land_rights": Sub("land"),
}
RELATIVE: dict[str, Leaf | Sub] = {
    **PERSON,
    "lives_with_applicant": _bool,
}
MODELS: dict[str, dict[str, Leaf | Sub]] = {
    "person": PERSON,
    "relative": RELATIVE,
    "permit": {"held": _bool, "county": _county},
    "dwelling": {
        "tenure": _const(st.sampled_from(TENURES)),
        "commercial_housing": _bool,
        "address": Sub("address"),
    },
    "address": {
        "county": _const(st.one_of(st.sampled_from(JIAXING_COUNTIES), st.sampled_from(COUNTIES))),
        "urban_rural_code": _const(st.sampled_from(URBAN_RURAL_CODES)),
    },
    "hukou": {
        "kind": _const(st.sampled_from(HUKOU_KINDS)),
        "address": Sub("address"),
        "owner_consent": _bool,
        "department_consent": _bool,
    },
    "offers": {
        "relative_family_household": _bool,
        "unit_collective": _bool,
        "talent_service_collective": _bool,
    },
    "land": {"contract_land": _bool, "homestead": _bool, "collective_income": _bool},
}
REQUIRED: dict[str, tuple[str, ...]] = {"address": ("county",), "relative": ("relation",)}
# A model built whole rather than field by field (its fields are never "unknown").
WHOLE: dict[str, Callable[[dt.date], st.SearchStrategy[dict[str, Any]]]] = {}


@st.composite
def _period(draw: st.DrawFn, on: dt.date) -> dict[str, Any]:
    """A period of residence that starts on or before ``on``; often near a 3-year boundary."""
    lo = add_years(on, -7)
    start = draw(
        st.one_of(
            st.dates(lo, on),
            near(add_years(on, -3), 30, lo, on),
            st.just(on),
        )
    )
    period: dict[str, Any] = {
        "start": start.isoformat(),
        "county": draw(st.one_of(st.sampled_from(JIAXING_COUNTIES), st.sampled_from(COUNTIES))),
    }
    end = draw(
        st.one_of(
            st.none(),  # ongoing
            st.integers(0, 3000).map(lambda k: start + dt.timedelta(days=k)),
        )
    )
    if end is not None:
        period["end"] = end.isoformat()
    return period


WHOLE["period"] = _period


def _relative_extra(on: dt.date) -> dict[str, st.SearchStrategy[Any]]:
    return {"relation": st.sampled_from(["spouse", "child", "parent"])}


def build(model: str, on: dt.date, partial: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of ``model``: all facts given (``partial=False``) or some left out."""
    if model in WHOLE:
        return WHOLE[model](on)
    fields = MODELS[model]
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if model == "relative":
        required.update(_relative_extra(on))
    for name, spec in fields.items():
        strategy = value(spec, on, partial)
        if name in REQUIRED.get(model, ()) or not partial:
            required[name] = strategy
        else:
            optional[name] = strategy
    built = st.fixed_dictionaries(required, optional=optional)
    return built.map(consistent_hukou) if model == "hukou" else built


def consistent_hukou(hukou: dict[str, Any]) -> dict[str, Any]:
    """A household outside Jiaxing has its address outside Jiaxing (the model refuses
    the contradiction): the address moves to a county elsewhere."""
    address = hukou.get("address")
    if (
        hukou.get("kind") == "outside_jiaxing"
        and address is not None
        and address.get("county") in JIAXING_COUNTIES
    ):
        hukou["address"] = {
            **address,
            "county": OUTSIDE_COUNTIES[
                JIAXING_COUNTIES.index(address["county"]) % len(OUTSIDE_COUNTIES)
            ],
        }
    return hukou


def value(spec: Leaf | Sub, on: dt.date, partial: bool) -> st.SearchStrategy[Any]:
    if isinstance(spec, Sub):
        item = build(spec.model, on, partial)
        if spec.max_items is None:
            return item
        return st.lists(item, min_size=spec.min_items, max_size=spec.max_items)
    return spec(on)


@st.composite
def cases(
    draw: st.DrawFn,
    partial: bool = True,
    max_relatives: int = 3,
    on: dt.date | None = None,
) -> dict[str, Any]:
    """A case dict with a decision date between 2020-08-01 and 2030-12-31."""
    if on is None:
        on = draw(st.dates(FIRST_DECISION, LAST_DECISION))
    return {
        "decision_date": on.isoformat(),
        "applicant": draw(build("person", on, partial)),
        "relatives": draw(st.lists(build("relative", on, partial), max_size=max_relatives)),
    }


def parse(case: dict[str, Any]) -> Case:
    return parse_case(case)


def canonical(case: dict[str, Any]) -> dict[str, Any]:
    """The case as the model reads it (e.g. a graduation date implies graduation)."""
    return parse_case(case).model_dump(mode="json", exclude_none=True)


# ---- completing a case ------------------------------------------------------------


def _complete_obj(draw: st.DrawFn, obj: dict[str, Any], model: str, on: dt.date) -> None:
    if model in WHOLE:
        return  # built whole: nothing in it is unknown
    kind_unknown = model == "hukou" and obj.get("kind") is None
    for name, spec in MODELS[model].items():
        if name not in obj or obj[name] is None:
            obj[name] = draw(value(spec, on, partial=False))
        elif isinstance(spec, Sub):
            items = obj[name] if spec.max_items is not None else [obj[name]]
            for item in items:
                _complete_obj(draw, item, spec.model, on)
    if kind_unknown and obj["kind"] == "outside_jiaxing":
        # only what was unknown is filled in: the kind yields to a given Jiaxing address
        county = (obj.get("address") or {}).get("county")
        if county in JIAXING_COUNTIES:
            obj["kind"] = draw(st.sampled_from([k for k in HUKOU_KINDS if k != "outside_jiaxing"]))
    elif model == "hukou":
        consistent_hukou(obj)


def complete(draw: st.DrawFn, case: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``case`` (canonical form) with every unknown fact filled in at random."""
    out = canonical(case)
    on = dt.date.fromisoformat(out["decision_date"])
    _complete_obj(draw, out["applicant"], "person", on)
    for rel in out.get("relatives", []):
        _complete_obj(draw, rel, "relative", on)
    return out


# ---- answering one missing fact -----------------------------------------------------

_TOKEN = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")


def parse_path(path: str) -> list[str | int]:
    """``relatives[1].hukou.kind`` -> ``["relatives", 1, "hukou", "kind"]``."""
    out: list[str | int] = []
    for part in path.split("."):
        m = _TOKEN.fullmatch(part)
        if m is None:
            raise ValueError(f"not a fact path: {path}")
        out.append(m.group(1))
        if m.group(2) is not None:
            out.append(int(m.group(2)))
    return out


def set_path(draw: st.DrawFn, case: dict[str, Any], path: str) -> None:
    """Answer the fact at ``path`` (as named in ``missing_facts``) with a random value.

    Objects on the way that are missing are created with their required fields
    (an address needs a county). Lists and objects at the end are answered whole,
    with every fact of theirs given.
    """
    on = dt.date.fromisoformat(case["decision_date"])
    tokens = parse_path(path)
    head = tokens[0]
    if head == "applicant":
        obj, model, rest = case["applicant"], "person", tokens[1:]
    elif head == "relatives":
        if len(tokens) == 1:
            raise ValueError("the relatives list is always known")
        obj, model, rest = case["relatives"][tokens[1]], "relative", tokens[2:]
    else:
        raise ValueError(f"unknown root in {path}")
    while len(rest) > 1:
        name = rest[0]
        spec = MODELS[model][name]  # type: ignore[index]
        assert isinstance(spec, Sub), path
        if spec.max_items is not None:  # a list followed by an index
            index = rest[1]
            assert isinstance(index, int), path
            obj = obj[name][index]
            rest = rest[2:]
        else:
            if obj.get(name) is None:
                obj[name] = {
                    req: draw(value(MODELS[spec.model][req], on, partial=False))
                    for req in REQUIRED.get(spec.model, ())
                }
            obj = obj[name]
            rest = rest[1:]
        model = spec.model
    name = rest[0]
    assert isinstance(name, str), path
    obj[name] = draw(value(MODELS[model][name], on, partial=False))
    if "hukou" in tokens:  # the answer yields to what was known: no 嘉兴市外 in Jiaxing
        person = case["applicant"] if head == "applicant" else case["relatives"][tokens[1]]
        hukou = person["hukou"]
        if name == "kind" and model == "hukou":
            county = (hukou.get("address") or {}).get("county")
            if hukou["kind"] == "outside_jiaxing" and county in JIAXING_COUNTIES:
                hukou["kind"] = draw(
                    st.sampled_from([k for k in HUKOU_KINDS if k != "outside_jiaxing"])
                )
        else:
            consistent_hukou(hukou)


def raise_levels(draw: st.DrawFn, person: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Raise some known qualifications of ``person`` (in place); return what changed."""
    changed = []
    for name, ladder in LEVELS.items():
        current = person.get(name)
        if current is None:
            continue
        i = ladder.index(current)
        j = draw(st.integers(i, len(ladder) - 1))
        if j > i:
            person[name] = ladder[j]
            changed.append((name, current, ladder[j]))
    return changed


# ---- cases built around a channel ---------------------------------------------------

SAME_AREA = {"330402": ("330402", "330411"), "330411": ("330402", "330411")}


@st.composite
def favourable_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Cases with every fact known, steered towards the channels' thresholds.

    Random cases rarely line up a dwelling, a residence history in its area and a
    residence document, or a graduation 15 years back with a local job and a
    permit where one lives; these do, with the dates near the anniversaries that
    matter (3 years of residence, 15 years since graduation, 18/55/60 years of age).
    """
    case = draw(cases(partial=False))
    on = dt.date.fromisoformat(case["decision_date"])
    a = case["applicant"]
    county = draw(st.sampled_from(JIAXING_COUNTIES))
    if draw(st.booleans()):  # §1.1 / §1.2: a dwelling, residence in its area, a document
        a["residence_registration"] = True
        a["dwellings"] = [
            {
                "tenure": draw(
                    st.sampled_from(["owned", "rented_registered", "rented_registered"])
                ),
                "commercial_housing": draw(st.booleans()),
                "address": {
                    "county": county,
                    "urban_rural_code": draw(st.sampled_from(URBAN_RURAL_CODES[:5])),
                },
            }
        ]
        lo = add_years(on, -7)
        start = draw(near(add_years(on, -3), 500, lo, on))
        period: dict[str, Any] = {
            "start": start.isoformat(),
            "county": draw(st.sampled_from(SAME_AREA.get(county, (county,)))),
        }
        if draw(st.booleans()):  # ends some day, possibly after the decision date
            end = start + dt.timedelta(days=draw(st.integers(0, 2500)))
            period["end"] = end.isoformat()
        a["residence_history"] = [period]
    if draw(st.booleans()):  # §2.2: graduation, local work, a permit where one lives
        a["secondary_vocational_graduate"] = True
        graduated = draw(near(add_years(on, -15), 500, add_years(on, -20), on))
        a["secondary_vocational_graduation_date"] = graduated.isoformat()
        a["local_labour_contract"] = draw(st.booleans())
        a["local_business"] = not a["local_labour_contract"] or draw(st.booleans())
        a["lives_in"] = county
        a["residence_permit"] = {"held": True, "county": county}
    for rel in case["relatives"]:
        if draw(st.booleans()):
            rel["lives_with_applicant"] = True
    return case
