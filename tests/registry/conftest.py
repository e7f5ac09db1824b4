"""Registry fixtures: every test runs on SQLite and on the PostgreSQL at 127.0.0.1:5432.

PostgreSQL gets a database of its own for the session (created from ``test``,
dropped at the end), migrated with Alembic like production, and emptied between
tests. ``HUKOU_TEST_PG`` overrides the server URL (without database name).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.models import Base
from hukou.registry.service import Registry

PG_SERVER = os.environ.get("HUKOU_TEST_PG", "postgresql+psycopg://127.0.0.1:5432")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"hukou_test_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def emptied(url: str) -> str:
    """The PostgreSQL register at ``url`` with every table emptied (ids from 1 again)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'register.db'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("pg_url")
    emptied(url)
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.date(2025, 3, 1))


@pytest.fixture
def registry(engine: Engine, clock: FixedClock) -> Registry:
    return Registry(session_factory(engine), clock)


NANHU = "330402"
XIUZHOU = "330411"


@pytest.fixture
def officer(registry: Registry) -> Actor:
    uid = registry.add_user(SYSTEM, "officer_nanhu", "correct horse battery", "officer", NANHU)
    return Actor(uid, "officer_nanhu", "officer", NANHU)


@pytest.fixture
def other_officer(registry: Registry) -> Actor:
    uid = registry.add_user(SYSTEM, "officer_xiuzhou", "correct horse battery", "officer", XIUZHOU)
    return Actor(uid, "officer_xiuzhou", "officer", XIUZHOU)
