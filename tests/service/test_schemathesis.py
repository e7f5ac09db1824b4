"""Bad input at the API, generated from the project's own OpenAPI: never a 500."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

_DB = Path(tempfile.mkdtemp(prefix="hukou-schemathesis-")) / "r.db"
upgrade(f"sqlite:///{_DB}")
_REGISTRY = Registry(
    session_factory(make_engine(f"sqlite:///{_DB}")), FixedClock(dt.date(2025, 3, 1))
)
_OFFICER_ID = _REGISTRY.add_user(
    SYSTEM, "fuzz_officer", "a long enough secret", "officer", "330402"
)
_TOKEN = _REGISTRY.open_session(Actor(_OFFICER_ID, "fuzz_officer", "officer", "330402"))
# every generated request from one address: no rate limit (the body limit stays)
APP = create_app(_REGISTRY, limits=Limits.unlimited())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_TOKEN}"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
