"""``batch.run`` keeps its compiled SQL (``analytics.sqlcache``): a second run with the same
code and tables builds no Ibis expression and writes the same rows; on DuckDB the
parameters and the date are session variables, so another parameter set or date reuses the
SQL and decides as that set's own literal SQL does; a corrupt entry, or a cache folder that
cannot be written, only means compiling again."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hukou.analytics import batch, sqlcache, synth
from hukou.analytics.compile import SymbolicParameters, declared_signature
from hukou.analytics.reform import population_tables
from hukou.policy.params import load

ON = dt.date(2025, 1, 1)
QUERIES = ("facts_people", "facts_dwellings", "facts_relatives", "results", "result_relatives")
# a reform-like parameter set: §1.2's 3 years of residence lowered to 2
REFORM = {"s1_urban.continuous_residence_years": {dt.date(2020, 8, 1): 2}}

Output = tuple[pa.Table, pa.Table]


class Compiled(Exception):
    """Raised instead of building or compiling an Ibis expression: the cache was not used."""


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop")
    synth.generate(300, 7, out)
    return out


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cache(cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's cache folder (entries kept from test to test: compiling takes seconds)."""
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(cache_root))
    return cache_root / "sql"


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise Compiled


@pytest.fixture
def no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way ``run`` builds or compiles a query raises ``Compiled``."""
    for name in ("evaluate", "fact_tables", "relative_facts"):
        monkeypatch.setattr(batch, name, _refuse)
    monkeypatch.setattr(ibis, "to_sql", _refuse)


def _read(out: Path) -> Output:
    results = pq.read_table(out / batch.RESULTS_FILE).sort_by("person_id")
    relatives = pq.read_table(out / batch.RELATIVES_FILE).sort_by(
        [("person_id", "ascending"), ("relative_id", "ascending")]
    )
    return results, relatives


def _run(
    population: Path, out: Path, on: dt.date = ON, **kwargs: Any
) -> tuple[dict[str, Any], Output]:
    report = batch.run(population, out, "duckdb", on, memory_limit="1GB", **kwargs)
    assert sorted(p.name for p in out.iterdir()) == [batch.RELATIVES_FILE, batch.RESULTS_FILE]
    return report, _read(out)


def _same(got: Output, expected: Output) -> None:
    for g, e in zip(got, expected, strict=True):
        assert g.schema == e.schema
        assert g.to_pylist() == e.to_pylist()


def _key(population: Path, name: str, on: dt.date = ON, parameters: Any = None) -> str:
    """The key ``run`` gives query ``name`` over ``population`` on ``on``."""
    con = batch._duckdb_connect(None, None, None)
    try:
        tables = batch.duckdb_tables(con, population)
        pset = parameters or load()
        params = SymbolicParameters.of(pset.at(on), batch.SYMBOLS)
        declared = declared_signature(pset)
        return batch._Queries(con, tables, on, params, declared=declared).key(name)
    finally:
        con.disconnect()


@pytest.fixture(scope="module")
def first(population: Path, cache_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Output:
    """A run with an empty cache: every query compiled, and kept."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("HUKOU_CACHE_DIR", str(cache_root))
        assert not (cache_root / "sql").exists()
        report, output = _run(population, tmp_path_factory.mktemp("first"))
        assert report["queries"]["cached"] == 0 and report["queries"]["compiled"] == 5
        for name in QUERIES:
            assert sqlcache.load(_key(population, name)) is not None, name
    results, relatives = output
    statuses = set(results.column("status").to_pylist())
    assert {"eligible", "not_eligible"} <= statuses  # rows that a wrong query would change
    assert relatives.num_rows > 0
    return output


@pytest.mark.usefixtures("cache", "no_compiling")
def test_a_second_run_compiles_nothing_and_writes_the_same_rows(
    population: Path, first: Output, tmp_path: Path
) -> None:
    # the population copied elsewhere, spilling elsewhere: the SQL names no file
    moved = tmp_path / "elsewhere"
    shutil.copytree(population, moved)
    report, again = _run(moved, tmp_path / "out", temp_dir=tmp_path / "spill")
    assert report["queries"]["cached"] == 5 and report["queries"]["compiled"] == 0
    assert report["people"] == first[0].num_rows
    _same(again, first)
    assert not (tmp_path / "spill" / "facts_people.parquet").exists()  # cleaned up as before


@pytest.mark.usefixtures("first")
def test_the_kept_sql_names_no_file(population: Path, cache: Path, tmp_path: Path) -> None:
    for name in QUERIES:
        entry = sqlcache.load(_key(population, name))
        assert entry is not None
        assert entry.columns == {"query": [name]}
        assert "parquet" not in entry.sql.lower(), name  # the views, never their files
        assert str(population) not in entry.sql and str(tmp_path.parent) not in entry.sql
    path = cache / f"{_key(population, 'results')}{sqlcache.SUFFIX}"
    assert path.stat().st_mode & 0o077 == 0  # private, as every sqlcache file


def _literal(population: Path, on: dt.date, parameters: Any) -> Output:
    """The decisions by the parameter set's own SQL, its values and date as literals."""
    con = ibis.duckdb.connect()
    try:
        tables = population_tables(population, con)
        exprs = batch.evaluate(tables, on, parameters.at(on))
        return con.to_pyarrow(exprs[0]), con.to_pyarrow(exprs[1])
    finally:
        con.disconnect()


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows in order, dates as dates (date arithmetic gives DuckDB timestamps)."""
    cols = {
        n: pc.cast(c, pa.date32()) if pa.types.is_timestamp(c.type) else c
        for n, c in zip(table.column_names, table.columns, strict=True)
    }
    fixed = pa.table(cols)
    keys = [k for k in ("person_id", "relative_id") if k in fixed.column_names]
    return fixed.sort_by([(k, "ascending") for k in keys]).to_pylist()


@pytest.mark.usefixtures("cache", "first")
def test_another_parameter_set_or_date_reuses_the_sql(
    population: Path, first: Output, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reform, later = load().with_overrides(REFORM), dt.date(2025, 1, 2)
    expected = {
        "reform": _literal(population, ON, reform),
        "later": _literal(population, later, load()),
    }
    keys = {
        _key(population, "results"),
        _key(population, "results", parameters=reform),
        _key(population, "results", later),
    }
    assert len(keys) == 1  # one SQL per rule version and tables
    for name in ("evaluate", "fact_tables", "relative_facts"):
        monkeypatch.setattr(batch, name, _refuse)
    monkeypatch.setattr(ibis, "to_sql", _refuse)
    for name, on, parameters in (("reform", ON, reform), ("later", later, None)):
        report, got = _run(population, tmp_path / name, on, parameters=parameters)
        assert report["queries"]["cached"] == 5, name
        for g, e in zip(got, expected[name], strict=True):
            assert _rows(g) == _rows(e), name
    # the variables were read: the reform's results are not the law's
    assert _rows(expected["reform"][0]) != _rows(first[0])
    with pytest.raises(Compiled):  # asked not to read the cache
        batch.run(population, tmp_path / "uncached", "duckdb", ON, cached=False)


@pytest.mark.usefixtures("first")
def test_a_corrupt_entry_is_compiled_again(
    population: Path, cache: Path, first: Output, tmp_path: Path
) -> None:
    results = cache / f"{_key(population, 'results')}{sqlcache.SUFFIX}"
    people = cache / f"{_key(population, 'facts_people')}{sqlcache.SUFFIX}"
    good = results.read_bytes()
    # the results' entry cut short; the people's facts holding another query's entry
    results.write_bytes(good[: len(good) // 2])
    other = zlib.decompress(people.read_bytes()).replace(b'"facts_people"', b'"facts_other"')
    people.write_bytes(zlib.compress(other))
    os.chmod(results, 0o600)
    os.chmod(people, 0o600)
    report, again = _run(population, tmp_path / "out")
    assert report["queries"]["cached"] == 3 and report["queries"]["compiled"] == 2
    _same(again, first)
    assert zlib.decompress(results.read_bytes())  # replaced by the new compile
    entry = sqlcache.load(_key(population, "facts_people"))
    assert entry is not None and entry.columns == {"query": ["facts_people"]}


def test_a_cache_folder_that_cannot_be_written_keeps_nothing(
    population: Path, first: Output, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(blocked))
    report, again = _run(population, tmp_path / "out")
    assert report["queries"]["compiled"] == 5
    _same(again, first)
    assert blocked.read_text() == "not a folder"
