"""Sessions that can be revoked, and one strong key shared by every worker (issue 12,
rows S3–S6)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hukou.cli import app as cli
from hukou.registry.access import SYSTEM
from hukou.registry.clock import FixedClock
from hukou.registry.db import upgrade
from hukou.registry.errors import RegistryError
from hukou.registry.keys import KeyRing
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import NANHU

PASSWORD = "the right password"


@pytest.fixture
def client(registry: Registry) -> TestClient:
    registry.add_user(SYSTEM, "alice", PASSWORD, "officer", NANHU)
    return TestClient(create_app(registry), base_url="https://testserver")


def _token(client: TestClient) -> dict[str, str]:
    r = client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _ok(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/applications", headers=headers).status_code


def test_a_token_replayed_after_logout_is_refused(client: TestClient) -> None:
    """S3: a bearer token still worked for up to 8 h after logout."""
    first, second = _token(client), _token(client)
    assert _ok(client, first) == _ok(client, second) == 200
    assert client.post("/api/logout", headers=first).status_code == 204
    # logout ends every session of the user, the other token too
    assert _ok(client, first) == _ok(client, second) == 403


def test_a_page_cookie_replayed_after_logout_is_refused(client: TestClient) -> None:
    page = client.get("/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = client.cookies.get("hukou_session")
    assert cookie and client.get("/officer", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.set("hukou_session", cookie)  # the attacker kept a copy
    assert client.get("/officer", follow_redirects=False).headers["location"] == "/login"


@pytest.mark.parametrize("action", ["disable", "lock", "reset-password"])
def test_a_token_ends_when_its_user_is_disabled_locked_or_reset(
    client: TestClient, registry: Registry, action: str
) -> None:
    """S4: a token kept working after the account was locked."""
    headers = _token(client)
    if action == "disable":
        registry.change_user(SYSTEM, "alice", "disable")
    elif action == "reset-password":
        registry.reset_password(SYSTEM, "alice", "a brand new password")
    else:
        from hukou.registry.models import User

        # the hard lock, as many failures would set it
        with registry.factory() as s, s.begin():
            s.query(User).filter_by(username="alice").update({"locked_at": registry.clock.now()})
    assert _ok(client, headers) == 403


def test_idle_and_absolute_timeouts(client: TestClient, registry: Registry) -> None:
    clock = registry.clock
    assert isinstance(clock, FixedClock)
    idle = registry.security.session_idle
    headers = _token(client)
    clock.tick(idle)  # exactly the idle limit: still good, and it counts as use
    assert _ok(client, headers) == 200
    clock.tick(idle + dt.timedelta(seconds=1))  # one second over
    assert _ok(client, headers) == 403
    # a session in steady use still ends at its absolute end (8 h)
    headers = _token(client)
    used = dt.timedelta(0)
    step = idle - dt.timedelta(minutes=1)
    while used + step < registry.security.session_absolute:
        clock.tick(step)
        used += step
        assert _ok(client, headers) == 200
    clock.tick(registry.security.session_absolute - used)
    assert _ok(client, headers) == 403


def test_a_forged_or_unknown_token_is_refused(client: TestClient, registry: Registry) -> None:
    """S5: with a guessable key, a forged admin token for a user that does not exist got 200.
    Tokens are now random session keys, checked against the session table."""
    good = _token(client)["Authorization"][7:]
    secret, mac = good.split(".")
    for forged in (f"{secret[:-2]}xx.{mac}", f"{secret}.{mac[:-2]}xx", "x.y", "", "a" * 500):
        assert _ok(client, {"Authorization": f"Bearer {forged}"}) == 403
    # a well-signed token whose session is not in the table (another database, say)
    other = Registry(registry.factory, registry.clock, keys=registry.keys)
    assert other.session_actor(good) is not None
    registry.logout(good)
    assert other.session_actor(good) is None


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """S5: ``HUKOU_SECRET_KEY=x`` was accepted."""
    monkeypatch.setenv("HUKOU_SECRET_KEY", "x")
    ring = KeyRing(tmp_path / "k")
    with pytest.raises(RegistryError) as err:
        ring.check()
    assert err.value.field == "HUKOU_SECRET_KEY"
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = CliRunner().invoke(cli, ["serve", "--url", url, "--port", "1"])
    assert result.exit_code == 2
    assert "HUKOU_SECRET_KEY" in result.output
    monkeypatch.setenv("HUKOU_SECRET_KEY", "k" * 32)
    assert ring.signing == b"k" * 32


def test_the_key_file_is_made_once_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "hukou.keys"
    rings = [KeyRing(path) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:  # workers starting together
        keys = list(pool.map(lambda r: (r.signing, r.audit), rings))
    assert len(set(keys)) == 1
    assert len(keys[0][0]) == len(keys[0][1]) == 32 and keys[0][0] != keys[0][1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(RegistryError, match="readable by others"):
        KeyRing(path).check()


def test_the_key_file_sits_beside_the_sqlite_register(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HUKOU_KEY_FILE")
    ring = KeyRing.for_database(f"sqlite:///{tmp_path / 'hukou.db'}")
    assert ring.path == tmp_path / "hukou.db.keys"


def test_rotating_the_key_ends_every_session(
    client: TestClient, registry: Registry, tmp_path: Path
) -> None:
    headers = _token(client)
    audit_key = registry.keys.audit
    url = str(registry.factory.kw["bind"].url.render_as_string(hide_password=False))
    result = CliRunner().invoke(cli, ["keys", "rotate", "--url", url])
    assert result.exit_code == 0, result.output
    assert _ok(client, headers) == 403
    assert registry.keys.audit == audit_key  # the chain's key stays
    assert _ok(client, _token(client)) == 200


def test_users_commands(registry: Registry) -> None:
    registry.add_user(SYSTEM, "alice", PASSWORD, "officer", NANHU)
    url = str(registry.factory.kw["bind"].url.render_as_string(hide_password=False))
    runner = CliRunner()
    token = registry.open_session(registry.login("alice", PASSWORD))
    assert runner.invoke(cli, ["users", "disable", "alice", "--url", url]).exit_code == 0
    assert registry.session_actor(token) is None
    listed = runner.invoke(cli, ["users", "list", "--url", url], terminal_width=200)
    assert "alice" in listed.output and "disabled" in listed.output
    assert runner.invoke(cli, ["users", "enable", "alice", "--url", url]).exit_code == 0
    assert runner.invoke(cli, ["users", "unlock", "alice", "--url", url]).exit_code == 0
    reset = runner.invoke(
        cli,
        ["users", "reset-password", "alice", "--url", url],
        input="another good password\nanother good password\n",
    )
    assert reset.exit_code == 0, reset.output
    assert registry.login("alice", "another good password").username == "alice"
    missing = runner.invoke(cli, ["users", "disable", "nobody", "--url", url])
    assert missing.exit_code == 2 and "username" in missing.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_share_one_key(tmp_path: Path) -> None:
    """S6: with ``--workers 2`` each worker drew its own key: 39 of 60 API calls with a fresh
    token were refused."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    added = CliRunner().invoke(
        cli,
        ["users", "add", "alice", "--role", "officer", "--jurisdiction", NANHU, "--url", url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    port = _free_port()
    env = {**os.environ, "HUKOU_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hukou.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/api/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        statuses = []
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=10) as http:  # new connections
                token = http.post(
                    "/api/login", json={"username": "alice", "password": PASSWORD}
                ).json()["token"]
            for _ in range(5):
                with httpx.Client(base_url=base, timeout=10) as http:
                    r = http.get("/api/applications", headers={"Authorization": f"Bearer {token}"})
                    statuses.append(r.status_code)
        assert statuses == [200] * 30
        keys = json.loads(Path(os.environ["HUKOU_KEY_FILE"]).read_text())
        assert set(keys) == {"signing", "audit"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---- found in review ------------------------------------------------------------------


def test_a_token_or_csrf_value_that_is_not_ascii_is_refused_not_a_500(
    client: TestClient,
) -> None:
    """compare_digest raises on non-ASCII text: that was a 500 on every page and call."""
    bearer = {"Authorization": "Bearer a.é".encode()}
    assert client.get("/api/applications", headers=bearer).status_code == 403
    cookie = {"Cookie": "hukou_session=a.é".encode()}
    assert client.get("/", headers=cookie).status_code == 200
    assert client.get("/officer", headers=cookie, follow_redirects=False).status_code == 303
    client.get("/login")  # a CSRF cookie
    r = client.post("/login", data={"csrf": "é", "username": "alice", "password": PASSWORD})
    assert r.status_code == 403


def test_a_page_session_is_no_bearer_token(client: TestClient, registry: Registry) -> None:
    page = registry.open_session(registry.login("alice", PASSWORD), "page")
    assert _ok(client, {"Authorization": f"Bearer {page}"}) == 403
    api = registry.open_session(registry.login("alice", PASSWORD), "api")
    assert registry.session_actor(api, "page") is None
    assert registry.session_actor(api, "api") is not None


def test_an_ended_token_logs_nobody_out(client: TestClient, registry: Registry) -> None:
    old = _token(client)
    client.post("/api/logout", headers=old)
    new = _token(client)
    client.post("/api/logout", headers=old)  # an attacker replays the old one
    assert _ok(client, new) == 200


def test_a_password_reset_during_the_check_wins(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reset commits while the (slow) hash of the old password is being checked: the
    log-in must not open a session."""
    import hukou.registry.service as service_module

    registry.add_user(SYSTEM, "alice", PASSWORD, "officer", NANHU)
    real = service_module.check_password

    def check_then_reset(stored: str | None, password: str, wait: dt.timedelta) -> bool | None:
        result = real(stored, password, wait)
        registry.reset_password(SYSTEM, "alice", "a brand new password")
        return result

    monkeypatch.setattr(service_module, "check_password", check_then_reset)
    with pytest.raises(RegistryError):
        registry.login_session("alice", PASSWORD, "10.0.0.1", "api")
    from hukou.registry.models import UserSession

    assert registry.read(lambda s: s.query(UserSession).count()) == 0


def test_a_key_file_that_vanishes_is_an_error_not_new_keys(tmp_path: Path) -> None:
    ring = KeyRing(Path(os.path.relpath(tmp_path / "k.keys")))
    assert ring.path.is_absolute()
    ring.check()
    (tmp_path / "k.keys").unlink()
    with pytest.raises(RegistryError, match="has gone"):
        ring.check()
    assert not (tmp_path / "k.keys").exists()
