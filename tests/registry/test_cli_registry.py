"""The register's commands: migrate, add users, verify the audit chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hukou.cli import app

runner = CliRunner()


def test_audit_verify_names_an_altered_record(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    assert runner.invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    for name in ("admin1", "admin2"):
        result = runner.invoke(
            app,
            [
                "users",
                "add",
                name,
                "--role",
                "admin",
                "--password",
                "a long enough secret",
                "--url",
                url,
            ],
        )
        assert result.exit_code == 0, result.output
    ok = runner.invoke(app, ["audit", "verify", "--url", url])
    assert ok.exit_code == 0 and "intact" in ok.output
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET after = '{}' WHERE id = 2")
    bad = runner.invoke(app, ["audit", "verify", "--url", url])
    assert bad.exit_code == 1
    assert "#2" in bad.output and "altered" in bad.output and "#1" not in bad.output


@pytest.mark.parametrize(
    ("role", "jurisdiction", "field"),
    [
        ("sheriff", None, "role"),
        ("officer", "310101", "jurisdiction"),  # Shanghai is not a Jiaxing county
    ],
)
def test_users_add_refuses_bad_input(
    tmp_path: Path, role: str, jurisdiction: str | None, field: str
) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    runner.invoke(app, ["db", "upgrade", "--url", url])
    args = [
        "users",
        "add",
        "u1",
        "--role",
        role,
        "--password",
        "a long enough secret",
        "--url",
        url,
    ]
    if jurisdiction:
        args += ["--jurisdiction", jurisdiction]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert field in result.output and "Traceback" not in result.output


def test_backup_copies_the_sqlite_register(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    runner.invoke(app, ["db", "upgrade", "--url", url])
    runner.invoke(
        app,
        [
            "users",
            "add",
            "a1",
            "--role",
            "admin",
            "--password",
            "a long enough secret",
            "--url",
            url,
        ],
    )
    target = tmp_path / "copy.db"
    assert runner.invoke(app, ["db", "backup", str(target), "--url", url]).exit_code == 0
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT username FROM users").fetchall() == [("a1",)]


def test_audit_seal_chains_what_was_written_unsealed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    assert runner.invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    args = ["users", "add", "adm", "--role", "admin", "--password", "a long enough secret"]
    assert runner.invoke(app, [*args, "--url", url]).exit_code == 0
    with sqlite3.connect(db) as conn:  # as a crashed sealer would leave it
        conn.execute("UPDATE audit_log SET seq = NULL, prev_hash = NULL, hash = NULL")
        conn.execute("DELETE FROM audit_head")
    sealed = runner.invoke(app, ["audit", "seal", "--url", url])
    assert sealed.exit_code == 0, sealed.output
    assert "sealed 1 record" in sealed.output
    assert runner.invoke(app, ["audit", "verify", "--url", url]).exit_code == 0
