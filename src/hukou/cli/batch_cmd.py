"""``hukou batch``: every person of a population decided at once (批量审查)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from hukou.cli.errors import data_problem, date_option, debugging, refuse, unreachable
from hukou.cli.options import PgLoad, PgPrefix, PgUrl, SparkMaster, fraction_bar

EngineName = Literal["duckdb", "postgres", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "postgres", "spark")


def _fail(field: str, zh: str, en: str) -> NoReturn:
    refuse([{"field": field, "zh": zh, "en": en}])


def batch(
    out_dir: Annotated[Path, typer.Option("--out", help="结果目录 / output directory")],
    in_dir: Annotated[
        Path | None,
        typer.Option(
            "--in",
            help="人口数据目录（--from-registry 时不用） / population directory "
            "(not with --from-registry)",
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="duckdb（默认）、postgres 或 spark")
    ] = "duckdb",
    on: Annotated[
        str | None, typer.Option("--on", help="决定日期 / decision date (YYYY-MM-DD)")
    ] = None,
    pg_url: PgUrl = None,
    pg_prefix: PgPrefix = "",
    pg_load: PgLoad = False,
    spark_master: SparkMaster = None,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="DuckDB 内存上限 / DuckDB memory limit")
    ] = "8GB",
    from_registry: Annotated[
        bool,
        typer.Option(
            "--from-registry",
            help="审查登记库中的每个人（PostgreSQL 库内执行；SQLite 经 DuckDB） / decide "
            "everyone in the register (inside PostgreSQL; SQLite via DuckDB)",
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="登记库 URL（默认 HUKOU_DATABASE_URL 或 sqlite:///hukou.db） / register URL",
        ),
    ] = None,
) -> None:
    """对人口中每个人按本通知审查 / Decide every person of a population (Parquet in, Parquet out).

    With --from-registry, the population is the register itself (its persons,
    households, dwellings, residence records and latest applications).
    """
    from hukou.analytics import batch as batch_mod

    if from_registry:
        _from_registry(out_dir, on, db, in_dir)
        return
    if db is not None:
        _fail("--db", "仅与 --from-registry 一起使用", "only with --from-registry")
    if in_dir is None:
        _fail(
            "--in", "须给出人口数据目录或 --from-registry", "give a population or --from-registry"
        )
    if engine not in ENGINES:
        _fail("--engine", "须为 duckdb、postgres 或 spark", "must be duckdb, postgres or spark")
    when = _decision_date(on)
    needs_input = engine != "postgres" or pg_load
    if needs_input:
        from hukou.analytics.layout import check_population

        problems = check_population(in_dir)  # before any work: every table, every column
        if problems:
            refuse(problems, "--in")
    if out_dir.exists() and not out_dir.is_dir():
        _fail("--out", "不是目录", "not a directory")
    if engine == "postgres":
        try:
            batch_mod.pg_url(pg_url)
        except ValueError:
            _fail("--pg-url", "未给出 PostgreSQL 地址", "no PostgreSQL URL (or HUKOU_DATABASE_URL)")

    console = Console(stderr=True)
    try:
        with fraction_bar(console) as bar:
            task = bar.add_task("批量审查 / deciding", total=1.0)
            if engine == "postgres" and pg_load:
                bar.update(task, description="载入 PostgreSQL / loading into PostgreSQL")
                batch_mod.load_postgres(in_dir, pg_url, prefix=pg_prefix)

            def progress(stage: str, fraction: float) -> None:
                bar.update(task, completed=fraction, description=f"批量审查 / deciding · {stage}")

            report = batch_mod.run(
                in_dir,
                out_dir,
                engine,
                when,
                progress=progress,
                pg=pg_url,
                pg_prefix=pg_prefix,
                spark_master=spark_master,
                memory_limit=memory_limit,
            )
    except Exception as exc:
        if debugging():
            raise
        found = (
            unreachable(exc, "--pg-url", pg_url or _env_url())
            if engine == "postgres"
            else data_problem(exc, f"--in {in_dir}")
        )
        if found is None:
            raise  # the one error path (cli.errors) names it
        if found["code"] == "corrupt" and in_dir is not None:
            from hukou.analytics.layout import find_corrupt

            refuse(find_corrupt(in_dir) or [found], "--in")  # which file, if it can be told
        refuse([found])
    _report(report, out_dir)


def _env_url() -> str | None:
    import os

    return os.environ.get("HUKOU_DATABASE_URL")


def _decision_date(on: str | None) -> dt.date:
    if on is None:
        return dt.date.today()
    day: dt.date = date_option(on, "--on")
    return day


def _from_registry(out_dir: Path, on: str | None, db: str | None, in_dir: Path | None) -> None:
    """``hukou batch --from-registry``: the register's own tables, decided where they are."""
    from hukou.analytics import registry_source
    from hukou.registry.db import database_url

    if in_dir is not None:
        _fail("--in", "不能与 --from-registry 同用", "cannot be used with --from-registry")
    when = _decision_date(on)
    url = db or database_url()
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or not Path(path).is_file():
            _fail("--db", f"登记库文件不存在：{url}", f"the register file does not exist: {url}")
    elif not url.startswith(("postgresql", "postgres:")):
        _fail(
            "--db", "登记库须为 PostgreSQL 或 SQLite", "the register must be PostgreSQL or SQLite"
        )
    if out_dir.exists() and not out_dir.is_dir():
        _fail("--out", "不是目录", "not a directory")

    console = Console(stderr=True)
    with fraction_bar(console) as bar:
        task = bar.add_task("登记库审查 / deciding the register", total=1.0)

        def progress(stage: str, fraction: float) -> None:
            bar.update(
                task,
                completed=fraction,
                description=f"登记库审查 / deciding the register · {stage}",
            )

        try:
            report = registry_source.run_registry(out_dir, when, url, progress=progress)
        except Exception as exc:
            found = None if debugging() else unreachable(exc, "--db", url)
            if found is None:
                raise
            bar.stop()
            refuse([found])
    _report(report, out_dir)


def _report(report: dict[str, Any], out_dir: Path) -> None:
    from hukou.analytics import batch as batch_mod

    table = Table(title="批量审查 / batch decisions")
    table.add_column("")
    table.add_column("")
    table.add_row("engine", str(report["engine"]))
    table.add_row("decision date / 决定日期", str(report["on"]))
    if report.get("people") is not None:
        table.add_row("people / 人数", f"{report['people']:,}")
    seconds = float(report["seconds"])
    table.add_row("seconds / 用时", f"{seconds:.2f}")
    if report.get("people"):
        table.add_row("people/s", f"{report['people'] / max(seconds, 1e-9):,.0f}")
    table.add_row("results", str(out_dir / batch_mod.RESULTS_FILE))
    table.add_row("relatives", str(out_dir / batch_mod.RELATIVES_FILE))
    Console().print(table)
    Console().print(channel_counts(out_dir / batch_mod.RESULTS_FILE))


def channel_counts(results: Path) -> Table:
    """Per channel: how many are eligible, not eligible, undetermined (from the written results)."""
    import duckdb

    from hukou.analytics.layout import CHANNEL_KEYS
    from hukou.policy.rules import CHANNELS

    source = results / "*.parquet" if results.is_dir() else results  # Spark writes a directory
    statuses = ("eligible", "not_eligible", "undetermined")
    sums = ", ".join(
        f"count(*) FILTER (WHERE {k}_status = '{st}')" for k in CHANNEL_KEYS for st in statuses
    )
    with duckdb.connect() as con:
        row = con.execute(f"SELECT {sums} FROM read_parquet(?)", [str(source)]).fetchone()
    assert row is not None
    names = {c.key: f"{c.clause} {c.zh}" for c in CHANNELS}
    table = Table(title="各渠道结果 / results per channel")
    table.add_column("渠道 / channel")
    for zh, en in (("符合", "eligible"), ("不符合", "not eligible"), ("待定", "undetermined")):
        table.add_column(f"{zh} / {en}", justify="right")
    for i, k in enumerate(CHANNEL_KEYS):
        counts = row[i * 3 : i * 3 + 3]
        table.add_row(names[k], *(f"{n:,}" for n in counts))
    return table
