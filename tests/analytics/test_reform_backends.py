"""``hukou reform`` where the population is: inside PostgreSQL (a throwaway
``hukou_test_<hex>`` database on 127.0.0.1:5432, skipped only when no server answers)
and on Spark ``local[2]`` — every table equal to DuckDB's on the same synthetic
population, baseline and reform compared in one query whose only result is the cube.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hukou.analytics import batch, synth
from hukou.analytics.reform import (
    AGE_BANDS,
    OTHER_COUNTIES,
    RELATIONS,
    SEXES,
    PopulationError,
    ReformReport,
    batch_evaluator,
    load_reform,
    open_population,
    run_reform,
)
from hukou.cli import app
from hukou.policy.places import jiaxing_counties

pytestmark = pytest.mark.clause("§1.2", "§3.1", "§7")

ROOT = Path(__file__).resolve().parents[2]
REFORMS = ROOT / "examples" / "reforms"
ON = dt.date(2025, 1, 1)
PEOPLE = 2000
SEED = 7  # on 2025-01-01 this population has a tenant who gains with two years, not three


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop")
    synth.generate(PEOPLE, SEED, out)
    return out


@cache
def _duckdb_report(population: Path, reform: str) -> ReformReport:
    with open_population("duckdb", population) as tables:
        [report] = run_reform(tables, load_reform(REFORMS / f"{reform}.yaml"), [ON])
    return report


def assert_same_tables(got: ReformReport, expected: ReformReport) -> None:
    assert set(got.tables) == set(expected.tables)
    for name, table in expected.tables.items():
        assert got.tables[name].schema == table.schema, name
        assert got.tables[name].to_pylist() == table.to_pylist(), name
    assert got.baseline_version == expected.baseline_version
    assert got.reform_version == expected.reform_version


# ---- PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_population(pg: str, population: Path) -> str:
    """The population loaded as ``hukou batch --pg-load --pg-prefix pop_`` loads it."""
    batch.load_postgres(population, pg, prefix="pop_")
    return pg


@pytest.mark.parametrize("reform", ["noop", "two-years"])
def test_postgres_equals_duckdb(
    pg_population: str, population: Path, reform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ibis.expr.types as ir

    fetched: list[int] = []  # rows of every result that comes back to Python
    to_pyarrow = ir.Table.to_pyarrow

    def spy(self: ir.Table, *args: Any, **kwargs: Any) -> Any:
        table = to_pyarrow(self, *args, **kwargs)
        fetched.append(table.num_rows)
        return table

    with open_population("postgres", pg_url=pg_population, pg_prefix="pop_") as tables:
        assert tables["persons"].get_backend().name == "postgres"
        monkeypatch.setattr(ir.Table, "to_pyarrow", spy)
        [got] = run_reform(tables, load_reform(REFORMS / f"{reform}.yaml"), [ON])
        monkeypatch.undo()
    # one query per date, and only the cube comes back: at most one row per county ×
    # age band × sex, and one per relation
    cells = (len(jiaxing_counties()) + len(OTHER_COUNTIES)) * (len(AGE_BANDS) + 1) * len(SEXES)
    assert len(fetched) == 1 and fetched[0] <= cells + len(RELATIONS) + 1

    expected = _duckdb_report(population, reform)
    assert_same_tables(got, expected)
    overall = got.overall()
    assert overall["persons"] == PEOPLE
    assert overall["eligible_before"] > 0
    if reform == "noop":
        for name in ("by_channel", "by_county", "by_age_band", "by_sex", "relatives"):
            for row in got.tables[name].to_pylist():
                assert (row["gains"], row["loses"], row["earlier"], row["later"]) == (0, 0, 0, 0)
    else:  # the comparison sees a change, and the same change on both backends
        assert overall["gains"] > 0 and overall["loses"] == 0
        assert overall["days_earlier"] > 0


def test_postgres_without_the_tables_names_the_prefix(pg: str) -> None:
    with (
        pytest.raises(PopulationError) as info,
        open_population("postgres", pg_url=pg, pg_prefix="absent_"),
    ):
        pass
    [problem] = info.value.problems
    assert problem["field"] == "--pg-prefix"
    assert "absent_persons" in problem["en"] and "--pg-load" in problem["en"]
    assert "absent_persons" in problem["zh"]


def test_the_reform_command_in_postgres(pg: str, population: Path, tmp_path: Path) -> None:
    """``--engine postgres --pg-load``: copies ``--in`` into the database, runs there and
    writes the same tables as DuckDB's."""
    import psycopg

    out = tmp_path / "out"
    runner = CliRunner()
    args = ["reform", str(REFORMS / "two-years.yaml"), "--on", ON.isoformat(), "--lang", "en"]
    result = runner.invoke(
        app,
        [
            *args,
            *("--in", str(population), "--out", str(out), "--engine", "postgres"),
            *("--pg-load", "--pg-url", pg, "--pg-prefix", "cli_"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "gains" in result.output
    with psycopg.connect(pg) as conn:
        row = conn.execute('SELECT count(*) FROM "cli_persons"').fetchone()
    assert row is not None and row[0] == PEOPLE
    expected = _duckdb_report(population, "two-years")
    for name, table in expected.tables.items():
        assert pq.read_table(out / f"{name}.parquet").to_pylist() == table.to_pylist(), name
        assert (out / f"{name}.csv").is_file()
    for name in ("reform.png", "reform.html", "reform.xlsx"):
        assert (out / name).stat().st_size > 0, name

    # the tables stay: the next run reads them without --in
    again = runner.invoke(
        app,
        [
            *args,
            *("--out", str(tmp_path / "again"), "--engine", "postgres"),
            *("--pg-url", pg, "--pg-prefix", "cli_"),
        ],
    )
    assert again.exit_code == 0, again.output
    got = pq.read_table(tmp_path / "again" / "by_county.parquet")
    assert got.to_pylist() == expected.tables["by_county"].to_pylist()


def test_the_reform_command_refuses_what_it_cannot_run(
    pg: str, population: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    two = str(REFORMS / "two-years.yaml")

    def refused(*args: str) -> str:
        result = runner.invoke(app, ["reform", two, "--out", str(tmp_path / "x"), *args])
        assert result.exit_code == 2, result.output
        return result.output

    out = refused("--engine", "postgres", "--pg-url", pg, "--pg-prefix", "nothing_here_")
    assert "--pg-prefix" in out and "nothing_here_persons" in out and "输入有误" in out
    out = refused("--in", str(population), "--pg-load")
    assert "--pg-load" in out and "only with --engine postgres" in out
    out = refused("--in", str(population), "--engine", "spark", "--pg-prefix", "x_")
    assert "--pg-prefix" in out
    out = refused("--in", str(population), "--spark-master", "local[1]")
    assert "--spark-master" in out and "仅用于 --engine spark" in out
    out = refused("--engine", "postgres", "--pg-load", "--pg-url", pg)
    assert "--in" in out and "--pg-load" in out
    out = refused("--in", str(population), "--engine", "oracle")
    assert "--engine" in out and "postgres" in out and "spark" in out
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(population / "persons.parquet", partial)
    out = refused("--in", str(partial), "--engine", "spark")
    assert "--in" in out and "relations.parquet" in out and "缺少人口数据表" in out
    unreachable = "postgresql://127.0.0.1:1/nothing"
    out = refused("--engine", "postgres", "--pg-url", unreachable)
    assert "--pg-url" in out and "cannot connect to PostgreSQL" in out
    out = refused(
        "--in", str(population), "--engine", "postgres", "--pg-load", "--pg-url", unreachable
    )
    assert "--pg-url" in out and "无法连接 PostgreSQL" in out
    assert not (tmp_path / "x").exists()


# ---- Spark ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    session = batch.spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.shuffle.partitions", "1")  # a small population
    yield session
    session.stop()


def test_spark_equals_duckdb(spark: Any, population: Path) -> None:
    with open_population("spark", population) as tables:
        assert tables["persons"].get_backend().name == "pyspark"
        [got] = run_reform(tables, load_reform(REFORMS / "two-years.yaml"), [ON], batch_evaluator())
    assert_same_tables(got, _duckdb_report(population, "two-years"))
    assert got.overall()["gains"] > 0
