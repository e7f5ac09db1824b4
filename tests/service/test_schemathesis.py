"""Bad input at the API, generated from the project's own OpenAPI: never a 500 — on SQLite
and on PostgreSQL (the ``registry`` fixture), which refuses a NUL in any text.

Besides what the schema allows, every generated body and query is also tried with a control
character put into each of its strings (NUL above all, then other C0/C1 controls, DEL, a
bidi override, a BOM): a NUL that reached PostgreSQL was a 500 that printed the SQL
parameters (issue 12, B6/P1)."""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

from ..registry.conftest import emptied

CONTROL = ("\x00", "\x00\x00", "\x01", "\x07", "\x0b", "\x1b", "\x7f", "\x85", "\u202e", "\ufeff")


def poisoned(value: Any, char: str) -> Any:
    """``value`` with ``char`` put into the middle of every string in it."""
    if isinstance(value, str):
        return value[: len(value) // 2] + char + value[len(value) // 2 :]
    if isinstance(value, dict):
        return {k: poisoned(v, char) for k, v in value.items()}
    if isinstance(value, list):
        return [poisoned(v, char) for v in value]
    return value


def _with_control(value: Any) -> st.SearchStrategy[Any]:
    """As generated, or with a control character in each string (NUL the likeliest)."""
    return st.one_of(st.just(value), st.sampled_from(CONTROL).map(lambda c: poisoned(value, c)))


def flatmap_body(_ctx: Any, body: Any) -> st.SearchStrategy[Any]:
    return _with_control(body)


def flatmap_query(_ctx: Any, query: Any) -> st.SearchStrategy[Any]:
    return _with_control(query)


def test_poisoned_reaches_every_string() -> None:
    body = {"a": "xy", "b": [{"c": "z"}, 3], "d": None}
    assert poisoned(body, "\x00") == {"a": "x\x00y", "b": [{"c": "\x00z"}, 3], "d": None}


@dataclass
class Target:
    app: FastAPI
    token: str  # a bearer token of an officer of 南湖区


def _target(url: str) -> Target:
    registry = Registry(session_factory(make_engine(url)), FixedClock(dt.date(2025, 3, 1)))
    uid = registry.add_user(SYSTEM, "fuzz_officer", "a long enough secret", "officer", "330402")
    token = registry.open_session(Actor(uid, "fuzz_officer", "officer", "330402"))
    # every generated request from one address: no rate limit (the body limit stays)
    return Target(create_app(registry, limits=Limits.unlimited()), token)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    """One register per database for the whole module (a fresh one per operation would
    cost more than the examples)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'r.db'}"
        upgrade(url)
        return _target(url)
    return _target(emptied(request.getfixturevalue("pg_url")))


# the schema (the OpenAPI document only: each case is sent to ``target.app``)
_DOC = Path(tempfile.mkdtemp(prefix="hukou-schemathesis-")) / "r.db"
upgrade(f"sqlite:///{_DOC}")
schema = schemathesis.openapi.from_asgi("/openapi.json", _target(f"sqlite:///{_DOC}").app)
schema.hook(flatmap_body)
schema.hook(flatmap_query)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_server_error(case: schemathesis.Case, target: Target) -> None:
    response = case.call(app=target.app, headers={"Authorization": f"Bearer {target.token}"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
