"""The compiled comparison query kept between runs (``analytics.sqlcache``): a hit answers
as a fresh compile does, without compiling; a changed parameter set, date or rule code
misses; a corrupt, foreign or misplaced file is ignored.

This is the path of PostgreSQL and Spark (parameters as literals, one comparison query);
on DuckDB a reform takes the symbolic path (``test_reform_symbolic``), so these tests
send DuckDB down the literal one."""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from hukou.analytics import reform as reform_module
from hukou.analytics import sqlcache, synth
from hukou.analytics.reform import (
    ReformReport,
    batch_evaluator,
    comparison_key,
    load_reform,
    open_population,
    run_reform,
)
from hukou.policy.params import load

pytestmark = pytest.mark.clause("§1.2", "§3.1", "§7")

ROOT = Path(__file__).resolve().parents[2]
REFORMS = ROOT / "examples" / "reforms"
ON = dt.date(2025, 1, 1)


class Compiled(Exception):
    """Raised instead of building the comparison: the cache was not used."""


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop")
    synth.generate(400, 11, out)
    return out


@pytest.fixture(autouse=True)
def literal_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reform_module, "symbolic", lambda _tables: False)


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cache(cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's cache folder (entries kept from test to test: compiling takes seconds)."""
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(cache_root))
    return cache_root / "sql"


@pytest.fixture
def no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise Compiled

    monkeypatch.setattr(reform_module, "comparison_cubes", refuse)


def _run(population: Path, name: str, on: dt.date = ON) -> ReformReport:
    with open_population("duckdb", population) as tables:
        [report] = run_reform(tables, load_reform(REFORMS / f"{name}.yaml"), [on])
    return report


def _key(population: Path, name: str, on: dt.date = ON) -> str:
    base = load()
    with open_population("duckdb", population) as tables:
        return comparison_key(tables, on, base, load_reform(REFORMS / f"{name}.yaml").apply(base))


def _same(got: ReformReport, expected: ReformReport) -> None:
    assert set(got.tables) == set(expected.tables)
    for name, table in expected.tables.items():
        assert got.tables[name].schema == table.schema, name
        assert got.tables[name].to_pylist() == table.to_pylist(), name


@pytest.fixture(scope="module")
def fresh(population: Path, cache_root: Path) -> Iterator[ReformReport]:
    """``two-years`` decided through Ibis as before the cache (no SQL kept)."""
    from hukou.analytics.batch import evaluate

    def plain(tables: Any, on: dt.date, params: Any) -> Any:  # not a CompiledEvaluator
        return evaluate(dict(tables), on, params.at(on))

    with open_population("duckdb", population) as tables:
        [report] = run_reform(tables, load_reform(REFORMS / "two-years.yaml"), [ON], plain)
    assert not (cache_root / "sql").exists()
    yield report


@pytest.fixture(scope="module")
def kept(population: Path, cache_root: Path) -> ReformReport:
    """``two-years`` decided with an empty cache: compiled, and kept."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("HUKOU_CACHE_DIR", str(cache_root))
        m.setattr(reform_module, "symbolic", lambda _tables: False)
        assert not (cache_root / "sql").exists()
        report = _run(population, "two-years")
        assert sqlcache.load(_key(population, "two-years")) is not None
    return report


def test_a_hit_answers_as_a_fresh_compile_without_compiling(
    population: Path,
    cache: Path,
    fresh: ReformReport,
    kept: ReformReport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert fresh.overall()["gains"] > 0  # the reform changes something here
    entry = cache / f"{_key(population, 'two-years')}{sqlcache.SUFFIX}"
    assert entry.is_file()
    assert entry.stat().st_mode & 0o077 == 0  # private, as codecache's
    _same(kept, fresh)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise Compiled

    monkeypatch.setattr(reform_module, "comparison_cubes", refuse)
    again = _run(population, "two-years")  # from the cache: nothing compiled
    _same(again, fresh)
    assert again.baseline_version == fresh.baseline_version
    assert again.reform_version == fresh.reform_version


@pytest.mark.usefixtures("no_compiling", "kept")
def test_a_changed_parameter_set_date_or_rule_code_misses(
    population: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(population, "two-years")  # a hit
    keys = {
        _key(population, "two-years"),
        _key(population, "no-parent-age-limit"),  # other parameters
        _key(population, "two-years", dt.date(2025, 1, 2)),  # another date
    }
    assert len(keys) == 3
    with pytest.raises(Compiled):
        _run(population, "no-parent-age-limit")
    with pytest.raises(Compiled):
        _run(population, "two-years", dt.date(2025, 1, 2))
    # another version of the rules (or of the compiler, Ibis, sqlglot): another key
    monkeypatch.setattr(sqlcache, "source_digest", lambda: "0" * 64)
    assert _key(population, "two-years") not in keys
    with pytest.raises(Compiled):
        _run(population, "two-years")


def test_the_digest_follows_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    here = sqlcache.source_digest()
    assert here == sqlcache.source_digest() and len(here) == 64
    sqlcache.source_digest.cache_clear()
    try:
        real = Path.read_bytes

        def edited(path: Path) -> bytes:
            data = real(path)
            return data + b"#" if path.name == "compile.py" else data

        monkeypatch.setattr(Path, "read_bytes", edited)
        assert sqlcache.source_digest() != here
    finally:
        sqlcache.source_digest.cache_clear()


@pytest.mark.usefixtures("no_compiling", "kept")
def test_a_corrupt_or_foreign_file_is_ignored(population: Path, cache: Path) -> None:
    k = _key(population, "two-years")
    path = cache / f"{k}{sqlcache.SUFFIX}"
    good = path.read_bytes()
    entry = sqlcache.load(k)
    assert entry is not None
    data = zlib.decompress(good)

    def written(blob: bytes) -> Path:
        path.write_bytes(blob)
        os.chmod(path, 0o600)
        return path

    try:
        for blob in (
            b"not zlib",
            good[: len(good) // 2],  # cut short
            zlib.compress(b"{not json"),
            zlib.compress(b"[1, 2]"),
            zlib.compress(data.replace(k.encode(), b"0" * 64)),  # another key's entry
            zlib.compress(data.replace(b'"format": 1', b'"format": 99')),
            zlib.compress(data.replace(b'"schema": "', b'"schema": "AAAA')),  # bad schema
        ):
            written(blob)
            assert sqlcache.load(k) is None, blob[:40]
            with pytest.raises(Compiled):  # ignored: compiled again
                _run(population, "two-years")
        written(good)
        os.chmod(path, 0o666)  # others could have written it
        assert sqlcache.load(k) is None
        os.chmod(path, 0o600)
        assert sqlcache.load(k) == entry
    finally:
        written(good)


def test_entries_round_trip_and_the_oldest_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sqlcache, "MAX_ENTRIES", 2)
    schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.date32())])
    entries = {
        f"{i:064x}": sqlcache.CompiledQuery(f"SELECT {i} -- 中文", schema, {"x": ["a", "b"]})
        for i in range(3)
    }
    for i, (k, entry) in enumerate(entries.items()):
        sqlcache.store(k, entry)
        os.utime(tmp_path / "sql" / f"{k}{sqlcache.SUFFIX}", (1000 + i, 1000 + i))
        assert sqlcache.load(k) == entry
    left = sorted(p.name for p in (tmp_path / "sql").iterdir())
    assert len(left) == 2  # the least recently used went
    assert sqlcache.load(f"{0:064x}") is None


@pytest.mark.usefixtures("no_home_folder")
def test_without_a_cache_folder_nothing_is_kept() -> None:
    schema = pa.schema([("a", pa.int64())])
    sqlcache.store("0" * 64, sqlcache.CompiledQuery("SELECT 1", schema))
    assert sqlcache.folder() is None and sqlcache.load("0" * 64) is None


def test_only_tables_of_the_backend_use_the_cache(population: Path) -> None:
    """In-memory tables are registered by Ibis as it runs an expression: their SQL is not
    kept, and could not run without them (``test_reform`` runs the compiled evaluator on
    such tables)."""
    import ibis

    from hukou.analytics.layout import TABLES

    with open_population("duckdb", population) as tables:
        assert reform_module._in_database(tables)
        memtables = {n: ibis.memtable(tables[n].to_pyarrow()) for n in TABLES}
    assert not reform_module._in_database(memtables)
    assert not reform_module._in_database({**memtables, "persons": tables["persons"]})
    assert isinstance(batch_evaluator(), reform_module.CompiledEvaluator)
