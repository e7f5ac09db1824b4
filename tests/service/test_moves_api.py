"""Both kinds of move, end to end through the HTTP API, on SQLite and PostgreSQL: a family
from outside Zhejiang with its move-in permit and migration certificates, and a move
between two Jiaxing counties with the sending station's notice."""

from __future__ import annotations

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


@pytest.fixture
def client(registry: Registry) -> TestClient:
    registry.add_user(SYSTEM, "nanhu", PASSWORD, "officer", NANHU)
    registry.add_user(SYSTEM, "xiuzhou", PASSWORD, "officer", XIUZHOU)
    return TestClient(create_app(registry))


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _approved(client: TestClient, h: dict[str, str], county: str, facts: dict[str, Any]) -> int:
    r = client.post(
        "/api/applications", headers=h, json={"kind": "s1_1", "county": county, "facts": facts}
    )
    assert r.status_code == 201, r.text
    app_id = int(r.json()["id"])
    for step in ("submit", "review"):
        assert (
            client.post(f"/api/applications/{app_id}/{step}", headers=h, json={}).status_code == 200
        )
    receive_all(client, h, app_id)  # materials before approval
    r = client.post(f"/api/applications/{app_id}:approve", headers=h, json={})
    assert r.status_code == 200, r.text
    return app_id


@pytest.mark.clause("§4.3")
def test_a_family_from_outside_zhejiang_registers_with_its_permit(
    client: TestClient, registry: Registry
) -> None:
    h = _login(client, "nanhu")
    app_id = _approved(client, h, NANHU, owner_case(origin="341221"))
    [permit] = client.get("/api/permits", headers=h).json()
    assert permit["application_id"] == app_id and permit["state"] == "issued"
    assert permit["persons"] == ["applicant", "relatives[0]"]
    assert permit["origin_county"] == "341221"
    dwelling = registry.add_dwelling(SYSTEM, NANHU, "紫阳街道1号", "111", "owned")
    url = f"/api/applications/{app_id}:register"
    r = client.post(url, headers=h, json={"dwelling_id": dwelling})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "migration_documents"
    papers = [
        {"person": "applicant", "kind": "paper", "number": "QY3412210001"},
        {"person": "relatives[0]", "kind": "electronic", "number": "KS-2025-77"},
    ]
    r = client.post(url, headers=h, json={"dwelling_id": dwelling, "migration_documents": papers})
    assert r.status_code == 200, r.text
    [permit] = client.get("/api/permits", headers=h).json()
    assert permit["state"] == "used"
    received = client.get(f"/api/applications/{app_id}/materials", headers=h).json()["received"]
    # beside the materials received before approval
    assert {"户口迁移证", "跨省迁移电子信息确认"} <= {d["material"] for d in received}
    # the other county sees none of it
    other = _login(client, "xiuzhou")
    assert client.get("/api/permits", headers=other).json() == []
    r = client.post(f"/api/permits/{permit['id']}/cancel", headers=other, json={})
    assert r.status_code == 403


@pytest.mark.clause("§4.3")
def test_a_move_between_counties_closes_the_old_membership_and_tells_its_station(
    client: TestClient, registry: Registry
) -> None:
    nanhu, xiuzhou = _login(client, "nanhu"), _login(client, "xiuzhou")
    first = _approved(client, nanhu, NANHU, owner_case())
    home = registry.add_dwelling(SYSTEM, NANHU, "紫阳街道1号", "111", "owned")
    r = client.post(
        f"/api/applications/{first}:register", headers=nanhu, json={"dwelling_id": home}
    )
    old_household = r.json()["household_id"]
    # he buys a flat in 秀洲区; his hukou is in his own household in 南湖区
    facts = owner_case(with_spouse=False, county=XIUZHOU)
    facts["applicant"]["hukou"] = {"kind": "own_family_household", "address": {"county": NANHU}}
    second = _approved(client, xiuzhou, XIUZHOU, facts)
    # while the application is open, 秀洲区 sees of the 南湖区 household only the man it
    # names, masked (a draft naming a number must not reveal a name)
    seen = client.get(f"/api/households/{old_household}", headers=xiuzhou).json()
    assert seen["partial"] is True and [m["name"] for m in seen["members"]] == ["李**"]
    assert all("*" in m["id_number"] for m in seen["members"])
    flat = registry.add_dwelling(SYSTEM, XIUZHOU, "洪兴路1号", "111", "owned")
    r = client.post(
        f"/api/applications/{second}:register", headers=xiuzhou, json={"dwelling_id": flat}
    )
    assert r.status_code == 200, r.text
    # registered: the application is closed, and with it the view of the other household
    assert client.get(f"/api/households/{old_household}", headers=xiuzhou).status_code == 403
    members = client.get(f"/api/households/{old_household}", headers=nanhu).json()["members"]
    assert [m["name"] for m in members] == ["王芳"]  # the spouse stays
    [notice] = client.get("/api/notices", headers=nanhu).json()
    assert (notice["kind"], notice["from_county"], notice["state"]) == (
        "move_out",
        XIUZHOU,
        "pending",
    )
    assert notice["closed_registration_id"] is None
    assert client.get("/api/notices", headers=xiuzhou).json() == []
    r = client.post(f"/api/notices/{notice['id']}:acknowledge", headers=xiuzhou, json={})
    assert r.status_code == 403
    r = client.post(f"/api/notices/{notice['id']}:acknowledge", headers=nanhu, json={})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = client.post(f"/api/notices/{notice['id']}:acknowledge", headers=nanhu, json={})
    assert r.status_code == 409
