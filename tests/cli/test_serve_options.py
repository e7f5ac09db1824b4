"""``hukou serve --forwarded-allow-ips``: the README tells an operator behind a reverse
proxy to pass it (so that the rate limits see the real client address), and it must reach
uvicorn's configuration. Without it, uvicorn's own default holds (``FORWARDED_ALLOW_IPS``,
else loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry.db import upgrade

runner = CliRunner()


def _served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> uvicorn.Config:
    """Run ``hukou serve`` with uvicorn.run stood in for: the Config uvicorn would build."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)  # (again: a no-op)
    seen: list[uvicorn.Config] = []

    def run(app_ref: str, **kwargs: Any) -> None:
        seen.append(uvicorn.Config(app_ref, **kwargs))

    monkeypatch.setattr(uvicorn, "run", run)
    # set, then removed: monkeypatch then restores the variable (or its absence) after the
    # test, whatever ``serve`` writes into the environment for its workers
    monkeypatch.setenv("HUKOU_DATABASE_URL", url)
    monkeypatch.delenv("HUKOU_DATABASE_URL")
    result = runner.invoke(app, ["serve", "--url", url, "--port", "1", *args])
    assert result.exit_code == 0, result.output
    [config] = seen
    return config


def test_forwarded_allow_ips_reaches_uvicorn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")  # recorded, so restored after the test
    monkeypatch.delenv("FORWARDED_ALLOW_IPS")
    config = _served(monkeypatch, tmp_path, "--forwarded-allow-ips", "10.0.0.5,10.0.0.6")
    assert config.forwarded_allow_ips == "10.0.0.5,10.0.0.6"
    assert config.proxy_headers
    import os

    assert "FORWARDED_ALLOW_IPS" not in os.environ  # passed to uvicorn, not into the env


def test_without_it_uvicorns_default_holds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")
    assert _served(monkeypatch, tmp_path).forwarded_allow_ips == "192.0.2.1"
    monkeypatch.delenv("FORWARDED_ALLOW_IPS")
    default = uvicorn.Config("x:y").forwarded_allow_ips
    assert _served(monkeypatch, tmp_path).forwarded_allow_ips == default
