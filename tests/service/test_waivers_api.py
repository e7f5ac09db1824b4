"""Issue 14, item 8 over HTTP: ``POST /api/applications/{id}/materials/{material}/waiver``
(材料免交, with the reason, audited) — an application approved through the API alone, with
one material waived instead of received; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hukou.registry.models import AuditRecord
from hukou.registry.service import Registry

from ..registry.conftest import NANHU
from ..registry.helpers import owner_case
from . import test_api

REASON = "原件已在窗口当场核验，复印件随卷"

# the users and the log-in of the API's own tests (two officers, an analyst)
client = test_api.client
_login = test_api._login


def _under_review(client: TestClient, officer: dict[str, str]) -> dict[str, Any]:
    r = client.post(
        "/api/applications",
        headers=officer,
        json={"kind": "s1_1", "county": NANHU, "facts": owner_case()},
    )
    assert r.status_code == 201, r.text
    app: dict[str, Any] = r.json()
    for action in ("submit", "review"):
        r = client.post(f"/api/applications/{app['id']}/{action}", headers=officer, json={})
        assert r.status_code == 200, r.text
        app = r.json()
    return app


def _materials(client: TestClient, headers: dict[str, str], app_id: int) -> dict[str, Any]:
    r = client.get(f"/api/applications/{app_id}/materials", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _waive(
    client: TestClient, headers: dict[str, str], app_id: int, material: str, body: Any
) -> Any:
    return client.post(
        f"/api/applications/{app_id}/materials/{quote(material, safe='')}/waiver",
        headers=headers,
        json=body,
    )


def test_waive_then_approve_through_the_api_alone(client: TestClient, registry: Registry) -> None:
    officer = _login(client, "nanhu")
    app = _under_review(client, officer)
    required = _materials(client, officer, app["id"])["required"]
    assert len(required) >= 2
    waived, *received = required
    for m in received:
        r = client.post(
            f"/api/applications/{app['id']}/documents",
            headers=officer,
            json={"material": m["key"], "clause": m["clause"]},
        )
        assert r.status_code == 201, r.text
    # one material missing: approval is refused, naming it
    refused = client.post(f"/api/applications/{app['id']}:approve", headers=officer, json={})
    assert refused.status_code == 409, refused.text
    err = refused.json()["errors"][0]
    assert err["field"] == "materials" and waived["zh"] in err["zh"]

    r = _waive(client, officer, app["id"], waived["key"], {"reason": REASON})
    assert r.status_code == 201, r.text
    waiver_id = r.json()["id"]
    assert isinstance(waiver_id, int) and waiver_id >= 1

    listed = _materials(client, officer, app["id"])
    assert listed["complete"] is True
    row = next(m for m in listed["required"] if m["key"] == waived["key"])
    assert row["waived"] is True and row["received"] is False
    assert [(w["material"], w["reason"]) for w in listed["waived"]] == [(waived["key"], REASON)]

    # the same material twice: 409
    again = _waive(client, officer, app["id"], waived["key"], {"reason": REASON})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "material"

    approved = client.post(f"/api/applications/{app['id']}:approve", headers=officer, json={})
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    # decided: no more waivers
    late = _waive(client, officer, app["id"], received[0]["key"], {"reason": REASON})
    assert late.status_code == 409 and late.json()["errors"][0]["field"] == "state"

    # the audit has the waiver, with its reason, and the approval rests on it
    def audit(s: Any) -> list[AuditRecord]:
        return list(
            s.execute(
                select(AuditRecord).where(
                    AuditRecord.entity == "application",
                    AuditRecord.entity_id == str(app["id"]),
                    AuditRecord.action.in_(("material.waive", "application.materials_settled")),
                )
            ).scalars()
        )

    records = {r.action: r for r in registry.read(audit)}
    assert records["material.waive"].actor == "nanhu"
    assert records["material.waive"].after == {
        "waiver_id": waiver_id,
        "material": waived["key"],
        "clause": waived["clause"],
        "reason": REASON,
    }
    settled = records["application.materials_settled"].after
    assert settled is not None
    assert settled["waived"] == [{"material": waived["key"], "reason": REASON}]
    assert registry.verify_audit() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),  # no reason at all
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),  # only blanks: the register's own check
        ({"reason": "x" * 1001}, "reason"),
        ({"reason": "ok", "version": 0}, "version"),
    ],
)
def test_a_waiver_without_a_reason_is_422_naming_it(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    officer = _login(client, "nanhu")
    app = _under_review(client, officer)
    key = _materials(client, officer, app["id"])["required"][0]["key"]
    r = _waive(client, officer, app["id"], key, body)
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"] == field and err["zh"] and err["en"] and err["zh"] != "输入无效"
    assert _materials(client, officer, app["id"])["waived"] == []


def test_a_stale_version_an_unneeded_material_and_no_such_application(
    client: TestClient,
) -> None:
    officer = _login(client, "nanhu")
    app = _under_review(client, officer)
    key = _materials(client, officer, app["id"])["required"][0]["key"]
    stale = _waive(client, officer, app["id"], key, {"reason": REASON, "version": 1})
    assert stale.status_code == 409 and stale.json()["errors"][0]["field"] == "version"
    unneeded = _waive(client, officer, app["id"], "不需要的材料", {"reason": REASON})
    assert unneeded.status_code == 422 and unneeded.json()["errors"][0]["field"] == "material"
    missing = _waive(client, officer, 999_999, key, {"reason": REASON})
    assert missing.status_code == 404
    ok = _waive(client, officer, app["id"], key, {"reason": REASON, "version": app["version"]})
    assert ok.status_code == 201, ok.text


def test_another_countys_officer_an_analyst_and_nobody_are_refused(client: TestClient) -> None:
    officer = _login(client, "nanhu")
    app = _under_review(client, officer)
    key = _materials(client, officer, app["id"])["required"][0]["key"]
    for headers in (_login(client, "xiuzhou"), _login(client, "analyst"), {}):
        r = _waive(client, headers, app["id"], key, {"reason": REASON})
        assert r.status_code == 403, r.text
        err = r.json()["errors"][0]
        assert err["zh"] and err["en"]
    assert _materials(client, officer, app["id"])["waived"] == []
