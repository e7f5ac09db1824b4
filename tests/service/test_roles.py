"""Every endpoint × every role, inside and outside its jurisdiction, in one table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.demo import settle_materials
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import owner_case

PASSWORD = "a long enough secret"
ROLES = ("anonymous", "officer_in", "officer_out", "keeper_in", "keeper_out", "analyst", "admin")


def _world(tmp: Path) -> tuple[TestClient, dict[str, Any]]:
    url = f"sqlite:///{tmp / 'roles.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)), FixedClock(dt.date(2025, 3, 1)))
    officer_id = registry.add_user(SYSTEM, "officer_in", PASSWORD, "officer", NANHU)
    registry.add_user(SYSTEM, "officer_out", PASSWORD, "officer", XIUZHOU)
    registry.add_user(SYSTEM, "analyst", PASSWORD, "analyst")
    registry.add_user(SYSTEM, "admin", PASSWORD, "admin")
    officer = Actor(officer_id, "officer_in", "officer", NANHU)
    community, collective = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    other_community, _ = registry.add_community(officer, NANHU, "建设街道", "南溪社区", "111")
    registry.add_user(SYSTEM, "keeper_in", PASSWORD, "keeper", str(community))
    registry.add_user(SYSTEM, "keeper_out", PASSWORD, "keeper", str(other_community))
    dwelling = registry.add_dwelling(
        officer, NANHU, "紫阳街道1号", "111", "owned", community_id=community
    )
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    family = registry.register(officer, app.id, dwelling_id=dwelling)
    draft = registry.create_application(officer, "s1_1", NANHU, owner_case(seq=7))
    person = registry.read(
        lambda s: s.execute(
            __import__("sqlalchemy").text("SELECT id FROM persons ORDER BY id LIMIT 1")
        ).scalar_one()
    )
    procedure = registry.request_move_out(officer, dwelling, person, "赵六", "owner", "不动产权证")
    members = TestClient(create_app(registry))
    ids = {
        "family": family,
        "collective": collective,
        "app": app.id,
        "draft": draft.id,
        "dwelling": dwelling,
        "person": person,
        "procedure": procedure.id,
        "id_number": owner_case()["applicant"]["id_number"],
    }
    return members, ids


def _headers(client: TestClient, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    r = client.post("/api/login", json={"username": role, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# (method, path, body) -> expected status for each role, in the order of ROLES
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("POST", "/api/check", owner_case(), (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/applications", None, (403, 200, 200, 403, 403, 403, 200)),
    ("GET", "/api/applications/{app}", None, (403, 200, 403, 403, 403, 403, 200)),
    (
        "POST",
        "/api/applications",
        {"kind": "s1_1", "county": NANHU, "facts": owner_case(seq=9)},
        (403, 201, 403, 403, 403, 403, 403),
    ),
    ("GET", "/api/health", None, (200, 200, 200, 200, 200, 200, 200)),
    ("POST", "/api/applications/{draft}/submit", {}, (403, 200, 403, 403, 403, 403, 403)),
    ("POST", "/api/applications/{draft}/review", {}, (403, 409, 403, 403, 403, 403, 403)),
    ("POST", "/api/applications/{draft}/withdraw", {}, (403, 200, 403, 403, 403, 403, 403)),
    ("POST", "/api/applications/{draft}:approve", {}, (403, 409, 403, 403, 403, 403, 403)),
    (
        "POST",
        "/api/applications/{app}:register",
        {"household_id": "{collective}"},
        (403, 409, 403, 403, 403, 403, 403),
    ),
    (
        "POST",
        "/api/applications/{draft}/documents",
        {"material": "居民身份证"},
        (403, 201, 403, 403, 403, 403, 403),
    ),
    ("GET", "/api/applications/{draft}/materials", None, (403, 200, 403, 403, 403, 403, 200)),
    (
        "POST",
        "/api/applications/{draft}/materials/居民身份证、户口簿（或户籍证明）/waiver",
        {"reason": "原件已当场核验"},
        (403, 201, 403, 403, 403, 403, 403),
    ),
    (
        "POST",
        "/api/applications/{draft}:reject",
        {"reasons": "x"},
        (403, 409, 403, 403, 403, 403, 403),
    ),
    ("GET", "/api/households/{family}", None, (403, 200, 403, 403, 403, 403, 200)),
    ("GET", "/api/households/{collective}", None, (403, 200, 403, 200, 403, 403, 200)),
    ("GET", "/api/households", None, (403, 200, 200, 403, 403, 403, 200)),
    ("GET", "/api/notices", None, (403, 200, 200, 403, 403, 403, 200)),
    ("GET", "/api/permits", None, (403, 200, 200, 403, 403, 403, 200)),
    ("GET", "/api/permits?due=true", None, (403, 200, 200, 403, 403, 403, 200)),
    (
        "POST",
        "/api/persons/lookup",
        {"id_number": "{id_number}"},
        (403, 200, 200, 403, 403, 403, 200),
    ),
    (
        "POST",
        "/api/move-outs",
        {
            "dwelling_id": "{dwelling}",
            "person_id": "{person}",
            "requester_name": "赵六",
            "requester_role": "owner",
            "property_proof": "不动产权证",
        },
        (403, 201, 403, 403, 403, 403, 403),
    ),
    ("GET", "/api/move-outs/due", None, (403, 200, 200, 403, 403, 403, 200)),
    ("POST", "/api/move-outs/{procedure}/notify", {}, (403, 200, 403, 403, 403, 403, 403)),
    (
        "POST",
        "/api/persons/{person}:attach",
        {"reason": "divorce"},
        (403, 200, 403, 403, 403, 403, 403),
    ),
    ("GET", "/api/collectives/mine", None, (403, 403, 403, 200, 200, 403, 403)),
    ("GET", "/api/stats", None, (403, 200, 200, 403, 403, 200, 200)),
]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _b, _e in MATRIX]
)
def test_role_matrix(
    tmp_path: Path, role: str, method: str, path: str, body: Any, expected: tuple[int, ...]
) -> None:
    client, ids = _world(tmp_path)
    url = path.format(**ids)
    r = client.request(
        method,
        url,
        headers=_headers(client, role),
        json=_fill(body, ids) if body is not None else None,
    )
    want = expected[ROLES.index(role)]
    assert r.status_code == want, (role, method, url, r.text)
    if r.status_code >= 400:
        err = r.json()["errors"][0]
        assert err["zh"] and err["en"]
    if role == "officer_in" and url.startswith("/api/households/{}".format(ids["family"])):
        assert all("*" not in m["id_number"] for m in r.json()["members"])
