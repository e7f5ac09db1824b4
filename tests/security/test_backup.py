"""D9: backups of the register (``hukou db backup`` / ``hukou db restore``).

Attacks that worked on the old main: ``hukou db backup FILE`` wrote the whole register
into a file anyone on the machine could read (0644) and silently replaced whatever was
at FILE; and there was no way back (no ``hukou db restore``). Now: the file is 0600,
an existing file is kept unless --force, and a backup restores into an empty register
only, every table identical row by row, the audit trail verified afterwards.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry.keys import KeyRing

from ..registry.conftest import PG_SERVER

runner = CliRunner()
PASSWORD = "a long enough secret"
Dump = dict[str, list[tuple[Any, ...]]]


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@contextmanager
def _scratch_pg() -> Iterator[str]:
    """A new, empty PostgreSQL database (no tables), dropped at the end."""
    name = f"hukou_bk_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _dump(url: str) -> Dump:
    """Every table of the database, every row, in primary-key order."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: Dump = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                order = list(table.primary_key.columns) or list(table.columns)
                out[name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
        return out
    finally:
        engine.dispose()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# ---- a filled register per database, backed up once -----------------------------------


@dataclass
class Source:
    dialect: str
    url: str
    backup: Path
    key_file: Path
    dump: Dump


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """The demonstration register (users, households, applications in every state, a
    §4.5 procedure, the audit trail of all of it) plus one user added by hand, and its
    backup, taken under a permissive umask (022)."""
    where = tmp_path_factory.mktemp(f"source-{request.param}")
    key_file = where / "hukou.keys"
    with ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(_scratch_pg())
        else:
            url = f"sqlite:///{where / 'src.db'}"
        backup = where / ("register.backup" if request.param == "sqlite" else "register.dump")
        with pytest.MonkeyPatch.context() as mp, _umask(0o022):
            mp.setenv("HUKOU_KEY_FILE", str(key_file))
            KeyRing(key_file).check()  # the source register's keys (never in its backup)
            _ok("db", "upgrade", "--url", url)
            _ok("demo", "load", "--url", url)
            _ok("users", "add", "extra", "--role", "analyst", "--password", PASSWORD, "--url", url)
            dump = _dump(url)  # what the backup holds: its own audit record comes after it
            _ok("db", "backup", str(backup), "--url", url)
        yield Source(request.param, url, backup, key_file, dump)


@contextmanager
def _sqlite(path: Path) -> Iterator[str]:
    yield f"sqlite:///{path}"


@contextmanager
def _target(source: Source, where: Path, state: str) -> Iterator[str]:
    """An empty register to restore into: no tables at all (a new SQLite file / a new
    PostgreSQL database), or the tables of a fresh ``hukou db upgrade`` without rows."""
    with _scratch_pg() if source.dialect == "postgresql" else _sqlite(where / "restored.db") as url:
        if state == "fresh_schema":
            _ok("db", "upgrade", "--url", url)
        yield url


# ---- the tests -----------------------------------------------------------------------------


def test_the_source_is_real_data(source: Source) -> None:
    counts = {t: len(rows) for t, rows in source.dump.items()}
    for table in ("users", "persons", "households", "applications", "audit_log"):
        assert counts[table] > 0, table
    assert sum(counts.values()) > 500


def test_backup_is_readable_by_its_owner_only(source: Source) -> None:
    assert _mode(source.backup) == 0o600  # taken under umask 022
    assert not [p for p in source.backup.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("state", ["no_tables", "fresh_schema"])
def test_backup_then_restore_gives_every_table_row_by_row(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    monkeypatch.setenv("HUKOU_KEY_FILE", str(source.key_file))
    with _umask(0o022), _target(source, tmp_path, state) as url:
        result = runner.invoke(app, ["db", "restore", str(source.backup), "--url", url])
        assert result.exit_code == 0, result.output
        assert "intact" in result.output and "审计链完整" in result.output
        assert "restored" in result.output and "persons" in result.output
        restored = _dump(url)
        assert sorted(restored) == sorted(source.dump)
        # the restore's own audit record (``db.restore``) follows the restored chain
        restore_record = restored["audit_log"].pop()
        assert "db.restore" in restore_record and len(restored["audit_log"]) > 0
        [(_head_id, last_id, _mac, count)] = restored.pop("audit_head")
        [(_id, old_last, _old_mac, old_count)] = source.dump["audit_head"]
        assert (last_id, count) == (old_last + 1, old_count + 1)
        for table, rows in source.dump.items():
            if table != "audit_head":
                assert restored[table] == rows, table
        if source.dialect == "sqlite" and state == "no_tables":
            assert _mode(tmp_path / "restored.db") == 0o600  # created by the restore
        # the restored register works on: new ids follow the restored ones, the chain holds
        _ok("users", "add", "after", "--role", "analyst", "--password", PASSWORD, "--url", url)
        assert "intact" in _ok("audit", "verify", "--url", url)
    assert _mode(source.backup) == 0o600


def test_backup_refuses_to_replace_a_file_without_force(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUKOU_KEY_FILE", str(source.key_file))  # its audit record needs it
    existing = tmp_path / "precious.bin"
    existing.write_bytes(b"someone else's file")
    existing.chmod(0o644)
    result = runner.invoke(app, ["db", "backup", str(existing), "--url", source.url])
    assert result.exit_code == 2
    assert "--force" in result.output and "path" in result.output
    assert "已存在" in result.output and "already exists" in result.output
    assert existing.read_bytes() == b"someone else's file" and _mode(existing) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.bin"]  # nothing left

    replaced = runner.invoke(app, ["db", "backup", str(existing), "--force", "--url", source.url])
    assert replaced.exit_code == 0, replaced.output
    assert existing.read_bytes() != b"someone else's file" and _mode(existing) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.bin"]


def test_backup_does_not_follow_a_symlink_without_force(source: Source, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "backup.db"
    link.symlink_to(victim)
    result = runner.invoke(app, ["db", "backup", str(link), "--url", source.url])
    assert result.exit_code == 2 and victim.read_text() == "keep me"


def test_restore_refuses_a_register_that_is_not_empty(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUKOU_KEY_FILE", str(source.key_file))
    with _target(source, tmp_path, "fresh_schema") as url:
        _ok("users", "add", "someone", "--role", "admin", "--password", PASSWORD, "--url", url)
        before = _dump(url)
        result = runner.invoke(app, ["db", "restore", str(source.backup), "--url", url])
        assert result.exit_code == 2
        assert "not empty" in result.output and "不是空的" in result.output
        assert "users (1)" in result.output and "audit_log" in result.output
        assert _dump(url) == before


def test_restore_refuses_a_backup_of_the_other_database(source: Source, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'x.db'}" if source.dialect == "postgresql" else None
    if other is None:
        with _scratch_pg() as pg:
            result = runner.invoke(app, ["db", "restore", str(source.backup), "--url", pg])
            assert result.exit_code == 2 and "sqlite" in result.output
            assert _dump(pg) == {}
        return
    result = runner.invoke(app, ["db", "restore", str(source.backup), "--url", other])
    assert result.exit_code == 2 and "postgresql" in result.output
    assert not (tmp_path / "x.db").exists()


def test_restore_without_the_key_file_says_so_and_makes_no_key(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup restored elsewhere without its key file: the data is there, but the
    audit trail cannot be verified. Verifying anyway would make a new key file, under
    which no record fits; it is refused instead, naming the file to copy."""
    if source.dialect == "postgresql":
        pytest.skip("the key file of a server database is HUKOU_KEY_FILE or ./hukou.keys")
    monkeypatch.delenv("HUKOU_KEY_FILE")
    target = tmp_path / "elsewhere.db"
    result = runner.invoke(
        app, ["db", "restore", str(source.backup), "--url", f"sqlite:///{target}"]
    )
    assert result.exit_code == 1
    assert "key_file" in result.output and f"{target}.keys" in result.output.replace("\n", "")
    assert not Path(f"{target}.keys").exists()
    assert _dump(f"sqlite:///{target}") == source.dump


def test_restore_refuses_a_damaged_backup_and_leaves_no_register(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    target = tmp_path / "restored.db"
    result = runner.invoke(app, ["db", "restore", str(damaged), "--url", f"sqlite:///{target}"])
    assert result.exit_code == 2 and "path" in result.output
    assert not target.exists()
