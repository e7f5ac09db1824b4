"""Test-wide settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

import hukou.registry.access as access


@pytest.fixture(scope="session", autouse=True)
def _cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled queries, generated code and parsed parameters cached in the run's own
    folder, never in the user's ``~/.cache/hukou`` (a test that sets the folder itself
    still does)."""
    before = os.environ.get("HUKOU_CACHE_DIR")
    os.environ["HUKOU_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("HUKOU_CACHE_DIR", None)
    else:
        os.environ["HUKOU_CACHE_DIR"] = before


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with small costs: the tests check the flow, not the hash's strength
    (production keeps argon2-cffi's defaults)."""
    monkeypatch.setattr(
        access, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(autouse=True)
def _key_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's keys in a file of its own, never in the working directory."""
    monkeypatch.setenv("HUKOU_KEY_FILE", str(tmp_path_factory.mktemp("keys") / "hukou.keys"))
    monkeypatch.delenv("HUKOU_SECRET_KEY", raising=False)
    monkeypatch.delenv("HUKOU_AUDIT_KEY", raising=False)


@pytest.fixture
def no_home_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare container: no HOME, no passwd entry, no cache folder configured."""
    for name in ("HUKOU_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def nowhere() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(nowhere))
