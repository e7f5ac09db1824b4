"""P2 and P4: personal data in URLs, and small counts that single a person out.

Attacks that worked on the old main:

* P2 — ``GET /api/persons?id_number=…`` put an ID number in the URL, so in every server
  log, proxy log and browser history on the way. The look-up is now
  ``POST /api/persons/lookup`` with the number in the body (checked: 18 characters and
  the GB 11643 check character), and no endpoint takes an ID number in a URL.
* P4 — ``/api/stats`` gave an analyst counts of 1 (one applicant, of this kind, in this
  state, in this county), which the analyst page and ``/api/indicators`` suppress. It
  now suppresses them the same way (``service.web.panels``: one threshold).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.demo import settle_materials
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.web import panels

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import owner_case

PASSWORD = "a long enough secret"
ID_LIKE = re.compile(r"id_?(number|no|card)|identity|sfz|身份证", re.IGNORECASE)


def _world(registry: Registry) -> tuple[TestClient, Registry, str, Actor]:
    """A register (SQLite or PostgreSQL: the ``registry`` fixture) with one family
    registered in 南湖区; the applicant's ID number; the 南湖区 officer."""
    uid = registry.add_user(SYSTEM, "nanhu", PASSWORD, "officer", NANHU)
    registry.add_user(SYSTEM, "xiuzhou", PASSWORD, "officer", XIUZHOU)
    registry.add_user(SYSTEM, "analyst", PASSWORD, "analyst")
    registry.add_user(SYSTEM, "admin", PASSWORD, "admin")
    officer = Actor(uid, "nanhu", "officer", NANHU)
    case = owner_case()
    app = registry.create_application(officer, "s1_1", NANHU, case)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    dwelling = registry.add_dwelling(officer, NANHU, "紫阳街道1号", "111", "owned")
    registry.register(officer, app.id, dwelling_id=dwelling)
    return TestClient(create_app(registry)), registry, case["applicant"]["id_number"], officer


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# ---- P2: no ID number in a URL -----------------------------------------------------------


def test_lookup_takes_the_id_number_in_the_body(registry: Registry) -> None:
    client, _registry, number, _officer = _world(registry)
    inside = client.post(
        "/api/persons/lookup", headers=_login(client, "nanhu"), json={"id_number": number}
    )
    assert inside.status_code == 200, inside.text
    [person] = inside.json()
    assert person["id_number"] == number and person["name"] == "李建国"
    assert person["county"] == NANHU and person["household_id"]
    outside = client.post(
        "/api/persons/lookup", headers=_login(client, "xiuzhou"), json={"id_number": number}
    )
    assert outside.status_code == 200
    [masked] = outside.json()
    assert "*" in masked["id_number"] and masked["name"] != "李建国"
    assert masked["household_id"] is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("34122119880512003", "18"),  # 17 characters
        ("3412211988051200345", "18"),  # 19
        ("341221198805120030", "check character"),  # a wrong check character
    ],
)
def test_lookup_checks_the_number_naming_the_field(
    registry: Registry, value: str, words: str
) -> None:
    client, _registry, number, _officer = _world(registry)
    assert value != number
    r = client.post(
        "/api/persons/lookup", headers=_login(client, "nanhu"), json={"id_number": value}
    )
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert err["field"] == "id_number" and err["zh"] and words in err["en"]


def test_lookup_is_for_officers_and_admins(registry: Registry) -> None:
    client, _registry, number, _officer = _world(registry)
    body = {"id_number": number}
    assert client.post("/api/persons/lookup", json=body).status_code == 403
    analyst = _login(client, "analyst")
    assert client.post("/api/persons/lookup", headers=analyst, json=body).status_code == 403
    admin = _login(client, "admin")
    assert client.post("/api/persons/lookup", headers=admin, json=body).status_code == 200


def test_the_old_get_no_longer_takes_an_id_number(registry: Registry) -> None:
    client, _registry, number, _officer = _world(registry)
    r = client.get("/api/persons", params={"id_number": number}, headers=_login(client, "nanhu"))
    assert r.status_code in (404, 405)
    assert number not in r.text and "李建国" not in r.text


def _id_like_params(spec: dict[str, Any]) -> list[str]:
    found = []
    for path, operations in spec["paths"].items():
        if ID_LIKE.search(path):
            found.append(path)
        for method, op in operations.items():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                if param.get("in") in ("query", "path") and ID_LIKE.search(param["name"]):
                    found.append(f"{method.upper()} {path} {param['in']}:{param['name']}")
    return found


def test_no_endpoint_takes_an_id_number_in_a_url(registry: Registry) -> None:
    client, _registry, _number, _officer = _world(registry)
    spec = client.app.openapi()
    assert "/api/persons/lookup" in spec["paths"]
    assert _id_like_params(spec) == []
    # the routes left out of the schema (the web pages) declare none either
    for route in client.app.routes:
        if isinstance(route, APIRoute):
            params = route.dependant.query_params + route.dependant.path_params
            assert not [p.name for p in params if ID_LIKE.search(p.name)], route.path


def test_the_walk_would_see_an_id_number_in_a_query() -> None:
    """The check above is not vacuous: the old endpoint's schema fails it."""
    old = {
        "paths": {
            "/api/persons": {
                "get": {"parameters": [{"in": "query", "name": "id_number"}]},
            }
        }
    }
    assert _id_like_params(old) == ["GET /api/persons query:id_number"]


# ---- P4: small counts ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["analyst", "admin", "nanhu"])
def test_stats_suppress_a_count_of_one(registry: Registry, role: str) -> None:
    client, registry, _number, officer = _world(registry)
    k = panels.suppress_below(client.app.state)
    assert k == panels.SUPPRESS_BELOW == 5
    for seq in range(2, 2 + k):  # k drafts: a count at the threshold is shown
        registry.create_application(officer, "s1_1", NANHU, owner_case(seq=seq))
    stats = client.get("/api/stats", headers=_login(client, role))
    assert stats.status_code == 200
    rows = {(r["county"], r["kind"], r["state"]): r["count"] for r in stats.json()}
    assert rows[(NANHU, "s1_1", "registered")] is None  # 1: suppressed
    assert rows[(NANHU, "s1_1", "draft")] == k
    assert all(n is None or n >= k for n in rows.values())


def test_stats_follow_the_one_threshold(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The threshold is the pages' (``HUKOU_SUPPRESS_BELOW``), not a second one."""
    monkeypatch.setenv("HUKOU_SUPPRESS_BELOW", "1")
    client, _registry, _number, _officer = _world(registry)
    stats = client.get("/api/stats", headers=_login(client, "analyst")).json()
    assert {"county": NANHU, "kind": "s1_1", "state": "registered", "count": 1} in stats
    monkeypatch.setenv("HUKOU_SUPPRESS_BELOW", "2")
    stats = client.get("/api/stats", headers=_login(client, "analyst")).json()
    assert {"county": NANHU, "kind": "s1_1", "state": "registered", "count": None} in stats
