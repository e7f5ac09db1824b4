"""Batch decisions over a population (批量审查): ``evaluate`` builds the query, ``run``
executes it out of core on DuckDB, inside PostgreSQL, or on Spark.

``evaluate`` returns lazy Ibis tables in the ``layout.RESULTS`` and
``layout.RESULT_RELATIVES`` schemas, so a reform can join two of them (baseline
and reform) in one query. The rules are those of the per-case engine, compiled by
``analytics.compile``; ``analytics.reference`` computes the same tables case by
case, and the differential tests keep the two equal.

``run`` compiles its queries (the three fact tables, the results and the relatives; on
Spark the last two) through Ibis to SQL once and keeps the SQL in the user's cache folder
(``analytics.sqlcache``); a later run executes it as it is, without building an Ibis
expression (on a million people Ibis took ~2 s of ~11 s). On DuckDB the parameters and
the decision date are session variables (``compile.SymbolicParameters``), so one SQL per
rule version serves every date and parameter set; on PostgreSQL and Spark they are
literals, and the SQL is kept per parameter set and date. The SQL names only the
population's tables and the fact tables, never a file: the spilled files' paths (DuckDB)
and the run's own schema (PostgreSQL) are written around it on each run.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import cache, partial
from pathlib import Path
from typing import Any, Literal

import ibis  # type: ignore[import-untyped, unused-ignore]
import ibis.expr.types as ir  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa
import pyarrow.parquet as pq

from hukou.analytics import sqlcache
from hukou.analytics.compile import (
    FALSE,
    STATUS,
    TRUE,
    UNKNOWN,
    Compiler,
    NotConvex,
    SymbolicParameters,
    dates_of,
    decide_rules,
    decision_day,
    declared_signature,
    fact_tables,
    facts_read,
    relative_facts,
    status_of,
    variables,
)
from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, TABLES, require_population
from hukou.policy.expr import And, Condition, Exists, Expr
from hukou.policy.params import ParameterSet, ResolvedParameters, load
from hukou.policy.rules import (
    ANCHOR_CONSENT,
    CHANNELS,
    IN_FORCE,
    REGISTRATION_PLACE,
    RELATIVE_ROUTES,
)
from hukou.policy.rules.vocabulary import RELATIVE

Engine = Literal["duckdb", "postgres", "spark"]
Progress = Callable[[str, float], None]  # (stage, fraction done of the whole run)

RESULTS_FILE = "results.parquet"
RELATIVES_FILE = "result_relatives.parquet"

# where each channel registers the hukou (decide._place), for the best channel's place
RELATION = RELATIVE.relation  # the relative's relation to the applicant, for the output
# the relative's facts that ``evaluate`` reads: only these are spilled per pair (``run``)
RELATIVE_FACTS_READ = facts_read(
    [
        *(ch.rule for ch in CHANNELS),
        *(route.rule for route in RELATIVE_ROUTES),
        REGISTRATION_PLACE,
        ANCHOR_CONSENT,
        IN_FORCE,
        RELATION,
    ],
    RELATIVE.scope,
)

_PLACE_OF = {
    "own_dwelling": "own_dwelling",
    "anchor": "anchor_household",
    "community_collective": "community_collective",
}


def _typed(table: ir.Table, schema: pa.Schema) -> ir.Table:
    types = {"string": "string", "date32[day]": "date", "int64": "int64"}
    cols = []
    for f in schema:
        col = table[f.name]
        if types[str(f.type)] == "date":
            # date ± interval is a timestamp in DuckDB though Ibis types it a date, and
            # would skip a cast to date: through timestamp, so the files hold dates
            col = col.cast("timestamp").cast("date")
        else:
            col = col.cast(types[str(f.type)])
        cols.append(col.name(f.name))
    return table.select(*cols)


def evaluate(
    tables: dict[str, ir.Table],
    on: dt.date,
    params: ResolvedParameters,
    *,
    facts: dict[str, ir.Table] | None = None,
) -> tuple[ir.Table, ir.Table]:
    """Every person's decision on ``on``: (RESULTS, RESULT_RELATIVES), lazily.

    ``tables`` are the population tables of ``layout.TABLES`` on one backend;
    ``params`` the parameters resolved on ``on`` (``load().at(on)``, or a reform's);
    ``facts`` optionally ``compile.fact_tables(tables, params)`` computed beforehand.
    """
    if params.on != on:
        raise ValueError(f"parameters resolved on {params.on}, not on {on}")
    c = Compiler(tables, params, facts)
    null_date = ibis.null("date")
    null_str = ibis.null("string")

    # §8: the notice applies from its date; before it nothing is decided
    a0 = c.applicant_frame()
    in_force = c.boolean(IN_FORCE, a0).fill_null(False)

    # every channel, and §4.3 where the hukou goes (on the decision date); R28
    # (decide._place): §3.1 registers the parent in the household of the first child (in
    # the case's order, relative_id) for whom it holds — read off §3.1's own list as it
    # is decided (``Compiler.first_key``) — a collective household only with its
    # holder's consent, else the community collective; open while unknown
    join_child = next(ch.rule.expr for ch in CHANNELS if ch.key == "s3_1")
    assert isinstance(join_child, Exists) and join_child.item_scope == "relative"
    c.keyed.add(id(join_child))
    j = decide_rules(
        c,
        a0,
        {ch.key: ch.rule for ch in CHANNELS},
        {"_place": REGISTRATION_PLACE},
        {"_a_rel": join_child},
    )
    # the consent reads the child's own row: decided for the pairs on which §3.1's part
    # may hold (not a child, a minor… cannot be the first), joined on the one chosen
    r0 = c.pair_frame()
    may = c.needed(join_child.where, r0)
    r1 = r0 if may is None else replace(r0, table=r0.table.filter(may))
    pairs = r1.table.select(
        _c_a=r1.table.applicant__id,
        _c_r=r1.table.relative__id,
        _a_consent=c.boolean(ANCHOR_CONSENT, r1),
    )
    j = j.left_join(pairs, [j.applicant__id == pairs._c_a, j._a_rel == pairs._c_r])
    consent = j._a_consent
    anchor_kind = ibis.cases(
        (consent.isnull(), null_str), (consent, "anchor_household"), else_="community_collective"
    )

    cols: dict[str, Any] = {}
    nows: list[ir.Value] = []
    earliest: list[ir.Value] = []
    best: list[tuple[ir.Value, str]] = []
    kinds: list[tuple[ir.Value, Any]] = []
    for ch in CHANNELS:
        now, first, until = dates_of(j, ch.key)
        nows.append(now)
        earliest.append(first)
        cols[f"{ch.key}_status"] = ibis.ifelse(in_force, status_of(now), null_str)
        cols[f"{ch.key}_earliest"] = ibis.ifelse(in_force, first, null_date)
        cols[f"{ch.key}_until"] = ibis.ifelse(in_force, until, null_date)
        best.append((now == TRUE, ch.key))
        if ch.placement == "first_of":
            kind = j._place
        elif ch.key == "s3_1":
            kind = anchor_kind
        else:
            kind = _PLACE_OF[ch.placement]
        kinds.append((now == TRUE, kind))
    overall = ibis.greatest(*nows)
    results = j.select(
        person_id=j.applicant__id,
        decision_date=decision_day(params),
        status=ibis.ifelse(
            in_force,
            ibis.cases(
                (overall == TRUE, "eligible"),
                (overall == UNKNOWN, "undetermined"),
                else_="not_eligible",
            ),
            "not_in_force",
        ),
        best_channel=ibis.ifelse(in_force, ibis.cases(*best, else_=null_str), null_str),
        earliest_date=ibis.ifelse(in_force, ibis.least(*earliest), null_date),
        place_kind=ibis.ifelse(in_force, ibis.cases(*kinds, else_=null_str), null_str),
        **cols,
    )

    return _typed(results, RESULTS), _relatives(c, in_force, None)


def evaluate_relatives(
    tables: dict[str, ir.Table],
    on: dt.date,
    params: ResolvedParameters,
    results: ir.Table,
    *,
    facts: dict[str, ir.Table] | None = None,
) -> ir.Table:
    """RESULT_RELATIVES as ``evaluate`` gives them, but a route that is "a channel of the
    applicant's and a part of the relative's own" (§1.1's accompany: s1_1 and a spouse,
    minor child or parent living with them) is read from ``results``: the applicants'
    RESULTS on the same date with the same parameters, already decided (a table on the
    same backend). The channel is then not decided again for every relative."""
    if params.on != on:
        raise ValueError(f"parameters resolved on {params.on}, not on {on}")
    c = Compiler(tables, params, facts)
    in_force = c.boolean(IN_FORCE, c.applicant_frame()).fill_null(False)
    return _relatives(c, in_force, results)


def joined_route(rule: Expr, c: Compiler) -> tuple[str, Expr] | None:
    """(channel key, the relative's part) when ``rule`` is an "and" of one channel's rule
    and parts of the relative's own whose certainly-true days, if any, run from before
    the decision date up to a day (``Compiler.shape`` ``C`` or ``D``: a minor child
    until 18). Then the route holds when both do, and its earliest date is the
    channel's, if the part still holds on it (``_relatives``); a part that could start
    holding later would need the channel's later days, which a result does not keep."""
    expr = rule.expr if isinstance(rule, Condition) else rule
    if not isinstance(expr, And):
        return None
    keys = [ch.key for item in expr.items for ch in CHANNELS if item is ch.rule]
    rest = [i for i in expr.items if not any(i is ch.rule for ch in CHANNELS)]
    if len(keys) != 1 or not rest:
        return None
    part = rest[0] if len(rest) == 1 else And(tuple(rest))
    try:
        shape = c.shape(part)
    except NotConvex:
        return None
    return (keys[0], part) if shape in ("C", "D") else None


_CODE_OF = {status: code for code, status in STATUS.items()}


def _relatives(c: Compiler, in_force: ir.BooleanValue, results: ir.Table | None) -> ir.Table:
    """Each relative: may they come along (§1.1) or join the applicant (§3.1, §3.3).
    With ``results`` (``evaluate_relatives``), the routes ``joined_route`` splits are
    decided from the applicant's channel there and the relative's part here."""
    null_str = ibis.null("string")
    null_date = ibis.null("date")
    r0 = c.pair_frame()
    routes: dict[str, Expr] = {route.key: route.rule for route in RELATIVE_ROUTES}
    joined: dict[str, tuple[str, Expr]] = {}
    if results is not None:
        for key, rule in routes.items():
            found = joined_route(rule, c)
            if found is not None:
                joined[key] = found
    own = {k: r for k, r in routes.items() if k not in joined}
    parts = {f"_part_{k}": part for k, (_ch, part) in joined.items()}
    rules: dict[str, Expr] = {**own, **parts}
    # a route with a day-independent part of its top-level "and" that reads only the
    # pair's row (§3.1: the relative is a parent; §3.3: the applicant is a talent) is
    # decided only on the pairs where that part may hold, and is false on every day on
    # the others: its lists and dates are then worked out for a third of the pairs
    alone = {k: m for k, r in rules.items() if (m := c.needed(r, r0, static_only=True)) is not None}
    ragg = decide_rules(
        c, r0, {k: r for k, r in rules.items() if k not in alone}, {"_relation": RELATION}
    )
    ids = r0.ids
    for key, may in alone.items():
        few = decide_rules(c, replace(r0, table=r0.table.filter(may)), {key: rules[key]})
        few = few.rename({f"_j{i}": k for i, k in enumerate(ids)})
        ragg = ragg.left_join(few, [ragg[k] == few[f"_j{i}"] for i, k in enumerate(ids)])
        ragg = ragg.drop(*[f"_j{i}" for i in range(len(ids))])
        ragg = ragg.mutate(**{f"{key}__now": ragg[f"{key}__now"].fill_null(FALSE)})
    if joined:
        assert results is not None
        channels = sorted({ch for ch, _part in joined.values()})
        got = results.select(
            _r_id=results.person_id,
            **{
                f"_r_{ch}_{end}": results[f"{ch}_{end}"]
                for ch in channels
                for end in ("status", "earliest")
            },
        )
        ragg = ragg.left_join(got, ragg.applicant__id == got._r_id)
    rcols: dict[str, Any] = {}
    rnows: list[ir.Value] = []
    rfirst: list[ir.Value] = []
    for route in RELATIVE_ROUTES:
        if route.key in joined:
            ch = joined[route.key][0]
            status = ragg[f"_r_{ch}_status"]
            now_ch = ibis.cases(
                *((status == s, k) for s, k in _CODE_OF.items()), else_=ibis.null("int64")
            )
            first_ch = ragg[f"_r_{ch}_earliest"]
            now_part, not_part = ragg[f"_part_{route.key}__now"], ragg[f"_part_{route.key}__not"]
            # Kleene "and": the lower truth code; later, the route holds on the channel's
            # earliest date if the part, holding now, still does (it never starts later)
            now = ibis.least(now_ch, now_part)
            first = ibis.cases(
                (
                    (now_part == TRUE)
                    & (now_ch != TRUE)
                    & first_ch.notnull()
                    & (not_part.isnull() | (first_ch < not_part)),
                    first_ch,
                ),
                else_=null_date,
            )
        else:
            now, first, _until = dates_of(ragg, route.key)
        rnows.append(now)
        rfirst.append(first)
        rcols[f"{route.key}_status"] = status_of(now)
        rcols[f"{route.key}_earliest"] = first
    rbest = ibis.greatest(*rnows)
    relatives = ragg.filter(in_force).select(
        person_id=ragg.applicant__id,
        relative_id=ragg.relative__id,
        relation=ragg._relation,
        status=ibis.cases(
            (rbest == TRUE, "eligible"),
            (rbest == UNKNOWN, "undetermined"),
            (rbest == FALSE, "not_eligible"),
            else_=null_str,
        ),
        earliest_date=ibis.least(*rfirst),
        **rcols,
    )
    return _typed(relatives, RESULT_RELATIVES)


# ---- running it ---------------------------------------------------------------------


def _parameters(on: dt.date, parameters: ParameterSet | None) -> ResolvedParameters:
    return (parameters or load()).at(on)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _duckdb_connect(memory_limit: str | None, temp_dir: Path | None, threads: int | None) -> Any:
    con = ibis.duckdb.connect()
    raw = con.con
    if memory_limit:
        raw.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        raw.execute(f"SET temp_directory = '{_sql_path(temp_dir)}'")
    if threads:
        raw.execute(f"SET threads = {int(threads)}")
    raw.execute("SET preserve_insertion_order = false")  # lets big sorts and COPYs stream
    return con


def duckdb_tables(con: Any, in_dir: Path) -> dict[str, ir.Table]:
    """The population's Parquet files as DuckDB views (nothing is loaded into memory)."""
    out = {}
    for name in TABLES:
        path = in_dir / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"缺少人口数据表 / missing population table: {path}")
        con.con.execute(
            f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{_sql_path(path)}')"
        )
        out[name] = con.table(name)
    return out


@contextmanager
def _duckdb_progress(
    con: Any, stage: str, lo: float, hi: float, progress: Progress | None
) -> Iterator[None]:
    """Poll DuckDB's own progress of the running query into ``progress``."""
    if progress is None:
        yield
        return
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            try:
                pct = float(con.con.query_progress())
            except Exception:  # no query running at that instant
                continue
            if pct >= 0:
                progress(stage, lo + (hi - lo) * min(pct, 100.0) / 100.0)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        progress(stage, hi)


def pg_url(url: str | None = None) -> str:
    """A libpq URL from ``url`` or ``HUKOU_DATABASE_URL`` (SQLAlchemy's ``+psycopg`` dropped)."""
    url = url or os.environ.get("HUKOU_DATABASE_URL")
    if not url:
        raise ValueError("no PostgreSQL URL: pass --pg-url or set HUKOU_DATABASE_URL")
    for driver in ("+psycopg2", "+psycopg"):
        url = url.replace(driver, "")
    return url.replace("postgres://", "postgresql://", 1)


_PG_TYPES = {
    "int64": "bigint",
    "int32": "integer",
    "string": "text",
    "bool": "boolean",
    "date32[day]": "date",
}


# PostgreSQL estimates a row or two for each nested aggregate of the query and then
# picks nested loops that are quadratic on a population (a 5,000-person run took 54 s
# instead of 0.2 s); every join here is an equi-join that hashes well. JIT compiling a
# query this large costs seconds and gains nothing.
PG_SETTINGS = ("SET enable_nestloop = off", "SET jit = off", "SET work_mem = '256MB'")


def load_postgres(
    in_dir: Path, url: str | None = None, *, prefix: str = "", batch_rows: int = 1_000_000
) -> None:
    """Copy a population directory into PostgreSQL tables ``<prefix><name>`` (replaced).

    Streams each Parquet file in batches through ``COPY``, so memory stays bounded.
    """
    import psycopg

    with psycopg.connect(pg_url(url)) as conn:
        for name, schema in TABLES.items():
            table = f"{prefix}{name}"
            cols = ", ".join(f'"{f.name}" {_PG_TYPES[str(f.type)]}' for f in schema)
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            conn.execute(f'CREATE UNLOGGED TABLE "{table}" ({cols})')
            names = ", ".join(f'"{f.name}"' for f in schema)
            parquet = pq.ParquetFile(in_dir / f"{name}.parquet")
            with (
                conn.cursor() as cur,
                cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
            ):
                for batch in parquet.iter_batches(batch_size=batch_rows):
                    chunk = pa.Table.from_batches([batch]).cast(schema)
                    for row in zip(*(c.to_pylist() for c in chunk.columns), strict=True):
                        copy.write_row(row)
            if "person_id" in schema.names:
                conn.execute(f'CREATE INDEX ON "{table}" (person_id)')
            conn.execute(f'ANALYZE "{table}"')
        conn.commit()


def postgres_connect(url: str | None = None) -> Any:
    """An Ibis PostgreSQL connection on ``url`` (or ``HUKOU_DATABASE_URL``), with
    ``PG_SETTINGS`` applied to its session."""
    from urllib.parse import urlparse

    parts = urlparse(pg_url(url))
    con = ibis.postgres.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        database=(parts.path or "/postgres").lstrip("/"),
    )
    for setting in PG_SETTINGS:
        con.raw_sql(setting).close()
    return con


def postgres_tables(con: Any, prefix: str = "") -> dict[str, ir.Table]:
    return {name: con.table(f"{prefix}{name}") for name in TABLES}


def spark_session(master: str | None = None) -> Any:
    from pyspark.sql import SparkSession

    master = master or "local[2]"
    builder = SparkSession.builder.master(master).appName("hukou-batch")
    if master.startswith("local"):
        # local mode runs in the driver: the default 1 GiB cannot broadcast the facts
        # of a million people
        memory = os.environ.get("HUKOU_SPARK_DRIVER_MEMORY", "4g")
        builder = builder.config("spark.driver.memory", memory)
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.shuffle.partitions", "4")
    builder = builder.config("spark.ui.enabled", "false")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate()


def spark_tables(con: Any, session: Any, in_dir: Path) -> dict[str, ir.Table]:
    out = {}
    for name in TABLES:
        session.read.parquet(str(in_dir / f"{name}.parquet")).createOrReplaceTempView(name)
        out[name] = con.table(name)
    return out


SYMBOLS = "p_"  # the session variables' prefix on DuckDB (``compile.variables``)

# the facts ``run`` spills on DuckDB, in order (the relatives' are read from the people's)
FACTS = ("people", "dwellings", "relatives")


class _Queries:
    """The SQL of ``run``'s queries on one backend, by name: from the compiled-query cache
    (``sqlcache``) when it holds this code, parameter set, decision date, backend version
    and tables, else compiled through Ibis — and kept there by ``keep`` once they have run.

    A missing, corrupt or foreign entry is a miss (``sqlcache.load``); a cache folder
    that cannot be written keeps nothing (``sqlcache.store``): either way the query is
    compiled as without the cache.
    """

    def __init__(
        self,
        backend: Any,
        tables: Mapping[str, ir.Table],
        on: dt.date,
        params: ResolvedParameters,
        *,
        cached: bool = True,
        declared: str | None = None,
    ) -> None:
        self.dialect = str(backend.name)  # "duckdb", "pyspark": what ibis.to_sql takes
        self.tables = tables
        # the backend's version: the facts' views read back from Parquet have the types
        # it gives them, and Ibis compiles the later queries against those
        self.parts = ["batch", on.isoformat(), params.digest, f"{backend.version}"]
        if declared is not None:  # the parameters and the date are session variables
            self.parts = ["batch-symbolic", declared, f"{backend.version}"]
        self.cached = cached
        self.hits = 0
        self.seconds = 0.0  # looking up and compiling (Ibis), not running
        self.compiled: dict[str, tuple[str, sqlcache.CompiledQuery]] = {}  # name -> (key, SQL)

    def key(self, name: str) -> str:
        return sqlcache.key(self.dialect, self.tables, [*self.parts, name])

    def sql(self, name: str, build: Callable[[], ir.Table]) -> str:
        """The SQL of query ``name``; ``build`` gives its Ibis expression on a miss."""
        started = time.perf_counter()
        k = self.key(name)
        hit = sqlcache.load(k) if self.cached else None
        if hit is not None and hit.columns == {"query": [name]}:
            self.hits += 1
            sql = hit.sql
        else:
            expr = build()
            sql = str(ibis.to_sql(expr, dialect=self.dialect))
            schema = expr.schema().to_pyarrow()
            self.compiled[name] = (k, sqlcache.CompiledQuery(sql, schema, {"query": [name]}))
        self.seconds += time.perf_counter() - started
        return sql

    def keep(self) -> None:
        """Store the queries compiled by this run (call once they have run)."""
        for k, entry in self.compiled.values():
            sqlcache.store(k, entry)

    def report(self) -> dict[str, Any]:
        return {
            "cached": self.hits,
            "compiled": len(self.compiled),
            "seconds": self.seconds,
        }


def _write_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path) -> int:
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            table = pa.Table.from_batches([batch]).cast(schema)
            writer.write_table(table)
            rows += table.num_rows
    return rows


def run(
    in_dir: Path,
    out_dir: Path,
    engine: Engine = "duckdb",
    on: dt.date | None = None,
    *,
    parameters: ParameterSet | None = None,
    progress: Progress | None = None,
    pg: str | None = None,
    pg_prefix: str = "",
    spark_master: str | None = None,
    memory_limit: str = "8GB",
    temp_dir: Path | None = None,
    threads: int | None = None,
    cached: bool = True,
) -> dict[str, Any]:
    """Decide every person of the population in ``in_dir`` on ``on`` (default today);
    write ``results.parquet`` and ``result_relatives.parquet`` to ``out_dir``.

    ``duckdb``: reads the Parquet files in place and streams the results out with
    ``COPY`` (bounded by ``memory_limit``, spilling to ``temp_dir``).
    ``postgres``: the query runs inside the database on tables ``<pg_prefix><name>``
    (``load_postgres`` puts a population there); ``in_dir`` is then not read.
    ``spark``: a session on ``spark_master`` (``local[2]`` by default).
    The compiled SQL is read from the cache folder when it holds it
    (``sqlcache``; ``cached=False``: compiled anew, and kept) — the same SQL, the same
    files.
    Returns timings, row counts and, under ``queries``, how many queries were read from
    the cache or compiled, and the seconds that took.
    """
    on = on or dt.date.today()
    if engine in ("duckdb", "spark"):
        require_population(in_dir)  # each missing table, unreadable file, wrong column named
    params = _parameters(on, parameters)
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"engine": engine, "on": on}
    started = time.perf_counter()

    def step(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    step("prepare", 0.0)
    people: int | None = None
    if engine == "duckdb":
        own_temp = temp_dir is None
        spill = temp_dir or out_dir / ".duckdb_tmp"
        con = _duckdb_connect(memory_limit, spill, threads)
        written: list[Path] = []
        try:
            tables = duckdb_tables(con, in_dir)
            # the parameters and the decision date as session variables: one SQL per rule
            # version decides any date and parameter set (``compile.SymbolicParameters``)
            pset = parameters or load()
            for statement in variables(params, pset.parameters, SYMBOLS):
                con.con.execute(statement)
            params = SymbolicParameters.of(params, SYMBOLS)
            queries = _Queries(
                con, tables, on, params, cached=cached, declared=declared_signature(pset)
            )
            # the facts are read by many parts of the query: computed once, spilled to
            # Parquet (streaming, so memory stays bounded) and read back through the views
            # ``_facts_<name>``, which is how the later queries name them
            facts: dict[str, ir.Table] = {}

            @cache
            def fact_exprs() -> dict[str, ir.Table]:
                return fact_tables(tables, params)

            def fact_table(name: str) -> ir.Table:
                if name not in facts:
                    facts[name] = con.table(f"_facts_{name}")
                return facts[name]

            def fact_expr(name: str) -> ir.Table:
                if name == "relatives":  # from the people's facts just written, not again
                    people = fact_table("people")
                    return relative_facts(tables["relations"], people, RELATIVE_FACTS_READ)
                return fact_exprs()[name]

            for i, name in enumerate(FACTS):
                written.append(spill / f"facts_{name}.parquet")
                path = _sql_path(written[-1])
                with _duckdb_progress(con, "facts", i * 0.03, (i + 1) * 0.03, progress):
                    sql = queries.sql(f"facts_{name}", partial(fact_expr, name))
                    con.con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
                con.con.execute(
                    f"CREATE OR REPLACE VIEW \"_facts_{name}\" AS SELECT * FROM read_parquet('{path}')"
                )

            def decision(name: str) -> ir.Table:
                read = {n: fact_table(n) for n in FACTS}
                if name == RESULTS_FILE:
                    return evaluate(tables, on, params, facts=read)[0]
                # the applicants' channels from the results just written (§1.1's accompany)
                return evaluate_relatives(tables, on, params, con.table("_results"), facts=read)

            for lo, hi, name in ((0.09, 0.7, RESULTS_FILE), (0.7, 1.0, RELATIVES_FILE)):
                sql = queries.sql(name.removesuffix(".parquet"), partial(decision, name))
                target = _sql_path(out_dir / name)
                with _duckdb_progress(con, name, lo, hi, progress):
                    done = con.con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
                    count = done.fetchone()
                if name == RESULTS_FILE:
                    if count:
                        people = int(count[0])
                    con.con.execute(
                        f"CREATE OR REPLACE VIEW \"_results\" AS SELECT * FROM read_parquet('{target}')"
                    )
            queries.keep()
            report["queries"] = queries.report()
        finally:
            con.disconnect()
            for spilled in written:
                spilled.unlink(missing_ok=True)
            if own_temp:
                shutil.rmtree(spill, ignore_errors=True)
    elif engine == "postgres":
        import uuid
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow.csv as pa_csv

        # The facts are read by both queries and by many parts of each: computed once
        # into UNLOGGED tables ``_facts_<name>`` of a schema of this run's own (dropped at
        # the end), which the later queries name through the search path (their SQL names
        # no schema, so it is cached as on DuckDB). Then both queries at once. Each step
        # runs in sessions of its own, two at a time: PostgreSQL runs a query on one core.
        con = postgres_connect(pg)
        raw_con = con.con
        run_schema = f"hukou_run_{uuid.uuid4().hex[:16]}"
        search_path = f'"{run_schema}", {raw_con.execute("SHOW search_path").fetchone()[0]}'

        def pg_session() -> Any:
            session = postgres_connect(pg)
            session.raw_sql(f"SET search_path = {search_path}").close()
            return session

        def in_session(statements: list[Callable[[], str]]) -> None:
            session = pg_session()
            try:
                for statement in statements:
                    session.con.execute(statement())
            finally:
                session.disconnect()

        try:
            pg_tables = postgres_tables(con, pg_prefix)
            queries = _Queries(con, pg_tables, on, params, cached=cached)
            raw_con.execute(f'CREATE SCHEMA "{run_schema}"')
            raw_con.execute(f"SET search_path = {search_path}")

            @cache
            def pg_fact_exprs() -> dict[str, ir.Table]:
                return fact_tables(pg_tables, params)

            def pg_fact_expr(name: str) -> ir.Table:
                if name == "relatives":  # from the people's facts just written, not again
                    people_facts = con.table("_facts_people")
                    return relative_facts(pg_tables["relations"], people_facts, RELATIVE_FACTS_READ)
                return pg_fact_exprs()[name]

            def create_facts(name: str) -> str:
                sql = queries.sql(f"facts_{name}", partial(pg_fact_expr, name))
                return f'CREATE UNLOGGED TABLE "_facts_{name}" AS {sql}'

            # people then relatives (which reads them, so is compiled once they exist)
            # beside dwellings: about even halves; Ibis only ever in one thread at a time
            people_sql, dwellings_sql = create_facts("people"), create_facts("dwellings")
            with ThreadPoolExecutor(2) as pool:
                chains: list[list[Callable[[], str]]] = [
                    [lambda: people_sql, partial(create_facts, "relatives")],
                    [lambda: dwellings_sql],
                ]
                for built in [pool.submit(in_session, chain) for chain in chains]:
                    built.result()

            @cache
            def decided_pg() -> tuple[ir.Table, ir.Table]:
                facts = {n: con.table(f"_facts_{n}") for n in FACTS}
                return evaluate(pg_tables, on, params, facts=facts)

            def decision_pg(i: int) -> ir.Table:  # 0: the results, 1: the relatives
                return decided_pg()[i]

            outputs = ((RESULTS_FILE, RESULTS), (RELATIVES_FILE, RESULT_RELATIVES))
            sqls = [
                queries.sql(name.removesuffix(".parquet"), partial(decision_pg, i))
                for i, (name, _schema) in enumerate(outputs)
            ]

            def copy_out(sql: str, name: str, schema: pa.Schema) -> int:
                """One query streamed out of a session of its own with ``COPY`` as CSV
                (to a file beside the output, so memory stays bounded), parsed by Arrow
                rather than row by row in Python, then written to Parquet. PostgreSQL
                gives some date columns as timestamps (midnight): cast back to dates, as
                Arrow did with the rows before."""
                cols = ", ".join(
                    f'CAST("{f.name}" AS DATE) AS "{f.name}"'
                    if pa.types.is_date(f.type)
                    else f'"{f.name}"'
                    for f in schema
                )
                csv = out_dir / f".{name}.csv"
                session = pg_session()
                try:
                    raw = session.con
                    raw.execute("SET DateStyle = ISO")
                    copy_sql = f"COPY (SELECT {cols} FROM ({sql}) AS t) TO STDOUT (FORMAT csv)"
                    with csv.open("wb") as f, raw.cursor() as cur, cur.copy(copy_sql) as copy:
                        for data in copy:
                            f.write(data)
                finally:
                    session.disconnect()
                try:
                    reader = pa_csv.open_csv(
                        csv,
                        read_options=pa_csv.ReadOptions(
                            column_names=schema.names, block_size=16 << 20
                        ),
                        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                        convert_options=pa_csv.ConvertOptions(
                            column_types=schema,
                            null_values=[""],  # NULL; an empty string is quoted
                            strings_can_be_null=True,
                            quoted_strings_can_be_null=False,
                        ),
                    )
                    return _write_batches(iter(reader), schema, out_dir / name)
                finally:
                    csv.unlink(missing_ok=True)

            step(RESULTS_FILE, 0.05)
            with ThreadPoolExecutor(len(outputs)) as pool:
                running = [
                    pool.submit(copy_out, sql, name, schema)
                    for sql, (name, schema) in zip(sqls, outputs, strict=True)
                ]
                people = running[0].result()
                step(RELATIVES_FILE, 0.7)
                running[1].result()
            queries.keep()
            report["queries"] = queries.report()
        finally:
            try:
                raw_con.execute(f'DROP SCHEMA IF EXISTS "{run_schema}" CASCADE')
            finally:
                con.disconnect()
    elif engine == "spark":
        session = spark_session(spark_master)
        con = ibis.pyspark.connect(session)
        tables = spark_tables(con, session, in_dir)
        queries = _Queries(con, tables, on, params, cached=cached)

        def evaluation(name: str) -> ir.Table:
            if name == RESULTS_FILE:
                return evaluate(tables, on, params)[0]
            # the applicants' channels from the results just written (§1.1's accompany)
            return evaluate_relatives(tables, on, params, con.table("_results"))

        for frac, name in ((0.05, RESULTS_FILE), (0.7, RELATIVES_FILE)):
            step(name, frac)
            sql = queries.sql(name.removesuffix(".parquet"), partial(evaluation, name))
            session.sql(sql).write.mode("overwrite").parquet(str(out_dir / name))
            if name == RESULTS_FILE:
                session.read.parquet(str(out_dir / name)).createOrReplaceTempView("_results")
        queries.keep()
        report["queries"] = queries.report()
    else:
        raise ValueError(f"unknown engine {engine!r}")
    step("done", 1.0)
    report["seconds"] = time.perf_counter() - started
    if people is None and (in_dir / "persons.parquet").exists():
        people = pq.ParquetFile(in_dir / "persons.parquet").metadata.num_rows
    report["people"] = people
    return report
