"""Register commands: ``hukou db …``, ``hukou users add``, ``hukou audit verify|seal``,
``hukou cases due|expire``."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.db import database_url, make_engine, session_factory, upgrade
from hukou.registry.errors import RegistryError
from hukou.registry.service import Registry

db_app = typer.Typer(help="数据库 / the register's database", no_args_is_help=True)
users_app = typer.Typer(help="用户 / users", no_args_is_help=True)
audit_app = typer.Typer(help="审计 / the audit trail", no_args_is_help=True)
cases_app = typer.Typer(help="案件 / procedures", no_args_is_help=True)

Url = Annotated[str | None, typer.Option("--url", help="默认 HUKOU_DATABASE_URL / default")]


def _registry(url: str | None) -> Registry:
    return Registry(session_factory(make_engine(url or database_url())))


def _fail(exc: RegistryError) -> None:
    field = f"{exc.field}: " if exc.field else ""
    Console(stderr=True).print(f"[bold red]{field}{exc.zh} / {exc.en}[/]")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(url: Url = None) -> None:
    """迁移到最新结构 / migrate to the newest schema (Alembic)."""
    upgrade(url or database_url())
    Console().print("[green]✔[/] 数据库已是最新结构 / the database schema is up to date")


@db_app.command("backup")
def db_backup(path: Path, url: Url = None) -> None:
    """备份 / back up: SQLite's online backup, or pg_dump for PostgreSQL."""
    target = url or database_url()
    if target.startswith("sqlite"):
        source = sqlite3.connect(target.split("sqlite:///", 1)[1])
        dest = sqlite3.connect(path)
        with dest:
            source.backup(dest)
        source.close()
        dest.close()
    else:
        if shutil.which("pg_dump") is None:
            Console(stderr=True).print("pg_dump 不可用 / pg_dump is not installed")
            raise typer.Exit(2)
        plain = target.replace("postgresql+psycopg://", "postgresql://")
        subprocess.run(["pg_dump", "--format=custom", "--file", str(path), plain], check=True)
    Console().print(f"[green]✔[/] 已备份到 / backed up to {path}")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option("--role", help="officer | keeper | analyst | admin")],
    jurisdiction: Annotated[str | None, typer.Option("--jurisdiction")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    url: Url = None,
) -> None:
    """新增用户 / add a user (run by an administrator on the server)."""
    try:
        uid = _registry(url).add_user(SYSTEM, username, password, role, jurisdiction)
    except RegistryError as exc:
        _fail(exc)
    Console().print(f"[green]✔[/] 用户 {username}（{role}）已建立 / user created, id {uid}")


@audit_app.command("verify")
def audit_verify(url: Url = None) -> None:
    """校验审计链 / recompute the hash chain; exit 1 naming every record that does not fit."""
    problems = _registry(url).verify_audit()
    console = Console()
    if not problems:
        console.print("[green]✔[/] 审计链完整 / the audit chain is intact")
        return
    for p in problems:
        console.print(f"[red]✘[/] #{p.record_id}: {p.zh} / {p.en}")
    raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal(url: Url = None) -> None:
    """封存审计记录 / chain the audit records not yet sealed (the service does this itself)."""
    sealed = _registry(url).seal_audit()
    Console().print(f"[green]✔[/] 已封存 {sealed} 条 / sealed {sealed} record(s)")


@cases_app.command("due")
def cases_due(
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD")] = None,
    county: Annotated[str | None, typer.Option("--county")] = None,
    url: Url = None,
) -> None:
    """公示期届满的迁出程序（§4.5） / move-out procedures whose public notice has run out."""
    day = dt.date.fromisoformat(on) if on else None
    actor = Actor(None, "cli", "officer", county) if county else SYSTEM
    rows = _registry(url).due_move_outs(actor, day)
    table = Table(title="§4.5 公示期届满 / public notice run out")
    for col in ("编号 ref", "县 county", "当事人 person", "公示至 notice until"):
        table.add_column(col)
    for p in rows:
        table.add_row(p.reference, p.county, f"#{p.person_id}", str(p.notice_until))
    Console().print(table)
    registry = _registry(url)
    permits = registry.due_permits(actor, day)
    today = day or registry.clock.today()
    table = Table(title="准予迁入证明即将或已经到期 / move-in permits running out or run out")
    for col in ("证明编号 number", "县 county", "申请 application", "有效至 valid until", ""):
        table.add_column(col)
    for m in permits:
        lapsed = "已过期 / run out" if m.valid_until < today else "即将到期 / soon"
        table.add_row(m.number, m.county, f"#{m.application_id}", str(m.valid_until), lapsed)
    Console().print(table)


@cases_app.command("expire")
def cases_expire(
    county: Annotated[str | None, typer.Option("--county")] = None,
    url: Url = None,
) -> None:
    """把逾期未用的准予迁入证明登记为过期 / mark unused move-in permits past their last day
    as expired (each audited)."""
    actor = Actor(None, "cli", "officer", county) if county else SYSTEM
    try:
        done = _registry(url).expire_permits(actor)
    except RegistryError as exc:
        _fail(exc)
        return
    Console().print(f"[green]✔[/] {len(done)} 份证明已过期 / permit(s) marked expired")


def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="进程数 / worker processes")] = 1,
    url: Url = None,
) -> None:
    """启动服务 / serve the API (OpenAPI at /openapi.json, docs at /docs)."""
    import os

    import uvicorn

    if url:
        os.environ["HUKOU_DATABASE_URL"] = url
    console = Console()
    console.print(f"hukou 服务 / service: [bold]http://{host}:{port}/[/]")
    console.print(f"  接口文档 / API docs: http://{host}:{port}/docs")
    uvicorn.run(
        "hukou.service.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


demo_app = typer.Typer(help="演示数据 / demonstration data", no_args_is_help=True)


@demo_app.command("load")
def demo_load(
    url: Url = None,
    seed: int = 2020,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="登记库已有真实用户或数据时仍载入（从不覆盖同名账号） / load even into a "
            "register with real users or data (never overwrites an account of the same name)",
        ),
    ] = False,
) -> None:
    """载入演示数据（已载入则跳过；有真实用户时拒绝） / load a synthetic Jiaxing.

    Skipped when already there. Refused (exit 2) on users or data it did not create, unless --force.
    """
    from rich.progress import Progress

    from hukou.registry import demo

    registry = _registry(url)
    console = Console()
    if demo.loaded(registry):
        console.print("演示数据已存在 / the demonstration data is already loaded")
    else:
        foreign = demo.foreign_users(registry)
        try:
            demo.check(registry, force)
            with Progress(console=console, transient=True) as progress:
                progress.add_task("载入演示数据 / loading demonstration data", total=None)
                demo.load(registry, seed, force=force)
        except RegistryError as exc:
            _fail(exc)
        if foreign:
            Console(stderr=True).print(
                f"[bold yellow]注意：已在有 {len(foreign)} 个真实用户的登记库中载入演示数据，"
                "演示账号使用公开的密码，用毕请停用 / warning: the demonstration data was "
                f"loaded into a register with {len(foreign)} real user(s); the demo accounts "
                "share a published password — disable them when done[/]"
            )
    console.print(
        "演示账号 / demo logins (password "
        f"[bold]{demo.DEMO_PASSWORD}[/]): " + ", ".join(demo.demo_users())
    )
