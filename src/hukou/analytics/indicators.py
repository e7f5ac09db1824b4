"""The §7 indicators (考核指标), per county and period.

§7: 综合考虑农业转移人员落户数量、居住证办理数量等因素，安排…转移支付…；落实城镇建设用地
增加规模与农业转移人员数量相匹配 — fiscal transfers and urban land quotas follow the
number of migrants settled and of residence permits issued, county by county. So:

* **settlements** — from the register: applications in state ``registered``, by the
  county of the station that registered them (``applications.county``), the channel
  applied for (``applications.kind``) and the day of the ``registered`` event in
  Beijing time (the register's day, ``registry.clock``). Persons settled are the
  applicant plus the relatives approved to come along (``approved_relatives``): the
  people ``Registry.register`` moves into the household.
* **residence permits issued** (居住证办理数量) — from the register's
  ``residence_permits``: every permit issued (``issued_on``) in the county of the station
  that issued it, a replacement (补领、换领: a new permit, a new number) included; a permit
  cancelled or replaced since still counts on its issue day. **Endorsements** (签注, the
  yearly renewal, on time or late) are counted separately, from
  ``residence_permit_endorsements`` by ``endorsed_on`` and county: the ``endorsements``
  column beside ``permits``. A register that holds no permit and no endorsement in the
  window falls back, on the pages, to a population's ``persons.permit_issued_on`` /
  ``permit_county`` (no endorsements there: null). Every table says which in its
  ``source`` column.
* **eligible, not yet settled** — from batch results (``hukou batch``): persons whose
  decision is ``eligible`` and whose hukou is not already in an urban area or town of
  Jiaxing (a rural Jiaxing hukou counts: §7 is about 农业转移人员, rural people moving
  to towns), by the county they live in, the best channel, and the period of the
  decision date (a snapshot, not a flow).

The functions return pyarrow tables and import nothing heavy at module level: the
analyst web pages call them per request.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hukou.policy.places import jiaxing_counties
from hukou.registry.models import (
    Application,
    ApplicationEvent,
    ResidencePermit,
    ResidencePermitEndorsement,
)

if TYPE_CHECKING:
    import ibis  # type: ignore[import-untyped, unused-ignore]

Period = Literal["month", "quarter", "year"]
PERIODS: tuple[str, ...] = ("month", "quarter", "year")
BEIJING = dt.timezone(dt.timedelta(hours=8))

# the application kinds the register knows (registry.models.APPLICATION_KINDS)
KIND_LABELS: dict[str, tuple[str, str, str]] = {
    "s1_1": ("§1.1", "合法稳定住所落户", "settling on a lawful stable dwelling"),
    "s2_1": ("§2.1", "学历、职称、技能人才落户", "settling on education, title or skills"),
    "s2_2": ("§2.2", "中职（技校）毕业生落户", "secondary-vocational graduates"),
    "s3_1": ("§3.1", "父母投靠成年子女", "a parent joining an adult child"),
    "s3_3": ("§3.3", "投靠人才亲属", "joining a talent relative"),
    "s4_4": ("§4.4", "挂靠社区（村）集体户", "attaching to the community collective household"),
    "s5_2_no_hukou": ("§5.2", "无户口人员登记户口", "registering a person with no hukou"),
    "s5_2_overseas": ("§5.2", "华侨回国落户", "overseas Chinese returning"),
}

# every table is per county and period; the channel tables name the channel too
_WHERE_WHEN = [
    ("county", pa.string()),
    ("county_zh", pa.string()),
    ("county_en", pa.string()),
    ("period", pa.string()),
]
_CHANNEL = [
    ("channel", pa.string()),
    ("clause", pa.string()),
    ("channel_zh", pa.string()),
    ("channel_en", pa.string()),
]
SETTLEMENTS = pa.schema(
    [
        *_WHERE_WHEN,
        *_CHANNEL,
        ("applications", pa.int64()),
        ("persons", pa.int64()),
        # §5.1 reporting flags of the decision registered (a decision made before the
        # flags existed counts in neither)
        ("small_town", pa.int64()),
        ("central_town", pa.int64()),
        ("registered_poor", pa.int64()),
    ]
)
PERMITS = pa.schema(
    [
        *_WHERE_WHEN,
        ("permits", pa.int64()),
        # 签注, counted apart from the permits issued (null: the source has none to count)
        ("endorsements", pa.int64()),
        ("source", pa.string()),
    ]
)
ELIGIBLE = pa.schema([*_WHERE_WHEN, *_CHANNEL, ("eligible_not_settled", pa.int64())])
SUMMARY = pa.schema(
    [
        *_WHERE_WHEN,
        ("settled_persons", pa.int64()),
        ("settlement_applications", pa.int64()),
        ("permits", pa.int64()),
        ("endorsements", pa.int64()),
        ("eligible_not_settled", pa.int64()),
    ]
)


def period_of(day: dt.date, period: str) -> str:
    """``2025-03`` (month), ``2025-Q1`` (quarter), ``2025`` (year)."""
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    if period == "year":
        return f"{day.year:04d}"
    raise ValueError(f"period must be one of {', '.join(PERIODS)} / 期间须为 month、quarter、year")


def county_labels(code: str | None) -> tuple[str, str, str]:
    """(key, zh, en): a Jiaxing county by its GB/T 2260 code; every other county is
    ``outside`` (§7 assesses Jiaxing's counties), a NULL ``unknown``."""
    if code is None or code == "unknown":
        return "unknown", "未知", "unknown"
    c = jiaxing_counties().get(code)
    if c is not None:
        return code, c.zh, c.en
    return "outside", "嘉兴市外", "outside Jiaxing"


def _beijing_day(at: dt.datetime) -> dt.date:
    # SQLite hands back naive datetimes: the register writes them in UTC (registry.clock)
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return aware.astimezone(BEIJING).date()


def _within(day: dt.date, start: dt.date | None, end: dt.date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def _session(bind: Engine | Session) -> tuple[Session, bool]:
    if isinstance(bind, Session):
        return bind, False
    return Session(bind), True


def settlements(
    bind: Engine | Session,
    period: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pa.Table:
    """§7 落户数量: registered applications and persons settled, per county, period, channel."""
    return pa.Table.from_pylist(settlement_rows(bind, period, start, end), schema=SETTLEMENTS)


def settlement_rows(
    bind: Engine | Session,
    period: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict[str, Any]]:
    """``settlements`` as rows (no Arrow: building a table makes pyarrow import pandas,
    seconds on a cold start, which the analyst page does without)."""
    period_of(dt.date(2000, 1, 1), period)  # refuse a bad period before querying
    stmt = (
        select(
            Application.county,
            Application.kind,
            ApplicationEvent.at,
            Application.approved_relatives,
            Application.decision,
        )
        .join(ApplicationEvent, ApplicationEvent.application_id == Application.id)
        .where(Application.state == "registered", ApplicationEvent.to_state == "registered")
    )
    session, owned = _session(bind)
    try:
        rows = session.execute(stmt).all()
    finally:
        if owned:
            session.close()
    apps: Counter[tuple[str, str, str]] = Counter()
    persons: Counter[tuple[str, str, str]] = Counter()
    flagged: Counter[tuple[str, str, str, str]] = Counter()
    for county, kind, at, approved, decision in rows:
        day = _beijing_day(at)
        if not _within(day, start, end):
            continue
        key = (county, period_of(day, period), kind)
        apps[key] += 1
        persons[key] += 1 + len(approved or [])
        for flag in (decision or {}).get("reporting_flags") or []:
            if flag.get("value") is True:
                flagged[(*key, str(flag.get("key")))] += 1
    out = []
    for county, per, kind in sorted(apps):
        code, czh, cen = county_labels(county)
        clause, zh, en = KIND_LABELS.get(kind, ("", kind, kind))
        out.append(
            {
                "county": code,
                "county_zh": czh,
                "county_en": cen,
                "period": per,
                "channel": kind,
                "clause": clause,
                "channel_zh": zh,
                "channel_en": en,
                "applications": apps[(county, per, kind)],
                "persons": persons[(county, per, kind)],
                "small_town": flagged[(county, per, kind, "small_town_settlement")],
                "central_town": flagged[(county, per, kind, "central_town_settlement")],
                "registered_poor": flagged[(county, per, kind, "registered_poor")],
            }
        )
    return out


def _permit_rows(
    pairs: Iterable[tuple[str | None, dt.date | None]],
    period: str,
    start: dt.date | None,
    end: dt.date | None,
    source: str,
) -> pa.Table:
    rows = permit_count_rows(((c, d, 1) for c, d in pairs), period, start, end, source)
    return pa.Table.from_pylist(rows, schema=PERMITS)


def permit_count_rows(
    counted: Iterable[tuple[str | None, dt.date | None, int]],
    period: str,
    start: dt.date | None,
    end: dt.date | None,
    source: str,
    endorsed: Iterable[tuple[str | None, dt.date | None, int]] | None = None,
) -> list[dict[str, Any]]:
    """Permits per county and period, as rows, from (county, issue day, how many); and the
    endorsements from (county, endorsement day, how many) when the source has them
    (``endorsed``; else the column is null)."""

    def count(pairs: Iterable[tuple[str | None, dt.date | None, int]]) -> Counter[Any]:
        counts: Counter[tuple[str, str]] = Counter()
        for county, day, n in pairs:
            if day is None or not _within(day, start, end):
                continue
            counts[(county_labels(county)[0], period_of(day, period))] += n
        return counts

    permits = count(counted)
    endorsements = count(endorsed) if endorsed is not None else None
    out = []
    for county, per in sorted(set(permits) | set(endorsements or ())):
        code, czh, cen = county_labels(county)
        out.append(
            {
                "county": code,
                "county_zh": czh,
                "county_en": cen,
                "period": per,
                "permits": permits[(county, per)],
                "endorsements": None if endorsements is None else endorsements[(county, per)],
                "source": source,
            }
        )
    return out


def permits_from_registry(
    bind: Engine | Session,
    period: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pa.Table:
    """§7 居住证办理数量 from the register: permits issued (``residence_permits``) and,
    apart, endorsements (``residence_permit_endorsements``), per county and period."""
    rows = permit_rows_registry(bind, period, start, end)
    return pa.Table.from_pylist(rows, schema=PERMITS)


def permit_rows_registry(
    bind: Engine | Session,
    period: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict[str, Any]]:
    """``permits_from_registry`` as rows (no Arrow). Counted in the database, per county
    and day (a register of millions of permits hands back a row per county-day)."""
    period_of(dt.date(2000, 1, 1), period)

    def per_day(county: Any, day: Any) -> Any:
        stmt = select(county, day, func.count()).where(day.is_not(None))
        if start is not None:
            stmt = stmt.where(day >= start)
        if end is not None:
            stmt = stmt.where(day <= end)
        return stmt.group_by(county, day)

    session, owned = _session(bind)
    try:
        issued = session.execute(per_day(ResidencePermit.county, ResidencePermit.issued_on)).all()
        endorsed = session.execute(
            per_day(ResidencePermitEndorsement.county, ResidencePermitEndorsement.endorsed_on)
        ).all()
    finally:
        if owned:
            session.close()
    return permit_count_rows(
        ((c, d, int(n)) for c, d, n in issued),
        period,
        start,
        end,
        REGISTRY_PERMITS,
        ((c, d, int(n)) for c, d, n in endorsed),
    )


# the ``source`` of the register's permit counts
REGISTRY_PERMITS = "registry.residence_permits"


def permits_from_population(
    persons: pa.Table,
    period: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pa.Table:
    """§7 居住证办理数量 from a population: ``permit_issued_on`` in ``permit_county``.

    A permit counts when it is held (``permit_held`` not false) and its issue date is known.
    """
    period_of(dt.date(2000, 1, 1), period)
    held = persons.column("permit_held").to_pylist()
    counties = persons.column("permit_county").to_pylist()
    days = persons.column("permit_issued_on").to_pylist()
    pairs = ((c, d) for h, c, d in zip(held, counties, days, strict=True) if h is not False)
    return _permit_rows(pairs, period, start, end, "population.persons")


def _settled_already(persons: ibis.Table) -> Any:
    """Hukou already in an urban area or town of Jiaxing (urban–rural code 1xx)."""
    return (
        persons.hukou_county.isin(list(jiaxing_counties()))
        & persons.hukou_urban_rural_code.startswith("1")
    ).fill_null(False)


def eligible_not_settled(
    results: ibis.Table,
    persons: ibis.Table,
    period: str = "month",
) -> pa.Table:
    """Migrants a batch run found eligible and not yet settled, per county and best channel."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    period_of(dt.date(2000, 1, 1), period)
    j = results.filter(results.status == "eligible").join(
        persons.select("person_id", "lives_in", "hukou_county", "hukou_urban_rural_code"),
        "person_id",
    )
    j = j.filter(~_settled_already(j))
    grouped = (
        j.group_by(
            county=j.lives_in,
            decision_date=j.decision_date,
            channel=j.best_channel.fill_null("unknown"),
        )
        .aggregate(n=ibis._.count())
        .to_pyarrow()
    )
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in grouped.to_pylist():
        code = county_labels(row["county"])[0]
        counts[(code, period_of(row["decision_date"], period), row["channel"])] += int(row["n"])
    out = []
    for county, per, channel in sorted(counts):
        code, czh, cen = county_labels(county)
        clause, zh, en = KIND_LABELS.get(channel, ("", channel, channel))
        out.append(
            {
                "county": code,
                "county_zh": czh,
                "county_en": cen,
                "period": per,
                "channel": channel,
                "clause": clause,
                "channel_zh": zh,
                "channel_en": en,
                "eligible_not_settled": counts[(county, per, channel)],
            }
        )
    return pa.Table.from_pylist(out, schema=ELIGIBLE)


def results_tables(directory: Path, population: Path | None = None) -> tuple[Any, Any]:
    """``results.parquet`` of a batch output directory, and the persons it is about
    (``persons.parquet`` there, else in ``population``), as DuckDB-backed Ibis tables."""
    import ibis  # type: ignore[import-untyped, unused-ignore]

    con = ibis.duckdb.connect()
    results_path = directory / "results.parquet"
    if not results_path.exists():
        raise FileNotFoundError(f"缺少批量结果 / missing batch results: {results_path}")
    persons_path = directory / "persons.parquet"
    if not persons_path.exists() and population is not None:
        persons_path = population / "persons.parquet"
    if not persons_path.exists():
        raise FileNotFoundError(f"缺少人员表 / missing persons table: {persons_path}")
    return (
        con.read_parquet(results_path, table_name="results"),
        con.read_parquet(persons_path, table_name="persons"),
    )


def summary(
    settled: pa.Table | None = None,
    permits: pa.Table | None = None,
    eligible: pa.Table | None = None,
) -> pa.Table:
    """One row per county and period: the three §7 figures side by side (0 where none)."""
    return pa.Table.from_pylist(
        summary_rows(
            settled.to_pylist() if settled is not None else None,
            permits.to_pylist() if permits is not None else None,
            eligible.to_pylist() if eligible is not None else None,
        ),
        schema=SUMMARY,
    )


def summary_rows(
    settled: list[dict[str, Any]] | None = None,
    permits: list[dict[str, Any]] | None = None,
    eligible: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """``summary`` from rows, as rows (no Arrow)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(county: str, per: str) -> dict[str, Any]:
        if (county, per) not in rows:
            code, czh, cen = county_labels(county)
            rows[(county, per)] = {
                "county": code,
                "county_zh": czh,
                "county_en": cen,
                "period": per,
                "settled_persons": 0,
                "settlement_applications": 0,
                "permits": 0,
                "endorsements": 0,
                "eligible_not_settled": 0,
            }
        return rows[(county, per)]

    for r in settled or []:
        x = row(r["county"], r["period"])
        x["settled_persons"] += r["persons"]
        x["settlement_applications"] += r["applications"]
    for r in permits or []:
        x = row(r["county"], r["period"])
        x["permits"] += r["permits"]
        x["endorsements"] += r.get("endorsements") or 0
    for r in eligible or []:
        row(r["county"], r["period"])["eligible_not_settled"] += r["eligible_not_settled"]
    order = {c: i for i, c in enumerate(jiaxing_counties())}
    keys = sorted(rows, key=lambda k: (k[1], order.get(k[0], len(order)), k[0]))
    return [rows[k] for k in keys]


# ---- charts and workbook --------------------------------------------------------------


def indicator_panels(tables: dict[str, pa.Table], suppress_below: int = 1) -> list[Any]:
    """Per county (all periods summed): persons settled by channel, permits issued,
    eligible not yet settled. A total from 1 to ``suppress_below - 1`` is drawn as 0."""
    from hukou.analytics.charts import Panel, Series

    s = tables["summary"].to_pylist()
    present = {r["county"] for r in s}
    counties = [c for c in (*jiaxing_counties(), "outside", "unknown") if c in present]
    counties = counties or list(jiaxing_counties())
    labels = [county_labels(c) for c in counties]
    czh = tuple(zh for _, zh, _ in labels)
    cen = tuple(en for _, _, en in labels)

    def totals(field: str, rows: list[dict[str, Any]]) -> tuple[float, ...]:
        sums = (sum(r[field] for r in rows if r["county"] == c) for c in counties)
        return tuple(0.0 if 0 < n < suppress_below else float(n) for n in sums)

    panels = []
    settled = tables.get("settlements")
    if settled is not None:
        srows = settled.to_pylist()
        series = []
        for kind in [k for k in KIND_LABELS if any(r["channel"] == k for r in srows)]:
            clause, zh, en = KIND_LABELS[kind]
            rows = [r for r in srows if r["channel"] == kind]
            series.append(Series(f"{clause} {zh}", f"{clause} {en}", totals("persons", rows)))
        if not series:
            series.append(Series("落户人数", "persons settled", totals("settled_persons", s)))
        panels.append(
            Panel("落户人数（按渠道）", "persons settled (by channel)", czh, cen, tuple(series))
        )
    panels.append(
        Panel(
            "居住证办理数量",
            "residence permits issued",
            czh,
            cen,
            (
                Series("居住证", "permits", totals("permits", s)),
                Series("签注", "endorsements", totals("endorsements", s)),
            ),
        )
    )
    panels.append(
        Panel(
            "符合条件尚未落户",
            "eligible, not yet settled",
            czh,
            cen,
            (Series("人数", "persons", totals("eligible_not_settled", s)),),
        )
    )
    return panels


INDICATOR_SHEETS: dict[str, str] = {
    "summary": "汇总 summary",
    "settlements": "落户 settlements",
    "permits": "居住证 permits",
    "eligible": "符合未落户 eligible",
}


# the columns that count people or applications (the ones small-count suppression covers)
COUNT_COLUMNS = frozenset(
    {
        "applications",
        "persons",
        "small_town",
        "central_town",
        "registered_poor",
        "permits",
        "endorsements",
        "eligible_not_settled",
        "settled_persons",
        "settlement_applications",
    }
)


def suppressed(table: pa.Table, below: int) -> pa.Table:
    """小数抑制 / small-count suppression: every count from 1 to ``below - 1`` becomes null
    (a cell that could single out a person or a family); 0 and counts ≥ ``below`` stay.
    ``below`` ≤ 1 suppresses nothing."""
    import pyarrow.compute as pc

    if below <= 1:
        return table
    for i, name in enumerate(table.column_names):
        if name in COUNT_COLUMNS:
            col = table.column(i)
            small = pc.and_(pc.greater(col, 0), pc.less(col, below))
            table = table.set_column(i, name, pc.if_else(small, pa.scalar(None, col.type), col))
    return table


def _shown_csv(table: pa.Table, below: int) -> pa.Table:
    """A suppressed table for CSV: the null counts written ``<k`` (the column as text)."""
    import pyarrow.compute as pc

    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if name in COUNT_COLUMNS and col.null_count:
            text = pc.fill_null(pc.cast(col, pa.string()), f"<{below}")
            table = table.set_column(i, name, text)
    return table


def write_outputs(
    tables: dict[str, pa.Table],
    out: Path,
    period: str,
    sources: dict[str, str],
    suppress_below: int = 5,
) -> list[Path]:
    """CSV and Parquet of each table, a PNG and an HTML chart, and a workbook.

    Counts from 1 to ``suppress_below - 1`` are suppressed in every file, as on the pages
    and in ``/api/indicators``: null in Parquet, ``<k`` in CSV and in the workbook; the
    charts' per-county totals below ``k`` are drawn as 0. ``suppress_below=1`` (``hukou
    indicators --exact``) writes exact counts, for use inside the department only."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from hukou.analytics.charts import write_html, write_png
    from hukou.analytics.workbook import write_workbook

    k = suppress_below
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    shown = {name: suppressed(table, k) for name, table in tables.items()}
    for name, table in shown.items():
        pq.write_table(table, out / f"{name}.parquet")
        pacsv.write_csv(_shown_csv(table, k), out / f"{name}.csv")
        written += [out / f"{name}.parquet", out / f"{name}.csv"]
    panels = indicator_panels(tables, k)
    periods = sorted({str(r["period"]) for r in tables["summary"].to_pylist()})
    span = f"{periods[0]} – {periods[-1]}" if periods else ""
    title_zh = f"§7 考核指标（各县市区，{span} 合计）"
    title_en = f"§7 indicators per county ({span}, summed)"
    written.append(write_png(panels, title_zh, title_en, out / "indicators.png"))
    written.append(write_html(panels, title_zh, title_en, out / "indicators.html"))
    readme: list[tuple[str, Any]] = [
        ("指标 indicators", "嘉政办发〔2020〕28号 §7：落户数量、居住证办理数量、符合条件尚未落户"),
        ("期间 period", period),
        *((f"来源 source: {k}", v) for k, v in sources.items()),
        ("口径 definitions", __doc__ or ""),
        (
            "小数抑制 small counts",
            f"1–{k - 1} 的计数显示为 <{k}（图表中为 0）/ counts from 1 to {k - 1} are shown "
            f"as <{k} (0 in the charts)"
            if k > 1
            else "精确计数，仅供内部使用 / exact counts, for internal use only (--exact)",
        ),
        ("生成时间 generated", dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()),
    ]
    sheets = {INDICATOR_SHEETS.get(n, n): t for n, t in shown.items()}
    marker = (f"<{k}", COUNT_COLUMNS) if k > 1 else None
    written.append(write_workbook(out / "indicators.xlsx", readme, sheets, null_as=marker))
    return written
