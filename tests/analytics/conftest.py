"""Fixtures shared by the analytics tests that run on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from hukou.analytics import batch

PG_SERVER = os.environ.get("HUKOU_TEST_PG", "postgresql+psycopg://127.0.0.1:5432")


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    """A throwaway ``hukou_test_<hex>`` database for the module, dropped after it; the
    module is skipped only when no server answers."""
    import psycopg

    server = batch.pg_url(PG_SERVER)
    try:
        admin = psycopg.connect(f"{server}/test", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {server}: {exc}")
    name = f"hukou_test_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
