"""Test-wide settings."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

import hukou.registry.access as access


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
