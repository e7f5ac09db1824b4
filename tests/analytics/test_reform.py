"""What-if reforms (改革测算): who gains and who loses, their tables, charts and workbook."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from typer.testing import CliRunner

from hukou.analytics.charts import reform_charts
from hukou.analytics.layout import CHANNEL_KEYS, ROUTE_KEYS
from hukou.analytics.population import Tables, from_cases, save
from hukou.analytics.reform import (
    Reform,
    ReformError,
    ReformReport,
    load_reform,
    parse_reform,
    reference_evaluator,
    run_reform,
)
from hukou.analytics.workbook import REFORM_SHEETS, reform_workbook
from hukou.cli import app
from hukou.policy.facts import Case, parse_case

from ..strategies import cases, favourable_cases, parse

pytestmark = pytest.mark.clause("§1.2", "§2.2", "§3.1", "§7")

ROOT = Path(__file__).resolve().parents[2]
REFORMS = ROOT / "examples" / "reforms"
TWO_YEARS = REFORMS / "two-years.yaml"
NOOP = REFORMS / "noop.yaml"
ON = dt.date(2024, 8, 1)  # example 02 has lived in 秀洲区 since 2022-07-01: 2 years, not 3


def _memtables(tables: Tables) -> dict[str, Any]:
    return {name: ibis.memtable(t) for name, t in tables.items()}


@st.composite
def populations(draw: st.DrawFn) -> tuple[dt.date, Tables]:
    """A case steered to the thresholds (favourable_cases) and a few random ones on its date;
    every relative is a person of the population too, deciding as an applicant."""
    head = draw(favourable_cases())
    on = dt.date.fromisoformat(head["decision_date"])
    more = draw(st.lists(cases(max_relatives=2, on=on), max_size=2))
    return on, from_cases([parse(c) for c in [head, *more]])


def _report(tables: Tables, reform: Reform, on: dt.date) -> ReformReport:
    [report] = run_reform(_memtables(tables), reform, [on], reference_evaluator())
    return report


def _rows(report: ReformReport, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = report.tables[name].to_pylist()
    return rows


def _settings(n: int) -> Any:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings(12)
@given(pop=populations(), empty=st.booleans())
def test_a_reform_that_changes_nothing_has_no_gainers_and_no_losers(
    pop: tuple[dt.date, Tables], empty: bool
) -> None:
    on, tables = pop
    reform = parse_reform({"name": "empty"}) if empty else load_reform(NOOP)
    report = _report(tables, reform, on)
    assert report.persons == tables["persons"].num_rows
    for name in ("by_channel", "by_county", "by_age_band", "by_sex", "relatives"):
        for row in _rows(report, name):
            assert (row["gains"], row["loses"], row["earlier"], row["later"]) == (0, 0, 0, 0)
            assert row["eligible_before"] == row["eligible_after"]
    # the law's own value restated: the very same parameters, the same version
    assert report.baseline_version == report.reform_version


@_settings(20)
@given(pop=populations())
def test_lowering_three_years_to_two_only_ever_gains(pop: tuple[dt.date, Tables]) -> None:
    """§1.2 with 2 years instead of 3: nobody loses a channel, a route, or time — but §4.4,
    which under reading R27 ends the day a lease qualifies for §1.1: the reform brings
    that day forward, and the person settles under §1.1 instead (no one loses overall)."""
    on, tables = pop
    report = _report(tables, load_reform(TWO_YEARS), on)
    for name in ("by_channel", "by_county", "by_age_band", "by_sex", "by_county_channel"):
        for row in _rows(report, name):
            if row.get("channel") == "s4_4":
                continue
            assert row["loses"] == 0, (name, row)
            assert row["eligible_after"] >= row["eligible_before"], (name, row)
    for row in _rows(report, "relatives"):
        assert row["loses"] == 0, row
    for row in _rows(report, "by_channel") + _rows(report, "relatives"):
        if row.get("channel") != "s4_4":
            assert row["later"] == 0, row  # an earliest date only ever moves earlier


def _example_case() -> Case:
    """Example 02 (a tenant in 秀洲区 since 2022-07-01) with her husband living with her."""
    data = json.loads((ROOT / "examples" / "02-rented-flat-under-3-years.json").read_text())
    data["decision_date"] = ON.isoformat()
    data["relatives"] = [{"relation": "spouse", "sex": "male", "lives_with_applicant": True}]
    return parse_case(data)


def _example_population() -> Tables:
    return from_cases([_example_case()])


@pytest.fixture(scope="module")
def two_years_report() -> ReformReport:
    return _report(_example_population(), load_reform(TWO_YEARS), ON)


def test_the_tenant_of_example_02_gains_with_two_years(two_years_report: ReformReport) -> None:
    r = two_years_report
    assert r.persons == 2  # she and her husband (deciding as an applicant himself)
    channels = {row["channel"]: row for row in _rows(r, "by_channel")}
    assert channels["overall"]["gains"] == 1 and channels["overall"]["loses"] == 0
    assert channels["s1_1"]["gains"] == 1
    assert all(channels[k]["gains"] == 0 for k in CHANNEL_KEYS if k != "s1_1")
    counties = {row["county"]: row for row in _rows(r, "by_county")}
    assert counties["330411"]["gains"] == 1 and counties["330411"]["zh"] == "秀洲区"
    assert sum(row["gains"] for row in counties.values()) == 1
    sexes = {row["sex"]: row["gains"] for row in _rows(r, "by_sex")}
    assert sexes["female"] == 1 and sexes.get("male", 0) == 0
    bands = {row["age_band"]: row["gains"] for row in _rows(r, "by_age_band")}
    assert bands["30-39"] == 1  # born 1993-03-18: 31 on 2024-08-01
    grid = {(row["county"], row["channel"]): row["gains"] for row in _rows(r, "by_county_channel")}
    assert grid[("330411", "s1_1")] == 1 and sum(grid.values()) == 1
    routes = {(row["relation"], row["route"]): row for row in _rows(r, "relatives")}
    assert routes[("spouse", "accompany_s1_1")]["gains"] == 1  # he comes along now
    assert routes[("all", "overall")]["gains"] == 1
    assert all(routes[("all", k)]["loses"] == 0 for k in ROUTE_KEYS)


def test_a_date_before_the_reform_applies_changes_nothing() -> None:
    reform = parse_reform(
        {
            "name": {"zh": "明年起两年", "en": "two years from next year"},
            "parameters": {"s1_urban.continuous_residence_years": {"2030-01-01": 2}},
        }
    )
    report = _report(_example_population(), reform, ON)
    assert all(row["gains"] == 0 for row in _rows(report, "by_channel"))


# ---- the reform file -------------------------------------------------------------------


def test_the_example_reforms_load() -> None:
    names = {p.stem: load_reform(p) for p in REFORMS.glob("*.yaml")}
    assert set(names) >= {"two-years", "no-parent-age-limit", "wider-window", "noop"}
    assert names["two-years"].parameters == {
        "s1_urban.continuous_residence_years": {dt.date(2020, 8, 1): 2}
    }
    assert names["wider-window"].apply().at(ON)["s2_talent.vocational_graduate_window_years"] == 20
    law = names["noop"].apply().at(ON)
    assert law["s1_urban.continuous_residence_years"] == 3
    aged = names["no-parent-age-limit"].apply().at(ON)
    assert (
        aged["s3_relatives.parent_min_age_male"] == aged["s3_relatives.parent_min_age_female"] == 0
    )


def _problems(data: Any) -> dict[str, tuple[str, str]]:
    with pytest.raises(ReformError) as info:
        parse_reform(data)
    return {p["field"]: (p["zh"], p["en"]) for p in info.value.problems}


def test_an_unknown_parameter_is_named_with_a_suggestion() -> None:
    found = _problems(
        {"name": "x", "parameters": {"s1_urban.continuous_residence_year": {"2020-08-01": 2}}}
    )
    zh, en = found["parameters.s1_urban.continuous_residence_year"]
    assert "无此参数" in zh and "s1_urban.continuous_residence_years" in zh
    assert "unknown parameter" in en and "did you mean s1_urban.continuous_residence_years" in en


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("s1_urban.continuous_residence_years", "three", "whole number"),
        ("s1_urban.continuous_residence_years", True, "whole number"),
        ("s1_urban.continuous_residence_years", -1, "negative"),
        ("readings.lease_is_property_proof_for_s3_1", 1, "true or false"),
        ("s2_talent.min_education", "phd", "education levels"),
        ("s4_registration.new_generation_born_from", "1980-13-01", "date"),
    ],
)
def test_a_value_of_the_wrong_type_is_named(path: str, value: Any, words: str) -> None:
    found = _problems({"name": "x", "parameters": {path: {"2020-08-01": value}}})
    zh, en = found[f"parameters.{path}.2020-08-01"]
    assert words in en and zh


def test_the_other_fields_are_checked() -> None:
    found = _problems(
        {
            "description": 3,
            "dates": ["2024-02-30"],
            "parameters": {"s1_urban.continuous_residence_years": {"someday": 2}},
            "extra": 1,
            True: "2024-01-01",  # what YAML makes of a bare `on:` key
        }
    )
    assert set(found) == {
        "name",
        "description",
        "dates[0]",
        "parameters.s1_urban.continuous_residence_years.someday",
        "extra",
        "true",
    }
    assert "dates" in found["true"][1]
    assert "zh" in found["name"][1] and "en" in found["name"][1]
    assert _problems({"name": {"zh": "只有中文"}})["name.en"]
    assert _problems({"name": "x", "parameters": [1]})["parameters"]
    assert _problems(["not", "a", "mapping"])["(reform)"]


def test_a_readings_switch_is_a_reform_too() -> None:
    reform = parse_reform(
        {
            "name": "lease",
            "parameters": {"readings.lease_is_property_proof_for_s3_1": {"2020-08-01": True}},
        }
    )
    assert reform.apply().at(ON)["readings.lease_is_property_proof_for_s3_1"] is True


def test_a_broken_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ReformError) as info:
        load_reform(bad)
    assert "YAML" in info.value.problems[0]["en"]
    with pytest.raises(ReformError):
        load_reform(tmp_path / "missing.yaml")


# ---- outputs ---------------------------------------------------------------------------


def test_charts_and_workbook_are_written_and_hold_the_numbers(
    two_years_report: ReformReport, tmp_path: Path
) -> None:
    png, html = reform_charts(two_years_report, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[0] > 500
    page = html.read_text("utf-8")
    assert "Plotly.newPlot" in page and '<script src="https://cdn' not in page
    assert "获益" in page and len(page) > 1_000_000  # plotly.js inline: works offline

    path = reform_workbook(two_years_report, tmp_path / "reform.xlsx")
    wb = load_workbook(path, read_only=True)
    assert wb.sheetnames[0] == "README" and set(REFORM_SHEETS.values()) <= set(wb.sheetnames)
    readme = {r[0]: r[1] for r in wb["README"].iter_rows(values_only=True)}
    assert "租赁商品住房连续居住年限由3年降为2年" in readme["改革 reform"]
    assert readme["基准规则版本 baseline rule version"].startswith("jiaxing-2020-28")
    assert (
        readme["基准规则版本 baseline rule version"] != readme["改革规则版本 reform rule version"]
    )
    assert "3 → 2" in readme["参数 s1_urban.continuous_residence_years (from 2020-08-01)"]
    for key, title in REFORM_SHEETS.items():
        table: pa.Table = two_years_report.tables[key]
        rows = list(wb[title].iter_rows(values_only=True))
        assert len(rows) == table.num_rows + 1
        body = [dict(zip(table.column_names, r, strict=True)) for r in rows[1:]]
        # an empty cell reads back as None (the overall row has no clause)
        expected = [
            {k: None if v == "" else v for k, v in row.items()} for row in table.to_pylist()
        ]
        assert body == expected


def test_the_reform_command(tmp_path: Path) -> None:
    population = tmp_path / "pop"
    save(_example_population(), population)
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["reform", str(TWO_YEARS), "--in", str(population), "--out", str(out)]
    result = runner.invoke(app, [*args, "--on", ON.isoformat(), "--engine", "reference"])
    assert result.exit_code == 0, result.output
    assert "获益" in result.output and "合法稳定住所落户" in result.output
    for name in ("by_channel.csv", "by_county.parquet", "reform.png", "reform.html", "reform.xlsx"):
        assert (out / name).is_file(), name
    english = runner.invoke(
        app, [*args, "--on", ON.isoformat(), "--engine", "reference", "--lang", "en"]
    )
    assert english.exit_code == 0 and "gains" in english.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nparameters:\n  s1_urban.nope: {2020-08-01: 2}\n", encoding="utf-8")
    refused = runner.invoke(app, ["reform", str(bad), "--in", str(population)])
    assert refused.exit_code == 2
    assert "parameters.s1_urban.nope" in refused.output and "unknown parameter" in refused.output
    missing = runner.invoke(app, ["reform", str(TWO_YEARS), "--in", str(tmp_path / "none")])
    assert missing.exit_code == 2


def test_the_compiled_query_reports_what_the_reference_does() -> None:
    """Integration through ``analytics.batch.evaluate``: the same tables, exactly."""
    batch = pytest.importorskip("hukou.analytics.batch")
    from hukou.analytics.reform import batch_evaluator

    assert batch.evaluate
    data = json.loads((ROOT / "examples" / "01-owner-family.json").read_text())
    data["decision_date"] = ON.isoformat()
    tables = from_cases([_example_case(), parse_case(data)])
    memtables = _memtables(tables)
    reform = load_reform(TWO_YEARS)
    [compiled] = run_reform(memtables, reform, [ON], batch_evaluator())
    [reference] = run_reform(memtables, reform, [ON], reference_evaluator())
    for name, table in reference.tables.items():
        assert compiled.tables[name].equals(table), name
    assert {r["channel"]: r["gains"] for r in _rows(compiled, "by_channel")}["s1_1"] == 1
