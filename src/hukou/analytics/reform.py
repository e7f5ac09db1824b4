"""What-if reforms (改革测算): who gains and who loses if dated parameters change.

A reform (docs/reforms.md) overrides dated parameters — numbers, dates, levels and
the readings of ``readings.yaml`` alike — and names the decision date(s) to look at.
Baseline and reform are evaluated by the same rules (the compiled batch query, or
the per-case engine as reference), joined person by person in ONE query with the
persons table, and folded there into a small cube (county × age band × sex, every
channel's transitions as sums; the relatives' cube by relation rides along in the
same query). Every breakdown is a sum over that cube, so the population is read once
per date, whatever the number of tables asked for.

The query runs where the population is (``open_population``): DuckDB over the
Parquet files, inside PostgreSQL on the tables ``hukou batch --pg-load`` wrote, or on
Spark; only the cube's rows come back to Python.

Which county a person counts in: ``persons.lives_in``, the county where they live
— where they would apply and settle (§1.1's dwelling, §4.3's place), and where §7
counts settlements. ``hukou_county`` would put nearly every migrant outside
Jiaxing. A NULL ``lives_in`` counts as ``unknown``, a county outside Jiaxing as
``outside``.

The comparison query of the compiled evaluator is compiled once per rule code, parameter
sets, date and tables and kept in the user's cache folder (``analytics.sqlcache``):
Ibis takes seconds to write its SQL (~1 MB), the backend well under a second to run it.
A cached query runs as SQL text (DuckDB, Spark) or as a temporary view read through Ibis
(PostgreSQL), never parsed back by Ibis.

Only aggregates leave this module: the analyst role sees no person (README, roles).
"""

from __future__ import annotations

import datetime as dt
import difflib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import yaml

from hukou.analytics.layout import CHANNEL_KEYS, RESULT_RELATIVES, RESULTS, ROUTE_KEYS, TABLES
from hukou.policy.params import ParameterError, ParameterSet, load
from hukou.policy.places import jiaxing_counties
from hukou.policy.scales import SCALES
from hukou.policy.yamlfile import load_yaml

if TYPE_CHECKING:
    import ibis  # type: ignore[import-untyped, unused-ignore]
    import ibis.expr.types as ir  # type: ignore[import-untyped, unused-ignore]

    from hukou.analytics import sqlcache
    from hukou.engine.decide import RuleVersion

Problem = dict[str, str]

# Evaluate one parameter set over a population: the RESULTS and RESULT_RELATIVES
# tables, lazily. A ParameterSet (not a resolved one) so that the per-case engine
# can serve as the reference evaluator too.
Evaluate = Callable[
    [Mapping[str, "ibis.Table"], dt.date, ParameterSet], tuple["ibis.Table", "ibis.Table"]
]

OVERALL = "overall"


def _age_bands() -> tuple[tuple[str, int, int | None], ...]:
    """Age bands on the decision date, cut where the notice cuts — adulthood (§1.1, §3.1)
    and §3.1's ages for mothers and fathers, as the parameters now in force give them —
    and at 30 and 40 for a readable spread in between (a statistical choice, not law)."""
    values = load().at(dt.date.today()).values
    legal = {
        int(values["s1_urban.minor_below_age"]),
        int(values["s3_relatives.parent_min_age_female"]),
        int(values["s3_relatives.parent_min_age_male"]),
    }
    cuts = sorted(legal | {30, 40})
    bounds = [0, *cuts]
    bands: list[tuple[str, int, int | None]] = [
        (f"{lo}-{hi - 1}", lo, hi) for lo, hi in pairwise(bounds)
    ]
    bands.append((f"{bounds[-1]}+", bounds[-1], None))
    return tuple(bands)


AGE_BANDS: tuple[tuple[str, int, int | None], ...] = _age_bands()
SEXES: dict[str, tuple[str, str]] = {
    "male": ("男", "male"),
    "female": ("女", "female"),
    "unknown": ("未知", "unknown"),
}
OTHER_COUNTIES: dict[str, tuple[str, str]] = {
    "outside": ("嘉兴市外", "outside Jiaxing"),
    "unknown": ("未知", "unknown"),
}
RELATIONS: dict[str, tuple[str, str]] = {
    "spouse": ("配偶", "spouse"),
    "child": ("子女", "child"),
    "parent": ("父母", "parent"),
}

REFORM_KEYS = ("name", "description", "dates", "parameters")

# where the population is and the query runs (``open_population``); ``reference`` is
# DuckDB's tables decided case by case
ENGINES = ("duckdb", "postgres", "spark", "reference")


# ---- the reform file -------------------------------------------------------------


class ReformError(ValueError):
    """A reform file that cannot be used; each problem names its field (zh and en)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['en']}" for p in problems))


@dataclass(frozen=True)
class Reform:
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    dates: tuple[dt.date, ...]
    parameters: dict[str, dict[dt.date, Any]]  # path -> {start date: value}
    source: str = ""

    def apply(self, base: ParameterSet | None = None) -> ParameterSet:
        """The parameter tree with this reform's values (``ParameterSet.with_overrides``)."""
        return (base or load()).with_overrides(self.parameters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": {"zh": self.name_zh, "en": self.name_en},
            "description": {"zh": self.description_zh, "en": self.description_en},
            "dates": [d.isoformat() for d in self.dates],
            "parameters": {
                path: {d.isoformat(): v for d, v in dated.items()}
                for path, dated in self.parameters.items()
            },
        }


def _problem(fieldname: str, zh: str, en: str) -> Problem:
    return {"field": fieldname, "zh": zh, "en": en}


def _date(raw: Any) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return None
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _bilingual(data: Mapping[str, Any], key: str, required: bool) -> tuple[str, str, list[Problem]]:
    raw = data.get(key)
    if raw is None:
        if required:
            return "", "", [_problem(key, "缺少此项（须有 zh 与 en）", "missing (needs zh and en)")]
        return "", "", []
    if isinstance(raw, str):  # one text for both languages
        return raw, raw, []
    if not isinstance(raw, dict):
        return "", "", [_problem(key, "须为含 zh 与 en 的映射", "must be a mapping with zh and en")]
    problems = [
        _problem(f"{key}.{k}", "缺少此项或不是文字", "missing or not text")
        for k in ("zh", "en")
        if not isinstance(raw.get(k), str) or not raw[k].strip()
    ]
    problems += [
        _problem(f"{key}.{k}", "未知字段（只有 zh 与 en）", "unknown field (only zh and en)")
        for k in raw
        if k not in ("zh", "en")
    ]
    return str(raw.get("zh", "")).strip(), str(raw.get("en", "")).strip(), problems


def _check_value(fieldname: str, kind: str, scale: str | None, raw: Any) -> list[Problem]:
    """The types ``ParameterSet`` knows, checked here so that every error names its field."""
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            return [
                _problem(
                    fieldname, f"须为整数，实为 {raw!r}", f"must be a whole number, got {raw!r}"
                )
            ]
        if raw < 0:
            return [_problem(fieldname, f"不能为负数：{raw}", f"must not be negative: {raw}")]
        return []
    if kind == "bool":
        if not isinstance(raw, bool):
            return [
                _problem(
                    fieldname,
                    f"须为 true 或 false，实为 {raw!r}",
                    f"must be true or false, got {raw!r}",
                )
            ]
        return []
    if kind == "date":
        if _date(raw) is None:
            return [
                _problem(
                    fieldname,
                    f"须为日期 YYYY-MM-DD，实为 {raw!r}",
                    f"must be a date YYYY-MM-DD, got {raw!r}",
                )
            ]
        return []
    if kind == "level" and scale is not None:
        allowed = [m.value for m in SCALES[scale]]
        if raw not in allowed:
            return [
                _problem(
                    fieldname,
                    f"须为 {scale} 等级之一（{'、'.join(allowed)}），实为 {raw!r}",
                    f"must be one of the {scale} levels ({', '.join(allowed)}), got {raw!r}",
                )
            ]
        return []
    if not isinstance(raw, str):
        return [_problem(fieldname, f"须为文字，实为 {raw!r}", f"must be text, got {raw!r}")]
    return []


def parse_reform(data: Any, base: ParameterSet | None = None, source: str = "") -> Reform:
    """Check a reform (the parsed YAML) against the parameter tree; all problems at once."""
    params = base or load()
    if not isinstance(data, dict):
        raise ReformError(
            [_problem("(reform)", "改革文件须为 YAML 映射", "a reform file must be a YAML mapping")]
        )
    problems: list[Problem] = []
    for k in data:
        if k is True or k is False:  # YAML 1.1 reads a bare on/off/yes/no key as a boolean
            problems.append(
                _problem(
                    str(k).lower(),
                    "YAML 将 on/yes 读作布尔值；决定日期请写作 dates",
                    "YAML reads on/yes as a boolean; write the decision dates as dates",
                )
            )
        elif k not in REFORM_KEYS:
            problems.append(
                _problem(
                    str(k),
                    f"未知字段（可用：{'、'.join(REFORM_KEYS)}）",
                    f"unknown field (known: {', '.join(REFORM_KEYS)})",
                )
            )
    name_zh, name_en, p = _bilingual(data, "name", required=True)
    problems += p
    desc_zh, desc_en, p = _bilingual(data, "description", required=False)
    problems += p

    dates: list[dt.date] = []
    raw_on = data.get("dates")
    items = raw_on if isinstance(raw_on, list) else [] if raw_on is None else [raw_on]
    if raw_on is not None and not items:
        problems.append(
            _problem("dates", "决定日期列表为空", "the list of decision dates is empty")
        )
    for i, raw in enumerate(items):
        d = _date(raw)
        name = f"dates[{i}]" if isinstance(raw_on, list) else "dates"
        if d is None:
            problems.append(
                _problem(
                    name,
                    f"须为日期 YYYY-MM-DD，实为 {raw!r}",
                    f"must be a date YYYY-MM-DD, got {raw!r}",
                )
            )
        elif d not in dates:
            dates.append(d)

    overrides: dict[str, dict[dt.date, Any]] = {}
    raw_params = data.get("parameters")
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        problems.append(
            _problem(
                "parameters",
                "须为映射：参数路径 → {起始日期: 取值}",
                "must be a mapping: parameter path -> {start date: value}",
            )
        )
        raw_params = {}
    for path, dated in raw_params.items():
        where = f"parameters.{path}"
        spec = params.parameters.get(str(path))
        if spec is None:
            near = difflib.get_close_matches(str(path), list(params.parameters), n=1)
            hint_zh = f"；是否指 {near[0]}？" if near else ""
            hint_en = f"; did you mean {near[0]}?" if near else ""
            problems.append(_problem(where, f"无此参数{hint_zh}", f"unknown parameter{hint_en}"))
            continue
        if not isinstance(dated, dict) or not dated:
            problems.append(
                _problem(
                    where,
                    "须为 {起始日期: 取值} 的非空映射",
                    "must be a non-empty mapping {start date: value}",
                )
            )
            continue
        values: dict[dt.date, Any] = {}
        for start, raw in dated.items():
            start_date = _date(start)
            if start_date is None:
                problems.append(
                    _problem(
                        f"{where}.{start}",
                        f"起始日期须为 YYYY-MM-DD，实为 {start!r}",
                        f"the start date must be YYYY-MM-DD, got {start!r}",
                    )
                )
                continue
            found = _check_value(f"{where}.{start_date}", spec.type, spec.scale, raw)
            problems += found
            if not found:
                values[start_date] = _date(raw) if spec.type == "date" else raw
        overrides[str(path)] = values
    if problems:
        raise ReformError(problems)
    try:
        params.with_overrides(overrides)
    except ParameterError as exc:  # a type the checks above do not know yet
        raise ReformError([_problem("parameters", str(exc), str(exc))]) from None
    return Reform(name_zh, name_en, desc_zh, desc_en, tuple(dates), overrides, source)


def load_reform(path: Path, base: ParameterSet | None = None) -> Reform:
    """Read and check a reform file (YAML)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ReformError(
            [
                _problem(
                    str(path),
                    f"无法读取文件（{exc.strerror}）",
                    f"cannot read the file ({exc.strerror})",
                )
            ]
        ) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ReformError(
            [_problem(str(path), f"YAML 格式有误：{exc}", f"not valid YAML: {exc}")]
        ) from None
    return parse_reform(data, base, source=str(path))


# ---- evaluators ------------------------------------------------------------------


class CompiledEvaluator:
    """``batch_evaluator``'s: the compiled population query, a pure function of the
    rules, the parameters and the tables — so its SQL may be cached (``sqlcache``)."""

    def __init__(self) -> None:
        from hukou.analytics.batch import evaluate

        self._evaluate = evaluate

    def __call__(
        self, tables: Mapping[str, ibis.Table], on: dt.date, params: ParameterSet
    ) -> tuple[ibis.Table, ibis.Table]:
        return self._evaluate(dict(tables), on, params.at(on))


def batch_evaluator() -> Evaluate:
    """The compiled population query (``analytics.batch.evaluate``)."""
    return CompiledEvaluator()


def reference_evaluator() -> Evaluate:
    """The per-case engine, person by person (exact, slow): for tests and small populations."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    from hukou.analytics.reference import reference_results

    def run(
        tables: Mapping[str, ibis.Table], on: dt.date, params: ParameterSet
    ) -> tuple[ibis.Table, ibis.Table]:
        pop = {name: tables[name].to_pyarrow().cast(schema) for name, schema in TABLES.items()}
        results, relatives = reference_results(pop, on, params)
        return ibis.memtable(results.cast(RESULTS)), ibis.memtable(relatives.cast(RESULT_RELATIVES))

    return run


def default_evaluator() -> Evaluate:
    """The compiled query when it is installed, else the per-case reference engine."""
    try:
        return batch_evaluator()
    except ImportError:
        return reference_evaluator()


# ---- the comparison ----------------------------------------------------------------


def _age_band(persons: ir.Table, on: dt.date) -> ir.StringValue:
    import ibis  # type: ignore[import-untyped, unused-ignore]

    b = persons.birth_date
    before_birthday = (b.month() > on.month) | ((b.month() == on.month) & (b.day() > on.day))
    age = on.year - b.year() - before_birthday.ifelse(1, 0)
    bands = [
        ((age >= lo) if hi is None else ((age >= lo) & (age < hi)), label)
        for label, lo, hi in AGE_BANDS
    ]
    return ibis.cases(*bands, else_="unknown")


def _county(persons: ir.Table) -> ir.StringValue:
    import ibis  # type: ignore[import-untyped, unused-ignore]

    c = persons.lives_in
    return ibis.cases(
        (c.isnull(), "unknown"),
        (c.isin(list(jiaxing_counties())), c),
        else_="outside",
    )


def _count_if(condition: ir.BooleanValue) -> ir.IntegerScalar:
    """How many rows of the group meet ``condition`` — an int64 on every backend
    (PostgreSQL's SUM of a bigint is a numeric)."""
    return condition.ifelse(1, 0).sum().cast("int64")


def _transitions(before: ir.StringValue, after: ir.StringValue, prefix: str) -> dict[str, Any]:
    """Sums over a group: eligible before and after, gains, losses (layout's status words)."""
    was = (before == "eligible").fill_null(False)
    now = (after == "eligible").fill_null(False)
    return {
        f"{prefix}eligible_before": _count_if(was),
        f"{prefix}eligible_after": _count_if(now),
        f"{prefix}gains": _count_if((~was) & now),
        f"{prefix}loses": _count_if(was & ~now),
    }


def _shifts(
    before_status: ir.StringValue,
    after_status: ir.StringValue,
    before: ir.DateValue,
    after: ir.DateValue,
    prefix: str,
) -> dict[str, Any]:
    """Earliest-date shifts of those eligible neither before nor after: a date that moves
    earlier (or appears where there was none) or later (or disappears)."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    neither = ((before_status != "eligible") & (after_status != "eligible")).fill_null(True)
    far = ibis.date(9999, 12, 31)
    b = before.fill_null(far)
    a = after.fill_null(far)
    return {
        f"{prefix}earlier": _count_if(neither & (a < b)),
        f"{prefix}later": _count_if(neither & (a > b)),
        # days gained by those whose date moves earlier and was known both times
        f"{prefix}days_earlier": (neither & before.notnull() & after.notnull() & (a < b))
        .ifelse(b.delta(a, unit="day"), 0)
        .sum()
        .cast("int64"),
    }


def comparison_cubes(
    tables: Mapping[str, ibis.Table],
    on: dt.date,
    baseline: ParameterSet,
    reform: ParameterSet,
    evaluate: Evaluate,
) -> tuple[ibis.Table, ibis.Table]:
    """The two lazy cubes: persons (county × age band × sex) and relatives (relation);
    ``comparison_query`` runs them as one query.

    Each evaluates baseline and reform together and joins them on the person (and the
    relative); the aggregates are sums, so any breakdown is a sum of cube rows.
    """
    base_res, base_rel = evaluate(tables, on, baseline)
    new_res, new_rel = evaluate(tables, on, reform)
    persons = tables["persons"]
    keys = ["status", "earliest_date"] + [
        f"{k}_{s}" for k in CHANNEL_KEYS for s in ("status", "earliest")
    ]
    b = base_res.select("person_id", *[base_res[c].name(f"b_{c}") for c in keys])
    r = new_res.select("person_id", *[new_res[c].name(f"r_{c}") for c in keys])
    who = persons.select(
        "person_id",
        county=_county(persons),
        age_band=_age_band(persons, on),
        sex=persons.sex.fill_null("unknown"),
    )
    joined = b.join(r, "person_id").join(who, "person_id")
    aggs: dict[str, Any] = {"persons": joined.count().cast("int64")}
    aggs.update(_transitions(joined.b_status, joined.r_status, ""))
    aggs.update(
        _shifts(
            joined.b_status, joined.r_status, joined.b_earliest_date, joined.r_earliest_date, ""
        )
    )
    for k in CHANNEL_KEYS:
        bs, rs = joined[f"b_{k}_status"], joined[f"r_{k}_status"]
        aggs.update(_transitions(bs, rs, f"{k}__"))
        aggs.update(_shifts(bs, rs, joined[f"b_{k}_earliest"], joined[f"r_{k}_earliest"], f"{k}__"))
    cube = joined.group_by(["county", "age_band", "sex"]).aggregate(**aggs)

    rkeys = ["status", "earliest_date"] + [
        f"{k}_{s}" for k in ROUTE_KEYS for s in ("status", "earliest")
    ]
    rb = base_rel.select(
        "person_id", "relative_id", "relation", *[base_rel[c].name(f"b_{c}") for c in rkeys]
    )
    rr = new_rel.select("person_id", "relative_id", *[new_rel[c].name(f"r_{c}") for c in rkeys])
    rj = rb.join(rr, ["person_id", "relative_id"])
    raggs: dict[str, Any] = {"relatives": rj.count().cast("int64")}
    raggs.update(_transitions(rj.b_status, rj.r_status, ""))
    raggs.update(_shifts(rj.b_status, rj.r_status, rj.b_earliest_date, rj.r_earliest_date, ""))
    for k in ROUTE_KEYS:
        bs, rs = rj[f"b_{k}_status"], rj[f"r_{k}_status"]
        raggs.update(_transitions(bs, rs, f"{k}__"))
        raggs.update(_shifts(bs, rs, rj[f"b_{k}_earliest"], rj[f"r_{k}_earliest"], f"{k}__"))
    rel_cube = rj.group_by(relation=rj.relation.fill_null("unknown")).aggregate(**raggs)
    return cube, rel_cube


CUBE = "_cube"  # which cube a row of ``comparison_query`` belongs to


def comparison_query(cube: ibis.Table, rel_cube: ibis.Table) -> ibis.Table:
    """Both cubes as ONE query (UNION ALL; each cube's rows carry NULL in the other's
    columns, and ``_cube`` says which is which): one query per decision date decides
    baseline and reform and compares them on the backend, and only the cube's rows
    leave it. The SQL is the backend's own dialect (Ibis): DuckDB, PostgreSQL, Spark."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    types = {c: cube[c].type() for c in cube.columns}
    types.update({c: rel_cube[c].type() for c in rel_cube.columns})

    def padded(t: ibis.Table, which: str) -> ibis.Table:
        cols = {c: (t[c] if c in t.columns else ibis.null()).cast(ty) for c, ty in types.items()}
        return t.select(ibis.literal(which).name(CUBE), **cols)

    return padded(cube, "persons").union(padded(rel_cube, "relatives"), distinct=False)


def _to_arrow(expr: ibis.Table) -> pa.Table:
    """The result as Arrow. On Spark straight from the session (``DataFrame.toArrow``):
    Ibis would go through pandas, which turns an integer column holding NULLs into
    floats."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    backend = expr.get_backend()
    session = getattr(backend, "_session", None)
    if backend.name == "pyspark" and session is not None:
        table = session.sql(ibis.to_sql(expr, dialect="pyspark")).toArrow()
        return table.cast(expr.schema().to_pyarrow())
    result: pa.Table = expr.to_pyarrow()
    return result


def _split(
    rows: pa.Table, persons: Sequence[str], relatives: Sequence[str]
) -> tuple[pa.Table, pa.Table]:
    """``comparison_query``'s rows as the two cubes."""
    import pyarrow.compute as pc

    def part(which: str, columns: Sequence[str]) -> pa.Table:
        return rows.filter(pc.equal(rows[CUBE], which)).select(list(columns))

    return part("persons", persons), part("relatives", relatives)


def fetch_cubes(cube: ibis.Table, rel_cube: ibis.Table) -> tuple[pa.Table, pa.Table]:
    """Run ``comparison_query`` on the cubes' backend; the two cubes as Arrow tables."""
    rows = _to_arrow(comparison_query(cube, rel_cube))
    return _split(rows, cube.columns, rel_cube.columns)


# ---- the compiled comparison, cached ----------------------------------------------------


def _backend(tables: Mapping[str, ibis.Table]) -> Any:
    return tables["persons"].get_backend()


def _in_database(tables: Mapping[str, ibis.Table]) -> bool:
    """Whether every table is a table (or view) of one backend, named in its catalogue —
    what a SQL text run on that backend can read; not, say, an in-memory table that Ibis
    registers as it runs an expression."""
    import ibis.expr.operations as ops  # type: ignore[import-untyped, unused-ignore]

    backends = set()
    for table in tables.values():
        if not isinstance(table.op(), ops.DatabaseTable):
            return False
        backends.add(id(table.op().source))
    return len(backends) == 1


def _compile(backend: Any, query: ibis.Table) -> str:
    """The SQL the backend itself would run for ``query`` (what ``to_pyarrow`` compiles)."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    if backend.name == "pyspark":
        return str(ibis.to_sql(query, dialect="pyspark"))
    return str(backend.compile(query))


def comparison_key(
    tables: Mapping[str, ibis.Table], on: dt.date, baseline: ParameterSet, reform: ParameterSet
) -> str:
    """``sqlcache.key`` of the comparison query of ``baseline`` and ``reform`` on ``on``:
    everything the SQL depends on besides the code (``sqlcache.source_digest``)."""
    from hukou.analytics import sqlcache

    parts = [
        "comparison",
        on.isoformat(),
        baseline.at(on).digest,
        reform.at(on).digest,
        repr(AGE_BANDS),
        repr(sorted(jiaxing_counties())),
    ]
    return sqlcache.key(_backend(tables).name, tables, parts)


def compiled_comparison(
    tables: Mapping[str, ibis.Table],
    on: dt.date,
    baseline: ParameterSet,
    reform: ParameterSet,
    evaluate: Evaluate,
    *,
    cached: bool = True,
) -> sqlcache.CompiledQuery:
    """``comparison_query`` of the cubes compiled to the tables' backend's SQL — from the
    cache (``sqlcache``) when it holds this rule version, parameter sets, date and tables,
    else compiled through Ibis (seconds) and kept there."""
    from hukou.analytics import sqlcache

    k = comparison_key(tables, on, baseline, reform)
    if cached:
        hit = sqlcache.load(k)
        if hit is not None and set(hit.columns) == {"persons", "relatives"}:
            return hit
    cube, rel_cube = comparison_cubes(tables, on, baseline, reform, evaluate)
    query = comparison_query(cube, rel_cube)
    entry = sqlcache.CompiledQuery(
        _compile(_backend(tables), query),
        query.schema().to_pyarrow(),
        {"persons": list(cube.columns), "relatives": list(rel_cube.columns)},
    )
    sqlcache.store(k, entry)
    return entry


def run_sql(backend: Any, sql: str, schema: pa.Schema) -> pa.Table:
    """Run SQL compiled for ``backend``; its rows as Arrow in ``schema``. Ibis is not
    handed the SQL (it would parse the ~1 MB back with sqlglot, seconds): DuckDB and Spark
    run it directly; elsewhere (PostgreSQL) it becomes a temporary view of the session,
    read through Ibis as one small table."""
    if backend.name == "duckdb":
        table = backend.con.execute(sql).to_arrow_table()
    elif backend.name == "pyspark":
        table = backend._session.sql(sql).toArrow()
    else:
        import secrets

        view = f"_hukou_query_{secrets.token_hex(6)}"
        backend.raw_sql(f'CREATE TEMPORARY VIEW "{view}" AS {sql}').close()
        try:
            table = backend.table(view).to_pyarrow()
        finally:
            backend.raw_sql(f'DROP VIEW IF EXISTS "{view}"').close()
    return table.rename_columns(schema.names).cast(schema)


def fetch_compiled(
    tables: Mapping[str, ibis.Table], compiled: sqlcache.CompiledQuery
) -> tuple[pa.Table, pa.Table]:
    """Run a ``compiled_comparison`` where the tables are; the two cubes as Arrow tables."""
    rows = run_sql(_backend(tables), compiled.sql, compiled.schema)
    return _split(rows, compiled.columns["persons"], compiled.columns["relatives"])


# ---- DuckDB: each parameter set decided once, its values as session variables ----------
#
# On DuckDB the rules are compiled with the parameters as session variables
# (``compile.SymbolicParameters``): one SQL per rule version, date and tables decides any
# parameter set, so a new reform costs no compiling, only running. Each parameter set's
# RESULTS and RESULT_RELATIVES are decided on their own and kept in this process for the
# population's files as they are (``_decided``): the baseline is decided once, a reform
# adds its own half, and the comparison runs over the four small tables.

DECISION_PREFIX = "p_"  # the variables' prefix in the decisions' SQL
_DECIDED_ENTRIES = 8  # parameter sets kept per process (the baseline and recent reforms)
_DECIDED_MAX_ROWS = 2_000_000  # a larger population's results are not kept in memory
_decided: OrderedDict[tuple[str, ...], tuple[pa.Table, pa.Table]] = OrderedDict()
_decided_lock = threading.Lock()
# the results of the parameter set being decided, as the relatives' query reads them
DECIDED_RESULTS = "_hukou_decided_results"
_RESULT_TABLES = {"b": ("_hukou_res_b", "_hukou_rel_b"), "r": ("_hukou_res_r", "_hukou_rel_r")}


def symbolic(tables: Mapping[str, ibis.Table]) -> bool:
    """Whether the tables are DuckDB tables of its catalogue (the symbolic path)."""
    return _in_database(tables) and _backend(tables).name == "duckdb"


_FACT_TABLES = {name: f"_hukou_facts_{name}" for name in ("people", "dwellings", "relatives")}
_GAP = "s1_urban.residence_gap_tolerance_days"  # the only parameter the facts read


def _facts_sql(
    tables: Mapping[str, ibis.Table], on: dt.date, params: ParameterSet, *, cached: bool = True
) -> dict[str, sqlcache.CompiledQuery]:
    """The three fact tables (``compile.fact_tables``; a relative's row narrowed to what
    the rules read) as DuckDB SQL reading the date and the parameters from session
    variables; from the cache when it holds this rule version and tables."""
    from hukou.analytics import sqlcache
    from hukou.analytics.batch import RELATIVE_FACTS_READ
    from hukou.analytics.compile import (
        SymbolicParameters,
        declared_signature,
        fact_tables,
        relative_facts,
    )

    backend = _backend(tables)
    keys = {
        name: sqlcache.key(backend.name, tables, [f"facts-{name}", declared_signature(params)])
        for name in _FACT_TABLES
    }
    if cached:
        hits = {name: sqlcache.load(k) for name, k in keys.items()}
        if all(hit is not None for hit in hits.values()):
            return {name: hit for name, hit in hits.items() if hit is not None}
    resolved = SymbolicParameters.of(params.at(on), DECISION_PREFIX)
    exprs = fact_tables(dict(tables), resolved)
    exprs["relatives"] = relative_facts(tables["relations"], exprs["people"], RELATIVE_FACTS_READ)
    out = {}
    for name, k in keys.items():
        expr = exprs[name]
        out[name] = sqlcache.CompiledQuery(_compile(backend, expr), expr.schema().to_pyarrow())
        sqlcache.store(k, out[name])
    return out


def prepare_facts(
    tables: Mapping[str, ibis.Table],
    on: dt.date,
    params: ParameterSet,
    prepared: dict[str, Any] | None = None,
) -> dict[str, ibis.Table]:
    """The facts the rules read, as temporary tables of the tables' DuckDB connection —
    made once for the date and the one parameter they depend on (the §1.2 gap), so the
    baseline and a reform that keeps the gap read the same tables (``prepared`` remembers
    for which, per run). Sets the session variables of ``params``."""
    from hukou.analytics.compile import variables

    backend = _backend(tables)
    for statement in variables(params.at(on), params.parameters, DECISION_PREFIX):
        backend.con.execute(statement)
    made_for = (on, params.at(on).values.get(_GAP))
    if prepared is None or prepared.get("facts") != made_for:
        for name, compiled in _facts_sql(tables, on, params).items():
            backend.con.execute(
                f'CREATE OR REPLACE TEMP TABLE "{_FACT_TABLES[name]}" AS {compiled.sql}'
            )
        if prepared is not None:
            prepared["facts"] = made_for
    return {name: backend.table(table) for name, table in _FACT_TABLES.items()}


def compiled_decisions(
    tables: Mapping[str, ibis.Table],
    on: dt.date,
    params: ParameterSet,
    facts: Mapping[str, ibis.Table],
    *,
    cached: bool = True,
) -> tuple[sqlcache.CompiledQuery, sqlcache.CompiledQuery]:
    """RESULTS and RESULT_RELATIVES of any parameter set shaped as ``params`` on any date,
    over the fact tables ``prepare_facts`` made, as DuckDB SQL reading the parameters and
    the decision date from session variables (``compile.variables``); from the cache when
    it holds this rule version and tables (``on`` only resolves the parameters the
    expressions are built with)."""
    from hukou.analytics import sqlcache
    from hukou.analytics.batch import evaluate, evaluate_relatives
    from hukou.analytics.compile import SymbolicParameters, declared_signature

    backend = _backend(tables)
    read = {**tables, **{f"facts_{name}": table for name, table in facts.items()}}
    keys = [
        sqlcache.key(backend.name, read, [f"decisions-{part}", declared_signature(params)])
        for part in ("results", "relatives")
    ]
    if cached:
        hits = [sqlcache.load(k) for k in keys]
        if hits[0] is not None and hits[1] is not None:
            return hits[0], hits[1]
    resolved = SymbolicParameters.of(params.at(on), DECISION_PREFIX)
    results = evaluate(dict(tables), on, resolved, facts=dict(facts))[0]
    # the relatives read the applicants' channels from the results (``decide_parameter_set``
    # registers them under this name before it runs the relatives' SQL)
    backend.con.register(DECIDED_RESULTS, RESULTS.empty_table())
    try:
        decided = backend.table(DECIDED_RESULTS)
        relatives = evaluate_relatives(dict(tables), on, resolved, decided, facts=dict(facts))
    finally:
        backend.con.unregister(DECIDED_RESULTS)
    entries = []
    for k, expr in zip(keys, (results, relatives), strict=True):
        entry = sqlcache.CompiledQuery(_compile(backend, expr), expr.schema().to_pyarrow())
        sqlcache.store(k, entry)
        entries.append(entry)
    return entries[0], entries[1]


def _population_files(tables: Mapping[str, ibis.Table]) -> tuple[str, ...] | None:
    """Each table's Parquet file (path, size, modification time) when every table is a
    view over one (``population_tables``); None otherwise — then nothing is kept."""
    import re

    backend = _backend(tables)
    out = []
    for name in sorted(tables):
        row = backend.con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = ? AND NOT temporary",
            [tables[name].get_name()],
        ).fetchone()
        found = re.fullmatch(
            r"CREATE VIEW \S+ AS SELECT \* FROM read_parquet\('((?:[^']|'')*)'\);?",
            (row[0] if row else "").strip(),
        )
        if found is None:
            return None
        path = Path(found.group(1).replace("''", "'"))
        try:
            st = path.stat()
        except OSError:
            return None
        out.append(f"{name}={path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return tuple(out)


def decide_parameter_set(
    tables: Mapping[str, ibis.Table],
    on: dt.date,
    params: ParameterSet,
    prepared: dict[str, Any] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """RESULTS and RESULT_RELATIVES of ``params`` on ``on`` (Arrow): kept in this process
    for the population's files as they are, else decided by the symbolic SQL over the
    fact tables (``prepare_facts``; ``prepared``: one run's record of them)."""
    from hukou.analytics import sqlcache

    files = _population_files(tables)
    memo = None
    if files is not None:
        memo = (sqlcache.source_digest(), on.isoformat(), params.at(on).digest, *files)
        with _decided_lock:
            hit = _decided.get(memo)
            if hit is not None:
                _decided.move_to_end(memo)
                return hit
    facts = prepare_facts(tables, on, params, prepared)
    res_sql, rel_sql = compiled_decisions(tables, on, params, facts)
    backend = _backend(tables)
    results = run_sql(backend, res_sql.sql, res_sql.schema)
    backend.con.register(DECIDED_RESULTS, results)
    try:
        out = (results, run_sql(backend, rel_sql.sql, rel_sql.schema))
    finally:
        backend.con.unregister(DECIDED_RESULTS)
    if memo is not None and out[0].num_rows + out[1].num_rows <= _DECIDED_MAX_ROWS:
        with _decided_lock:
            _decided[memo] = out
            while len(_decided) > _DECIDED_ENTRIES:
                _decided.popitem(last=False)
    return out


def compare_decided(
    tables: Mapping[str, ibis.Table],
    on: dt.date,
    baseline: tuple[pa.Table, pa.Table],
    reformed: tuple[pa.Table, pa.Table],
) -> tuple[pa.Table, pa.Table]:
    """The two cubes from both parameter sets' decisions, compared where the population
    is (the comparison's SQL, a few KB, cached as the others)."""
    from hukou.analytics import sqlcache

    backend = _backend(tables)
    named: dict[str, ibis.Table] = dict(tables)
    for side, decided in (("b", baseline), ("r", reformed)):
        for name, table in zip(_RESULT_TABLES[side], decided, strict=True):
            backend.con.register(name, table)
            named[name] = backend.table(name)
    k = sqlcache.key(
        backend.name,
        named,
        [
            "comparison-of-decisions",
            on.isoformat(),
            repr(AGE_BANDS),
            repr(sorted(jiaxing_counties())),
        ],
    )
    compiled = sqlcache.load(k)
    if compiled is None or set(compiled.columns) != {"persons", "relatives"}:
        sides = {"b": _SIDE_B, "r": _SIDE_R}

        def read(_tables: Mapping[str, ibis.Table], _on: dt.date, which: ParameterSet) -> Any:
            side = "b" if which is sides["b"] else "r"
            res, rel = _RESULT_TABLES[side]
            return named[res], named[rel]

        cube, rel_cube = comparison_cubes(tables, on, _SIDE_B, _SIDE_R, read)
        query = comparison_query(cube, rel_cube)
        compiled = sqlcache.CompiledQuery(
            _compile(backend, query),
            query.schema().to_pyarrow(),
            {"persons": list(cube.columns), "relatives": list(rel_cube.columns)},
        )
        sqlcache.store(k, compiled)
    try:
        return fetch_compiled(tables, compiled)
    finally:
        for side in ("b", "r"):
            for name in _RESULT_TABLES[side]:
                backend.con.unregister(name)


# stand-ins telling ``comparison_cubes``' two calls apart in ``compare_decided``
_SIDE_B = ParameterSet({})
_SIDE_R = ParameterSet({})


# ---- the report ---------------------------------------------------------------------

MEASURES = (
    "eligible_before",
    "eligible_after",
    "gains",
    "loses",
    "earlier",
    "later",
    "days_earlier",
)


@dataclass
class ReformReport:
    """Who gains and who loses on one decision date: tables with zh/en labels."""

    reform: Reform
    on: dt.date
    baseline_version: RuleVersion
    reform_version: RuleVersion
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def persons(self) -> int:
        return int(self.tables["by_channel"].column("persons")[0].as_py() or 0)

    def overall(self) -> dict[str, Any]:
        rows: list[dict[str, Any]] = self.tables["by_channel"].to_pylist()
        return rows[0]


def _channel_labels() -> dict[str, tuple[str, str, str]]:
    from hukou.policy.rules import CHANNELS, RELATIVE_ROUTES

    out = {OVERALL: ("", "总体（任一渠道）", "overall (any channel)")}
    out.update({c.key: (c.clause, c.zh, c.en) for c in CHANNELS})
    out.update({f"route:{r.key}": (r.clause, r.zh, r.en) for r in RELATIVE_ROUTES})
    return out


def county_label(code: str) -> tuple[str, str]:
    c = jiaxing_counties().get(code)
    if c is not None:
        return c.zh, c.en
    return OTHER_COUNTIES.get(code, (code, code))


def _row(measures: Mapping[str, int], prefix: str) -> dict[str, int]:
    out = {m: int(measures.get(f"{prefix}{m}", 0)) for m in MEASURES}
    out["net"] = out["gains"] - out["loses"]
    return out


def _sum(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, int]:
    total: dict[str, int] = dict.fromkeys(keys, 0)
    for row in rows:
        for k in keys:
            total[k] += int(row.get(k) or 0)
    return total


def _order(values: set[str], preferred: Sequence[str]) -> list[str]:
    return [v for v in preferred if v in values] + sorted(values - set(preferred))


def build_tables(cube: pa.Table, rel_cube: pa.Table) -> dict[str, pa.Table]:
    """Every breakdown from the two cubes (sums; nothing is re-queried)."""
    rows = cube.to_pylist()
    measure_cols = [c for c in cube.column_names if c not in ("county", "age_band", "sex")]
    labels = _channel_labels()
    out: dict[str, pa.Table] = {}

    total = _sum(rows, measure_cols)
    chans = []
    for key in (OVERALL, *CHANNEL_KEYS):
        clause, zh, en = labels[key]
        prefix = "" if key == OVERALL else f"{key}__"
        chans.append(
            {"channel": key, "clause": clause, "zh": zh, "en": en, "persons": total["persons"]}
            | _row(total, prefix)
        )
    out["by_channel"] = pa.Table.from_pylist(chans)

    def breakdown(
        dim: str, order: Sequence[str], label: Callable[[str], tuple[str, str]]
    ) -> pa.Table:
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(str(row[dim]), []).append(row)
        table = []
        for value in _order(set(groups), order):
            s = _sum(groups[value], measure_cols)
            zh, en = label(value)
            table.append({dim: value, "zh": zh, "en": en, "persons": s["persons"]} | _row(s, ""))
        return pa.Table.from_pylist(table, schema=_schema(dim))

    counties = list(jiaxing_counties()) + list(OTHER_COUNTIES)
    out["by_county"] = breakdown("county", counties, county_label)
    out["by_age_band"] = breakdown(
        "age_band", [b[0] for b in AGE_BANDS] + ["unknown"], lambda v: (v, v)
    )
    out["by_sex"] = breakdown("sex", list(SEXES), lambda v: SEXES.get(v, (v, v)))

    grid = []
    by_county: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_county.setdefault(str(row["county"]), []).append(row)
    for county in _order(set(by_county), counties):
        s = _sum(by_county[county], measure_cols)
        zh, en = county_label(county)
        for key in CHANNEL_KEYS:
            r = _row(s, f"{key}__")
            grid.append(
                {"county": county, "zh": zh, "en": en, "channel": key}
                | {m: r[m] for m in ("eligible_before", "eligible_after", "gains", "loses", "net")}
            )
    out["by_county_channel"] = pa.Table.from_pylist(grid, schema=_grid_schema())

    rel_rows = rel_cube.to_pylist()
    rel_cols = [c for c in rel_cube.column_names if c != "relation"]
    rel_table = []
    groups = {str(r["relation"]): [r] for r in rel_rows}
    groups["all"] = rel_rows
    for relation in _order(set(groups), ["all", *RELATIONS]):
        s = _sum(groups[relation], rel_cols)
        rzh, ren = RELATIONS.get(
            relation, ("全部", "all") if relation == "all" else (relation, relation)
        )
        for key in (OVERALL, *ROUTE_KEYS):
            clause, zh, en = labels[key if key == OVERALL else f"route:{key}"]
            if key == OVERALL:
                zh, en = "任一途径", "any route"
            prefix = "" if key == OVERALL else f"{key}__"
            rel_table.append(
                {
                    "relation": relation,
                    "relation_zh": rzh,
                    "relation_en": ren,
                    "route": key,
                    "clause": clause,
                    "zh": zh,
                    "en": en,
                    "relatives": s["relatives"],
                }
                | _row(s, prefix)
            )
    out["relatives"] = pa.Table.from_pylist(rel_table, schema=_relatives_schema())
    return out


_MEASURE_FIELDS = [(m, pa.int64()) for m in (*MEASURES, "net")]


def _schema(dim: str) -> pa.Schema:
    return pa.schema(
        [
            (dim, pa.string()),
            ("zh", pa.string()),
            ("en", pa.string()),
            ("persons", pa.int64()),
            *_MEASURE_FIELDS,
        ]
    )


def _grid_schema() -> pa.Schema:
    return pa.schema(
        [
            ("county", pa.string()),
            ("zh", pa.string()),
            ("en", pa.string()),
            ("channel", pa.string()),
        ]
        + [(m, pa.int64()) for m in ("eligible_before", "eligible_after", "gains", "loses", "net")]
    )


def _relatives_schema() -> pa.Schema:
    return pa.schema(
        [
            ("relation", pa.string()),
            ("relation_zh", pa.string()),
            ("relation_en", pa.string()),
            ("route", pa.string()),
            ("clause", pa.string()),
            ("zh", pa.string()),
            ("en", pa.string()),
            ("relatives", pa.int64()),
            *_MEASURE_FIELDS,
        ]
    )


def run_reform(
    tables: Mapping[str, ibis.Table],
    reform: Reform,
    dates: Sequence[dt.date] | None = None,
    evaluate: Evaluate | None = None,
    base: ParameterSet | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[ReformReport]:
    """Evaluate ``reform`` against the law as enacted, on each decision date.

    ``dates`` (e.g. ``--on``) wins over the reform file's; with neither, today.
    ``progress`` is told each stage as it starts (``STAGES``) and the date's index.
    """
    from hukou.engine.decide import rule_version

    baseline = base or load()
    reformed = reform.apply(baseline)
    run = evaluate or default_evaluator()
    when = list(dates or reform.dates or [dt.date.today()])
    reports = []
    for i, on in enumerate(when):
        if progress is not None:
            progress("compiling", i)
        if isinstance(run, CompiledEvaluator) and symbolic(tables):  # decided once each
            if progress is not None:
                progress("evaluating", i)
            prepared: dict[str, Any] = {}  # the fact tables, shared by both sets
            before = decide_parameter_set(tables, on, baseline, prepared)
            after = decide_parameter_set(tables, on, reformed, prepared)
            cube, rel_cube = compare_decided(tables, on, before, after)
        elif isinstance(run, CompiledEvaluator) and _in_database(tables):  # SQL cached
            compiled = compiled_comparison(tables, on, baseline, reformed, run)
            if progress is not None:
                progress("evaluating", i)
            cube, rel_cube = fetch_compiled(tables, compiled)
        else:
            cubes = comparison_cubes(tables, on, baseline, reformed, run)
            if progress is not None:
                progress("evaluating", i)
            cube, rel_cube = fetch_cubes(*cubes)
        if progress is not None:
            progress("tabulating", i)
        report = ReformReport(
            reform,
            on,
            rule_version(baseline.at(on)),
            rule_version(reformed.at(on)),
            build_tables(cube, rel_cube),
        )
        reports.append(report)
    return reports


def population_tables(directory: Path, con: Any = None) -> dict[str, ibis.Table]:
    """The population's Parquet files as views of a DuckDB connection (nothing is loaded:
    DuckDB reads the files as the query runs, out of core)."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    backend = con if con is not None else ibis.duckdb.connect()
    out: dict[str, ibis.Table] = {}
    for name in TABLES:
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"缺少人口数据表 / missing population table: {path}")
        quoted = str(path).replace("'", "''")
        backend.con.execute(
            f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{quoted}')"
        )
        out[name] = backend.table(name)
    return out


class PopulationError(ValueError):
    """A population the reform cannot be run on; each problem names its option (zh, en)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['en']}" for p in problems))


def population_directory(directory: Path | None) -> Path:
    """``directory`` if it holds every table of a population, else ``PopulationError``."""
    if directory is None:
        raise PopulationError(
            [_problem("--in", "缺少人口数据目录", "the population directory is missing")]
        )
    missing = [name for name in TABLES if not (directory / f"{name}.parquet").is_file()]
    if missing:
        files = ", ".join(f"{name}.parquet" for name in missing)
        raise PopulationError(
            [
                _problem(
                    "--in",
                    f"不是人口数据目录：{directory} 中缺少 {files}",
                    f"not a population directory: {directory} has no {files}",
                )
            ]
        )
    return directory


@contextmanager
def open_population(
    engine: str,
    population: Path | None = None,
    *,
    pg_url: str | None = None,
    pg_prefix: str = "",
    spark_master: str | None = None,
) -> Iterator[dict[str, ibis.Table]]:
    """The population's tables on the backend where the reform's query will run.

    ``duckdb`` and ``reference``: the Parquet files of ``population`` as DuckDB views.
    ``postgres``: the tables ``<pg_prefix><name>`` of the database at ``pg_url`` (or
    ``HUKOU_DATABASE_URL``) — ``analytics.batch.load_postgres`` puts a population
    there; ``population`` is not read. ``spark``: the Parquet files read by a session
    on ``spark_master`` (``local[2]`` by default; the session is left running, as
    ``getOrCreate`` may have handed out one that is in use). Connections are closed
    on leaving. A population that cannot be opened raises ``PopulationError``.
    """
    import ibis  # type: ignore[import-untyped, unused-ignore]

    if engine not in ENGINES:
        raise PopulationError(
            [
                _problem(
                    "--engine",
                    f"须为 {'、'.join(ENGINES)} 之一，实为 {engine!r}",
                    f"must be one of {', '.join(ENGINES)}, got {engine!r}",
                )
            ]
        )
    if engine in ("duckdb", "reference"):
        directory = population_directory(population)
        con = ibis.duckdb.connect()
        try:
            yield population_tables(directory, con)
        finally:
            con.disconnect()
        return

    from hukou.analytics import batch

    if engine == "spark":
        directory = population_directory(population)
        session = batch.spark_session(spark_master)
        yield batch.spark_tables(ibis.pyspark.connect(session), session, directory)
        return

    import psycopg
    from ibis.common.exceptions import TableNotFound  # type: ignore[import-untyped, unused-ignore]

    try:
        url = batch.pg_url(pg_url)
    except ValueError:
        raise PopulationError(
            [
                _problem(
                    "--pg-url",
                    "未给出 PostgreSQL 地址（--pg-url 或 HUKOU_DATABASE_URL）",
                    "no PostgreSQL URL (--pg-url or HUKOU_DATABASE_URL)",
                )
            ]
        ) from None
    try:
        con = batch.postgres_connect(url)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PopulationError(
            [
                _problem(
                    "--pg-url",
                    f"无法连接 PostgreSQL：{reason}",
                    f"cannot connect to PostgreSQL: {reason}",
                )
            ]
        ) from None
    try:
        try:
            tables = batch.postgres_tables(con, pg_prefix)
        except TableNotFound as exc:
            raise PopulationError(
                [
                    _problem(
                        "--pg-prefix",
                        f"PostgreSQL 中没有人口数据表 {exc}（前缀 {pg_prefix!r}）；"
                        "可用 --pg-load 先载入 --in",
                        f"no population table {exc} in PostgreSQL (prefix {pg_prefix!r}); "
                        "--pg-load copies --in there first",
                    )
                ]
            ) from None
        yield tables
    finally:
        con.disconnect()


# the stages of a run, in order, as ``run_reform`` reports them
STAGES = ("compiling", "evaluating", "tabulating")


def reform_as_json(reform: Reform) -> dict[str, Any]:
    """``Reform.as_dict`` with its source, a date-valued parameter as ``{"date": …}``."""
    out = reform.as_dict()
    out["source"] = reform.source
    out["parameters"] = {
        path: {
            d: {"date": v.isoformat()} if isinstance(v, dt.date) else v for d, v in dated.items()
        }
        for path, dated in out["parameters"].items()
    }
    return out


def reform_from_json(r: Mapping[str, Any]) -> Reform:
    """The reform ``reform_as_json`` wrote."""

    def value(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"date"}:
            return dt.date.fromisoformat(v["date"])
        return v

    return Reform(
        r["name"]["zh"],
        r["name"]["en"],
        r["description"]["zh"],
        r["description"]["en"],
        tuple(dt.date.fromisoformat(d) for d in r["dates"]),
        {
            path: {dt.date.fromisoformat(d): value(v) for d, v in dated.items()}
            for path, dated in r["parameters"].items()
        },
        r.get("source", ""),
    )


def report_as_dict(report: ReformReport) -> dict[str, Any]:
    """A report as JSON (to keep it: a background job's result). The tables go as Arrow
    IPC streams (base64), so that their schemas come back exactly."""
    import base64
    from dataclasses import asdict

    tables = {}
    for name, table in report.tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        tables[name] = base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")
    versions = [asdict(v) for v in (report.baseline_version, report.reform_version)]
    for v in versions:
        if v["parameters_as_of"] is not None:
            v["parameters_as_of"] = v["parameters_as_of"].isoformat()
    return {
        "schema": "hukou.reform_report/1",
        "reform": reform_as_json(report.reform),
        "on": report.on.isoformat(),
        "versions": versions,
        "tables": tables,
    }


def report_from_dict(data: Mapping[str, Any]) -> ReformReport:
    """The report ``report_as_dict`` kept."""
    import base64

    from hukou.engine.decide import RuleVersion

    reform = reform_from_json(data["reform"])
    versions = [
        RuleVersion(
            v["ruleset"],
            v["code"],
            dt.date.fromisoformat(v["parameters_as_of"]) if v["parameters_as_of"] else None,
            v["digest"],
        )
        for v in data["versions"]
    ]
    tables = {
        name: pa.ipc.open_stream(base64.b64decode(blob)).read_all()
        for name, blob in data["tables"].items()
    }
    return ReformReport(reform, dt.date.fromisoformat(data["on"]), versions[0], versions[1], tables)


def version_text(v: RuleVersion) -> str:
    return f"{v.ruleset} · {v.code} · params {v.parameters_as_of} · {v.digest}"
