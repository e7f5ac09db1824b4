"""``hukou synth``: write a synthetic Jiaxing population (合成人口) in the Parquet layout."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hukou.cli.errors import date_option, refuse


def _fail(field: str, zh: str, en: str) -> NoReturn:
    refuse([{"field": field, "zh": zh, "en": en}])


def synth(
    people: Annotated[int, typer.Option("--people", help="人数 / number of people")],
    seed: Annotated[int, typer.Option("--seed", help="随机种子 / random seed")],
    out: Annotated[Path, typer.Option("--out", help="输出目录 / output directory")],
    on: Annotated[
        str | None,
        typer.Option("--on", help="人口状况日期 / the date the population is as of (YYYY-MM-DD)"),
    ] = None,
    chunk: Annotated[
        int, typer.Option("--chunk", help="每次写入人数 / people per write (memory bound)")
    ] = 1_000_000,
) -> None:
    """生成可复现的嘉兴合成人口 / Write a reproducible synthetic Jiaxing population (Parquet)."""
    from hukou.analytics.synth import DEFAULT_ON, generate

    when = DEFAULT_ON
    if on is not None:
        when = date_option(on, "--on")
    if when > dt.date.today():
        _fail("--on", "日期不能晚于今天", "the date must not be in the future")
    if people < 0:
        _fail("--people", "须为非负整数", "must be a non-negative integer")
    if chunk < 1:
        _fail("--chunk", "须为正整数", "must be a positive integer")
    if out.exists() and not out.is_dir():
        _fail("--out", "不是目录", "not a directory")

    console = Console()
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("合成人口 / people", total=people)
        counts = generate(
            people,
            seed,
            out,
            on=when,
            chunk=chunk,
            progress=lambda n: progress.advance(task, n),
        )
    seconds = time.perf_counter() - started

    table = Table(title=f"{out} — seed {seed}, as of {when}")
    table.add_column("表 / table")
    table.add_column("行数 / rows", justify="right")
    table.add_column("文件 / file", justify="right")
    for name, rows in counts.items():
        size = (out / f"{name}.parquet").stat().st_size
        table.add_row(name, f"{rows:,}", f"{size / 2**20:,.1f} MiB")
    console.print(table)
    rate = people / seconds if seconds > 0 else 0.0
    console.print(f"{people:,} 人 / people in {seconds:.1f} s ({rate:,.0f} people/s)")
