"""Administrators' commands on the register are audited (issue 12, item 4: "admin actions").

Found in review: ``hukou db backup`` (a full export of every person), ``hukou db
restore``, ``hukou audit rekey`` and ``hukou db grant-service-role`` left no audit record.
Now each leaves exactly one, naming the action, the actor (``cli-admin``, with the
operating-system user) and what was done, and the chain still verifies.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry.access import SYSTEM
from hukou.registry.db import make_engine
from hukou.registry.models import AuditRecord
from hukou.registry.service import Registry

from .test_audit_tamper import service_role  # noqa: F401
from .test_backup import _scratch_pg

runner = CliRunner()
PASSWORD = "a long enough secret"


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _ok(*args: str) -> str:
    result = _cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _records(url: str, action: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(AuditRecord).where(AuditRecord.action == action)).all())
    finally:
        engine.dispose()


def _one(url: str, action: str) -> Any:
    found = _records(url, action)
    assert len(found) == 1, (action, found)
    [rec] = found
    assert rec.actor == "cli-admin" and rec.seq is not None  # sealed into the chain
    assert rec.after["os_user"] == getpass.getuser()
    return rec


def _intact(url: str) -> None:
    assert "intact" in _ok("audit", "verify", "--url", url)


@pytest.fixture
def url(registry: Registry, db_url: str) -> str:
    registry.add_user(SYSTEM, "someone", PASSWORD, "analyst")
    return db_url


def test_a_backup_is_audited(url: str, tmp_path: Path) -> None:
    target = tmp_path / "register.backup"
    _ok("db", "backup", str(target), "--url", url)
    rec = _one(url, "db.backup")
    assert rec.after["path"] == str(target.resolve())
    _intact(url)
    # refused (the file is there): nothing was exported, nothing recorded
    assert _cli("db", "backup", str(target), "--url", url).exit_code == 2
    assert len(_records(url, "db.backup")) == 1


def test_a_restore_is_audited_in_the_restored_register(url: str, tmp_path: Path) -> None:
    backup = tmp_path / "register.backup"
    _ok("db", "backup", str(backup), "--url", url)
    if url.startswith("sqlite"):
        target = f"sqlite:///{tmp_path / 'restored.db'}"
        _ok("db", "restore", str(backup), "--url", target)
        rec = _one(target, "db.restore")
    else:
        with _scratch_pg() as target:
            _ok("db", "restore", str(backup), "--url", target)
            rec = _one(target, "db.restore")
            _intact(target)
    assert rec.after["path"] == str(backup.resolve()) and rec.after["audit_intact"] is True
    assert len(_records(url, "db.restore")) == 0  # the source register is not touched
    if url.startswith("sqlite"):
        _intact(target)


def test_a_rekey_is_audited(url: str) -> None:
    out = _ok("audit", "rekey", "--url", url)
    assert "re-sealed 0 record(s)" in out
    rec = _one(url, "audit.rekey")
    assert rec.after["resealed"] == 0
    _intact(url)


def test_granting_the_service_role_is_audited(
    url: str,
    service_role: str,  # noqa: F811
) -> None:
    _ok("db", "grant-service-role", service_role, "--print", "--url", url)
    assert _records(url, "db.grant_service_role") == []  # only shown, nothing granted
    _ok("db", "grant-service-role", service_role, "--url", url)
    rec = _one(url, "db.grant_service_role")
    assert rec.after["role"] == service_role
    _intact(url)
