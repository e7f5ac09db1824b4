"""Register commands: ``hukou db …``, ``hukou users add``,
``hukou audit verify|seal|checkpoint|rekey``, ``hukou cases due|expire``."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import URL, create_engine, inspect, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from hukou.cli.errors import date_option, note_url, safe_url
from hukou.registry import audit, roles
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.db import (
    SchemaError,
    check_schema,
    database_url,
    make_engine,
    session_factory,
    upgrade,
)
from hukou.registry.errors import RegistryError
from hukou.registry.keys import KeyRing
from hukou.registry.service import Registry

db_app = typer.Typer(help="数据库 / the register's database", no_args_is_help=True)
users_app = typer.Typer(help="用户 / users", no_args_is_help=True)
audit_app = typer.Typer(help="审计 / the audit trail", no_args_is_help=True)
cases_app = typer.Typer(help="案件 / procedures", no_args_is_help=True)

Url = Annotated[str | None, typer.Option("--url", help="默认 HUKOU_DATABASE_URL / default")]


def _registry(url: str | None) -> Registry:
    target = url or database_url()
    note_url(target)  # a failure to reach it names this URL (cli.errors)
    return Registry(session_factory(make_engine(target)))


# ---- administrators' commands, audited -----------------------------------------------
# ``db backup``, ``db restore``, ``audit rekey`` and ``db grant-service-role`` each leave one
# audit record (as ``hukou users …`` do): the actor ``cli-admin``, with the operating-system
# user who ran the command in the record's detail.

CLI_ADMIN = Actor(None, "cli-admin", "admin")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"uid {os.getuid()}"


def _admin_keys(registry: Registry) -> None:
    """The keys the command's audit record needs, before it does anything: a register
    whose key file is not found is refused here (``registry.keys``), not half done."""
    try:
        registry.keys.check()
    except RegistryError as exc:
        _stop(exc)


def _record_admin(registry: Registry, action: str, detail: dict[str, Any]) -> None:
    """The audit record of an administrator's command (sealed into the chain at once)."""
    try:
        registry.audit_event(CLI_ADMIN, action, "register", "", {**detail, "os_user": _os_user()})
    except RegistryError as exc:
        _stop(exc)


def _fail(exc: RegistryError) -> None:
    field = f"{exc.field}: " if exc.field else ""
    Console(stderr=True).print(f"[bold red]{field}{exc.zh} / {exc.en}[/]")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(url: Url = None) -> None:
    """迁移到最新结构 / migrate to the newest schema (Alembic)."""
    target = url or database_url()
    note_url(target)
    before, after = upgrade(target)
    where = escape(safe_url(target))
    if before == after:
        message = f"数据库已是最新结构 {after}，未作更改 / already at {after}: nothing to do"
    elif before is None:
        message = f"已建立数据库结构 {after} / created the schema at {after}"
    else:
        message = f"已从 {before} 升级到 {after} / upgraded from {before} to {after}"
    Console().print(f"[green]✔[/] {message} ({where})", soft_wrap=True)


# ---- backup and restore -------------------------------------------------------------
# A backup holds every person of the register: it is created readable by its owner only
# (0600), never replaces a file unless told to (--force), and is restored only into an
# empty register. The key file (``registry.keys``) is not in it: keep it apart.

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PGDUMP_MAGIC = b"PGDMP"
_BOOKKEEPING = frozenset({"alembic_version"})  # rows here do not make a register non-empty


def _refuse(zh: str, en: str, field: str, status: int = 2) -> NoReturn:
    message = escape(f"{field}: {zh} / {en}")
    Console(stderr=True).print(f"[bold red]{message}[/]", soft_wrap=True)
    raise typer.Exit(status)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        _refuse(
            "内存数据库无法备份或恢复",
            "an in-memory database cannot be backed up or restored",
            "url",
        )
    return Path(parsed.database)


def _libpq(url: str, tool: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore, the libpq URL of ``url`` (its password in ``PGPASSWORD``, not
    on the command line, where ``ps`` would show it) and the environment."""
    if shutil.which(tool) is None:
        _refuse(f"{tool} 不可用", f"{tool} is not installed", tool)
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    ).render_as_string(hide_password=False)
    return [tool, f"--dbname={plain}"], env


def _private_temp(path: Path) -> Path:
    """A new empty file beside ``path``, mode 0600 (``O_EXCL``: never someone else's)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        _refuse(
            f"无法在 {path.parent} 中建立文件（{exc.strerror}）",
            f"cannot create a file in {path.parent} ({exc.strerror})",
            "path",
        )
    return tmp


def _exists_refusal(path: Path) -> NoReturn:
    _refuse(
        f"文件 {path} 已存在，未作任何写入；如要替换请加 --force",
        f"{path} already exists and nothing was written; add --force to replace it",
        "path",
    )


def _put_in_place(tmp: Path, path: Path, force: bool) -> None:
    """Move the finished backup to ``path``: replacing what is there only with ``force``;
    otherwise a hard link, which fails if ``path`` appeared meanwhile."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        _exists_refusal(path)
    except OSError:  # a file system without hard links: claim the name, then replace
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            _exists_refusal(path)
        os.replace(tmp, path)


@db_app.command("backup")
def db_backup(
    path: Path,
    force: Annotated[
        bool, typer.Option("--force", help="替换已有的文件 / replace an existing file")
    ] = False,
    url: Url = None,
) -> None:
    """备份 / back up into a new file readable by its owner only (0600).

    SQLite: the online backup API (the service may keep running). PostgreSQL: pg_dump, custom format.

    An existing file is never replaced without --force. The key file is not in the backup.

    Audited (db.backup): the record is written to the register once the backup is in
    place, so it is not in the backup file itself. The key file must be found (the
    record needs it); else nothing is written.
    """
    target = url or database_url()
    if path.is_dir():
        _refuse(f"{path} 是目录", f"{path} is a directory", "path")
    if (path.exists() or path.is_symlink()) and not force:
        _exists_refusal(path)
    source_file = _sqlite_file(target)
    if source_file is not None and not source_file.is_file():
        _refuse(f"数据库 {source_file} 不存在", f"no database at {source_file}", "url")
    registry = _registry(target)
    _admin_keys(registry)
    tmp = _private_temp(path)
    try:
        if source_file is not None:
            source = sqlite3.connect(source_file, timeout=30)
            dest = sqlite3.connect(tmp)
            try:
                source.backup(dest)
                # a self-contained file (no -wal beside it), readable with mode=ro
                dest.execute("PRAGMA journal_mode = DELETE")
            except sqlite3.Error as exc:
                _refuse("备份失败", f"the backup failed: {exc}", "url")
            finally:
                source.close()
                dest.close()
        else:
            command, env = _libpq(target, "pg_dump")
            done = subprocess.run(
                [*command, "--format=custom", f"--file={tmp}"],
                env=env,
                umask=0o077,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                _refuse("pg_dump 失败", f"pg_dump failed: {done.stderr.strip()}", "pg_dump")
        _put_in_place(tmp, path, force)
    finally:
        tmp.unlink(missing_ok=True)
    _record_admin(registry, "db.backup", {"path": str(path.resolve()), "force": force})
    console = Console()
    console.print(f"[green]✔[/] 已备份到 / backed up to {escape(str(path))} (0600)")
    console.print(
        "密钥文件不在备份中，请另行妥善保管 / the key file is not in the backup: keep it "
        "safe, apart from it (it is needed to verify the restored audit trail)",
        soft_wrap=True,
    )


def _row_counts(url: str) -> dict[str, int]:
    """Rows per table of the database at ``url`` (its default schema)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            prep = engine.dialect.identifier_preparer
            return {
                name: int(
                    conn.execute(text(f"SELECT count(*) FROM {prep.quote(name)}")).scalar_one()
                )
                for name in names
            }
    finally:
        engine.dispose()


def _backup_kind(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        _refuse(
            f"无法读取备份 {path}（{exc.strerror}）",
            f"cannot read the backup {path} ({exc.strerror})",
            "path",
        )
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PGDUMP_MAGIC):
        return "postgresql"
    _refuse(
        f"{path} 不是 hukou db backup 写的备份",
        f"{path} is not a backup written by hukou db backup",
        "path",
    )


@db_app.command("restore")
def db_restore(path: Path, url: Url = None) -> None:
    """恢复 / restore a backup into an EMPTY register, then verify its audit trail.

    Empty: no tables, or the tables of a fresh `hukou db upgrade` without a row; else refused.

    SQLite: the backup API the other way. PostgreSQL: pg_restore, in one transaction.

    Exit 1 if the audit trail does not verify (it needs the source's key file).

    Audited (db.restore): once verified, the restore is recorded in the restored register
    (whether its chain verified or not, which the record says).
    """
    # PostgreSQL: ``pg_restore --no-owner --no-privileges --clean --if-exists
    # --single-transaction`` into the existing database: the empty tables of a fresh
    # upgrade are dropped and recreated from the backup, any failure changes nothing, and
    # the restoring user owns the tables (grants are not restored). Stop the service
    # first: a row written between the emptiness check and the restore would be lost.
    from hukou.registry.keys import default_key_file

    target = url or database_url()
    kind = _backup_kind(path)
    target_file = _sqlite_file(target)
    wanted = "sqlite" if target_file is not None else "postgresql"
    if kind != wanted:
        _refuse(
            f"这是 {kind} 的备份，不能恢复到 {wanted} 数据库",
            f"this is a {kind} backup; it cannot be restored into a {wanted} database",
            "path",
        )
    created = False
    if target_file is not None and not target_file.exists():
        try:  # the register is created as private as its backups
            os.close(os.open(target_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            _refuse(
                f"无法建立 {target_file}（{exc.strerror}）",
                f"cannot create {target_file} ({exc.strerror})",
                "url",
            )
        created = True
    try:
        try:
            before = _row_counts(target)
        except SQLAlchemyError as exc:
            _refuse(
                "无法打开目标数据库",
                f"cannot open the target database: {type(exc).__name__}",
                "url",
            )
        filled = {t: n for t, n in before.items() if n and t not in _BOOKKEEPING}
        if filled:
            listed = ", ".join(f"{t} ({n})" for t, n in filled.items())
            _refuse(
                f"目标数据库不是空的，未作任何改动：{listed}",
                f"the target database is not empty, nothing was changed: {listed}",
                "url",
            )
        if target_file is not None:
            # read-only and immutable: nothing is written beside the backup, not even
            # the -wal/-shm files of a backup taken in WAL mode
            uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
            source = sqlite3.connect(uri, uri=True)
            try:
                check = source.execute("PRAGMA quick_check").fetchone()
                if not check or check[0] != "ok":
                    _refuse(f"备份 {path} 已损坏", f"the backup {path} is damaged", "path")
                dest = sqlite3.connect(target_file, timeout=30)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
            except sqlite3.Error as exc:
                _refuse("恢复失败", f"the restore failed: {exc}", "path")
            finally:
                source.close()
        else:
            command, env = _libpq(target, "pg_restore")
            done = subprocess.run(
                [
                    *command,
                    "--no-owner",
                    "--no-privileges",
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    "--exit-on-error",
                    str(path),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                _refuse(
                    "pg_restore 失败，目标数据库未改动",
                    f"pg_restore failed; the target database was not changed: "
                    f"{done.stderr.strip()}",
                    "pg_restore",
                )
    except BaseException:
        if created and target_file is not None:
            target_file.unlink(missing_ok=True)
        raise

    after = _row_counts(target)
    console = Console()
    table = Table(title="已恢复 / restored")
    table.add_column("表 table")
    table.add_column("行数 rows", justify="right")
    for name, n in after.items():
        table.add_row(name, str(n))
    console.print(table)
    registers = {t: n for t, n in after.items() if t not in _BOOKKEEPING}
    console.print(
        f"[green]✔[/] 已从 {escape(str(path))} 恢复 {len(registers)} 张表、"
        f"{sum(registers.values())} 行 / restored {len(registers)} tables, "
        f"{sum(registers.values())} rows from {escape(str(path))}",
        soft_wrap=True,
    )
    key_file = default_key_file(target)
    if not os.environ.get("HUKOU_AUDIT_KEY") and not key_file.is_file():
        # verifying now would create a fresh key, under which no record verifies
        _refuse(
            f"审计密钥文件 {key_file} 不存在，无法校验审计记录：请把原登记库的密钥文件复制到"
            "该处（或设置 HUKOU_KEY_FILE），再运行 hukou audit verify",
            f"no audit key file at {key_file}, so the audit trail cannot be verified: copy "
            "the source register's key file there (or set HUKOU_KEY_FILE), then run "
            "hukou audit verify",
            "key_file",
            status=1,
        )
    restored = _registry(target)
    problems = restored.verify_audit()
    _record_admin(
        restored,
        "db.restore",
        {"path": str(path.resolve()), "audit_intact": not problems, "problems": len(problems)},
    )
    if not problems:
        console.print("[green]✔[/] 审计链完整 / the audit chain is intact")
        return
    for p in problems:
        console.print(f"[red]✘[/] #{p.record_id}: {p.zh} / {p.en}", soft_wrap=True)
    raise typer.Exit(1)


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


# ---- the audit trail -----------------------------------------------------------------
# ``verify`` and ``checkpoint`` only read. A checkpoint is kept off the database host
# (with the key file): it is what shows a chain cut back or an older backup restored.


def _stop(exc: RegistryError) -> NoReturn:
    field = f"{exc.field}: " if exc.field else ""
    Console(stderr=True).print(
        f"[bold red]{escape(field + exc.zh)} / {escape(exc.en)}[/]", soft_wrap=True
    )
    raise typer.Exit(2)


def _keyed_registry(url: str | None) -> Registry:
    """The register, refusing to go on without its audit key: a missing key file would
    be created anew, and every record would seem altered."""
    registry = _registry(url)
    if not os.environ.get("HUKOU_AUDIT_KEY") and not registry.keys.path.exists():
        _stop(
            RegistryError(
                f"找不到密钥文件 {registry.keys.path}，无法校验审计链（请设置 HUKOU_KEY_FILE）",
                f"the key file {registry.keys.path} is not there: the audit chain cannot be "
                "checked without it (set HUKOU_KEY_FILE)",
                "key_file",
            )
        )
    return registry


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return audit.parse_checkpoint(data)
    except OSError as exc:
        _stop(
            RegistryError(
                f"无法读取检查点文件 {path}（{exc.strerror}）",
                f"cannot read the checkpoint file {path} ({exc.strerror})",
                "--checkpoint",
            )
        )
    except ValueError:
        _stop(
            RegistryError(
                f"检查点文件 {path} 不是 JSON",
                f"the checkpoint file {path} is not JSON",
                "--checkpoint",
            )
        )
    except RegistryError as exc:
        _stop(exc)


def _print_problems(problems: list[audit.Problem]) -> None:
    console = Console()
    for p in problems:
        where = f"#{p.record_id}: " if p.record_id is not None else ""
        console.print(f"[red]✘[/] {escape(where + p.zh)} / {escape(p.en)}", soft_wrap=True)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="先前 hukou audit checkpoint 写下的文件 / a file written by hukou audit "
            "checkpoint: the chain must reach it, unchanged",
        ),
    ] = None,
    url: Url = None,
) -> None:
    """校验审计链（只读，不封存） / recompute the audit chain with the audit key, changing
    nothing; exit 1 naming every record that does not fit, every row not written by the
    service, every record left unsealed too long, and (--checkpoint) a chain cut back,
    restored from an older backup or rewritten since the checkpoint."""
    cp = _read_checkpoint(checkpoint) if checkpoint is not None else None
    registry = _keyed_registry(url)
    try:
        problems = registry.verify_audit(checkpoint=cp)
    except RegistryError as exc:
        _stop(exc)
    if not problems:
        done = f"，与检查点相符 / matches the checkpoint of {cp['taken_at']}" if cp else ""
        Console().print(
            f"[green]✔[/] 审计链完整 / the audit chain is intact{escape(done)}", soft_wrap=True
        )
        return
    _print_problems(problems)
    raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal(url: Url = None) -> None:
    """封存审计记录 / chain the audit records the service wrote and did not seal yet (the
    service does this itself; rows it did not write are left out)."""
    sealed = _registry(url).seal_audit()
    Console().print(f"[green]✔[/] 已封存 {sealed} 条 / sealed {sealed} record(s)")


@audit_app.command("rekey")
def audit_rekey(url: Url = None) -> None:
    """以审计密钥重新封存旧链（升级后执行一次） / re-seal, with the audit key, a chain sealed
    before it (plain SHA-256): once, right after upgrading from such a version, before
    hukou db grant-service-role. Only old-style records from position 1 on (then the
    records sealed with the key since, and a head that matches) are converted; any other
    problem verify names is refused with exit 2, naming why, and nothing is changed.
    Never run it later because verify names old-style records: that is a rewritten chain."""
    registry = _keyed_registry(url)
    try:
        with registry.factory() as s, s.begin():
            done = audit.rekey(s, registry.keys.audit)
    except RegistryError as exc:
        _stop(exc)
    _record_admin(registry, "audit.rekey", {"resealed": done})  # after it: a keyed record
    Console().print(
        f"[green]✔[/] 已以密钥重新封存 {done} 条 / re-sealed {done} record(s) with the audit key"
    )


def _write_private(path: Path, body: str, force: bool) -> None:
    """Write ``body`` to ``path``, mode 0600; an existing file only with ``force``
    (then atomically, through a private temporary file)."""
    try:
        if not force:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            return
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except FileExistsError:
        _stop(
            RegistryError(
                f"文件 {path} 已存在，未作任何写入；如要替换请加 --force",
                f"{path} already exists and nothing was written; add --force to replace it",
                "--out",
            )
        )
    except OSError as exc:
        _stop(
            RegistryError(
                f"无法写入 {path}（{exc.strerror}）",
                f"cannot write {path} ({exc.strerror})",
                "--out",
            )
        )


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="写入此文件（权限 600） / write it to this file (mode 600)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="替换已有文件 / replace an existing file")
    ] = False,
    url: Url = None,
) -> None:
    """记下审计链的位置 / print (or write) where the audit chain stands — last position,
    count, that record's MAC — as JSON. Keep it off the database host: hukou audit
    verify --checkpoint FILE then tells a chain cut back, rewritten or restored from an
    older backup. Refused (exit 1) for a chain that does not verify."""
    registry = _keyed_registry(url)
    try:
        with audit.reading(registry.factory.kw["bind"]) as s:
            problems = audit.verify(s, registry.keys.audit)
            cp = audit.checkpoint(s, registry.clock.now())
    except RegistryError as exc:
        _stop(exc)
    if problems:
        _print_problems(problems)
        Console(stderr=True).print(
            "[bold red]审计链未通过校验，不建立检查点 / the audit chain does not verify: "
            "no checkpoint taken[/]",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    body = json.dumps(cp, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        typer.echo(body, nl=False)
        return
    _write_private(out, body, force)
    Console().print(
        f"[green]✔[/] 检查点已写入 {escape(str(out))}（第 {cp['position']} 条、共 {cp['count']} "
        f"条），请存放在数据库主机之外 / checkpoint written to {escape(str(out))} (position "
        f"{cp['position']}, {cp['count']} records): keep it off the database host",
        soft_wrap=True,
    )


@db_app.command("grant-service-role")
def db_grant_service_role(
    role: Annotated[str, typer.Argument(help="已建立的 PostgreSQL 角色 / an existing role")],
    show: Annotated[
        bool, typer.Option("--print", help="只显示 SQL，不执行 / print the SQL, run nothing")
    ] = False,
    url: Url = None,
) -> None:
    """授予服务账号权限（PostgreSQL，由表的所有者执行，每次升级后再执行） / grant a role
    what the service needs and no more: the business tables in full; of the audit trail,
    reading, adding and sealing only — never deleting or changing a record. Also installs
    the triggers that keep sealed records unchanged for every role. Run by the tables'
    owner, again after every hukou db upgrade. Audited (db.grant_service_role), unless
    --print."""
    target = url or database_url()
    if make_url(target).get_backend_name() != "postgresql":
        _stop(
            RegistryError(
                "服务账号权限仅适用于 PostgreSQL（SQLite 没有角色）",
                "a service role is PostgreSQL's (SQLite has no roles)",
                "url",
            )
        )
    try:
        statements = roles.service_role_statements(role)
    except RegistryError as exc:
        _stop(exc)
    if show:
        typer.echo(";\n".join(s.strip() for s in statements) + ";")
        return
    registry = _registry(target)
    _admin_keys(registry)
    engine = make_engine(target)
    try:
        with engine.begin() as conn:
            roles.grant_service_role(conn, role)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        _stop(
            RegistryError(
                f"授权失败，未作任何更改：{reason}",
                f"the grants failed and nothing was changed: {reason}",
                "role",
            )
        )
    finally:
        engine.dispose()
    _record_admin(registry, "db.grant_service_role", {"role": role})
    Console().print(
        f"[green]✔[/] 已授予角色 {escape(role)} 服务所需权限，审计记录受触发器保护 / role "
        f"{escape(role)} may now run the service; audit records are guarded by triggers",
        soft_wrap=True,
    )


@cases_app.command("due")
def cases_due(
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD")] = None,
    county: Annotated[str | None, typer.Option("--county")] = None,
    url: Url = None,
) -> None:
    """公示期届满的迁出程序（§4.5） / move-out procedures whose public notice has run out."""
    day: dt.date | None = date_option(on, "--on")
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
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="信任其 X-Forwarded-For 的代理地址（逗号分隔，* 为全部） / the reverse "
            "proxies whose X-Forwarded-For is trusted (comma-separated, * for all); default: "
            "uvicorn's (FORWARDED_ALLOW_IPS, else 127.0.0.1)",
        ),
    ] = None,
) -> None:
    """启动服务 / serve the API (OpenAPI at /openapi.json, docs at /docs)."""
    import os

    import uvicorn

    if url:
        os.environ["HUKOU_DATABASE_URL"] = url
    console = Console()
    target = url or database_url()
    note_url(target)
    keys = KeyRing.for_database(target)
    try:
        keys.check()  # a short key stops here; without one, the key file is made once
    except RegistryError as exc:
        _fail(exc)
    try:
        check_schema(target)  # never serve a register without its tables (500s at log-in)
    except SchemaError as exc:
        _stop(RegistryError(exc.zh, exc.en, safe_url(target)))
    console.print(f"hukou 服务 / service: [bold]http://{host}:{port}/[/]")
    console.print(f"  密钥文件 / key file: {keys.path.resolve()}")
    console.print(f"  接口文档 / API docs: http://{host}:{port}/docs")
    uvicorn.run(
        "hukou.service.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        forwarded_allow_ips=forwarded_allow_ips,  # None: uvicorn's (FORWARDED_ALLOW_IPS)
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
