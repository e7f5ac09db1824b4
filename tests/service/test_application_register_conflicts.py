"""An application's JSON carries ``register_conflicts`` (issue 16, part 3): the typed
residence facts that disagree with the register's, as the register keeps them — ``[]`` when
the register holds the applicant and agrees, null when it holds nothing of anyone named —
to whom may see the application in full (the county's officer, an admin), and never to
anyone else (as the decision). On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.registry.access import Actor
from hukou.registry.demo import settle_materials
from hukou.registry.models import Application
from hukou.service.app import _application

from ..registry.conftest import NANHU, XIUZHOU
from .test_permit_api import TODAY, World, migrant, prepare, world  # noqa: F401

SINCE = TODAY - dt.timedelta(days=300)  # ``prepare``'s registration, a year before 'lapsed'


def owner_facts(number: str, name: str = "张三", **applicant: Any) -> dict[str, Any]:
    """An owner of an urban flat in 南湖区 (§1.1), alone, hukou in 杭州 (a move within
    Zhejiang), decided on ``TODAY``, with the typed facts given."""
    facts: dict[str, Any] = {
        "decision_date": TODAY.isoformat(),
        "applicant": {
            "id_number": number,
            "name": name,
            "lives_in": NANHU,
            "dwellings": [
                {
                    "tenure": "owned",
                    "commercial_housing": True,
                    "address": {"county": NANHU, "urban_rural_code": "111"},
                }
            ],
            "hukou": {"kind": "outside_jiaxing", "address": {"county": "330106"}},
        },
        "relatives": [],
    }
    facts["applicant"].update(applicant)
    return facts


def _fields(conflicts: list[dict[str, Any]] | None) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["typed"], c["register"]) for c in conflicts or []}


def test_the_application_json_has_the_conflicts_for_the_county_and_the_admin(
    world: World,  # noqa: F811
) -> None:
    w = world
    number = migrant(31)
    prepare(w, NANHU, "issued", 31)  # registered in 南湖区, a permit issued today
    typed = owner_facts(
        number,
        residence_permit={"held": False},
        residence_registration_since="2015-01-01",
    )
    expected = {
        "applicant.residence_permit.held": (False, True),
        "applicant.residence_registration_since": ("2015-01-01", SINCE.isoformat()),
    }
    nanhu, admin = w.tokens["nanhu"], w.tokens["admin"]
    r = w.client.post(
        "/api/applications",
        json={"kind": "s1_1", "county": NANHU, "facts": typed},
        headers=nanhu,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert _fields(body["register_conflicts"]) == expected
    app_id = body["id"]
    for who in (nanhu, admin):
        got = w.client.get(f"/api/applications/{app_id}", headers=who)
        assert got.status_code == 200
        assert _fields(got.json()["register_conflicts"]) == expected
    listed = w.client.get("/api/applications", params={"state": "draft"}, headers=nanhu).json()
    item = next(a for a in listed["items"] if a["id"] == app_id)
    assert _fields(item["register_conflicts"]) == expected
    # the other county's officer sees no such record
    assert (
        w.client.get(f"/api/applications/{app_id}", headers=w.tokens["xiuzhou"]).status_code == 403
    )

    # submitted, reviewed, approved: the decision's answer keeps the same conflicts
    for step in ("submit", "review"):
        r = w.client.post(f"/api/applications/{app_id}/{step}", headers=nanhu)
        assert r.status_code == 200, r.text
        assert _fields(r.json()["register_conflicts"]) == expected
    settle_materials(w.registry, w.officers[NANHU], app_id)
    r = w.client.post(f"/api/applications/{app_id}:approve", headers=nanhu)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["state"] == "approved"
    assert _fields(approved["register_conflicts"]) == expected
    assert _fields(approved["decision"]["register_conflicts"]) == expected


def test_agreeing_facts_are_an_empty_list_and_no_register_record_null(
    world: World,  # noqa: F811
) -> None:
    w = world
    nanhu = w.tokens["nanhu"]
    prepare(w, NANHU, "issued", 32)
    agrees = owner_facts(migrant(32), residence_permit={"held": True, "county": NANHU})
    unknown = owner_facts(migrant(33), residence_permit={"held": True, "county": NANHU})
    for facts, want in ((agrees, []), (unknown, None)):
        r = w.client.post(
            "/api/applications",
            json={"kind": "s1_1", "county": NANHU, "facts": facts},
            headers=nanhu,
        )
        assert r.status_code == 201, r.text
        assert r.json()["register_conflicts"] == want


def test_masked_for_whom_may_not_see_the_county(world: World) -> None:  # noqa: F811
    """The JSON of an application for someone outside its county (names and numbers
    masked) carries neither the decision nor the conflicts."""
    w = world
    prepare(w, NANHU, "issued", 34)
    facts = owner_facts(migrant(34), residence_permit={"held": False})
    app_id = w.registry.create_application(w.officers[NANHU], "s1_1", NANHU, facts).id
    app = w.registry.read(lambda s: s.get(Application, app_id))
    assert app is not None and app.register_conflicts
    analyst = Actor(None, "analyst", "analyst", None)
    for who in (w.officers[XIUZHOU], analyst):
        shown = _application(app, who)
        assert shown["register_conflicts"] is None and shown["decision"] is None
        assert shown["applicant_id_number"] != migrant(34)  # masked, as the rule is
    assert _application(app, w.officers[NANHU])["register_conflicts"] == app.register_conflicts
