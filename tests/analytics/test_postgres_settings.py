"""``batch.run(engine="postgres")`` as it runs now: each session with ``PG_SETTINGS``; the
facts computed once into tables of a schema of the run's own (dropped after); the two
queries at once on sessions of their own, streamed out with ``COPY`` as CSV and parsed by
Arrow; the SQL kept in the compiled-query cache. The rows are DuckDB's, strings that CSV
must quote (and NULL apart from the empty string) included; a second run compiles
nothing and writes the same rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hukou.analytics import batch, synth
from hukou.analytics.layout import RESULT_RELATIVES, RESULTS

ON = dt.date(2025, 1, 1)
# relations' ``relation`` comes out as it went in (``result_relatives.relation``)
ODD = ["NA", "", None, 'a,"b"\nc', "null", "\\N", " spouse "]


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic population, some relations' ``relation`` replaced by odd strings."""
    out = tmp_path_factory.mktemp("pop")
    synth.generate(300, 7, out)
    relations = pq.read_table(out / "relations.parquet")
    values = relations.column("relation").to_pylist()
    for i, odd in enumerate(ODD):
        values[3 * i] = odd
    i = relations.schema.get_field_index("relation")
    field = relations.schema.field(i)
    pq.write_table(
        relations.set_column(i, field, pa.array(values, field.type)), out / "relations.parquet"
    )
    return out


def _read(out: Path) -> tuple[pa.Table, pa.Table]:
    """Both files sorted, in the layout's types (DuckDB may write a date as a timestamp)."""
    results = pq.read_table(out / batch.RESULTS_FILE).cast(RESULTS)
    relatives = pq.read_table(out / batch.RELATIVES_FILE).cast(RESULT_RELATIVES)
    return (
        results.sort_by("person_id"),
        relatives.sort_by([("person_id", "ascending"), ("relative_id", "ascending")]),
    )


def test_the_sessions_have_the_settings(pg: str) -> None:
    con = batch.postgres_connect(pg)
    try:
        shown = {
            name: con.raw_sql(f"SHOW {name}").fetchone()[0]
            for name in ("jit", "enable_nestloop", "work_mem")
        }
    finally:
        con.disconnect()
    assert shown == {"jit": "off", "enable_nestloop": "off", "work_mem": "256MB"}


def test_postgres_writes_duckdbs_rows_and_then_compiles_nothing(
    pg: str, population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUKOU_CACHE_DIR", str(tmp_path / "cache"))
    batch.run(population, tmp_path / "duckdb", "duckdb", ON)
    expected = _read(tmp_path / "duckdb")
    relations = set(expected[1].column("relation").to_pylist())
    assert set(ODD) <= relations  # the odd strings reach the output (NULL apart from "")

    batch.load_postgres(population, pg, prefix="pop_")
    first = batch.run(population, tmp_path / "pg", "postgres", ON, pg=pg, pg_prefix="pop_")
    assert first["queries"]["compiled"] == 5 and first["people"] == 300
    assert _read(tmp_path / "pg") == expected
    assert pq.read_schema(tmp_path / "pg" / batch.RESULTS_FILE).equals(RESULTS)
    assert not list((tmp_path / "pg").glob(".*.csv"))  # the CSV streamed through is gone

    again = batch.run(population, tmp_path / "again", "postgres", ON, pg=pg, pg_prefix="pop_")
    assert again["queries"] == {**again["queries"], "cached": 5, "compiled": 0}
    assert _read(tmp_path / "again") == expected
    assert _run_schemas(pg) == []  # the facts' tables went with their schema


def _run_schemas(pg: str) -> list[str]:
    import psycopg

    with psycopg.connect(pg) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hukou_run_%'"
        ).fetchall()
    return [r[0] for r in rows]
