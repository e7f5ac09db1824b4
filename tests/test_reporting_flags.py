"""§5.1 reporting flags: small-town and central-town settlement and registered-poor people, computed with
each decision, never a condition of any channel."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hukou.engine.decide import decide
from hukou.engine.report import decision_json
from hukou.policy.facts import parse_case

ON = dt.date(2024, 6, 1)


def _case(code: str | None, poor: bool | None) -> dict[str, Any]:
    address: dict[str, Any] = {"county": "330421"}
    if code is not None:
        address["urban_rural_code"] = code
    applicant: dict[str, Any] = {
        "birth_date": "1990-01-01",
        "sex": "male",
        "rural_origin": True,
        "residence_permit": {"held": True, "county": "330421"},
        "dwellings": [{"tenure": "owned", "commercial_housing": True, "address": address}],
        "hukou": {"kind": "outside_jiaxing"},
    }
    if poor is not None:
        applicant["registered_poor"] = poor
    return {"applicant": applicant}


def _flags(case: dict[str, Any]) -> dict[str, Any]:
    doc = decision_json(decide(parse_case(case), ON))
    return {f["key"]: f["value"] for f in doc["reporting_flags"]}


@pytest.mark.parametrize(
    "code,small_town",
    [("111", False), ("112", False), ("121", True), ("122", True), ("123", False), (None, None)],
)
def test_a_settlement_on_a_town_dwelling_is_flagged(code: str | None, small_town: Any) -> None:
    assert _flags(_case(code, None))["small_town_settlement"] is small_town


def test_a_village_house_is_no_small_town_settlement() -> None:
    # 210 is a township centre, rural: not a dwelling §1.1 accepts, so no settlement there
    assert _flags(_case("210", None))["small_town_settlement"] is False


@pytest.mark.parametrize("poor", [True, False, None])
def test_the_registered_poor_flag_is_the_fact(poor: bool | None) -> None:
    assert _flags(_case("111", poor))["registered_poor"] is poor


@pytest.mark.parametrize("code", ["111", "121", None])
def test_the_flags_never_change_a_channel(code: str | None) -> None:
    results = set()
    for poor in (True, False, None):
        d = decide(parse_case(_case(code, poor)), ON)
        results.add(tuple((c.key, c.status, c.earliest_date) for c in d.channels))
    assert len(results) == 1


def _central(code: str, central: bool | None) -> dict[str, Any]:
    case = _case(code, None)
    if central is not None:
        case["applicant"]["dwellings"][0]["central_town"] = central
    return case


@pytest.mark.parametrize("central", [True, False, None])
def test_a_settlement_in_a_central_town_is_flagged_as_the_case_says(central: bool | None) -> None:
    # no official list of 中心镇 ships: the case says whether the dwelling lies in one
    assert _flags(_central("121", central))["central_town_settlement"] is central


def test_a_central_town_village_house_is_no_settlement_there() -> None:
    # 210 (rural): not a dwelling §1.1 accepts, whatever the list says
    assert _flags(_central("210", True))["central_town_settlement"] is False


@pytest.mark.parametrize("code", ["111", "121"])
def test_the_central_town_fact_never_changes_a_channel(code: str) -> None:
    results = set()
    for central in (True, False, None):
        d = decide(parse_case(_central(code, central)), ON)
        results.add(tuple((c.key, c.status, c.earliest_date) for c in d.channels))
    assert len(results) == 1
