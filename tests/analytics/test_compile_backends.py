"""Differential on PostgreSQL and Spark: the same compiled query, inside the database
(a throwaway ``hukou_test_<hex>`` database on 127.0.0.1:5432) and on Spark
``local[2]`` (one session for the module, fewer examples), against the per-case
engine — as ``test_compile.py`` does on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from hukou.analytics import batch
from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, TABLES
from hukou.analytics.population import Tables, from_cases
from hukou.analytics.reference import reference_results

from ..strategies import examples
from .test_compile import (
    _grid_cases,
    assert_same,
    parameter_sets,
    parse,
    parsed_population,
    populations,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _arrow(rows: list[tuple[Any, ...]], names: list[str], schema: pa.Schema) -> pa.Table:
    """Rows as fetched (dates may come back as timestamps) in the layout's schema."""
    cols: dict[str, list[Any]] = {n: [] for n in names}
    for row in rows:
        for n, v in zip(names, row, strict=True):
            cols[n].append(v.date() if isinstance(v, dt.datetime) else v)
    return pa.table({f.name: pa.array(cols[f.name], f.type) for f in schema})


# ---- PostgreSQL ---------------------------------------------------------------------


def _pg_load(url: str, tables: Tables) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for name, schema in TABLES.items():
            cols = ", ".join(f'"{f.name}" {batch._PG_TYPES[str(f.type)]}' for f in schema)
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({cols})')
            conn.execute(f'TRUNCATE "{name}"')
            names = ", ".join(f'"{f.name}"' for f in schema)
            with conn.cursor().copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                for row in tables[name].cast(schema).to_pylist():
                    copy.write_row([row[f.name] for f in schema])
        conn.commit()


@lru_cache(maxsize=16)
def _pg_sql(url: str, on: dt.date, parameters: str) -> tuple[str, str]:
    from urllib.parse import urlparse

    u = urlparse(url)
    con = ibis.postgres.connect(host=u.hostname, port=u.port, database=u.path.lstrip("/"))
    try:
        results, relatives = batch.evaluate(
            batch.postgres_tables(con), on, parameter_sets()[parameters].at(on)
        )
        return ibis.to_sql(results, dialect="postgres"), ibis.to_sql(relatives, dialect="postgres")
    finally:
        con.disconnect()


def run_postgres(url: str, tables: Tables, on: dt.date) -> tuple[pa.Table, pa.Table]:
    import psycopg

    _pg_load(url, tables)
    out = []
    with psycopg.connect(url) as conn:
        for setting in batch.PG_SETTINGS:
            conn.execute(setting)
        for sql, schema in zip(_pg_sql(url, on, "law"), (RESULTS, RESULT_RELATIVES), strict=True):
            cur = conn.execute(sql)
            names = [d.name for d in cur.description or []]
            out.append(_arrow(cur.fetchall(), names, schema))
    return out[0], out[1]


@settings(
    max_examples=examples(8),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(population=populations())
def test_postgres_matches_the_engine(
    pg: str, population: tuple[dt.date, list[dict[str, Any]]]
) -> None:
    on, batch_cases = population
    tables = parsed_population(batch_cases)
    assert_same(reference_results(tables, on), run_postgres(pg, tables, on), tables)


def test_postgres_boundary_grid(pg: str) -> None:
    on = dt.date(2024, 2, 29)
    tables = parsed_population(_grid_cases(on))
    assert_same(reference_results(tables, on), run_postgres(pg, tables, on), tables)


def test_postgres_run_in_database(pg: str, tmp_path: Path) -> None:
    """``load_postgres`` then ``run(engine="postgres")``: the worked examples."""
    from hukou.analytics.population import save

    on = dt.date(2024, 6, 15)
    tables = _examples(on)
    save(tables, tmp_path / "in")
    batch.load_postgres(tmp_path / "in", pg, prefix="pop_")
    batch.run(tmp_path / "in", tmp_path / "out", "postgres", on, pg=pg, pg_prefix="pop_")
    assert_same(reference_results(tables, on), _read(tmp_path / "out"), tables)


def _examples(on: dt.date) -> Tables:
    found = sorted(EXAMPLES.glob("*.json"))
    return from_cases(
        [
            parse({**json.loads(p.read_text("utf-8")), "decision_date": on.isoformat()})
            for p in found
        ]
    )


def _read(out: Path) -> tuple[pa.Table, pa.Table]:
    import pyarrow.parquet as pq

    return (
        pq.read_table(out / batch.RESULTS_FILE).cast(RESULTS),
        pq.read_table(out / batch.RELATIVES_FILE).cast(RESULT_RELATIVES),
    )


# ---- Spark ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = batch.spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.shuffle.partitions", "1")  # tiny populations
    yield session
    session.stop()


@lru_cache(maxsize=8)
def _spark_sql(on: dt.date) -> tuple[str, str]:
    """Compiled once per date against empty tables of the layout's schemas."""
    con = ibis.duckdb.connect()  # only for the tables' schemas; the SQL is Spark's
    tables = {}
    for name, schema in TABLES.items():
        con.con.register(name, schema.empty_table())
        tables[name] = con.table(name)
    results, relatives = batch.evaluate(tables, on, parameter_sets()["law"].at(on))
    return ibis.to_sql(results, dialect="pyspark"), ibis.to_sql(relatives, dialect="pyspark")


def run_spark(session: Any, tables: Tables, on: dt.date) -> tuple[pa.Table, pa.Table]:
    """Through Parquet, as ``batch.spark_tables`` reads a population (pandas would turn
    NULL strings into "NaN")."""
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        for name, schema in TABLES.items():
            path = f"{tmp}/{name}.parquet"
            pq.write_table(tables[name].cast(schema), path)
            session.read.parquet(path).createOrReplaceTempView(name)
        out = []
        for sql, schema in zip(_spark_sql(on), (RESULTS, RESULT_RELATIVES), strict=True):
            df = session.sql(sql)
            rows = [tuple(r) for r in df.collect()]
            out.append(_arrow(rows, df.columns, schema))
    return out[0], out[1]


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    kinds = {
        "int64": T.LongType(),
        "int32": T.IntegerType(),
        "string": T.StringType(),
        "bool": T.BooleanType(),
        "date32[day]": T.DateType(),
    }
    return T.StructType([T.StructField(f.name, kinds[str(f.type)], True) for f in schema])


@settings(
    max_examples=examples(1),  # Spark plans the query for seconds: one population here
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(population=populations(max_cases=6))
def test_spark_matches_the_engine(
    spark: Any, population: tuple[dt.date, list[dict[str, Any]]]
) -> None:
    on, batch_cases = population
    tables = parsed_population(batch_cases)
    assert_same(reference_results(tables, on), run_spark(spark, tables, on), tables)


def test_spark_worked_examples_and_boundaries(spark: Any) -> None:
    """The worked examples and the boundary grid, as one population (one query)."""
    on = dt.date(2024, 2, 29)
    cases = [parse(c) for c in _grid_cases(on)]
    found = sorted(EXAMPLES.glob("*.json"))
    cases += [
        parse({**json.loads(p.read_text("utf-8")), "decision_date": on.isoformat()}) for p in found
    ]
    tables = from_cases(cases)
    assert_same(reference_results(tables, on), run_spark(spark, tables, on), tables)
