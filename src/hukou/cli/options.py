"""Options and progress bars shared by the population commands (batch, reform)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

PgUrl = Annotated[
    str | None,
    typer.Option(
        "--pg-url", help="PostgreSQL URL（默认 HUKOU_DATABASE_URL）/ default HUKOU_DATABASE_URL"
    ),
]
PgPrefix = Annotated[
    str, typer.Option("--pg-prefix", help="PostgreSQL 表名前缀 / table-name prefix")
]
PgLoad = Annotated[
    bool,
    typer.Option("--pg-load", help="先把 --in 的数据复制进 PostgreSQL / copy --in into PG first"),
]
SparkMaster = Annotated[
    str | None,
    typer.Option("--spark-master", help="Spark master URL（默认 local[2]）/ default local[2]"),
]


def fraction_bar(console: Console) -> Progress:
    """A bar for work measured as a fraction of the whole run (0.0 to 1.0)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
