"""§5.2 through the API: create, documents, submit, review, approve, register — and refusals."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import NANHU
from ..registry.test_s5_2 import no_hukou, overseas

PASSWORD = "a long enough secret"


def _client(registry: Registry) -> tuple[TestClient, dict[str, str], int]:
    uid = registry.add_user(SYSTEM, "nanhu", PASSWORD, "officer", NANHU)
    _c, collective = registry.add_community(
        Actor(uid, "nanhu", "officer", NANHU), NANHU, "建设街道", "紫阳社区", "111"
    )
    client = TestClient(create_app(registry))
    r = client.post("/api/login", json={"username": "nanhu", "password": PASSWORD})
    return client, {"Authorization": f"Bearer {r.json()['token']}"}, collective


def test_a_person_without_hukou_through_the_api(registry: Registry) -> None:
    client, auth, collective = _client(registry)
    r = client.post(
        "/api/applications",
        headers=auth,
        json={"kind": "s5_2_no_hukou", "county": NANHU, "facts": no_hukou()},
    )
    assert r.status_code == 201, r.text
    app: dict[str, Any] = r.json()
    assert app["applicant_id_number"] == "" and app["applicant_name"] == "王小宝"
    base = f"/api/applications/{app['id']}"
    for step in ("submit", "review"):
        assert client.post(f"{base}/{step}", headers=auth).status_code == 200
    refused = client.post(f"{base}:approve", headers=auth)
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "materials"
    needed = client.get(f"{base}/materials", headers=auth).json()["required"]
    assert [m["key"] for m in needed] == [
        "written_application",
        "parentage_test",
        "parent_hukou_booklet",
        "investigation_record",
    ]
    for m in needed:
        got = client.post(f"{base}/documents", headers=auth, json={"material": m["key"]})
        assert got.status_code == 201, got.text
    assert all(
        m["received"] for m in client.get(f"{base}/materials", headers=auth).json()["required"]
    )
    approved = client.post(f"{base}:approve", headers=auth)
    assert approved.status_code == 200 and approved.json()["decision"]["clause"] == "§5.2"
    done = client.post(f"{base}:register", headers=auth, json={"household_id": collective})
    assert done.status_code == 200 and done.json() == {"household_id": collective}
    members = client.get(f"/api/households/{collective}", headers=auth).json()["members"]
    assert [m["name"] for m in members] == ["王小宝"]
    assert members[0]["id_number"].startswith(NANHU + "20190402")
    final = client.get(base, headers=auth).json()
    assert (
        final["state"] == "registered" and final["applicant_id_number"] == members[0]["id_number"]
    )


def test_bad_section_5_2_input_is_a_422_naming_the_field(registry: Registry) -> None:
    client, auth, _ = _client(registry)
    cases = [
        (
            {"kind": "s5_2_no_hukou", "county": NANHU, "facts": {"category": "other"}},
            "facts.person",
        ),
        (
            {"kind": "s5_2_overseas", "county": NANHU, "facts": overseas(name="陈志民")},
            "facts.former",
        ),
        (
            {
                "kind": "s5_2_overseas",
                "county": NANHU,
                "facts": {**overseas(), "passport_no": "e 1"},
            },
            "facts.passport_no",
        ),
    ]
    for body, field in cases:
        r = client.post("/api/applications", headers=auth, json=body)
        assert r.status_code == 422, r.text
        err = r.json()["errors"][0]
        assert err["field"] == field and err["zh"] and err["en"]
    app = client.post(
        "/api/applications",
        headers=auth,
        json={"kind": "s5_2_no_hukou", "county": NANHU, "facts": no_hukou()},
    ).json()
    r = client.post(
        f"/api/applications/{app['id']}/documents", headers=auth, json={"material": "x"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "material"
    r = client.post(f"/api/applications/{app['id']}/documents", headers=auth, json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "material"
