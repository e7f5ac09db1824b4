"""The key file is never made anew for a register that already has an audit chain.

The attack (review of issue 12): without ``HUKOU_KEY_FILE`` the key file of a server
database is ``./hukou.keys`` — relative to the working directory. ``hukou users add`` run
from directory A made A/hukou.keys; run again from directory B it quietly made
B/hukou.keys with new keys and wrote its record with them; ``hukou audit verify`` from A
then said "record 2 was altered". ``hukou keys rotate`` from B "succeeded" on B's file.
Now a register with an audit chain refuses to go on without its key file, naming the path
it looked for and ``HUKOU_KEY_FILE``; only an empty register gets a new key file (0600).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry.access import SYSTEM
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.errors import RegistryError
from hukou.registry.keys import KeyRing
from hukou.registry.models import AuditRecord, User
from hukou.registry.service import Registry

runner = CliRunner()
PASSWORD = "a long enough secret"


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _add(name: str, url: str) -> Any:
    return _cli("users", "add", name, "--role", "analyst", "--password", PASSWORD, "--url", url)


def _flat(output: str) -> str:
    return "".join(output.split())  # rich wraps long paths


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.execute(select(func.count()).select_from(User)).scalar_one()
            records = conn.execute(select(func.count()).select_from(AuditRecord)).scalar_one()
        return users, records
    finally:
        engine.dispose()


def _from(monkeypatch: pytest.MonkeyPatch, db_url: str, where: Path) -> Path:
    """Work "from directory ``where``", without HUKOU_KEY_FILE: the key file a command
    looks for there (``./hukou.keys`` for PostgreSQL). SQLite's sits beside the database
    file, so "another directory" is a HUKOU_KEY_FILE pointing elsewhere."""
    where.mkdir(exist_ok=True)
    monkeypatch.chdir(where)
    if db_url.startswith("sqlite"):
        monkeypatch.setenv("HUKOU_KEY_FILE", str(where / "hukou.keys"))
    else:
        monkeypatch.delenv("HUKOU_KEY_FILE", raising=False)
    return where / "hukou.keys"


def test_a_second_directory_is_refused_and_the_chain_stays_intact(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_a = _from(monkeypatch, db_url, tmp_path / "A")
    assert _add("first", db_url).exit_code == 0
    assert key_a.is_file() and stat.S_IMODE(key_a.stat().st_mode) == 0o600
    before = _counts(db_url)

    key_b = _from(monkeypatch, db_url, tmp_path / "B")
    refused = _add("second", db_url)
    assert refused.exit_code == 2, refused.output
    flat = _flat(refused.output)
    assert "HUKOU_KEY_FILE" in flat and str(key_b) in flat
    assert "auditchain" in flat and "审计链" in flat
    assert not key_b.exists()  # no new keys
    assert _counts(db_url) == before  # nothing written

    # every other command that would have made keys refuses too
    for args in (("keys", "rotate"), ("keys", "path"), ("users", "list"), ("audit", "verify")):
        result = _cli(*args, "--url", db_url)
        assert result.exit_code == 2, (args, result.output)
        assert "HUKOU_KEY_FILE" in result.output, args
        assert not key_b.exists(), args
    assert _counts(db_url) == before

    _from(monkeypatch, db_url, tmp_path / "A")
    verified = _cli("audit", "verify", "--url", db_url)
    assert verified.exit_code == 0 and "intact" in verified.output, verified.output
    assert _add("second", db_url).exit_code == 0  # from the right place it works on
    assert "intact" in _cli("audit", "verify", "--url", db_url).output


def test_a_registry_without_its_key_file_writes_nothing(db_url: str, tmp_path: Path) -> None:
    """The service (or any code opening the register) behaves the same as the CLI."""
    engine = make_engine(db_url)
    try:
        first = Registry(session_factory(engine))
        first.add_user(SYSTEM, "first", PASSWORD, "analyst")
        lost = tmp_path / "elsewhere" / "hukou.keys"
        other = Registry(session_factory(engine), keys=KeyRing.for_database(db_url, engine))
        other.keys.path = lost
        with pytest.raises(RegistryError) as err:
            other.add_user(SYSTEM, "second", PASSWORD, "analyst")
        assert err.value.field == "HUKOU_KEY_FILE" and str(lost) in err.value.en
        with pytest.raises(RegistryError):
            other.keys.check()  # ``hukou serve`` refuses to start too
        # a KeyRing made by hand gets the same guard from the Registry
        bare = Registry(session_factory(engine), keys=KeyRing(lost))
        with pytest.raises(RegistryError, match="audit chain"):
            bare.verify_audit()
        assert not lost.exists()
        assert first.read(lambda s: s.execute(select(User.username)).scalars().all()) == ["first"]
        assert first.verify_audit() == []
    finally:
        engine.dispose()


def test_keys_rotate_never_makes_a_key_file(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even for an empty register: a rotation that makes a file rotated nothing."""
    key_file = _from(monkeypatch, db_url, tmp_path / "A")
    result = _cli("keys", "rotate", "--url", db_url)
    assert result.exit_code == 2 and "HUKOU_KEY_FILE" in result.output, result.output
    assert not key_file.exists()
    assert _add("first", db_url).exit_code == 0
    signing = KeyRing(key_file).signing
    rotated = _cli("keys", "rotate", "--url", db_url)
    assert rotated.exit_code == 0, rotated.output
    assert KeyRing(key_file).signing != signing
    assert "intact" in _cli("audit", "verify", "--url", db_url).output


def test_a_fresh_register_gets_its_key_file_private(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run`` on a fresh clone: the first write makes the key file (SQLite: beside
    the database, ``hukou.db.keys``; a server database: ``./hukou.keys``)."""
    monkeypatch.delenv("HUKOU_KEY_FILE")
    monkeypatch.chdir(tmp_path)
    if db_url.startswith("sqlite"):
        key_file = Path(f"{db_url.removeprefix('sqlite:///')}.keys")
    else:
        key_file = tmp_path / "hukou.keys"
    assert not key_file.exists()
    assert _add("first", db_url).exit_code == 0
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "intact" in _cli("audit", "verify", "--url", db_url).output
    if db_url.startswith("sqlite"):
        # the SQLite key file is found from any directory
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        assert _add("second", db_url).exit_code == 0
        assert "intact" in _cli("audit", "verify", "--url", db_url).output


def test_a_key_problem_during_service_names_no_path_to_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The key file vanishing under a running service: the client gets a plain 503, the
    path and the advice go to the server's log only."""
    from fastapi.testclient import TestClient

    from hukou.registry.keys import missing_for_chain
    from hukou.service.app import create_app

    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)), keys=KeyRing(tmp_path / "k.keys"))
    app = create_app(registry)
    secret = tmp_path / "somewhere" / "hukou.keys"

    def vanished(*_a: object, **_k: object) -> None:
        raise missing_for_chain(secret)

    monkeypatch.setattr(registry, "login_session", vanished)
    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level("ERROR"):
        r = client.post("/api/login", json={"username": "a", "password": "b"})
    assert r.status_code == 503, r.text
    assert str(secret) not in r.text and "HUKOU_KEY_FILE" not in r.text
    assert r.json()["errors"][0]["field"] == "(service)"
    assert str(secret) in caplog.text
