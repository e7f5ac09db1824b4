"""``POST /api/check``'s lean path answers exactly as the FastAPI route does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('check') / 'r.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)))
    # ~150 checks from one address: no rate limit here (tests/security/test_limits.py has it)
    limits = Limits.unlimited()
    return (
        TestClient(create_app(registry, limits=limits)),
        TestClient(create_app(registry, fast_check=False, limits=limits)),
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@pytest.mark.parametrize("on", [None, "2019-12-31", "2023-02-28", "2026-08-01"])
def test_the_same_decision_byte_for_byte(
    clients: tuple[TestClient, TestClient], example: Path, on: str | None
) -> None:
    fast, route = clients
    body = example.read_bytes()
    params = {"on": on} if on else {}
    a = fast.post("/api/check", content=body, params=params)
    b = route.post("/api/check", content=body, params=params)
    assert a.status_code == b.status_code
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    if a.status_code == 200:
        assert a.content == b.content
        assert a.json()["schema"] == "hukou.decision/1"
    else:
        assert a.json() == b.json()


@pytest.mark.parametrize(
    ("body", "params", "field"),
    [
        (b"{not json", {}, "(case)"),
        (b"[]", {}, "(case)"),
        (json.dumps({"applicant": {"lives_in": "999999"}}).encode(), {}, "applicant.lives_in"),
        (EXAMPLES[0].read_bytes(), {"on": "2024-02-30"}, "query.on"),
        (EXAMPLES[0].read_bytes(), {"on": "1900-01-01"}, None),  # before someone's birth
    ],
)
def test_bad_input_is_the_same_422(
    clients: tuple[TestClient, TestClient], body: bytes, params: dict[str, str], field: str | None
) -> None:
    fast, route = clients
    a = fast.post("/api/check", content=body, params=params)
    b = route.post("/api/check", content=body, params=params)
    assert a.status_code == b.status_code == 422, (a.text, b.text)
    err, other = a.json()["errors"][0], b.json()["errors"][0]
    assert err["field"] == other["field"] and err["zh"] and err["en"]
    if field is not None:
        assert err["field"] == field


def test_other_paths_are_not_taken(clients: tuple[TestClient, TestClient]) -> None:
    fast, _ = clients
    assert fast.get("/api/check").status_code == 405
    assert fast.get("/api/health").json()["status"] == "ok"
