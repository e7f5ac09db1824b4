"""Issue 11: every write checks every object a request *names* against the officer's county.

Two counties, each with an officer, a community (and its public collective household),
a dwelling holding a registered family household, and an empty dwelling. The 330402
officer then names 330411's households, dwellings and persons through the HTTP API:
each attempt is refused and writes nothing (every table's row count is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.demo import settle_materials
from hukou.registry.models import Person
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import id_number, owner_case

PASSWORD = "a long enough secret"
TABLES = (
    "users",
    "persons",
    "households",
    "dwellings",
    "memberships",
    "communities",
    "applications",
    "application_events",
    "documents_received",
    "audit_log",
)


def snapshot_counts(registry: Registry) -> dict[str, int]:
    """The number of rows of every table a refused request must leave alone."""

    def query(s: Any) -> dict[str, int]:
        counts = {
            t: int(s.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()) for t in TABLES
        }
        # log-ins and reads are audited too (issue 12); only records of changes count here
        counts["audit_log"] = int(
            s.execute(
                text(
                    "SELECT count(*) FROM audit_log WHERE action NOT LIKE 'login.%' "
                    "AND action NOT LIKE 'read.%' AND action <> 'logout'"
                )
            ).scalar_one()
        )
        return counts

    return registry.read(query)


@dataclass(frozen=True)
class County:
    officer: Actor
    community: int
    collective: int
    dwelling: int  # holds ``family``
    spare: int  # an empty dwelling
    family: int
    person: int  # the applicant registered in ``family``
    id_number: str
    name: str


@dataclass(frozen=True)
class World:
    client: TestClient
    headers: dict[str, str]  # the 330402 officer's bearer token
    nanhu: County
    xiuzhou: County
    approved: int  # a 330402 application, approved, not yet registered


def _county(registry: Registry, code: str, username: str, facts: dict[str, Any]) -> County:
    uid = registry.add_user(SYSTEM, username, PASSWORD, "officer", code)
    officer = Actor(uid, username, "officer", code)
    community, collective = registry.add_community(officer, code, "街道", f"{code}社区", "111")
    dwelling = registry.add_dwelling(
        officer, code, f"{code}路1号", "111", "owned", community_id=community
    )
    spare = registry.add_dwelling(
        officer, code, f"{code}路2号", "111", "owned", community_id=community
    )
    app = registry.create_application(officer, "s1_1", code, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    family = registry.register(officer, app.id, dwelling_id=dwelling)
    number = facts["applicant"]["id_number"]
    person = registry.read(
        lambda s: s.execute(select(Person.id).where(Person.id_number == number)).scalar_one()
    )
    return County(
        officer,
        community,
        collective,
        dwelling,
        spare,
        family,
        int(person),
        number,
        facts["applicant"]["name"],
    )


@pytest.fixture
def world(registry: Registry) -> World:
    nanhu = _county(registry, NANHU, "officer_nanhu", owner_case())
    xiuzhou = _county(
        registry, XIUZHOU, "officer_xiuzhou", owner_case(name="张秀英", seq=5, county=XIUZHOU)
    )
    app = registry.create_application(nanhu.officer, "s1_1", NANHU, owner_case("陈明", seq=3))
    for action in ("submit", "review"):
        registry.act(nanhu.officer, app.id, action)
    settle_materials(registry, nanhu.officer, app.id)
    registry.approve(nanhu.officer, app.id)
    client = TestClient(create_app(registry))
    r = client.post("/api/login", json={"username": "officer_nanhu", "password": PASSWORD})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    return World(client, headers, nanhu, xiuzhou, app.id)


def _refused(
    world: World, registry: Registry, status: int, method: str, url: str, body: Any = None
) -> dict[str, Any]:
    """Send the request as the 330402 officer: refused with ``status``, nothing written."""
    before = snapshot_counts(registry)
    r = world.client.request(method, url, headers=world.headers, json=body)
    assert r.status_code == status, r.text
    assert snapshot_counts(registry) == before
    err: dict[str, Any] = r.json()["errors"][0]
    assert err["zh"] and err["en"]
    return err


# ---- 1–3 register into a household or onto a dwelling the request names ---------------


def test_register_into_another_countys_household_is_refused(
    world: World, registry: Registry
) -> None:
    url = f"/api/applications/{world.approved}:register"
    _refused(world, registry, 403, "POST", url, {"household_id": world.xiuzhou.family})


def test_register_into_another_countys_collective_household_is_refused(
    world: World, registry: Registry
) -> None:
    url = f"/api/applications/{world.approved}:register"
    _refused(world, registry, 403, "POST", url, {"household_id": world.xiuzhou.collective})


def test_register_onto_another_countys_dwelling_is_refused(
    world: World, registry: Registry
) -> None:
    url = f"/api/applications/{world.approved}:register"
    _refused(world, registry, 403, "POST", url, {"dwelling_id": world.xiuzhou.spare})


@pytest.mark.parametrize("field", ["household_id", "dwelling_id"])
def test_register_naming_a_missing_object_is_404(
    world: World, registry: Registry, field: str
) -> None:
    url = f"/api/applications/{world.approved}:register"
    err = _refused(world, registry, 404, "POST", url, {field: 999999})
    assert err["field"] == field


# ---- 4 identity: an ID number already registered under another name -------------------


def test_applicant_with_a_registered_id_number_under_another_name_is_refused(
    world: World, registry: Registry
) -> None:
    facts = owner_case(name="冒名者", with_spouse=False)
    facts["applicant"]["id_number"] = world.xiuzhou.id_number  # registered as 张秀英
    body = {"kind": "s1_1", "county": NANHU, "facts": facts}
    err = _refused(world, registry, 422, "POST", "/api/applications", body)
    assert err["field"] == "facts.applicant.name"


def test_relative_with_a_registered_id_number_under_another_name_is_refused(
    world: World, registry: Registry
) -> None:
    facts = owner_case(name="周强", seq=8)
    # 330411's spouse, registered as 王芳 with the 张秀英 family
    facts["relatives"][0]["id_number"] = id_number("341221", "19900823", 5, False)
    facts["relatives"][0]["name"] = "冒名者"
    body = {"kind": "s1_1", "county": NANHU, "facts": facts}
    err = _refused(world, registry, 422, "POST", "/api/applications", body)
    assert "relatives" in err["field"] and "name" in err["field"]


# ---- 5 reading another county's household -----------------------------------------------


def test_reading_another_countys_household_is_refused(world: World, registry: Registry) -> None:
    _refused(world, registry, 403, "GET", f"/api/households/{world.xiuzhou.family}")


def test_reading_ones_own_countys_household_is_in_full(world: World) -> None:
    r = world.client.get(f"/api/households/{world.nanhu.family}", headers=world.headers)
    assert r.status_code == 200, r.text
    members = r.json()["members"]
    assert members and all("*" not in m["name"] and "*" not in m["id_number"] for m in members)
    assert world.nanhu.id_number in [m["id_number"] for m in members]


# ---- 6 attaching another county's person --------------------------------------------------


def test_attaching_another_countys_person_is_refused(world: World, registry: Registry) -> None:
    url = f"/api/persons/{world.xiuzhou.person}:attach"
    _refused(world, registry, 403, "POST", url, {"reason": "divorce"})


# ---- 7 a move-out naming another county's dwelling or person ------------------------------


def _move_out(dwelling: int, person: int) -> dict[str, Any]:
    return {
        "dwelling_id": dwelling,
        "person_id": person,
        "requester_name": "赵六",
        "requester_role": "owner",
        "property_proof": "不动产权证",
    }


def test_move_out_from_another_countys_dwelling_is_refused(
    world: World, registry: Registry
) -> None:
    body = _move_out(world.xiuzhou.dwelling, world.xiuzhou.person)
    _refused(world, registry, 403, "POST", "/api/move-outs", body)


def test_move_out_of_another_countys_person_is_refused(world: World, registry: Registry) -> None:
    body = _move_out(world.nanhu.dwelling, world.xiuzhou.person)
    _refused(world, registry, 403, "POST", "/api/move-outs", body)


# ---- positive controls ----------------------------------------------------------------------


def test_register_onto_ones_own_countys_dwelling_is_done(world: World, registry: Registry) -> None:
    before = snapshot_counts(registry)
    r = world.client.post(
        f"/api/applications/{world.approved}:register",
        headers=world.headers,
        json={"dwelling_id": world.nanhu.spare},
    )
    assert r.status_code == 200, r.text
    hid = r.json()["household_id"]
    after = snapshot_counts(registry)
    delta = {t: after[t] - before[t] for t in TABLES}
    # one family household; the applicant and the spouse, new persons with memberships
    assert delta["households"] == 1
    assert delta["persons"] == 2 and delta["memberships"] == 2
    assert delta["application_events"] == 1 and delta["audit_log"] > 0
    for t in ("users", "dwellings", "communities", "applications", "documents_received"):
        assert delta[t] == 0, t
    household = world.client.get(f"/api/households/{hid}", headers=world.headers).json()
    assert household["county"] == NANHU and len(household["members"]) == 2


def test_the_other_county_is_unchanged_by_a_refused_register(
    world: World, registry: Registry
) -> None:
    """Nothing moved into 330411's household, whatever the reply."""
    url = f"/api/applications/{world.approved}:register"
    world.client.post(url, headers=world.headers, json={"household_id": world.xiuzhou.family})

    def members(s: Any) -> int:
        return int(
            s.execute(
                text(
                    "SELECT count(*) FROM memberships WHERE household_id = :h AND end_date IS NULL"
                ),
                {"h": world.xiuzhou.family},
            ).scalar_one()
        )

    assert registry.read(members) == 2
