"""What to bring (issue 13, item 5): the papers of the channel that applies (E2), only for
the dwelling it applies on (E6); and ``hukou check --json`` refusals as JSON (item 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hukou.cli import app
from hukou.engine.decide import ChannelResult, Decision, decide
from hukou.engine.evaluate import Trace, truth
from hukou.engine.report import decision_json, materials_channels
from hukou.policy.facts import parse_case

from .strategies import cases, favourable_cases

runner = CliRunner()
ENV = {"COLUMNS": "400", "NO_COLOR": "1"}

SON: dict[str, Any] = {
    "relation": "child",
    "birth_date": "1990-01-01",
    "sex": "male",
    "lives_with_applicant": False,
    "hukou": {
        "kind": "own_family_household",
        "address": {"county": "330402", "urban_rural_code": "111"},
    },
    "dwellings": [
        {
            "tenure": "owned",
            "commercial_housing": True,
            "address": {"county": "330402", "urban_rural_code": "111"},
        }
    ],
}
FATHER_65: dict[str, Any] = {
    "decision_date": "2024-06-01",
    "applicant": {
        "birth_date": "1959-01-01",
        "sex": "male",
        "lives_in": "341221",
        "residence_permit": {"held": False},
        "dwellings": [],
        "hukou": {"kind": "outside_jiaxing"},
    },
    "relatives": [SON],
}
URBAN = {"county": "330402", "urban_rural_code": "111"}
OWNER_AND_RENTER: dict[str, Any] = {
    "decision_date": "2024-06-01",
    "applicant": {
        "birth_date": "1990-02-02",
        "sex": "female",
        "lives_in": "330402",
        "residence_permit": {"held": True, "county": "330402"},
        "residence_history": [{"start": "2023-05-10", "county": "330402"}],
        "dwellings": [
            {"tenure": "owned", "commercial_housing": True, "address": URBAN},
            {"tenure": "rented_registered", "commercial_housing": True, "address": URBAN},
        ],
        "hukou": {"kind": "outside_jiaxing"},
    },
}


def _write(tmp_path: Path, case: dict[str, Any], name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    return path


# ---- E2: the text, the JSON report and the pages name the channel that applies ----------


def _materials_headings(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "所需材料" in line]


@pytest.mark.clause("§3.1")
def test_text_lists_the_papers_of_the_channel_that_applies(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(_write(tmp_path, FATHER_65))], env=ENV)
    assert result.exit_code == 0, result.output
    assert "可以落户 — 依据 §3.1" in result.output
    headings = _materials_headings(result.output)
    assert headings and all("§3.1" in h for h in headings), headings
    assert "父母与子女关系证明" in result.output
    assert "大专以上学历证书" not in result.output


@pytest.mark.clause("§3.1")
def test_text_names_each_open_channel_its_list_belongs_to(tmp_path: Path) -> None:
    case = json.loads(json.dumps(FATHER_65))
    case["applicant"]["birth_date"] = None
    case["applicant"]["sex"] = None
    result = runner.invoke(app, ["check", str(_write(tmp_path, case))], env=ENV)
    assert result.exit_code == 0, result.output
    headings = _materials_headings(result.output)
    assert any("§2.1" in h for h in headings) and any("§3.1" in h for h in headings), headings
    assert all("如" in h for h in headings), headings  # "if settling under …"
    english = runner.invoke(app, ["check", "--lang", "en", str(_write(tmp_path, case))], env=ENV)
    assert "if you settle under §3.1" in english.output, english.output


@pytest.mark.clause("§3.1")
def test_json_report_names_the_lists_that_apply() -> None:
    report = decision_json(decide(parse_case(FATHER_65)))
    assert report["best_channel"] == "s3_1"
    assert report["materials_for"] == ["s3_1"]


@pytest.mark.clause("§3.1")
def test_the_pages_show_the_papers_of_the_channel_that_applies() -> None:
    from hukou.service.web.citizen import result_view

    view = result_view(decide(parse_case(FATHER_65)), {}, "zh")
    assert [g["key"] for g in view["material_groups"]] == ["s3_1"]


# ---- every paper listed belongs to a clause that holds or is open ------------------------


def _live_clauses(t: Trace, day: int, out: set[str]) -> set[str]:
    """The clauses of the nodes reached from the root through nodes that are not false:
    what this decision's result rests on, or may still rest on (an exception's own
    conditions count by their own values, whether it applies or not). An open node over an
    unknown list (``dwellings=?``) is not expanded: ``"?"`` marks that anything below it
    is still open."""
    value = truth(t.sets, day)
    if value is False and t.kind != "exception":
        return out
    if t.kind == "exception":  # applying or not, what it weighs is below it
        for child in t.children:
            _live_clauses(child, day, out)
        return out
    out.add(t.clause)
    if value is None and not t.children and any(v is None for v in t.facts.values()):
        out.add("?")
    for child in t.children:
        _live_clauses(child, day, out)
    return out


def _listed(d: Decision) -> list[ChannelResult]:
    routes = [x for r in d.relatives for x in r.routes if x.status != "not_eligible"]
    return [*materials_channels(d), *routes]


def assert_papers_belong(d: Decision) -> None:
    day = d.decision_date.toordinal()
    for c in _listed(d):
        assert c.status != "not_eligible", c.key
        live = _live_clauses(c.explanation, day, set())
        for m in c.materials:
            if m.clause == "general" or (m.if_applicable and "?" in live):
                continue
            assert m.clause in live, (c.key, m.clause, m.zh, sorted(live))


@pytest.mark.clause("§1.2", "§3.1")
@pytest.mark.parametrize("case", [FATHER_65, OWNER_AND_RENTER], ids=["E2", "E6"])
def test_papers_belong_to_live_clauses_examples(case: dict[str, Any]) -> None:
    assert_papers_belong(decide(parse_case(case)))


@pytest.mark.clause("§1.1", "§1.2", "§2.1", "§2.2", "§3.1", "§3.2", "§3.3", "§4.4")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=st.one_of(cases(partial=False), cases(), favourable_cases()))
def test_every_paper_listed_belongs_to_a_clause_that_holds_or_is_open(
    case: dict[str, Any],
) -> None:
    assert_papers_belong(decide(parse_case(case)))


# ---- item 6: refusals in machine form --------------------------------------------------


def test_json_refusal_is_a_json_error_object(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(FATHER_65))
    bad["applicant"]["sex"] = "other"
    bad["applicant"]["favourite_colour"] = "red"
    result = runner.invoke(app, ["check", "--json", str(_write(tmp_path, bad))], env=ENV)
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    errors = payload["errors"]
    fields = {e["field"]: e for e in errors}
    assert {"applicant.sex", "applicant.favourite_colour"} <= set(fields), errors
    assert fields["applicant.sex"]["code"] == "enum"
    assert fields["applicant.favourite_colour"]["code"] == "extra_forbidden"
    for e in errors:
        assert set(e) >= {"field", "code", "zh", "en"}
        assert e["code"] and e["zh"] and e["en"]


@pytest.mark.parametrize(
    ("args", "field", "code"),
    [
        (["--on", "yesterday"], "--on", "bad_date"),
        (["--lang", "fr"], "--lang", "bad_option"),
    ],
)
def test_json_refusal_of_an_option(tmp_path: Path, args: list[str], field: str, code: str) -> None:
    path = _write(tmp_path, FATHER_65)
    result = runner.invoke(app, ["check", "--json", *args, str(path)], env=ENV)
    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert (error["field"], error["code"]) == (field, code)


def test_json_refusals_of_several_files(tmp_path: Path) -> None:
    good = _write(tmp_path, FATHER_65, "good.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    missing = tmp_path / "nope.json"
    result = runner.invoke(app, ["check", "--json", str(bad), str(good), str(missing)], env=ENV)
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert isinstance(payload, list) and len(payload) == 3
    assert payload[0]["errors"][0]["code"] == "json_invalid"
    assert payload[0]["source"] == str(bad)
    assert payload[1]["schema"] == "hukou.decision/1"
    assert payload[2]["errors"][0]["code"] == "unreadable"


def test_json_refusal_birth_after_decision_date(tmp_path: Path) -> None:
    path = _write(tmp_path, FATHER_65)
    result = runner.invoke(app, ["check", "--json", "--on", "1975-01-01", str(path)], env=ENV)
    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["field"] == "relatives[0].birth_date"
    assert error["code"] == "after_decision_date"
