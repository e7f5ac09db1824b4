"""The registration place in words people read (§4.3, §3.1, §4.4): an address, not a path."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.engine.decide import decide
from hukou.engine.report import decision_json
from hukou.policy.facts import parse_case

ON = dt.date(2024, 3, 1)
ADDRESS = {
    "county": "330402",
    "urban_rural_code": "111",
    "township": "建设街道",
    "community": "禾兴社区",
    "detail": "中山路1号",
}


def _owner(address: dict[str, Any] | None) -> dict[str, Any]:
    dwelling: dict[str, Any] = {"tenure": "owned", "commercial_housing": True}
    if address is not None:
        dwelling["address"] = address
    return {
        "decision_date": ON.isoformat(),
        "applicant": {
            "sex": "male",
            "birth_date": "1990-05-01",
            "dwellings": [{"tenure": "rented_unregistered"}, dwelling],
            "residence_history": [],
        },
    }


def test_an_owner_is_registered_at_the_address_of_the_qualifying_dwelling() -> None:
    d = decide(parse_case(_owner(ADDRESS)))
    place = d.channels[0].registration_place
    assert place is not None and place.kind == "own_dwelling"
    assert place.detail == "applicant.dwellings[1]"  # the owned flat, not the first listed
    assert place.where_zh == "南湖区 建设街道 禾兴社区 中山路1号"
    assert place.where_en == "建设街道 禾兴社区 中山路1号, Nanhu District"
    assert decision_json(d)["channels"][0]["registration_place"]["where"]["zh"] == place.where_zh


def test_no_address_given_leaves_where_empty_but_the_place_known() -> None:
    d = decide(parse_case(_owner(None)))
    place = d.channels[0].registration_place
    assert place is not None and place.kind in ("own_dwelling", None)
    assert place.where_zh == ""


def test_a_parent_joining_a_child_names_the_childs_household() -> None:
    case = {
        "decision_date": ON.isoformat(),
        "applicant": {
            "sex": "male",
            "birth_date": "1960-01-01",
            "hukou": {"kind": "outside_jiaxing"},
        },
        "relatives": [
            {
                "relation": "child",
                "sex": "female",
                "birth_date": "1988-01-01",
                "lives_with_applicant": True,
                "hukou": {"kind": "own_family_household", "address": ADDRESS},
                "dwellings": [{"tenure": "owned", "commercial_housing": True, "address": ADDRESS}],
            }
        ],
    }
    d = decide(parse_case(case))
    s31 = next(c for c in d.channels if c.key == "s3_1")
    assert s31.status == "eligible", s31.missing_facts
    place = s31.registration_place
    assert place is not None and place.kind == "anchor_household"
    assert place.where_zh == "子女户口所在户（南湖区 建设街道 禾兴社区 中山路1号）"
    assert place.where_en.startswith("the child's household (")


def test_the_cli_shows_the_joined_relative_as_the_anchor_not_as_refused() -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from hukou.cli import app

    example = Path(__file__).resolve().parents[1] / "examples" / "10-parent-joins-adult-child.json"
    out = CliRunner().invoke(app, ["check", str(example)]).output
    assert "◎ 被投靠人" in out
    assert "✘ 被投靠人" not in out
    assert "子女户口所在户（" in out  # the place in words


def _parent_with_spouse(child_birth: str) -> dict[str, Any]:
    return {
        "decision_date": ON.isoformat(),
        "applicant": {"sex": "male", "birth_date": "1960-01-01"},
        "relatives": [
            {
                "relation": "child",
                "sex": "female",
                "birth_date": child_birth,
                "lives_with_applicant": True,
                "hukou": {"kind": "own_family_household", "address": ADDRESS},
                "dwellings": [{"tenure": "owned", "commercial_housing": True, "address": ADDRESS}],
            },
            {"relation": "spouse", "sex": "female", "birth_date": "1972-01-01"},
        ],
    }


def test_the_spouse_of_a_parent_joining_a_child_is_pointed_to_their_own_s3_1_application() -> None:
    d = decide(parse_case(_parent_with_spouse("1988-01-01")))
    assert next(c for c in d.channels if c.key == "s3_1").status == "eligible"
    spouse = d.relatives[1]
    assert any("依§3.1另行申请投靠" in zh for zh, _en in spouse.notes)
    # the child is an adult only from 18: a 17-year-old child gives no §3.1, so no note
    d = decide(parse_case(_parent_with_spouse("2007-01-01")))
    assert next(c for c in d.channels if c.key == "s3_1").status == "not_eligible"
    assert not any("§3.1" in zh for zh, _en in d.relatives[1].notes)


def _minor_son_first(on: dt.date) -> dict[str, Any]:
    """A father of 65: a son born 2006-06-02 (a minor until 2024-06-02) listed before
    an adult daughter in a unit's collective household that has not consented."""
    urban = {"county": "330402", "urban_rural_code": "111"}
    flat = [{"tenure": "owned", "commercial_housing": True, "address": urban}]
    return {
        "decision_date": on.isoformat(),
        "applicant": {"sex": "male", "birth_date": "1959-01-01", "dwellings": []},
        "relatives": [
            {
                "relation": "child",
                "birth_date": "2006-06-02",
                "hukou": {"kind": "own_family_household", "address": urban},
                "dwellings": flat,
            },
            {
                "relation": "child",
                "birth_date": "1990-01-01",
                "hukou": {"kind": "unit_collective", "owner_consent": False, "address": urban},
                "dwellings": flat,
            },
        ],
    }


def test_a_parent_joins_the_first_child_for_whom_s3_1_holds_not_a_minor_listed_before() -> None:
    """The minor son's own flat is true on every day, but he is not yet an adult: the
    place is the daughter's (her collective has not consented: the community collective)
    until his 18th birthday, then his household."""
    for on, kind, detail in (
        (dt.date(2024, 6, 1), "community_collective", "relatives[1]"),
        (dt.date(2024, 6, 2), "anchor_household", "relatives[0]"),
        (dt.date(2024, 6, 3), "anchor_household", "relatives[0]"),
    ):
        d = decide(parse_case(_minor_son_first(on)))
        s31 = next(c for c in d.channels if c.key == "s3_1")
        assert s31.status == "eligible", on
        place = s31.registration_place
        assert place is not None and (place.kind, place.detail) == (kind, detail), (on, place)
