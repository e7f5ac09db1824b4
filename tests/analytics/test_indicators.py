"""The §7 indicators (考核指标): settlements, residence permits, eligible but not settled.

The register is built through the service (``Registry``), on SQLite and on PostgreSQL
(the registry fixtures), and the counts are checked exactly, county by county.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hukou.analytics import indicators as ind
from hukou.analytics.layout import PERSONS, RESULTS
from hukou.cli import app
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.demo import settle_materials
from hukou.registry.service import Registry

from ..registry.conftest import (  # noqa: F401  (fixtures: the register on both databases)
    NANHU,
    XIUZHOU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..registry.helpers import id_number, owner_case

pytestmark = pytest.mark.clause("§7")


def _in_county(facts: dict[str, Any], county: str) -> dict[str, Any]:
    a = facts["applicant"]
    a["lives_in"] = county
    a["residence_permit"]["county"] = county
    a["dwellings"][0]["address"]["county"] = county
    return facts


def _settle(
    registry: Registry,  # noqa: F811
    officer: Actor,
    kind: str,
    county: str,
    facts: dict[str, Any],
) -> None:
    app = registry.create_application(officer, kind, county, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    dwelling = registry.add_dwelling(officer, county, f"{county} 住所 {app.id}", "111", "owned")
    registry.register(officer, app.id, dwelling_id=dwelling)


@pytest.fixture
def built(registry: Registry, clock: FixedClock, engine: Engine) -> Engine:  # noqa: F811
    """Nanhu: 2025-03-01 §1.1 with spouse (2 persons), 2025-04-10 §1.1 alone and §2.1 (the
    spouse stays: §2.1 is for the applicant only). Xiuzhou: 2025-04-10 §1.1 with spouse.
    Not settled: one approved and one rejected application.

    Residence permits, through the register's own steps (``registry.permits``): Nanhu
    issues 2 in January 2025 (one lost and replaced in June: a new permit, counted then
    too) and endorses one on time in December; Xiuzhou issues 1 in February 2025 and
    endorses it late in February 2026. One residence registration has no permit."""
    nanhu_id = registry.add_user(SYSTEM, "o_nanhu", "correct horse battery", "officer", NANHU)
    nanhu = Actor(nanhu_id, "o_nanhu", "officer", NANHU)
    xz_id = registry.add_user(SYSTEM, "o_xiuzhou", "correct horse battery", "officer", XIUZHOU)
    xiuzhou = Actor(xz_id, "o_xiuzhou", "officer", XIUZHOU)

    def issue(officer: Actor, seq: int, day: dt.date) -> int:
        clock.day = dt.date(2024, 6, 1)  # registered then: half a year before the issue
        number = id_number("341221", "19930303", seq, True)
        county = officer.jurisdiction or ""
        registry.register_residence(
            officer,
            number,
            county,
            name=f"迁{seq}",
            housing="employer",
            address="宿舍1幢",
            provider="嘉兴某厂",
        )
        clock.day = day
        applied = registry.apply_for_residence_permit(
            officer, number, county, "employment", facts={"local_labour_contract": True}
        )
        registry.review_residence_permit(officer, applied.id)
        return registry.issue_residence_permit(officer, applied.id).id

    first = issue(nanhu, 1, dt.date(2025, 1, 5))
    clock.day = dt.date(2024, 6, 1)
    registry.register_residence(  # a registration and no permit: not counted
        nanhu,
        id_number("341221", "19930303", 9, True),
        NANHU,
        name="迁9",
        housing="school",
        address="学生公寓",
        provider="嘉兴某学院",
    )
    second = issue(nanhu, 2, dt.date(2025, 1, 20))
    third = issue(xiuzhou, 3, dt.date(2025, 2, 3))

    clock.day = dt.date(2025, 3, 1)
    _settle(registry, nanhu, "s1_1", NANHU, owner_case("李一", seq=1))
    clock.advance(40)  # 2025-04-10
    in_town = owner_case("李二", with_spouse=False, seq=2)  # §5.1: a flat in a town (121)
    in_town["applicant"]["dwellings"][0]["address"]["urban_rural_code"] = "121"
    in_town["applicant"]["dwellings"][0]["central_town"] = True  # §5.1 中心镇, from the list
    _settle(registry, nanhu, "s1_1", NANHU, in_town)
    talent = owner_case("李三", seq=3)
    talent["applicant"]["education"] = "bachelor"
    _settle(registry, nanhu, "s2_1", NANHU, talent)
    poor = _in_county(owner_case("王四", seq=4), XIUZHOU)
    poor["applicant"]["registered_poor"] = True  # §5.1 建档立卡
    _settle(registry, xiuzhou, "s1_1", XIUZHOU, poor)

    pending = registry.create_application(nanhu, "s1_1", NANHU, owner_case("李五", seq=5))
    for action in ("submit", "review"):
        registry.act(nanhu, pending.id, action)
    settle_materials(registry, nanhu, pending.id)
    registry.approve(nanhu, pending.id)
    refused = registry.create_application(nanhu, "s1_1", NANHU, owner_case("李六", seq=6))
    for action in ("submit", "review"):
        registry.act(nanhu, refused.id, action)
    registry.reject(nanhu, refused.id, "材料不全")

    clock.day = dt.date(2025, 6, 15)
    registry.replace_residence_permit(nanhu, second, "lost")
    clock.day = dt.date(2025, 12, 20)  # in the month before the full year: on time
    registry.endorse_residence_permit(nanhu, first)
    clock.day = dt.date(2026, 2, 10)  # lapsed after 2026-02-02: a late endorsement
    registry.endorse_residence_permit(xiuzhou, third)
    return engine


def _counts(table: pa.Table, *cols: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    keys = ("county", "period", "channel")
    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in table.to_pylist():
        key = tuple(row[k] for k in keys if k in row)
        out[key] = tuple(row[c] for c in cols)
    return out


def test_settlements_per_county_period_and_channel(built: Engine) -> None:
    monthly = ind.settlements(built, "month")
    assert _counts(monthly, "applications", "persons") == {
        (NANHU, "2025-03", "s1_1"): (1, 2),
        (NANHU, "2025-04", "s1_1"): (1, 1),
        (NANHU, "2025-04", "s2_1"): (1, 1),
        (XIUZHOU, "2025-04", "s1_1"): (1, 2),
    }
    assert monthly.schema == ind.SETTLEMENTS
    row = monthly.to_pylist()[0]
    assert (row["county_zh"], row["clause"], row["channel_en"]) == (
        "南湖区",
        "§1.1",
        "settling on a lawful stable dwelling",
    )
    assert _counts(ind.settlements(built, "quarter"), "persons") == {
        (NANHU, "2025-Q1", "s1_1"): (2,),
        (NANHU, "2025-Q2", "s1_1"): (1,),
        (NANHU, "2025-Q2", "s2_1"): (1,),
        (XIUZHOU, "2025-Q2", "s1_1"): (2,),
    }
    assert _counts(ind.settlements(built, "year"), "applications") == {
        (NANHU, "2025", "s1_1"): (2,),
        (NANHU, "2025", "s2_1"): (1,),
        (XIUZHOU, "2025", "s1_1"): (1,),
    }
    # §5.1: the reporting flags of the decisions registered, counted beside them
    assert _counts(monthly, "small_town", "central_town", "registered_poor") == {
        (NANHU, "2025-03", "s1_1"): (0, 0, 0),
        (NANHU, "2025-04", "s1_1"): (1, 1, 0),
        (NANHU, "2025-04", "s2_1"): (0, 0, 0),
        (XIUZHOU, "2025-04", "s1_1"): (0, 0, 1),
    }
    # a window, and a session instead of an engine
    with Session(built) as s:
        april = ind.settlements(s, "month", start=dt.date(2025, 4, 1))
    assert sum(april.column("persons").to_pylist()) == 4


def test_permits_from_the_register(built: Engine) -> None:
    """Permits issued by issue day and county (a replacement is a permit issued), the
    endorsements apart by endorsement day — exact, from the register built step by step."""
    permits = ind.permits_from_registry(built, "month")
    assert permits.schema == ind.PERMITS
    source = "registry.residence_permits"
    assert _counts(permits, "permits", "endorsements", "source") == {
        (NANHU, "2025-01"): (2, 0, source),
        (XIUZHOU, "2025-02"): (1, 0, source),
        (NANHU, "2025-06"): (1, 0, source),
        (NANHU, "2025-12"): (0, 1, source),
        (XIUZHOU, "2026-02"): (0, 1, source),
    }
    assert _counts(ind.permits_from_registry(built, "year"), "permits", "endorsements") == {
        (NANHU, "2025"): (3, 1),
        (XIUZHOU, "2025"): (1, 0),
        (XIUZHOU, "2026"): (0, 1),
    }
    # a window: from the replacement to the end of 2025
    with Session(built) as s:
        window = ind.permits_from_registry(
            s, "quarter", start=dt.date(2025, 6, 15), end=dt.date(2025, 12, 31)
        )
    assert _counts(window, "permits", "endorsements") == {
        (NANHU, "2025-Q2"): (1, 0),
        (NANHU, "2025-Q4"): (0, 1),
    }
    # the population has no endorsements to count: null, not 0
    assert {r["endorsements"] for r in ind.permits_from_population(_persons()).to_pylist()} == {
        None
    }


def test_the_summary_puts_the_figures_side_by_side(built: Engine) -> None:
    s = ind.summary(ind.settlements(built, "quarter"), ind.permits_from_registry(built, "quarter"))
    assert [
        (
            r["county"],
            r["period"],
            r["settled_persons"],
            r["settlement_applications"],
            r["permits"],
            r["endorsements"],
        )
        for r in s.to_pylist()
    ] == [
        (NANHU, "2025-Q1", 2, 1, 2, 0),
        (XIUZHOU, "2025-Q1", 0, 0, 1, 0),
        (NANHU, "2025-Q2", 2, 2, 1, 0),
        (XIUZHOU, "2025-Q2", 2, 1, 0, 0),
        (NANHU, "2025-Q4", 0, 0, 0, 1),
        (XIUZHOU, "2026-Q1", 0, 0, 0, 1),
    ]
    # small counts are suppressed in the endorsements column too
    shown = ind.suppressed(s, 5).to_pylist()
    assert {r["endorsements"] for r in shown} == {0, None}


def test_the_register_day_is_beijing_time() -> None:
    late = dt.datetime(2025, 6, 30, 17, 30, tzinfo=dt.UTC)  # 01:30 on 1 July in Beijing
    assert ind._beijing_day(late) == dt.date(2025, 7, 1)
    assert ind._beijing_day(late.replace(tzinfo=None)) == dt.date(2025, 7, 1)  # SQLite
    assert ind.period_of(dt.date(2025, 7, 1), "quarter") == "2025-Q3"
    with pytest.raises(ValueError):
        ind.period_of(dt.date(2025, 7, 1), "week")


# ---- from a population and a batch run -------------------------------------------------


def _persons() -> pa.Table:
    """1 migrant in 南湖区, 2 in 海宁市, one with a rural Jiaxing hukou (a 农业转移人员), one
    with an urban Jiaxing hukou already, one whose county is unknown."""
    rows = [
        {"person_id": 1, "lives_in": NANHU, "hukou_kind": "outside_jiaxing"},
        {"person_id": 2, "lives_in": "330481", "hukou_kind": "outside_jiaxing"},
        {"person_id": 3, "lives_in": "330481", "hukou_county": "330481",
         "hukou_urban_rural_code": "220", "hukou_kind": "own_family_household"},
        {"person_id": 4, "lives_in": "330481", "hukou_county": "330481",
         "hukou_urban_rural_code": "111", "hukou_kind": "own_family_household"},
        {"person_id": 5, "lives_in": None},
        {"person_id": 6, "lives_in": NANHU, "hukou_kind": "outside_jiaxing"},
    ]  # fmt: skip
    permits = {
        1: (True, NANHU, dt.date(2024, 11, 2)),
        2: (True, "330481", dt.date(2025, 1, 9)),
        3: (None, "330481", dt.date(2025, 2, 9)),  # held unknown: the issue date says it was
        4: (False, "330481", dt.date(2025, 2, 9)),  # no longer held: not counted
        5: (True, "330481", None),  # no date: not counted
    }
    for row in rows:
        held, county, day = permits.get(row["person_id"], (None, None, None))
        row.update(permit_held=held, permit_county=county, permit_issued_on=day)
    return pa.Table.from_pylist(rows, schema=PERSONS)


def _results(on: dt.date) -> pa.Table:
    status = {1: "eligible", 2: "eligible", 3: "eligible", 4: "eligible", 5: "eligible"}
    best = {1: "s1_1", 2: "s2_1", 3: "s1_1", 4: "s1_1", 5: "s2_2"}
    rows = [
        {
            "person_id": pid,
            "decision_date": on,
            "status": status.get(pid, "not_eligible"),
            "best_channel": best.get(pid),
        }
        for pid in range(1, 7)
    ]
    return pa.Table.from_pylist(rows, schema=RESULTS)


def test_permits_from_a_population() -> None:
    permits = ind.permits_from_population(_persons(), "quarter")
    assert _counts(permits, "permits", "source") == {
        (NANHU, "2024-Q4"): (1, "population.persons"),
        ("330481", "2025-Q1"): (2, "population.persons"),
    }


def test_every_count_column_is_suppressed() -> None:
    """A new count column (a §5.1 flag, say) is suppressed in files, pages and the API only
    if it is in COUNT_COLUMNS: every integer column of every indicator table must be."""
    for schema in (ind.SETTLEMENTS, ind.PERMITS, ind.ELIGIBLE, ind.SUMMARY):
        for field in schema:
            if pa.types.is_integer(field.type):
                assert field.name in ind.COUNT_COLUMNS, field.name


def test_small_counts_are_suppressed_in_a_table() -> None:
    table = pa.table(
        {
            "county": ["330402"] * 5,
            "permits": pa.array([0, 1, 4, 5, 17], pa.int64()),
            "source": ["x"] * 5,
        }
    )
    assert ind.suppressed(table, 5).column("permits").to_pylist() == [0, None, None, 5, 17]
    assert ind.suppressed(table, 2).column("permits").to_pylist() == [0, None, 4, 5, 17]
    assert ind.suppressed(table, 1).column("permits").to_pylist() == [0, 1, 4, 5, 17]
    assert ind.suppressed(table, 5).column("source").to_pylist() == ["x"] * 5


def test_eligible_but_not_yet_settled() -> None:
    on = dt.date(2025, 5, 1)
    table = ind.eligible_not_settled(
        ibis.memtable(_results(on)), ibis.memtable(_persons()), "month"
    )
    assert _counts(table, "eligible_not_settled") == {
        (NANHU, "2025-05", "s1_1"): (1,),
        ("330481", "2025-05", "s1_1"): (1,),  # the rural hukou; the urban one has settled
        ("330481", "2025-05", "s2_1"): (1,),
        ("unknown", "2025-05", "s2_2"): (1,),
    }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the command: once is enough
def test_the_indicators_command(built: Engine, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    population, results, out = tmp_path / "pop", tmp_path / "res", tmp_path / "out"
    population.mkdir()
    results.mkdir()
    pq.write_table(_persons(), population / "persons.parquet")
    pq.write_table(_results(dt.date(2025, 5, 1)), results / "results.parquet")
    runner = CliRunner()
    args = ["indicators", "--db", db_url, "--results", str(results), "--out", str(out)]
    done = runner.invoke(app, [*args, "--population", str(population), "--period", "quarter"])
    assert done.exit_code == 0, done.output
    assert "南湖区" in done.output and "2025-Q2" in done.output
    # the register holds permits, so they come from there, not from the population
    assert "registry.residence_permits" in done.output
    for name in ("summary.csv", "settlements.parquet", "eligible.csv", "permits.csv"):
        assert (out / name).is_file(), name
    assert (out / "indicators.png").read_bytes()[:4] == b"\x89PNG"
    assert "Plotly.newPlot" in (out / "indicators.html").read_text("utf-8")
    summary = pq.read_table(out / "summary.parquet")
    wb = load_workbook(out / "indicators.xlsx", read_only=True)
    assert wb.sheetnames[0] == "README"
    rows = list(wb["汇总 summary"].iter_rows(values_only=True))
    # the files suppress small counts as the screen does: null in Parquet, <5 elsewhere
    assert [list(r) for r in rows[1:]] == [
        ["<5" if v is None else v for v in r.values()] for r in summary.to_pylist()
    ]
    nanhu_q2 = next(
        r for r in summary.to_pylist() if (r["county"], r["period"]) == (NANHU, "2025-Q2")
    )
    assert (nanhu_q2["settled_persons"], nanhu_q2["settlement_applications"]) == (None, None)
    csv = (out / "summary.csv").read_text("utf-8")
    assert '"<5"' in csv or ",<5" in csv
    assert all(n is None or n == 0 or n >= 5 for n in summary.column("permits").to_pylist())
    readme = dict(wb["README"].iter_rows(values_only=True))
    assert "<5" in str(readme["小数抑制 small counts"])

    # --exact: the exact figures, said so in the workbook
    exact = tmp_path / "exact"
    done = runner.invoke(
        app,
        [*args[:-1], str(exact), "--population", str(population), "--period", "quarter", "--exact"],
    )
    assert done.exit_code == 0, done.output
    summary = pq.read_table(exact / "summary.parquet")
    nanhu_q2 = next(
        r for r in summary.to_pylist() if (r["county"], r["period"]) == (NANHU, "2025-Q2")
    )
    assert (nanhu_q2["settled_persons"], nanhu_q2["settlement_applications"]) == (2, 2)
    rows = list(
        load_workbook(exact / "indicators.xlsx")["汇总 summary"].iter_rows(values_only=True)
    )
    assert [list(r) for r in rows[1:]] == [list(r.values()) for r in summary.to_pylist()]
    assert "<5" not in (exact / "summary.csv").read_text("utf-8")

    bad = runner.invoke(app, ["indicators", "--period", "week", "--out", str(out)])
    assert bad.exit_code == 2 and "--period" in bad.output
    missing = runner.invoke(app, ["indicators", "--db", "sqlite:///" + str(tmp_path / "no.db")])
    assert missing.exit_code == 2
