"""Properties of the decision engine over generated cases (性质测试).

Cases come from ``tests/strategies.py``: random applicants and relatives with
random facts left unknown, decided on a date between 2020-08-01 and 2030-12-31.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from hukou.engine.decide import ChannelResult, Decision, decide
from hukou.engine.report import SCHEMA, decision_json
from hukou.engine.scopes import case_scopes, person_scope
from hukou.policy.expr import Exists, Fact, walk
from hukou.policy.facts import LandRights
from hukou.policy.params import load
from hukou.policy.rules import (
    CHANNELS,
    IN_FORCE,
    PRIORITY_GROUPS,
    REGISTRATION_PLACE,
    RELATIVE_ROUTES,
)
from hukou.policy.rules.materials import MATERIALS, RELATIVE_MATERIALS
from hukou.policy.rules.s5_rural import LAND_RIGHTS_FACTS
from hukou.policy.rules.vocabulary import DWELLING_FACTS, PERSON_FACTS, RELATIVE_FACTS

from .strategies import (
    MODELS,
    canonical,
    cases,
    complete,
    favourable_cases,
    parse,
    raise_levels,
    set_path,
)

PROPS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# complete cases (every fact known) give many eligible results; partial ones many open;
# favourable ones sit near the thresholds of §1.2, §2.2 and the ages
any_case = st.one_of(cases(partial=False), cases(), favourable_cases())

RANK = {"not_eligible": 0, "undetermined": 1, "eligible": 2}
DAY = dt.timedelta(days=1)


def results(d: Decision) -> dict[tuple[Any, ...], ChannelResult]:
    """Every result of a decision by a stable key: channels, relative routes, §4.2 flags."""
    out: dict[tuple[Any, ...], ChannelResult] = {("channel", c.key): c for c in d.channels}
    for r in d.relatives:
        for route in r.routes:
            out[("relative", r.index, route.key)] = route
    for p in d.priority_groups:
        out[("priority", p.key)] = p
    return out


def summary(d: Decision) -> dict[str, Any]:
    return {
        "status": d.status,
        "earliest": d.earliest_date,
        "missing": d.missing_facts,
        "results": {
            k: (r.status, r.earliest_date, r.eligible_until, r.missing_facts)
            for k, r in results(d).items()
        },
        "relatives": [(r.status, r.earliest_date) for r in d.relatives],
    }


# ---- a. §5.3 land rights are never a condition ---------------------------------------


@pytest.mark.clause("§5.3")
@PROPS
@given(data=st.data(), case=any_case)
def test_land_rights_never_change_a_decision(data: st.DataObject, case: dict[str, Any]) -> None:
    before = decide(parse(case))
    variant = copy.deepcopy(case)
    for person in [variant["applicant"], *variant["relatives"]]:
        if data.draw(st.booleans()):
            person.pop("land_rights", None)
        else:
            person["land_rights"] = data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        k: st.booleans()
                        for k in ("contract_land", "homestead", "collective_income")
                    },
                )
            )
    assume(variant != case)
    after = decide(parse(variant))
    assert summary(after) == summary(before)
    assert decision_json(after) == decision_json(before)


def _rule_roots() -> list[Any]:
    roots: list[Any] = [IN_FORCE, REGISTRATION_PLACE, *PRIORITY_GROUPS]
    roots += [c.rule for c in CHANNELS] + [r.rule for r in RELATIVE_ROUTES]
    roots += [m.when for ms in (*MATERIALS.values(), *RELATIVE_MATERIALS.values()) for m in ms]
    return [r for r in roots if r is not None]


@pytest.mark.clause("§5.3")
def test_no_rule_reads_a_land_right() -> None:
    names: set[str] = set()
    for root in _rule_roots():
        for node in walk(root):
            if isinstance(node, Fact):
                names.add(node.name)
            if isinstance(node, Exists):  # walk does not descend into the list fact
                names.add(node.collection.name)
    # the walk reaches the facts the rules do read (otherwise the check is empty)
    assert {"education", "birth_date", "tenure", "stretch_start", "dwellings", "relatives"} <= names
    assert not names & set(LAND_RIGHTS_FACTS)
    # and no fact of the vocabulary is answered from the land-rights field
    for table in (PERSON_FACTS, RELATIVE_FACTS, DWELLING_FACTS):
        for name, (_type, _zh, _en, source) in table.items():
            assert name not in LAND_RIGHTS_FACTS
            assert not set(source.lstrip("^").split(".")) & set(LAND_RIGHTS_FACTS), name


@pytest.mark.clause("§5.3")
def test_case_scope_exposes_no_land_right() -> None:
    case = parse(
        {
            "decision_date": "2024-01-01",
            "applicant": {
                "education": "bachelor",
                "land_rights": {
                    "contract_land": True,
                    "homestead": True,
                    "collective_income": True,
                },
                "dwellings": [{"tenure": "owned", "address": {"county": "330402"}}],
            },
            "relatives": [
                {"relation": "parent", "land_rights": {"homestead": False}},
            ],
        }
    )
    assert isinstance(case.applicant.land_rights, LandRights)  # the fact is recorded …
    resolved = load().at(dt.date(2024, 1, 1))
    scope = person_scope(case.applicant, "applicant", resolved)
    assert scope["education"] is not None  # … the scope does carry the other facts …
    applicant, relatives = case_scopes(case, resolved)
    keys: set[str] = set()
    for s in [scope, applicant, *relatives, *scope["dwellings"]]:
        keys |= set(s)
        assert not any(isinstance(v, LandRights) for v in s.values())
    assert not keys & set(LAND_RIGHTS_FACTS)  # … but never a land right


# ---- b. monotonicity in qualifications (§2.1, §3.3) -------------------------------


@pytest.mark.clause("§2.1", "§3.3")
@PROPS
@given(data=st.data(), case=any_case)
def test_raising_qualifications_never_hurts(data: st.DataObject, case: dict[str, Any]) -> None:
    raised = copy.deepcopy(case)
    changed = raise_levels(data.draw, raised["applicant"])
    for rel in raised["relatives"]:
        changed += raise_levels(data.draw, rel)
    assume(changed)
    before = results(decide(parse(case)))
    after = results(decide(parse(raised)))
    for key, b in before.items():
        a = after[key]
        if b.status == "eligible":
            event(f"eligible before raising: {key[0]} {key[-1]}")
            assert a.status == "eligible", (key, changed)
        # the stronger form: a status never moves down not_eligible < undetermined < eligible
        assert RANK[a.status] >= RANK[b.status], (key, b.status, a.status, changed)


# ---- c. earliest dates and eligible_until ------------------------------------------


@pytest.mark.clause("§1.2", "§2.2", "§3.1", "§4.2")
@settings(PROPS, max_examples=200)
@given(case=any_case)
def test_earliest_date_and_eligible_until_are_exact(case: dict[str, Any]) -> None:
    parsed = parse(case)
    first = decide(parsed)
    on = first.decision_date
    cache: dict[dt.date, dict[tuple[Any, ...], ChannelResult]] = {}

    def status(key: tuple[Any, ...], day: dt.date) -> str:
        if day not in cache:
            cache[day] = results(decide(parsed, on=day))
        return cache[day][key].status

    for key, r in results(first).items():
        if r.status != "eligible" and r.earliest_date is not None:
            event(f"earliest_date checked: {key[0]} {key[-1]}")
            e = r.earliest_date
            assert e > on
            assert status(key, e) == "eligible", (key, e)
            assert status(key, e - DAY) != "eligible", (key, e)
        if r.status == "eligible" and r.eligible_until is not None:
            event(f"eligible_until checked: {key[0]} {key[-1]}")
            u = r.eligible_until
            assert u >= on
            assert status(key, u) == "eligible", (key, u)
            assert status(key, u + DAY) != "eligible", (key, u)


# ---- d. three-valued soundness ----------------------------------------------------


@PROPS
@given(data=st.data(), case=cases())
def test_determined_results_survive_any_completion(
    data: st.DataObject, case: dict[str, Any]
) -> None:
    before = results(decide(parse(case)))
    for _ in range(3):
        full = complete(data.draw, case)
        after = results(decide(parse(full)))
        for key, b in before.items():
            a = after[key]
            if b.status != "undetermined":
                event(f"determined on a partial case: {b.status}")
                assert a.status == b.status, (key, b.status, a.status)
            assert a.status != "undetermined", (key, full)
            # the days certainly true can only grow as facts become known
            if b.status == "eligible" and b.eligible_until is not None:
                assert a.eligible_until is None or a.eligible_until >= b.eligible_until, key
            if b.status != "eligible" and b.earliest_date is not None and a.status != "eligible":
                assert a.earliest_date is not None and a.earliest_date <= b.earliest_date, key


def _answers_a_list(path: str) -> bool:
    """A list fact answered whole (``applicant.dwellings``): its items bring facts of their own."""
    return path.endswith(".dwellings")


@PROPS
@given(data=st.data(), case=cases())
def test_answering_the_missing_facts_determines_the_result(
    data: st.DataObject, case: dict[str, Any]
) -> None:
    """Answer every fact in ``missing_facts`` (random values) and the result is determined.

    Where an unknown dwellings list is among them, the new dwellings can bring
    questions about themselves (their tenure, address, …): then the answers must
    still end in a determined result within three rounds, each round asking only
    facts not asked before.
    """
    before = results(decide(parse(case)))
    # channels and relative routes (the §4.2 flags are reports and list no missing facts)
    open_ = {k: r for k, r in before.items() if r.status == "undetermined" and k[0] != "priority"}
    assume(open_)
    for key, r in open_.items():
        assert r.missing_facts, key  # an open result always says what it waits for
        filled = canonical(case)
        missing, asked = r.missing_facts, set()
        for round_ in range(3):
            for path in missing:
                set_path(data.draw, filled, path)
            asked |= set(missing)
            after = results(decide(parse(filled)))[key]
            if round_ == 0 and not any(map(_answers_a_list, missing)):
                assert after.status != "undetermined", (key, r.missing_facts, filled)
            if after.status != "undetermined":
                break
            missing = after.missing_facts
            assert missing and not set(missing) & asked, (key, missing, asked)
        else:
            raise AssertionError(f"{key} still open after three rounds of answers: {filled}")


RENTED_FLAT = {
    "tenure": "rented_registered",
    "commercial_housing": True,
    "address": {"county": "330402", "urban_rural_code": "111"},
}


def test_an_unknown_dwelling_list_is_asked_for() -> None:
    """With the dwellings unknown, the residence history §1.2 would read for a rented
    flat is asked for at the same time."""
    case = {"decision_date": "2020-08-01", "applicant": {"residence_registration": True}}
    s1 = decide(parse(case)).channels[0]
    assert (s1.key, s1.status) == ("s1_1", "undetermined")
    assert s1.missing_facts == ["applicant.dwellings", "applicant.residence_history"]


@pytest.mark.clause("§1.1", "§1.2")
def test_a_dwelling_of_unknown_county_asks_for_that_county_not_for_facts_given() -> None:
    """Whether a dwelling lies where the hukou is (R2a) and how long the person has lived
    in its area (§1.2) are derived from the dwelling's county and the person's facts: with
    only the dwelling's county unknown, that county is asked for — not the hukou's address
    or the residence history, which are given (answering them anew could change them)."""
    case: dict[str, Any] = {
        "decision_date": "2022-03-27",
        "applicant": {
            "hukou": {"kind": "community_collective", "address": {"county": "330482"}},
            "residence_registration": False,
            "residence_permit": {"held": False},
            "residence_history": [{"start": "2015-03-27", "county": "330411"}],
            "dwellings": [{}, {"address": {"county": "330402"}}],
        },
    }
    s1 = decide(parse(case)).channels[0]
    assert (s1.key, s1.status) == ("s1_1", "undetermined")
    assert "applicant.dwellings[0].address.county" in s1.missing_facts
    assert "applicant.hukou.address.county" not in s1.missing_facts
    assert "applicant.residence_history" not in s1.missing_facts
    # the hukou's address and the history unknown too: then they are asked for as well
    del case["applicant"]["hukou"]["address"], case["applicant"]["residence_history"]
    s1 = decide(parse(case)).channels[0]
    assert {"applicant.hukou.address.county", "applicant.residence_history"} <= set(
        s1.missing_facts
    )


@pytest.mark.clause("§1.2")
def test_answering_an_unknown_dwelling_list_asks_nothing_new() -> None:
    case: dict[str, Any] = {
        "decision_date": "2020-08-01",
        "applicant": {"residence_registration": True},
    }
    before = decide(parse(case)).channels[0]
    case["applicant"]["dwellings"] = [RENTED_FLAT]
    partly = decide(parse(case)).channels[0]
    assert partly.status == "undetermined"
    assert set(partly.missing_facts) <= set(before.missing_facts), partly.missing_facts
    case["applicant"]["residence_history"] = [{"start": "2017-07-31", "county": "330411"}]
    after = decide(parse(case)).channels[0]
    assert after.status == "eligible"  # 3 years in 市本级 reached on 2020-07-31


# ---- e. the JSON report -------------------------------------------------------------


@PROPS
@given(case=cases())
def test_report_is_json(case: dict[str, Any]) -> None:
    d = decide(parse(case))
    out = decision_json(d)
    text = json.dumps(out, ensure_ascii=False)
    back = json.loads(text)
    assert back["schema"] == SCHEMA == "hukou.decision/1"
    assert back["decision_date"] == case["decision_date"]
    assert [c["status"] for c in back["channels"]] == [c.status for c in d.channels]
    assert len(back["relatives"]) == len(case["relatives"])


def test_strategy_tables_follow_the_case_model() -> None:
    """The generator knows every fact field the rules read (else completions miss some)."""
    from hukou.policy.facts import Dwelling, Hukou, Person, RegistrationOffers, ResidencePermit

    for model, table in (
        (Person, "person"),
        (Dwelling, "dwelling"),
        (Hukou, "hukou"),
        (RegistrationOffers, "offers"),
    ):
        fields = set(model.model_fields)
        assert set(MODELS[table]) <= fields, table
    assert {"held", "county"} <= set(ResidencePermit.model_fields)
    sources = {s.lstrip("^").split(".")[0] for (_t, _z, _e, s) in PERSON_FACTS.values()}
    assert sources <= set(MODELS["person"]), sources - set(MODELS["person"])
