"""A reform on DuckDB with the parameters as session variables (``compile.SymbolicParameters``):
the SQL decides any parameter set as the literals do, so a new reform compiles nothing;
each parameter set is decided once per process for the population's files as they are."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hukou.analytics import batch, synth
from hukou.analytics import reform as reform_module
from hukou.analytics.compile import SymbolicParameters, variables
from hukou.analytics.reform import ReformReport, load_reform, open_population, run_reform
from hukou.policy.params import ParameterSet, load

pytestmark = pytest.mark.clause("§1.1", "§1.2", "§3.1", "§7", "§8")

ROOT = Path(__file__).resolve().parents[2]
REFORMS = ROOT / "examples" / "reforms"
ON = dt.date(2025, 1, 1)
START = dt.date(2020, 8, 1)  # §8


class Compiled(Exception):
    """Raised instead of compiling: the cache was not used."""


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop")
    synth.generate(400, 11, out)
    return out


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def cache(cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The module's cache folder (compiling takes seconds); nothing decided kept between
    tests."""
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(cache_root))
    reform_module._decided.clear()
    yield
    reform_module._decided.clear()


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise Compiled


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "evaluate", _refuse)
    monkeypatch.setattr(reform_module, "comparison_cubes", _refuse)


def _run(population: Path, name: str, on: dt.date = ON) -> ReformReport:
    with open_population("duckdb", population) as tables:
        assert reform_module.symbolic(tables)
        [report] = run_reform(tables, load_reform(REFORMS / f"{name}.yaml"), [on])
    return report


def _literal(population: Path, name: str, on: dt.date = ON) -> ReformReport:
    """The same reform through the literal path (one comparison query, as on PostgreSQL)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(reform_module, "symbolic", lambda _tables: False)
        with open_population("duckdb", population) as tables:
            [report] = run_reform(tables, load_reform(REFORMS / f"{name}.yaml"), [on])
    return report


def _same(got: ReformReport, expected: ReformReport) -> None:
    assert set(got.tables) == set(expected.tables)
    for name, table in expected.tables.items():
        assert got.tables[name].schema == table.schema, name
        assert got.tables[name].to_pylist() == table.to_pylist(), name


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows in a fixed order, dates as dates (DuckDB's date arithmetic gives timestamps
    on one path and dates on the other where every value is NULL)."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.cast(col, pa.date32())
        cols[name] = col
    fixed = pa.table(cols)
    keys = [k for k in ("person_id", "relative_id") if k in fixed.column_names]
    return fixed.sort_by([(k, "ascending") for k in keys]).to_pylist()


REFORMED = {
    "s1_urban.continuous_residence_years": {START: 2},
    "s1_urban.residence_gap_tolerance_days": {START: 45},
    "s2_talent.min_education": {START: "bachelor"},
    "s3_relatives.parent_min_age_male": {START: 50},
    "readings.leap_day_anniversary": {START: "mar1"},
    "readings.parents_must_live_with_applicant": {START: False},
}


@pytest.mark.parametrize(
    "on",
    [START - dt.timedelta(days=1), START, dt.date(2024, 2, 29)],
    ids=["day-before-s8", "s8", "leap-day"],
)
def test_variables_decide_as_literals(population: Path, on: dt.date) -> None:
    """One symbolic SQL per date decides the law and a reform of six parameters (a number
    of years, a gap in days, a level, a parent's age, the leap-day and a yes/no reading)
    exactly as each one's own SQL with literals; before §8 every variable is NULL."""
    law = load()
    sets: list[ParameterSet] = [law, law.with_overrides(REFORMED)]
    con = ibis.duckdb.connect()
    try:
        tables = reform_module.population_tables(population, con)
        symbolic = batch.evaluate(tables, on, SymbolicParameters.of(law.at(on), "p_"))
        sql = [ibis.to_sql(expr, dialect="duckdb") for expr in symbolic]
        decided = []
        for params in sets:
            for statement in variables(params.at(on), params.parameters, "p_"):
                con.con.execute(statement)
            got = [con.con.execute(q).to_arrow_table() for q in sql]
            want = [con.to_pyarrow(e) for e in batch.evaluate(tables, on, params.at(on))]
            for g, w in zip(got, want, strict=True):
                assert _rows(g) == _rows(w)
            decided.append(got[0])
    finally:
        con.disconnect()
    if on >= START:  # the reform changes somebody's decision: the variables were read
        assert _rows(decided[0]) != _rows(decided[1])
    else:
        assert {r["status"] for r in _rows(decided[0])} == {"not_in_force"}


def test_a_new_reform_compiles_nothing_and_answers_as_the_literal_path(
    population: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(population, "two-years")  # compiles (or finds) the SQL
    _same(first, _literal(population, "two-years"))
    expected = _literal(population, "no-parent-age-limit")
    later = ON + dt.timedelta(days=1)
    expected_later = _literal(population, "two-years", later)
    reform_module._decided.clear()  # not even the baseline kept: everything run again
    cubes = reform_module.comparison_cubes
    _no_compiling(monkeypatch)
    got = _run(population, "no-parent-age-limit")
    _same(got, expected)
    assert got.overall()["gains"] > 0
    # another date: the same decisions' SQL (the date is a variable too); only the small
    # comparison, whose age bands are the date's, is compiled
    with pytest.raises(Compiled):
        _run(population, "two-years", later)
    monkeypatch.setattr(reform_module, "comparison_cubes", cubes)
    _same(_run(population, "two-years", later), expected_later)


def test_each_parameter_set_is_decided_once_per_process(
    population: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(population, "two-years")  # the SQL compiled and kept
    reform_module._decided.clear()
    ran: list[str] = []
    real = reform_module.run_sql

    def counted(backend: Any, sql: str, schema: pa.Schema) -> pa.Table:
        ran.append("comparison" if "_hukou_res_b" in sql else "decisions")
        return real(backend, sql, schema)

    monkeypatch.setattr(reform_module, "run_sql", counted)
    _run(population, "two-years")
    assert ran == ["decisions"] * 4 + ["comparison"]  # baseline and reform: results, relatives
    ran.clear()
    _run(population, "wider-window")
    assert ran == ["decisions"] * 2 + ["comparison"]  # the baseline was kept
    ran.clear()
    _run(population, "two-years")
    assert ran == ["comparison"]


def test_a_changed_population_is_decided_afresh(population: Path, tmp_path: Path) -> None:
    copy = tmp_path / "pop"
    shutil.copytree(population, copy)
    before = _run(copy, "two-years")
    persons = pq.read_table(copy / "persons.parquet")
    pq.write_table(persons.slice(0, persons.num_rows // 2), copy / "persons.parquet")
    after = _run(copy, "two-years")
    assert after.overall()["persons"] < before.overall()["persons"]
    _same(after, _literal(copy, "two-years"))


def test_tables_that_are_not_parquet_views_are_not_kept(population: Path) -> None:
    from hukou.analytics.layout import TABLES

    con = ibis.duckdb.connect()
    try:
        for name in TABLES:
            con.con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{population}/{name}.parquet')"
            )
        tables = {name: con.table(name) for name in TABLES}
        assert reform_module._population_files(tables) is None
        [report] = run_reform(tables, load_reform(REFORMS / "two-years.yaml"), [ON])
        assert report.overall()["gains"] > 0
        assert not reform_module._decided
    finally:
        con.disconnect()


def test_the_variables_hold_the_values_as_they_are() -> None:
    """Every parameter's variable reads back as its value (a quote in a text kept, NULL
    where not in force); the decision date as ``p_on``."""
    import duckdb

    from hukou.policy.params import Parameter

    law = load()
    text = "s2_talent.min_education"
    odd = {**law.parameters}
    spec = odd[text]
    odd[text] = Parameter(
        spec.path, spec.description, spec.reference, "str", ((START, "it's; DROP x --"),), None
    )
    odd_set = ParameterSet(odd)
    con = duckdb.connect()
    try:
        for on in (START - dt.timedelta(days=1), ON):
            params = odd_set.at(on)
            for statement in variables(params, odd_set.parameters, "p_"):
                con.execute(statement)
            assert con.execute("SELECT getvariable('p_on')").fetchone() == (on,)
            for path in odd_set.parameters:
                name = path.replace(".", "__")
                (got,) = con.execute(f"SELECT getvariable('p_{name}')").fetchone() or (None,)
                assert got == params.values.get(path), path
            (rank,) = con.execute(
                "SELECT getvariable('p_s2_talent__min_title__rank')"
            ).fetchone() or (None,)
            assert rank == params.ranks.get("s2_talent.min_title")
    finally:
        con.close()
