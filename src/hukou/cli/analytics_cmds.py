"""Commands over populations (人口层面命令): ``hukou reform`` and ``hukou indicators``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hukou.cli.errors import data_problem, date_option, debugging, print_problems, unreachable
from hukou.cli.options import PgLoad, PgPrefix, PgUrl, SparkMaster

if TYPE_CHECKING:
    import pyarrow as pa

    from hukou.analytics.reform import Evaluate, ReformReport


def _fail(problems: list[dict[str, str]], source: str = "") -> None:
    print_problems(problems, source)


def _date_option(value: str | None, name: str) -> dt.date | None:
    day: dt.date | None = date_option(value, name)
    return day


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _evaluator(engine: str, console: Console) -> Evaluate:
    from hukou.analytics.reform import batch_evaluator, reference_evaluator

    if engine == "reference":
        return reference_evaluator()
    try:
        return batch_evaluator()
    except ImportError:
        if engine != "duckdb":  # the per-case engine reads DuckDB's tables only
            raise
        console.print(
            "[yellow]未安装编译查询（analytics.batch），改用逐案参照引擎（较慢） / the compiled "
            "query (analytics.batch) is not available: using the per-case reference engine (slow)[/]"
        )
        return reference_evaluator()


def _write_tables(tables: dict[str, pa.Table], out: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for name, table in tables.items():
        pq.write_table(table, out / f"{name}.parquet")
        pacsv.write_csv(table, out / f"{name}.csv")


def _summary_table(report: ReformReport, lang: str) -> Table:
    zh = lang == "zh"
    r = report.reform
    title = (
        f"{r.name_zh} — 获益与受损（决定日期 {report.on}）"
        if zh
        else f"{r.name_en} — who gains, who loses (decision date {report.on})"
    )
    t = Table(title=title)
    heads = (
        ("渠道", "channel"),
        ("改革前", "before"),
        ("改革后", "after"),
        ("获益", "gains"),
        ("受损", "loses"),
        ("净变化", "net"),
        ("提前", "earlier"),
        ("推后", "later"),
    )
    t.caption = (
        "改革前/后：符合条件人数；提前/推后：最早可落户日期的变化"
        if zh
        else "before/after: eligible; earlier/later: shifts of the earliest date"
    )
    for i, (hz, he) in enumerate(heads):
        if i == 0:
            t.add_column(hz if zh else he, overflow="fold", ratio=1)
        else:
            t.add_column(hz if zh else he, justify="right", no_wrap=True)

    def add(label: str, row: dict[str, Any]) -> None:
        net = int(row["net"])
        colour = "green" if net > 0 else "red" if net < 0 else "dim"
        t.add_row(
            label,
            f"{row['eligible_before']:,}",
            f"{row['eligible_after']:,}",
            f"[green]{row['gains']:,}[/]" if row["gains"] else "0",
            f"[red]{row['loses']:,}[/]" if row["loses"] else "0",
            f"[{colour}]{net:+,}[/]",
            f"{row['earlier']:,}",
            f"{row['later']:,}",
        )

    for row in report.tables["by_channel"].to_pylist():
        name = row["zh"] if zh else row["en"]
        add(f"{row['clause']} {name}".strip(), row)
    for row in report.tables["relatives"].to_pylist():
        if row["relation"] == "all" and row["route"] == "overall":
            add("随迁亲属（任一途径）" if zh else "accompanying relatives (any route)", row)
    return t


def reform(
    reform_file: Annotated[
        Path, typer.Argument(help="改革文件 YAML / reform file (docs/reforms.md)")
    ],
    population: Annotated[
        Path | None,
        typer.Option(
            "--in",
            help="人口数据目录（--engine postgres 不加 --pg-load 时可省）/ population "
            "directory (not needed with --engine postgres without --pg-load)",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="输出目录 / output directory")] = None,
    on: Annotated[
        str | None,
        typer.Option("--on", help="决定日期，优先于改革文件 / decision date, overrides the file's"),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="duckdb（默认）、postgres（库内）、spark 或 reference（逐案）/ duckdb "
            "(default), postgres (in the database), spark or reference (case by case)",
        ),
    ] = "duckdb",
    pg_url: PgUrl = None,
    pg_prefix: PgPrefix = "",
    pg_load: PgLoad = False,
    spark_master: SparkMaster = None,
    lang: Annotated[str, typer.Option("--lang", help="zh（默认）或 en")] = "zh",
) -> None:
    """改革测算：谁获益、谁受损 / What-if reform: who gains and who loses.

    基准与改革在同一查询中测算并比较：DuckDB、PostgreSQL 库内或 Spark，只取回汇总。 /
    Baseline and reform are decided and compared in one query — DuckDB, inside
    PostgreSQL, or on Spark — and only the aggregates come back.
    """
    from hukou.analytics.reform import (
        ENGINES,
        PopulationError,
        ReformError,
        load_reform,
        open_population,
        run_reform,
    )

    console = Console()
    problems = []
    if engine not in ENGINES:
        problems.append(
            {
                "field": "--engine",
                "zh": f"须为 {'、'.join(ENGINES)} 之一",
                "en": f"must be one of {', '.join(ENGINES)}",
            }
        )
    if lang not in ("zh", "en"):
        problems.append({"field": "--lang", "zh": "须为 zh 或 en", "en": "must be zh or en"})
    if engine != "postgres":
        for name, given in (
            ("--pg-url", pg_url is not None),
            ("--pg-prefix", pg_prefix != ""),
            ("--pg-load", pg_load),
        ):
            if given:
                problems.append(
                    {
                        "field": name,
                        "zh": "仅用于 --engine postgres",
                        "en": "only with --engine postgres",
                    }
                )
    if engine != "spark" and spark_master is not None:
        problems.append(
            {
                "field": "--spark-master",
                "zh": "仅用于 --engine spark",
                "en": "only with --engine spark",
            }
        )
    needs_input = engine != "postgres" or pg_load
    if needs_input and population is None:
        problems.append(
            {
                "field": "--in",
                "zh": "缺少人口数据目录" + ("（--pg-load 从中载入）" if pg_load else ""),
                "en": "the population directory is missing"
                + (" (--pg-load copies it)" if pg_load else ""),
            }
        )
    elif needs_input:
        from hukou.analytics.layout import check_population

        assert population is not None
        # every table, file and column, before any work starts
        problems += [{**p, "field": f"--in {p['field']}"} for p in check_population(population)]
    if engine == "postgres":
        from hukou.analytics.batch import pg_url as libpq_url

        try:
            libpq_url(pg_url)
        except ValueError:
            problems.append(
                {
                    "field": "--pg-url",
                    "zh": "未给出 PostgreSQL 地址（--pg-url 或 HUKOU_DATABASE_URL）",
                    "en": "no PostgreSQL URL (--pg-url or HUKOU_DATABASE_URL)",
                }
            )
    if problems:
        _fail(problems)
        raise typer.Exit(2)
    when = _date_option(on, "--on")
    try:
        definition = load_reform(reform_file)
    except ReformError as exc:
        _fail(exc.problems, str(reform_file))
        raise typer.Exit(2) from None
    target = out or Path(f"reform-{reform_file.stem}")
    evaluate = _evaluator(engine, console)
    dates = [when] if when else list(definition.dates) or [dt.date.today()]

    from hukou.analytics.charts import reform_charts
    from hukou.analytics.workbook import reform_workbook

    reports = []
    with _progress(console) as progress:
        task = progress.add_task("基准与改革 / baseline and reform", total=len(dates) * 2)
        if engine == "postgres" and pg_load:
            assert population is not None
            progress.update(task, description="载入 PostgreSQL / loading into PostgreSQL")
            _pg_load(population, pg_url, pg_prefix)
        try:
            with open_population(
                engine,
                population,
                pg_url=pg_url,
                pg_prefix=pg_prefix,
                spark_master=spark_master,
            ) as tables:
                for day in dates:
                    progress.update(task, description=f"测算 / evaluating {day} ({engine})")
                    [report] = run_reform(tables, definition, [day], evaluate)
                    progress.advance(task)
                    folder = target if len(dates) == 1 else target / day.isoformat()
                    folder.mkdir(parents=True, exist_ok=True)
                    progress.update(task, description=f"表格与图表 / tables and charts {day}")
                    _write_tables(report.tables, folder)
                    reform_charts(report, folder)
                    reform_workbook(report, folder / "reform.xlsx")
                    progress.advance(task)
                    reports.append((report, folder))
        except PopulationError as exc:
            progress.stop()
            _fail(exc.problems)
            raise typer.Exit(2) from None
        except Exception as exc:
            found = None if debugging() else data_problem(exc, f"--in {population}")
            if found is None:
                raise  # the one error path (cli.errors) names it
            progress.stop()
            if population is not None:
                from hukou.analytics.layout import find_corrupt

                _fail(find_corrupt(population) or [found], "--in")  # which file, if it can be told
            else:
                _fail([found])
            raise typer.Exit(2) from None
    for report, folder in reports:
        console.print(_summary_table(report, lang))
        console.print(
            f"[dim]{'输出' if lang == 'zh' else 'written to'}: {folder} "
            "(*.csv, *.parquet, reform.png, reform.html, reform.xlsx)[/]"
        )


def _pg_load(population: Path, url: str | None, prefix: str) -> None:
    """``hukou batch --pg-load``'s copy of a population into PostgreSQL; a server that
    cannot be reached is an error naming ``--pg-url``."""
    import psycopg

    from hukou.analytics.batch import load_postgres

    try:
        load_postgres(population, url, prefix=prefix)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(
            [
                {
                    "field": "--pg-url",
                    "zh": f"无法连接 PostgreSQL：{reason}",
                    "en": f"cannot connect to PostgreSQL: {reason}",
                }
            ]
        )
        raise typer.Exit(2) from None


def _check_indicator_inputs(population: Path | None, results: Path | None) -> None:
    """``--population`` (its persons table) and ``--results`` (``results.parquet``) against
    the layout, before any work starts: each missing file, unreadable file and missing or
    mistyped column named."""
    from hukou.analytics.layout import RESULTS, check_population, check_table

    problems: list[dict[str, str]] = []
    if population is not None:
        problems += [
            {**p, "field": f"--population {p['field']}"}
            for p in check_population(population, ["persons"])
        ]
    if results is not None:
        found = results / "results.parquet"
        if not results.is_dir():
            problems.append(
                {
                    "field": f"--results {results}",
                    "zh": "批量结果目录不存在" if not results.exists() else "不是目录",
                    "en": "no such batch results directory"
                    if not results.exists()
                    else "not a directory",
                }
            )
        elif not found.is_dir():  # Spark writes a directory of parts: read as it is
            problems += [
                {**p, "field": f"--results {p['field']}"} for p in check_table(found, RESULTS)
            ]
    if problems:
        _fail(problems)
        raise typer.Exit(2)


def suppress_below() -> int:
    """Counts from 1 to this minus 1 are printed as ``<k`` (``HUKOU_SUPPRESS_BELOW``, 5 by
    default), as on the analyst page and in ``/api/indicators``."""
    import os

    try:
        return max(1, int(os.environ.get("HUKOU_SUPPRESS_BELOW", "5")))
    except ValueError:
        return 5


def shown(n: int, k: int) -> str:
    """A count as printed: ``<k`` for 1 … k−1 (small-count suppression), else the number."""
    return f"<{k}" if 0 < n < k else f"{n:,}"


def _summary_indicators(table: pa.Table, lang: str) -> Table:
    zh = lang == "zh"
    k = suppress_below()
    t = Table(title="§7 考核指标 / indicators" if zh else "§7 indicators")
    for hz, he in (
        ("县（市、区）", "county"),
        ("期间", "period"),
        ("落户人数", "persons settled"),
        ("落户申请", "applications"),
        ("居住证", "permits"),
        ("签注", "endorsements"),
        ("符合未落户", "eligible, not settled"),
    ):
        t.add_column(hz if zh else he, justify="left" if he in ("county", "period") else "right")
    for r in table.to_pylist():
        t.add_row(
            r["county_zh"] if zh else r["county_en"],
            r["period"],
            shown(r["settled_persons"], k),
            shown(r["settlement_applications"], k),
            shown(r["permits"], k),
            shown(r["endorsements"], k),
            shown(r["eligible_not_settled"], k),
        )
    if k > 1:
        t.caption = (
            f"1–{k - 1} 的计数显示为 <{k}（HUKOU_SUPPRESS_BELOW）"
            if zh
            else f"counts from 1 to {k - 1} are shown as <{k} (HUKOU_SUPPRESS_BELOW)"
        )
    return t


def indicators(
    db: Annotated[
        str | None,
        typer.Option("--db", help="登记库 URL（默认 HUKOU_DATABASE_URL）/ register URL"),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results", help="批量结果目录（hukou batch --out）/ batch results directory"
        ),
    ] = None,
    population: Annotated[
        Path | None,
        typer.Option(
            "--population",
            help="人口数据目录：居住证与人员表 / population directory: permits and persons",
        ),
    ] = None,
    period: Annotated[str, typer.Option("--period", help="month | quarter | year")] = "month",
    start: Annotated[
        str | None, typer.Option("--from", help="起始日期 / from (YYYY-MM-DD)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="截止日期 / to (YYYY-MM-DD)")] = None,
    out: Annotated[Path, typer.Option("--out", help="输出目录 / output directory")] = Path(
        "indicators"
    ),
    lang: Annotated[str, typer.Option("--lang", help="zh（默认）或 en")] = "zh",
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="文件中写精确计数（仅供内部）/ exact counts in the files (internal use only)",
        ),
    ] = False,
) -> None:
    """§7 考核指标：落户、居住证、符合未落户 / §7 indicators per county and period.

    Counts from 1 to 4 are suppressed on screen and in every file written (``<5``;
    ``HUKOU_SUPPRESS_BELOW`` changes the threshold); ``--exact`` writes exact counts into
    the files, for use inside the department."""
    from hukou.analytics import indicators as ind

    console = Console()
    if period not in ind.PERIODS:
        _fail(
            [
                {
                    "field": "--period",
                    "zh": "须为 month、quarter 或 year",
                    "en": "must be month, quarter or year",
                }
            ]
        )
        raise typer.Exit(2)
    since, until = _date_option(start, "--from"), _date_option(end, "--to")
    _check_indicator_inputs(population, results)
    tables: dict[str, Any] = {}
    sources: dict[str, str] = {}
    with _progress(console) as progress:
        task = progress.add_task("§7", total=3)
        engine = _register_engine(db, console)
        if engine is not None:
            progress.update(task, description="登记库 / register")
            try:
                tables["settlements"] = ind.settlements(engine, period, since, until)
                sources["settlements"] = "registry.applications (state registered)"
                permits = ind.permits_from_registry(engine, period, since, until)
            except Exception as exc:
                found = unreachable(exc, "--db", str(engine.url))
                if found is None:
                    raise
                progress.stop()
                _fail([found])
                raise typer.Exit(2) from None
            finally:
                engine.dispose()
            if permits.num_rows:
                tables["permits"] = permits
                sources["permits"] = (
                    "registry.residence_permits (issued_on); endorsements apart "
                    "(registry.residence_permit_endorsements, endorsed_on)"
                )
        progress.advance(task)
        if "permits" not in tables and population is not None:
            progress.update(task, description="居住证 / permits")
            import pyarrow.parquet as pq

            persons = pq.read_table(population / "persons.parquet")
            tables["permits"] = ind.permits_from_population(persons, period, since, until)
            sources["permits"] = f"population {population} (persons.permit_issued_on)"
        progress.advance(task)
        if results is not None:
            progress.update(task, description="批量结果 / batch results")
            try:
                res, persons_t = ind.results_tables(results, population)
            except FileNotFoundError as exc:
                _fail([{"field": "--results", "zh": str(exc), "en": str(exc)}])
                raise typer.Exit(2) from None
            tables["eligible"] = ind.eligible_not_settled(res, persons_t, period)
            sources["eligible"] = f"batch results {results}"
        progress.advance(task)
    if not tables:
        _fail(
            [
                {
                    "field": "--db/--results/--population",
                    "zh": "没有可用的数据来源",
                    "en": "no data source to compute from",
                }
            ]
        )
        raise typer.Exit(2)
    tables = {
        "summary": ind.summary(
            tables.get("settlements"), tables.get("permits"), tables.get("eligible")
        ),
        **tables,
    }
    ind.write_outputs(tables, out, period, sources, 1 if exact else suppress_below())
    console.print(_summary_indicators(tables["summary"], lang))
    for k, v in sources.items():
        console.print(f"[dim]{k}: {v}[/]")
    console.print(f"[dim]{'输出' if lang == 'zh' else 'written to'}: {out}[/]")


def _register_engine(db: str | None, console: Console) -> Any:
    from hukou.registry.db import database_url, make_engine

    url = db or database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        if db is not None:
            _fail(
                [
                    {
                        "field": "--db",
                        "zh": "登记库文件不存在",
                        "en": "the register file does not exist",
                    }
                ]
            )
            raise typer.Exit(2)
        console.print(f"[yellow]未找到登记库 / no register at {url}: settlements skipped[/]")
        return None
    return make_engine(url)
