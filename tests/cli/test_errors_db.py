"""Issue 14, items 1 and 5: the service refuses to start on a register that was never
migrated or is older than the software, naming ``hukou db upgrade``; ``db upgrade`` says
what it did; an unreachable database is a bilingual message naming its URL (password
hidden) and exit 2, never a traceback."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry.db import SchemaError, check_schema, current_revision, head_revision, upgrade

ENV = {"COLUMNS": "400", "NO_COLOR": "1"}
CJK = re.compile(r"[\u4e00-\u9fff]")
runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _previous(rev: str) -> str:
    return f"{int(rev) - 1:04d}"


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=ENV)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, _flat(result.output)


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    head = head_revision()
    code, out = _invoke("db", "upgrade", "--url", url)
    assert code == 0 and f"created the schema at {head}" in out and "已建立" in out, out
    assert "up to date" not in out
    code, out = _invoke("db", "upgrade", "--url", url)
    assert code == 0 and f"already at {head}" in out, out
    older = tmp_path / "older.db"
    upgrade(f"sqlite:///{older}", _previous(head))
    code, out = _invoke("db", "upgrade", "--url", f"sqlite:///{older}")
    assert code == 0 and f"upgraded from {_previous(head)} to {head}" in out, out
    assert current_revision(f"sqlite:///{older}") == head


def test_serve_refuses_an_unmigrated_register(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out = _invoke("serve", "--url", url, "--port", "1")
    assert code == 2 and "hukou db upgrade" in out and "never migrated" in out, out
    assert CJK.search(out)


def test_serve_refuses_an_older_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    head = head_revision()
    upgrade(url, _previous(head))
    code, out = _invoke("serve", "--url", url, "--port", "1")
    assert code == 2 and "hukou db upgrade" in out, out
    assert f"{_previous(head)}, older than {head}" in out, out
    with pytest.raises(SchemaError):
        check_schema(url)
    upgrade(url)
    assert check_schema(url) == head


def test_the_worker_factory_refuses_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hukou.service.main import app_factory

    monkeypatch.setenv("HUKOU_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(SystemExit) as stopped:
        app_factory()
    assert stopped.value.code == 2
    assert "hukou db upgrade" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "args", [["db", "upgrade"], ["demo", "load"], ["users", "list"], ["audit", "seal"]]
)
def test_an_unreachable_postgresql_is_named(args: list[str]) -> None:
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{_closed_port()}/nowhere"
    code, out = _invoke(*args, "--url", url)
    assert code == 2, out
    assert "someone:***@127.0.0.1" in out and "s3cret" not in out, out
    assert "无法连接数据库" in out and "cannot connect to the database" in out, out


def test_serve_names_an_unreachable_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUKOU_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("HUKOU_AUDIT_KEY", "a" * 32)
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{_closed_port()}/nowhere"
    code, out = _invoke("serve", "--url", url, "--port", "1")
    assert code == 2 and "cannot connect" in out and "s3cret" not in out, out
