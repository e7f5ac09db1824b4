"""The HTTP service: anonymous checks, logins, the application flow, roles and masking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import owner_case
from .papers import receive_all

PASSWORD = "a long enough secret"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def client(registry: Registry) -> TestClient:
    registry.add_user(SYSTEM, "nanhu", PASSWORD, "officer", NANHU)
    registry.add_user(SYSTEM, "xiuzhou", PASSWORD, "officer", XIUZHOU)
    registry.add_user(SYSTEM, "analyst", PASSWORD, "analyst")
    return TestClient(create_app(registry))


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_check_is_anonymous_and_stores_nothing(client: TestClient, registry: Registry) -> None:
    case = json.loads((EXAMPLES / "01-owner-family.json").read_text("utf-8"))
    r = client.post("/api/check", json=case)
    assert r.status_code == 200
    body = r.json()
    assert body["schema"] == "hukou.decision/1" and body["best_channel"] == "s1_1"
    later = client.post("/api/check", params={"on": "2019-01-01"}, json=case)
    assert later.json()["status"] == "not_in_force"
    assert client.get("/api/applications").status_code == 403  # nothing without a login


def test_check_refuses_bad_input_naming_the_field(client: TestClient) -> None:
    r = client.post("/api/check", json={"applicant": {"lives_in": "999999"}})
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["field"] == "applicant.lives_in" and "999999" in err["zh"] and err["en"]


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/check" in spec["paths"] and "/api/applications" in spec["paths"]


def test_a_wrong_password_is_refused(client: TestClient) -> None:
    r = client.post("/api/login", json={"username": "nanhu", "password": "nope nope nope"})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "password"


def test_a_forged_token_is_refused(client: TestClient) -> None:
    headers = _login(client, "nanhu")
    forged = {"Authorization": headers["Authorization"][:-3] + "abc"}
    assert client.get("/api/applications", headers=forged).status_code == 403


def _flow(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    r = client.post(
        "/api/applications",
        headers=headers,
        json={"kind": "s1_1", "county": NANHU, "facts": owner_case()},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_the_application_flow_through_the_api(client: TestClient, registry: Registry) -> None:
    officer = _login(client, "nanhu")
    app = _flow(client, officer)
    for action in ("submit", "review"):
        r = client.post(
            f"/api/applications/{app['id']}/{action}",
            headers=officer,
            json={"version": app["version"]},
        )
        assert r.status_code == 200, r.text
        app = r.json()
    receive_all(client, officer, app["id"])  # materials before approval
    r = client.post(
        f"/api/applications/{app['id']}:approve", headers=officer, json={"version": app["version"]}
    )
    assert r.status_code == 200 and r.json()["state"] == "approved"
    dwelling = registry.add_dwelling(SYSTEM, NANHU, "紫阳街道1号", "111", "owned")
    r = client.post(
        f"/api/applications/{app['id']}:register", headers=officer, json={"dwelling_id": dwelling}
    )
    assert r.status_code == 200
    hh = client.get(f"/api/households/{r.json()['household_id']}", headers=officer).json()
    assert {m["name"] for m in hh["members"]} == {"李建国", "王芳"}
    # outside the jurisdiction, with no application of that station naming them: refused
    other = client.get(f"/api/households/{hh['id']}", headers=_login(client, "xiuzhou"))
    assert other.status_code == 403 and other.json()["errors"][0]["field"] == "household_id"
    # analysts see aggregates, never a person
    analyst = _login(client, "analyst")
    assert client.get(f"/api/households/{hh['id']}", headers=analyst).status_code == 403
    stats = client.get("/api/stats", headers=analyst).json()
    # … and a count of 1 is suppressed (small-count suppression, as on the analyst page)
    assert {"county": NANHU, "kind": "s1_1", "state": "registered", "count": None} in stats


def test_a_stale_version_is_409(client: TestClient) -> None:
    officer = _login(client, "nanhu")
    app = _flow(client, officer)
    first = client.post(
        f"/api/applications/{app['id']}/submit", headers=officer, json={"version": app["version"]}
    )
    assert first.status_code == 200
    second = client.post(
        f"/api/applications/{app['id']}/withdraw", headers=officer, json={"version": app["version"]}
    )
    assert second.status_code == 409 and second.json()["errors"][0]["field"] == "version"


def test_an_officer_of_another_county_is_403(client: TestClient) -> None:
    app = _flow(client, _login(client, "nanhu"))
    other = _login(client, "xiuzhou")
    r = client.post(f"/api/applications/{app['id']}/submit", headers=other, json={})
    assert r.status_code == 403
    assert client.get(f"/api/applications/{app['id']}", headers=other).status_code == 403


def test_bad_application_facts_are_422(client: TestClient) -> None:
    facts = owner_case()
    facts["applicant"]["residence_history"] = [
        {"start": "2024-01-01", "end": "2023-01-01", "county": NANHU}
    ]
    r = client.post(
        "/api/applications",
        headers=_login(client, "nanhu"),
        json={"kind": "s1_1", "county": NANHU, "facts": facts},
    )
    assert r.status_code == 400 or r.status_code == 422
    assert r.json()["errors"][0]["field"].endswith("residence_history[0].end")
