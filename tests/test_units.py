"""Unit tests: calendar, interval sets, parameters, rule types, §4.2, §4.3, places."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from hukou.engine.decide import Decision, decide
from hukou.engine.evaluate import (
    ALL,
    EMPTY,
    NEG,
    POS,
    contains,
    first_from,
    intersect,
    last_of_run,
    temporal_sets,
    truth,
    union,
)
from hukou.policy import places
from hukou.policy.calendar import add_years, age_on
from hukou.policy.clauses import clause_table
from hukou.policy.expr import (
    TODAY,
    Compare,
    Const,
    Fact,
    RuleTypeError,
    all_of,
)
from hukou.policy.expr import add_years as add_years_expr
from hukou.policy.facts import parse_case
from hukou.policy.params import ParameterError, load
from hukou.policy.rules.vocabulary import APPLICANT, param

D = dt.date
IN_FORCE = D(2020, 8, 1)


def _decide(case: dict[str, Any], on: dt.date | None = None, parameters: Any = None) -> Decision:
    return decide(parse_case(case), on=on, parameters=parameters)


# ---- calendar ---------------------------------------------------------------------


def test_add_years_keeps_the_day() -> None:
    assert add_years(D(1990, 6, 15), 18) == D(2008, 6, 15)
    assert add_years(D(2008, 6, 15), -18) == D(1990, 6, 15)
    assert add_years(D(2020, 2, 29), 4) == D(2024, 2, 29)  # leap year to leap year


@pytest.mark.clause("§3.1")
def test_29_february_ends_on_28_february_in_a_common_year() -> None:
    assert add_years(D(2020, 2, 29), 1) == D(2021, 2, 28)
    assert add_years(D(2004, 2, 29), 18) == D(2022, 2, 28)
    # the other reading (readings.leap_day_anniversary = mar1)
    assert add_years(D(2020, 2, 29), 1, "mar1") == D(2021, 3, 1)
    assert add_years(D(2020, 3, 1), 1, "mar1") == D(2021, 3, 1)


@pytest.mark.clause("§3.1")
def test_age_is_reached_on_the_birthday() -> None:
    birth = D(1960, 6, 15)
    assert age_on(birth, D(2020, 6, 14)) == 59
    assert age_on(birth, D(2020, 6, 15)) == 60
    assert age_on(birth, D(2020, 6, 16)) == 60
    assert age_on(birth, birth) == 0


@pytest.mark.clause("§3.1")
def test_age_of_a_leap_day_birth() -> None:
    birth = D(2004, 2, 29)
    assert age_on(birth, D(2022, 2, 27)) == 17
    assert age_on(birth, D(2022, 2, 28)) == 18  # Civil Code art. 202
    assert age_on(birth, D(2022, 2, 28), "mar1") == 17
    assert age_on(birth, D(2022, 3, 1), "mar1") == 18
    assert age_on(birth, D(2024, 2, 28)) == 19
    assert age_on(birth, D(2024, 2, 29)) == 20


def _owner_with_child(child_birth: str) -> dict[str, Any]:
    return {
        "decision_date": "2021-01-01",
        "applicant": {
            "residence_registration": True,
            "dwellings": [
                {
                    "tenure": "owned",
                    "commercial_housing": True,
                    "address": {"county": "330402", "urban_rural_code": "111"},
                }
            ],
        },
        "relatives": [
            {"relation": "child", "birth_date": child_birth, "lives_with_applicant": True},
        ],
    }


@pytest.mark.clause("§1.1")
def test_a_leap_day_child_stops_being_a_minor_by_the_reading_in_force() -> None:
    case = _owner_with_child("2004-02-29")
    route = _decide(case).relatives[0].routes[0]
    assert route.key == "accompany_s1_1"
    assert route.status == "eligible"
    assert route.eligible_until == D(2022, 2, 27)  # 18 on 28 February 2022
    reform = load().with_overrides({"readings.leap_day_anniversary": {IN_FORCE: "mar1"}})
    route = _decide(case, parameters=reform).relatives[0].routes[0]
    assert route.eligible_until == D(2022, 2, 28)  # 18 on 1 March 2022
    assert _decide(case, on=D(2022, 2, 28), parameters=reform).relatives[0].status == "eligible"
    assert _decide(case, on=D(2022, 2, 28)).relatives[0].status == "not_eligible"


# ---- interval sets ------------------------------------------------------------------


def test_intersect() -> None:
    a = ((1, 5), (10, 20))
    b = ((4, 12), (18, 30))
    assert intersect(a, b) == ((4, 5), (10, 12), (18, 20))
    assert intersect(a, ALL) == a
    assert intersect(ALL, b) == b
    assert intersect(a, EMPTY) == EMPTY
    assert intersect(((1, 3),), ((4, 6),)) == EMPTY
    assert intersect(((1, 3),), ((3, 6),)) == ((3, 3),)  # inclusive bounds


def test_union_merges_overlapping_and_adjacent_runs() -> None:
    assert union(((1, 3),), ((4, 6),)) == ((1, 6),)  # adjacent days form one run
    assert union(((1, 3),), ((5, 6),)) == ((1, 3), (5, 6))
    assert union(((1, 10),), ((2, 3), (12, 14))) == ((1, 10), (12, 14))
    assert union(EMPTY, ((2, 3),)) == ((2, 3),)
    assert union(((2, 3),), ALL) == ALL


def test_first_from_and_last_of_run() -> None:
    days = ((5, 9), (20, 25))
    assert first_from(days, 1) == 5
    assert first_from(days, 7) == 7  # inside a run: that day itself
    assert first_from(days, 10) == 20
    assert first_from(days, 26) is None
    assert last_of_run(days, 5) == 9
    assert last_of_run(days, 22) == 25
    assert last_of_run(days, 10) is None
    assert contains(days, 9) and not contains(days, 10)


@pytest.mark.parametrize(
    ("op", "holds", "fails"),
    [
        (">=", [100, 101], [99]),
        (">", [101], [99, 100]),
        ("<=", [99, 100], [101]),
        ("<", [99], [100, 101]),
        ("==", [100], [99, 101]),
        ("!=", [99, 101], [100]),
    ],
)
def test_temporal_sets(op: str, holds: list[int], fails: list[int]) -> None:
    sets = temporal_sets(op, 100)
    for day in holds:
        assert truth(sets, day) is True, (op, day)
    for day in fails:
        assert truth(sets, day) is False, (op, day)
    # the two sets partition every day: never both, never neither
    for day in (NEG, 0, 99, 100, 101, POS):
        assert contains(sets[0], day) != contains(sets[1], day), (op, day)


def test_truth_is_three_valued() -> None:
    sets = (((1, 5),), ((10, 12),))
    assert truth(sets, 3) is True
    assert truth(sets, 11) is False
    assert truth(sets, 7) is None


# ---- parameters ---------------------------------------------------------------------


def test_every_parameter_cites_a_clause_and_has_a_value_on_2020_08_01() -> None:
    params = load().parameters
    assert len(params) >= 20
    clauses = clause_table()
    resolved = load().at(IN_FORCE)
    for path, p in params.items():
        assert re.fullmatch(r"§\d+(\.\d+)?", p.reference), path
        assert p.reference in clauses, path
        assert p.description, path
        assert path in resolved.values, path
        assert p.at(IN_FORCE) == resolved[path]


def test_parameter_values_of_the_notice() -> None:
    r = load().at(IN_FORCE)
    assert r["s1_urban.continuous_residence_years"] == 3
    assert r["s2_talent.vocational_graduate_window_years"] == 15
    assert r["s3_relatives.parent_min_age_male"] == 60
    assert r["s3_relatives.parent_min_age_female"] == 55
    assert r["s4_registration.priority_town_years"] == 5
    assert r["s8_in_force.in_force_from"] == IN_FORCE


def test_no_parameter_before_the_notice() -> None:
    with pytest.raises(ParameterError):
        load().parameters["s8_in_force.in_force_from"].at(D(2020, 6, 2))
    assert "s1_urban.continuous_residence_years" not in load().at(D(2020, 7, 31)).values


def test_a_reform_changes_the_value_and_the_digest() -> None:
    law = load()
    reform = law.with_overrides({"s1_urban.continuous_residence_years": {D(2023, 7, 22): 1}})
    before, after = D(2023, 7, 21), D(2023, 7, 22)
    assert reform.at(before)["s1_urban.continuous_residence_years"] == 3
    assert reform.at(after)["s1_urban.continuous_residence_years"] == 1
    assert law.at(after)["s1_urban.continuous_residence_years"] == 3  # the law is untouched
    assert reform.at(after).digest != law.at(after).digest
    assert reform.at(before).digest == law.at(before).digest
    assert reform.at(after).as_of == after


@pytest.mark.clause("§1.2")
def test_a_reform_changes_a_decision() -> None:
    case = {
        "decision_date": "2024-01-01",
        "applicant": {
            "residence_registration": True,
            "residence_history": [{"start": "2022-06-01", "county": "330483"}],
            "dwellings": [
                {
                    "tenure": "rented_registered",
                    "commercial_housing": True,
                    "address": {"county": "330483", "urban_rural_code": "121"},
                }
            ],
        },
    }
    s1 = _decide(case).channels[0]
    assert (s1.status, s1.earliest_date) == ("not_eligible", D(2025, 6, 1))
    reform = load().with_overrides({"s1_urban.continuous_residence_years": {D(2023, 7, 22): 1}})
    assert _decide(case, parameters=reform).channels[0].status == "eligible"


def test_a_reform_of_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(ParameterError, match="unknown parameter"):
        load().with_overrides({"s1_urban.no_such_thing": {IN_FORCE: 1}})
    with pytest.raises(ParameterError):
        load().with_overrides({"s1_urban.continuous_residence_years": {IN_FORCE: "three"}})


# ---- rule expressions ---------------------------------------------------------------


def test_comparing_a_date_with_a_number_is_a_type_error() -> None:
    birth = Fact("applicant", "birth_date", "date", "出生日期", "birth date")
    assert isinstance(birth >= D(2000, 1, 1), Compare)  # a date with a date is fine
    with pytest.raises(RuleTypeError, match="cannot compare date with int"):
        _ = birth == param("s1_urban.minor_below_age")
    with pytest.raises(RuleTypeError, match="cannot compare date with int"):
        Compare(">=", birth, Const(18, "int"))


def test_comparing_a_date_with_a_number_literal_is_a_type_error() -> None:
    birth = Fact("applicant", "birth_date", "date", "出生日期", "birth date")
    with pytest.raises(RuleTypeError):
        _ = birth >= 18


def test_other_type_errors() -> None:
    with pytest.raises(RuleTypeError):
        _ = APPLICANT.lives_in < "330402"  # codes compare only for equality
    with pytest.raises(RuleTypeError):
        all_of(APPLICANT.education, APPLICANT.rural_origin)  # a level is not a condition
    with pytest.raises(RuleTypeError):
        _ = APPLICANT.rural_origin == Const(True, "bool")


def test_today_may_be_compared_but_not_shifted() -> None:
    ok = add_years_expr(APPLICANT.birth_date, 18) <= TODAY
    assert ok.is_temporal and ok.today_op == ">="
    with pytest.raises(RuleTypeError, match="TODAY"):
        add_years_expr(TODAY, 1)


def test_today_must_be_compared_with_a_time_independent_date() -> None:
    with pytest.raises(RuleTypeError):
        Compare(">=", TODAY, TODAY)


# ---- §4.2 priority groups -------------------------------------------------------------


def _priority(applicant: dict[str, Any], on: dt.date) -> dict[str, tuple[str, Any]]:
    d = _decide({"decision_date": on.isoformat(), "applicant": applicant})
    return {p.key: (p.status, p.earliest_date) for p in d.priority_groups}


@pytest.mark.clause("§4.2")
def test_rural_migrant_in_towns_for_5_years() -> None:
    applicant = {"rural_origin": True, "employed_in_town_since": "2018-03-15"}
    key = "rural_migrant_5_years"
    assert _priority(applicant, D(2023, 3, 14))[key] == ("not_eligible", D(2023, 3, 15))
    assert _priority(applicant, D(2023, 3, 15))[key] == ("eligible", None)
    assert _priority(applicant, D(2023, 3, 16))[key] == ("eligible", None)
    not_rural = {**applicant, "rural_origin": False}
    assert _priority(not_rural, D(2024, 1, 1))[key] == ("not_eligible", None)
    unknown_since = {"rural_origin": True}
    assert _priority(unknown_since, D(2024, 1, 1))[key][0] == "undetermined"


@pytest.mark.clause("§4.2")
def test_rural_migrant_since_29_february() -> None:
    applicant = {"rural_origin": True, "employed_in_town_since": "2016-02-29"}
    status = _priority(applicant, D(2021, 2, 27))["rural_migrant_5_years"]
    assert status == ("not_eligible", D(2021, 2, 28))


@pytest.mark.clause("§4.2")
def test_new_generation_migrant_born_from_1980() -> None:
    key = "new_generation_migrant"
    on = D(2022, 1, 1)
    assert _priority({"rural_origin": True, "birth_date": "1980-01-01"}, on)[key][0] == "eligible"
    assert _priority({"rural_origin": True, "birth_date": "1979-12-31"}, on)[key][0] == (
        "not_eligible"
    )
    assert _priority({"rural_origin": False, "birth_date": "1990-01-01"}, on)[key][0] == (
        "not_eligible"
    )


@pytest.mark.clause("§4.2")
def test_whole_family_migrated() -> None:
    key = "whole_family_migrated"
    on = D(2022, 1, 1)
    both = {"rural_origin": True, "family_migrated_together": True}
    assert _priority(both, on)[key][0] == "eligible"
    assert _priority({**both, "family_migrated_together": False}, on)[key][0] == "not_eligible"
    assert _priority({"rural_origin": True}, on)[key][0] == "undetermined"


@pytest.mark.clause("§4.2")
def test_priority_groups_are_never_a_condition() -> None:
    base = {"education": "bachelor", "dwellings": [], "registration_offers": {}}
    on = D(2024, 1, 1)
    plain = _decide({"decision_date": on.isoformat(), "applicant": base})
    flagged = _decide(
        {
            "decision_date": on.isoformat(),
            "applicant": {
                **base,
                "rural_origin": True,
                "family_migrated_together": True,
                "employed_in_town_since": "2010-01-01",
                "birth_date": "1990-01-01",
            },
        }
    )
    assert all(p.status == "eligible" for p in flagged.priority_groups)
    assert [c.status for c in flagged.channels] == [c.status for c in plain.channels]


# ---- §4.3 order of registration places ------------------------------------------------


def _place(applicant: dict[str, Any]) -> Any:
    case = {"decision_date": "2024-01-01", "applicant": {"education": "bachelor", **applicant}}
    s2_1 = _decide(case).channels[1]
    assert s2_1.key == "s2_1" and s2_1.status == "eligible"
    return s2_1.registration_place


OWNED = {
    "tenure": "owned",
    "commercial_housing": True,
    "address": {"county": "330481", "urban_rural_code": "121"},
}
ALL_OFFERS = {
    "relative_family_household": True,
    "unit_collective": True,
    "talent_service_collective": True,
}


@pytest.mark.clause("§4.3")
@pytest.mark.parametrize(
    ("dwellings", "offers", "expected"),
    [
        ([OWNED], ALL_OFFERS, "own_dwelling"),
        ([], ALL_OFFERS, "relative_family_household"),
        ([], {**ALL_OFFERS, "relative_family_household": False}, "unit_collective"),
        (
            [],
            {
                "relative_family_household": False,
                "unit_collective": False,
                "talent_service_collective": True,
            },
            "talent_service_collective",
        ),
        (
            [],
            {k: False for k in ALL_OFFERS},
            "community_collective",
        ),
        # a village dwelling is no urban dwelling: the next place in order
        (
            [{**OWNED, "address": {"county": "330481", "urban_rural_code": "220"}}],
            {**ALL_OFFERS, "relative_family_household": False},
            "unit_collective",
        ),
    ],
)
def test_registration_place_order(
    dwellings: list[dict[str, Any]], offers: dict[str, bool], expected: str
) -> None:
    place = _place({"dwellings": dwellings, "registration_offers": offers})
    assert place.kind == expected
    assert place.clause == "§4.3"


@pytest.mark.clause("§4.3", "§1.2")
def test_a_rented_flat_short_of_3_years_is_not_the_registration_place() -> None:
    flat = {
        "tenure": "rented_registered",
        "commercial_housing": True,
        "address": {"county": "330402", "urban_rural_code": "111"},
    }
    offers = {**ALL_OFFERS, "relative_family_household": False}
    history = [{"start": "2022-01-01", "county": "330411"}]
    place = _place(
        {"dwellings": [flat], "registration_offers": offers, "residence_history": history}
    )
    assert place.kind == "unit_collective"
    history = [{"start": "2020-06-01", "county": "330411"}]  # 市本级: 秀洲 counts for 南湖
    place = _place(
        {"dwellings": [flat], "registration_offers": offers, "residence_history": history}
    )
    assert place.kind == "own_dwelling"


@pytest.mark.clause("§4.3")
def test_an_open_earlier_place_leaves_the_choice_open() -> None:
    place = _place(
        {
            "dwellings": [],
            "registration_offers": {"unit_collective": True},  # relative household unknown
        }
    )
    assert place.kind is None
    assert place.candidates == ["relative_family_household", "unit_collective"]


# ---- places -------------------------------------------------------------------------


def test_the_seven_jiaxing_counties() -> None:
    counties = places.jiaxing_counties()
    assert set(counties) == {"330402", "330411", "330421", "330424", "330481", "330482", "330483"}
    assert places.county_name("330402") == "南湖区"
    assert places.county_name("330483", "en") == "Tongxiang"
    assert places.county_name("310101") == "310101"
    assert places.in_jiaxing("330481") and not places.in_jiaxing("310101")


@pytest.mark.clause("§1.2")
def test_city_proper_is_one_area() -> None:
    assert places.area_of("330402") == places.area_of("330411") == "city_proper"
    for code in ("330421", "330424", "330481", "330482", "330483"):
        assert places.area_of(code) == code
    assert places.area_of("310101") == "310101"
    assert set(places.areas()) == {"city_proper", "330421", "330424", "330481", "330482", "330483"}


@pytest.mark.clause("§1.2")
def test_residence_counts_within_the_area_only() -> None:
    def s1(history_county: str, dwelling_county: str) -> str:
        case = {
            "decision_date": "2024-01-01",
            "applicant": {
                "residence_registration": True,
                "residence_history": [{"start": "2020-01-01", "county": history_county}],
                "dwellings": [
                    {
                        "tenure": "rented_registered",
                        "commercial_housing": True,
                        "address": {"county": dwelling_county, "urban_rural_code": "111"},
                    }
                ],
            },
        }
        return _decide(case).channels[0].status

    assert s1("330411", "330402") == "eligible"  # 秀洲 → 南湖: both 市本级
    assert s1("330402", "330402") == "eligible"
    assert s1("330421", "330402") == "not_eligible"  # 嘉善 is its own area
    assert s1("330402", "330421") == "not_eligible"
    assert s1("310101", "330402") == "not_eligible"


def test_county_codes_known() -> None:
    assert places.is_known_county("330402")
    assert places.is_known_county("310101")  # outside Jiaxing, in GB/T 2260
    assert not places.is_known_county("330400")  # the city, not a county
    assert not places.is_known_county("330499")
    assert places.urban_rural_codes()["121"].urban
    assert not places.urban_rural_codes()["210"].urban
