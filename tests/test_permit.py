"""The residence-permit rules (居住证暂行条例 art. 2): the declarative cases beside the rules,
the readings and parameters, and ``hukou permit check``."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hukou.cli import app
from hukou.engine import evaluate
from hukou.engine.cases import DeclaredCase, load_cases
from hukou.engine.evaluate import Trace
from hukou.engine.permit import decide_permit, permit_json, run_permit
from hukou.policy.clauses import clause_table
from hukou.policy.expr import Condition, Exception_, fill_label, label_params, walk
from hukou.policy.facts import parse_case
from hukou.policy.params import load
from hukou.policy.permit import (
    CLAUSE_TEXTS,
    ELIGIBLE,
    IN_FORCE,
    MATERIALS,
    PERMIT_FACTS,
    add_months,
    load_parameters,
)
from hukou.policy.rules.vocabulary import DWELLING_FACTS, PERSON_FACTS, RELATIVE_FACTS

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT / "src" / "hukou" / "policy" / "permit").glob("*.cases.yaml"))
DECLARED = [case for path in CASES for case in load_cases(path)]
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
runner = CliRunner()

MIGRANT: dict[str, Any] = {
    "lives_in": "330402",
    "hukou": {"kind": "outside_jiaxing", "address": {"county": "341221"}},
    "residence_registration": True,
    "residence_registration_since": "2024-01-15",
    "residence_registration_county": "330402",
    "local_labour_contract": True,
    "local_business": False,
    "dwellings": [],
    "continuous_study": False,
}


def _case(on: str = "2024-07-15", **applicant: Any) -> dict[str, Any]:
    return {"decision_date": on, "applicant": {**MIGRANT, **applicant}}


def _id(case: DeclaredCase) -> str:
    return f"{case.source} {case.name}"


def test_the_cases_are_found() -> None:
    assert CASES and len(DECLARED) >= 25


@pytest.mark.parametrize("declared", DECLARED, ids=_id)
def test_declared_permit_case(declared: DeclaredCase) -> None:
    assert declared.clauses and declared.expect, declared.source
    _decision, errors = run_permit(declared)
    assert not errors, f"{_id(declared)}:\n  " + "\n  ".join(errors)


@pytest.mark.parametrize("declared", DECLARED, ids=_id)
def test_closures_decide_as_the_generated_code(
    declared: DeclaredCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = parse_case(declared.case)
    fast = decide_permit(case, declared.on)
    monkeypatch.setattr(evaluate, "GENERATED", False)
    slow = decide_permit(case, declared.on)
    assert (slow.status, slow.earliest_date, slow.grounds, slow.missing_facts) == (
        fast.status,
        fast.earliest_date,
        fast.grounds,
        fast.missing_facts,
    )


# ---- half a year: the counting ------------------------------------------------------------


@pytest.mark.parametrize(
    "start,months,end",
    [
        ("2024-01-15", 6, "2024-07-15"),
        ("2023-08-31", 6, "2024-02-29"),  # a leap year: 29 February is the month's last day
        ("2022-08-31", 6, "2023-02-28"),  # Civil Code art. 202: the last day of the month
        ("2024-07-31", 6, "2025-01-31"),  # across the year
        ("2024-12-15", 1, "2025-01-15"),
        ("2024-03-31", 1, "2024-04-30"),
    ],
)
def test_add_months(start: str, months: int, end: str) -> None:
    assert add_months(dt.date.fromisoformat(start), months) == dt.date.fromisoformat(end)


@pytest.mark.parametrize(
    "on,status,earliest",
    [
        ("2024-07-14", "not_eligible", dt.date(2024, 7, 15)),
        ("2024-07-15", "eligible", None),
        ("2024-07-16", "eligible", None),
    ],
)
def test_six_months_boundary(on: str, status: str, earliest: dt.date | None) -> None:
    d = decide_permit(parse_case(_case(on)))
    assert (d.status, d.earliest_date, d.grounds) == (status, earliest, ["stable_employment"])


# ---- parameters and readings --------------------------------------------------------------


def test_every_permit_parameter_has_its_source_and_a_value_from_2016() -> None:
    params = load_parameters().parameters
    assert {
        "r663_permit.residence_months",
        "r663_permit.in_force_from",
        "r663_permit.away_by_county",
        "r663_permit.unregistered_lease_counts",
    } <= set(params)
    clauses = clause_table()
    for path, p in params.items():
        assert re.fullmatch(r"R663\.\d+", p.reference), path
        assert p.reference in clauses, path
        assert p.description, path
        assert p.at(dt.date(2016, 1, 1)) is not None, path
    assert load_parameters().at(dt.date(2024, 1, 1))["r663_permit.residence_months"] == 6


def test_the_notices_parameter_set_is_untouched() -> None:
    """The permit's numbers are a set of their own: the notice's decisions keep their digest."""
    assert not any(path.startswith("r663_permit.") for path in load().parameters)


def test_a_reform_of_the_months_shows_in_the_explanation_and_the_date() -> None:
    on = dt.date(2024, 4, 15)
    params = load_parameters().with_overrides({"r663_permit.residence_months": {on: 3}})
    d = decide_permit(parse_case(_case(on.isoformat())), parameters=params)
    assert d.status == "eligible"  # three months from 2024-01-15
    assert "到其他城市居住半年以上：居住登记满3个月" in _texts(d.explanation)
    d = decide_permit(parse_case(_case(on.isoformat())))
    assert (d.status, d.earliest_date) == ("not_eligible", dt.date(2024, 7, 15))
    assert "到其他城市居住半年以上：居住登记满6个月" in _texts(d.explanation)


@pytest.mark.parametrize(
    "hukou,by_county,status",
    [
        ({"kind": "own_family_household", "address": {"county": "330421"}}, True, "eligible"),
        ({"kind": "own_family_household", "address": {"county": "330421"}}, False, "not_eligible"),
        ({"kind": "outside_jiaxing"}, False, "eligible"),
        ({"kind": "own_family_household", "address": {"county": "330402"}}, True, "not_eligible"),
    ],
)
def test_away_from_the_hukou_by_county_or_by_city(
    hukou: dict[str, Any], by_county: bool, status: str
) -> None:
    """P1: by county, 市本级 as one; the other reading (by city) as a reform."""
    on = dt.date(2024, 7, 15)
    params = load_parameters().with_overrides({"r663_permit.away_by_county": {on: by_county}})
    d = decide_permit(parse_case(_case(hukou=hukou)), parameters=params)
    assert d.status == status


def test_an_unregistered_lease_under_the_other_reading() -> None:
    on = dt.date(2024, 7, 15)
    lease = [{"tenure": "rented_unregistered", "address": {"county": "330402"}}]
    case = parse_case(_case(local_labour_contract=False, dwellings=lease))
    assert decide_permit(case).status == "eligible"
    params = load_parameters().with_overrides(
        {"r663_permit.unregistered_lease_counts": {on: False}}
    )
    assert decide_permit(case, parameters=params).status == "not_eligible"


# ---- the rule set's own invariants --------------------------------------------------------


def _nodes() -> list[Condition | Exception_]:
    roots = [ELIGIBLE, IN_FORCE, *(m.when for m in MATERIALS if m.when is not None)]
    return [n for r in roots for n in walk(r) if isinstance(n, Condition | Exception_)]


def test_every_clause_cited_is_in_the_clause_map_with_its_text() -> None:
    cited = {n.clause for n in _nodes()} | {m.clause for m in MATERIALS}
    assert cited == {"R663.2", "R663.9", "R663.23"}
    assert cited <= set(clause_table())
    assert cited <= set(CLAUSE_TEXTS)


def test_every_label_fills_with_the_parameters_in_force() -> None:
    values = load_parameters().at(dt.date(2024, 1, 1)).values
    labels = [t for n in _nodes() for t in (n.zh, n.en)] + [
        t for m in MATERIALS for t in (m.zh, m.en)
    ]
    quoted = {p for t in labels for p in label_params(t)}
    assert quoted == {"r663_permit.residence_months"}
    assert all(
        "{" not in fill_label(t, values) and "?" not in fill_label(t, values) for t in labels
    )


def test_permit_facts_never_share_a_name_with_a_person_or_dwelling_fact() -> None:
    """The engine's case splitting matches unknown facts by name across scopes."""
    assert not set(PERMIT_FACTS) & (set(PERSON_FACTS) | set(RELATIVE_FACTS) | set(DWELLING_FACTS))


def test_the_notice_decides_a_case_with_the_new_fact_as_before() -> None:
    from hukou.engine.decide import decide

    with_study = decide(parse_case(_case(continuous_study=True)))
    without = decide(parse_case(_case(continuous_study=None)))
    assert [c.status for c in with_study.channels] == [c.status for c in without.channels]


def _texts(t: Trace) -> list[str]:
    return [t.zh, t.en, *(s for c in t.children for s in _texts(c))]


# ---- the command line ---------------------------------------------------------------------


def _write(tmp_path: Path, case: dict[str, Any]) -> Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case, ensure_ascii=False), "utf-8")
    return path


def test_cli_json_gives_the_decision(tmp_path: Path) -> None:
    path = _write(tmp_path, _case("2024-07-14", name="张三"))
    result = runner.invoke(app, ["permit", "check", str(path), "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["schema"] == "hukou.permit-decision/1"
    assert out["rule_version"]["ruleset"] == "state-council-663"
    assert (out["status"], out["earliest_date"]) == ("not_eligible", "2024-07-15")
    assert out["grounds"] == ["stable_employment"]
    assert out["applicant"]["name"] == "张*"
    assert out["explanation"]["key"] == "r663_2"
    assert set(out["clause_texts"]) == {"R663.2", "R663.9", "R663.23"}
    assert out == permit_json(decide_permit(parse_case(_case("2024-07-14", name="张三"))))

    result = runner.invoke(app, ["permit", "check", str(path), "--date", "2024-07-15", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["decision_date"], out["status"]) == ("2024-07-15", "eligible")
    assert any("就业证明" in m["zh"] for m in out["materials"])


def test_cli_json_names_the_missing_facts(tmp_path: Path) -> None:
    path = _write(tmp_path, _case(local_labour_contract=None, local_business=None, dwellings=None))
    result = runner.invoke(app, ["permit", "check", str(path), "--json"], env=ENV)
    out = json.loads(result.stdout)
    assert out["status"] == "undetermined"
    assert out["missing_facts"] == [
        "applicant.local_labour_contract",
        "applicant.local_business",
        "applicant.dwellings",
    ]
    assert out["missing_labels"][0]["zh"] == "申请人·与本市企事业单位签订劳动（聘用）合同"


def test_cli_text_is_chinese_first(tmp_path: Path) -> None:
    path = _write(tmp_path, _case("2024-07-14"))
    result = runner.invoke(app, ["permit", "check", str(path)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "暂不符合居住证申领条件 / may not apply for a residence permit yet" in result.stdout
    assert "最早可于 / from 2024-07-15" in result.stdout
    assert "R663.2 可以申领居住证" in result.stdout


def test_cli_refuses_a_bad_date_and_a_bad_case(tmp_path: Path) -> None:
    path = _write(tmp_path, _case())
    result = runner.invoke(app, ["permit", "check", str(path), "--on", "2024-02-30", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"][0]["field"] == "--on"
    bad = _write(tmp_path, _case(continuous_study="perhaps"))
    result = runner.invoke(app, ["permit", "check", str(bad), "--json"], env=ENV)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"][0]["field"] == "applicant.continuous_study"
