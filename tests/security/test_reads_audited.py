"""P6: reads of personal data were not audited (issue 12, item 3).

The attack that worked on the old main: an officer viewed hundreds of cases, printed
their notices and looked people up by ID number, and the audit trail showed none of it —
only writes were recorded. Now each read leaves exactly one record once it has succeeded
(``read.application``, ``read.queue``, ``read.household``, ``read.person``,
``read.notice``, ``read.export``), naming who, what and which row; a refused read is a
security event (``read.refused``, with the action asked and the reason). No record holds
an ID number or a name.

On SQLite and PostgreSQL (the ``registry`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.demo import settle_materials
from hukou.registry.models import AuditRecord, Person
from hukou.registry.service import Registry
from hukou.service import reads
from hukou.service.app import create_app
from hukou.service.limits import Limits, Rate
from hukou.service.web import panels

from ..registry.conftest import NANHU
from ..registry.helpers import owner_case
from ..web.conftest import csrf_of
from .maximal import id_number

PASSWORD = "correct horse battery"  # the ``officer`` fixtures'


@dataclass
class World:
    registry: Registry
    app: FastAPI
    registered: int  # an application of 南湖区, registered (its notice can be printed)
    draft: int  # an open application of 南湖区
    household: int  # the registered family's household
    collective: int  # the community's collective household (the keeper's)
    person: int  # the registered applicant
    number: str  # their ID number
    run: str  # a reform run, ready to export
    secrets: tuple[str, ...]  # every ID number and name in the register


@pytest.fixture
def world(registry: Registry, officer: Actor, other_officer: Actor) -> World:
    registry.add_user(SYSTEM, "analyst", PASSWORD, "analyst")
    registry.add_user(SYSTEM, "admin", PASSWORD, "admin")
    community, collective = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    registry.add_user(SYSTEM, "keeper", PASSWORD, "keeper", str(community))
    case = owner_case()
    app = registry.create_application(officer, "s1_1", NANHU, case)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    household = registry.register(
        officer,
        app.id,
        dwelling_id=registry.add_dwelling(officer, NANHU, "紫阳街道1号", "111", "owned"),
    )
    other = owner_case("陈明", seq=3)
    draft = registry.create_application(officer, "s1_1", NANHU, other)
    number = case["applicant"]["id_number"]
    person = registry.read(
        lambda s: s.execute(select(Person.id).where(Person.id_number == number)).scalar_one()
    )
    web = create_app(registry, limits=Limits.unlimited())
    run = panels.ReformRun(
        secrets.token_urlsafe(12),
        cast(Any, None),  # already rendered: the export is what is audited here
        5,
        dt.datetime.now(dt.UTC),
        {"xlsx": b"PK\x03\x04", "html-zh": b"<html></html>"},
    )
    panels.runs_of(web.state)._runs[run.id] = run
    people = [case["applicant"], *case["relatives"], other["applicant"], *other["relatives"]]
    return World(
        registry,
        web,
        app.id,
        draft.id,
        household,
        collective,
        int(person),
        number,
        run.id,
        tuple(x for p in people for x in (p["id_number"], p["name"])),
    )


def _client(world: World, username: str, page: bool = False) -> tuple[TestClient, dict[str, str]]:
    """A client logged in as ``username``: by the page's form, or by API token (headers)."""
    client = TestClient(world.app, base_url="https://testserver", follow_redirects=False)
    if page:
        form = client.get("/login")
        r = client.post(
            "/login",
            data={"csrf": csrf_of(form.text), "username": username, "password": PASSWORD},
        )
        assert r.status_code == 303, r.text
        return client, {}
    r = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client, {"Authorization": f"Bearer {r.json()['token']}"}


def _last_id(registry: Registry) -> int:
    return int(registry.read(lambda s: s.execute(select(func.max(AuditRecord.id))).scalar()) or 0)


def _since(registry: Registry, last: int) -> list[dict[str, Any]]:
    def query(s: Any) -> list[dict[str, Any]]:
        rows = s.execute(
            select(AuditRecord).where(AuditRecord.id > last).order_by(AuditRecord.id)
        ).scalars()
        return [
            {
                "actor": r.actor,
                "action": r.action,
                "entity": r.entity,
                "entity_id": r.entity_id,
                "before": r.before,
                "after": r.after,
            }
            for r in rows
        ]

    return registry.read(query)


def _clear(world: World, records: list[dict[str, Any]]) -> None:
    text = json.dumps(records, ensure_ascii=False)
    for secret in world.secrets:
        assert secret not in text, secret


Read = Callable[[TestClient, dict[str, str], World], Any]

# (what, who, by the page?, the read, status, action, entity, entity id, detail expected)
READS: list[
    tuple[str, str, bool, Read, int, str, str, Callable[[World], object], dict[str, Any]]
] = [
    (
        "a case, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get(f"/api/applications/{w.registered}", headers=h),
        200,
        "read.application",
        "application",
        lambda w: w.registered,
        {"via": "api"},
    ),
    (
        "a case, page",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get(f"/officer/app/{w.draft}"),
        200,
        "read.application",
        "application",
        lambda w: w.draft,
        {"via": "page"},
    ),
    (
        "the queue, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/applications", headers=h, params={"state": "draft"}),
        200,
        "read.queue",
        "application",
        lambda w: "",
        {"via": "api", "filters": {"state": "draft", "page": 1, "size": 50}, "total": 1},
    ),
    (
        "the queue, page",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get("/officer", params={"reference": "HK-2025", "size": "20"}),
        200,
        "read.queue",
        "application",
        lambda w: "",
        {"via": "page", "filters": {"reference": "HK-2025", "page": 1, "size": 20}, "total": 2},
    ),
    (
        "a household, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get(f"/api/households/{w.household}", headers=h),
        200,
        "read.household",
        "household",
        lambda w: w.household,
        {"via": "api", "partial": False, "members": 2},
    ),
    (
        "the keeper's household, API",
        "keeper",
        False,
        lambda c, h, w: c.get("/api/collectives/mine", headers=h),
        200,
        "read.household",
        "household",
        lambda w: w.collective,
        {"via": "api"},
    ),
    (
        "the keeper's household, page",
        "keeper",
        True,
        lambda c, h, w: c.get("/keeper"),
        200,
        "read.household",
        "household",
        lambda w: w.collective,
        {"via": "page", "members": 0},
    ),
    (
        "a person looked up",
        "officer_nanhu",
        False,
        lambda c, h, w: c.post("/api/persons/lookup", headers=h, json={"id_number": w.number}),
        200,
        "read.person",
        "person",
        lambda w: w.person,
        {"via": "api", "found": 1},
    ),
    (
        "a notice printed",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get(f"/officer/app/{w.registered}/notice.pdf"),
        200,
        "read.notice",
        "application",
        lambda w: w.registered,
        {"via": "page", "state": "registered"},
    ),
    (
        "an export (workbook)",
        "analyst",
        True,
        lambda c, h, w: c.get(f"/analyst/reform/{w.run}/reform.xlsx"),
        200,
        "read.export",
        "reform_run",
        lambda w: w.run,
        {"via": "page", "format": "xlsx"},
    ),
    (
        "an export (HTML)",
        "analyst",
        True,
        lambda c, h, w: c.get(f"/analyst/reform/{w.run}/reform.html"),
        200,
        "read.export",
        "reform_run",
        lambda w: w.run,
        {"via": "page", "format": "html"},
    ),
    # found in review: lists and look-ups that showed names or rows unaudited
    (
        "the move-outs, page",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get("/officer/move-outs"),
        200,
        "read.move_outs",
        "move_out",
        lambda w: "",
        {"via": "page"},
    ),
    (
        "the moves, page",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get("/officer/moves"),
        200,
        "read.moves",
        "move",
        lambda w: "",
        {"via": "page", "notices": [], "permits": []},
    ),
    (
        "an application's materials, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get(f"/api/applications/{w.draft}/materials", headers=h),
        200,
        "read.materials",
        "application",
        lambda w: w.draft,
        {"via": "api"},
    ),
    (
        "the notices, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/notices", headers=h, params={"state": "pending"}),
        200,
        "read.notices",
        "station_notice",
        lambda w: "",
        {"via": "api", "state": "pending", "shown": []},
    ),
    (
        "the permits, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/permits", headers=h),
        200,
        "read.permits",
        "move_in_permit",
        lambda w: "",
        {"via": "api", "due": False},
    ),
    (
        "the permits due, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/permits", headers=h, params={"due": "true"}),
        200,
        "read.permits",
        "move_in_permit",
        lambda w: "",
        {"via": "api", "due": True},
    ),
    (
        "the move-outs due, API",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/move-outs/due", headers=h),
        200,
        "read.move_outs",
        "move_out",
        lambda w: "",
        {"via": "api", "due": True},
    ),
]


@pytest.mark.parametrize(
    ("who", "page", "read", "status", "action", "entity", "entity_id", "detail"),
    [r[1:] for r in READS],
    ids=[r[0] for r in READS],
)
def test_each_read_leaves_one_record(
    world: World,
    who: str,
    page: bool,
    read: Read,
    status: int,
    action: str,
    entity: str,
    entity_id: Callable[[World], object],
    detail: dict[str, Any],
) -> None:
    client, headers = _client(world, who, page)
    last = _last_id(world.registry)
    r = read(client, headers, world)
    assert r.status_code == status, r.text
    records = _since(world.registry, last)
    assert [(x["action"], x["actor"], x["entity"]) for x in records] == [(action, who, entity)]
    [record] = records
    assert record["entity_id"] == str(entity_id(world))
    assert detail.items() <= record["after"].items(), record["after"]
    _clear(world, records)


# (what, who, by the page?, the read, status, the action refused, entity, id, reason)
REFUSED: list[tuple[str, str, bool, Read, int, str | None, str, Callable[[World], object], str]] = [
    (
        "another county's case, API",
        "officer_xiuzhou",
        False,
        lambda c, h, w: c.get(f"/api/applications/{w.registered}", headers=h),
        403,
        "read.application",
        "application",
        lambda w: w.registered,
        "forbidden",
    ),
    (
        "another county's case, page",
        "officer_xiuzhou",
        True,
        lambda c, h, w: c.get(f"/officer/app/{w.draft}"),
        403,
        "read.application",
        "application",
        lambda w: w.draft,
        "forbidden",
    ),
    (
        "a case, for an analyst",
        "analyst",
        False,
        lambda c, h, w: c.get(f"/api/applications/{w.draft}", headers=h),
        403,
        "read.application",
        "application",
        lambda w: w.draft,
        "forbidden",
    ),
    (
        "no such case",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/applications/2147483647", headers=h),
        404,
        "read.application",
        "application",
        lambda w: 2147483647,
        "not_found",
    ),
    (
        "the queue, for a keeper",
        "keeper",
        True,
        lambda c, h, w: c.get("/officer"),
        403,
        "read.queue",
        "application",
        lambda w: "",
        "forbidden",
    ),
    (
        "the queue, bad filter",
        "officer_nanhu",
        False,
        lambda c, h, w: c.get("/api/applications", headers=h, params={"page": "0"}),
        422,
        None,  # refused by the framework before any read: nothing to audit
        "",
        lambda w: "",
        "",
    ),
    (
        "another county's household",
        "officer_xiuzhou",
        False,
        lambda c, h, w: c.get(f"/api/households/{w.household}", headers=h),
        403,
        "read.household",
        "household",
        lambda w: w.household,
        "forbidden",
    ),
    (
        "a look-up with a bad number",
        "officer_nanhu",
        False,
        lambda c, h, w: c.post(
            "/api/persons/lookup", headers=h, json={"id_number": w.number[:-1] + "0"}
        ),
        422,
        "read.person",
        "person",
        lambda w: "",
        "invalid",
    ),
    (
        "a look-up by a keeper",
        "keeper",
        False,
        lambda c, h, w: c.post("/api/persons/lookup", headers=h, json={"id_number": w.number}),
        403,
        "read.person",
        "person",
        lambda w: "",
        "forbidden",
    ),
    (
        "a notice not yet decided",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get(f"/officer/app/{w.draft}/notice.pdf"),
        422,
        "read.notice",
        "application",
        lambda w: w.draft,
        "invalid",
    ),
    (
        "an export by an officer",
        "officer_nanhu",
        True,
        lambda c, h, w: c.get(f"/analyst/reform/{w.run}/reform.xlsx"),
        403,
        "read.export",
        "reform_run",
        lambda w: w.run,
        "forbidden",
    ),
    (
        "the move-outs, for a keeper",
        "keeper",
        True,
        lambda c, h, w: c.get("/officer/move-outs"),
        403,
        "read.move_outs",
        "move_out",
        lambda w: "",
        "forbidden",
    ),
    (
        "the moves, for a keeper",
        "keeper",
        True,
        lambda c, h, w: c.get("/officer/moves"),
        403,
        "read.moves",
        "move",
        lambda w: "",
        "forbidden",
    ),
    (
        "another county's materials",
        "officer_xiuzhou",
        False,
        lambda c, h, w: c.get(f"/api/applications/{w.draft}/materials", headers=h),
        403,
        "read.materials",
        "application",
        lambda w: w.draft,
        "forbidden",
    ),
    (
        "the notices, for an analyst",
        "analyst",
        False,
        lambda c, h, w: c.get("/api/notices", headers=h),
        403,
        "read.notices",
        "station_notice",
        lambda w: "",
        "forbidden",
    ),
    (
        "the permits, for a keeper",
        "keeper",
        False,
        lambda c, h, w: c.get("/api/permits", headers=h),
        403,
        "read.permits",
        "move_in_permit",
        lambda w: "",
        "forbidden",
    ),
    (
        "the move-outs due, for an analyst",
        "analyst",
        False,
        lambda c, h, w: c.get("/api/move-outs/due", headers=h),
        403,
        "read.move_outs",
        "move_out",
        lambda w: "",
        "forbidden",
    ),
    (
        "an export of no run",
        "analyst",
        True,
        lambda c, h, w: c.get("/analyst/reform/341221198805120032/reform.xlsx"),
        404,
        "read.export",
        "reform_run",
        lambda w: "",  # a path may hold anything: not kept
        "not_found",
    ),
]


@pytest.mark.parametrize(
    ("who", "page", "read", "status", "action", "entity", "entity_id", "reason"),
    [r[1:] for r in REFUSED],
    ids=[r[0] for r in REFUSED],
)
def test_a_refused_read_is_a_security_event(
    world: World,
    who: str,
    page: bool,
    read: Read,
    status: int,
    action: str | None,
    entity: str,
    entity_id: Callable[[World], object],
    reason: str,
) -> None:
    client, headers = _client(world, who, page)
    last = _last_id(world.registry)
    r = read(client, headers, world)
    assert r.status_code == status, r.text
    records = _since(world.registry, last)
    if action is None:
        assert records == []
        return
    assert [(x["action"], x["actor"], x["entity"]) for x in records] == [
        ("read.refused", who, entity)
    ]
    [record] = records
    assert record["entity_id"] == str(entity_id(world))
    assert record["after"]["action"] == action and record["after"]["reason"] == reason
    _clear(world, records)


def test_the_records_chain_and_verify(world: World) -> None:
    """Read records are audit records like any: sealed into the one chain."""
    client, headers = _client(world, "officer_nanhu")
    for _ in range(3):
        assert client.get(f"/api/applications/{world.draft}", headers=headers).status_code == 200
    assert world.registry.verify_audit() == []


# ---- look-ups by ID number on the pages, found or not --------------------------------

MISSING = id_number(dt.date(1990, 1, 1), 987)  # valid; nobody in the register has it


def _post_form(client: TestClient, page: str, url: str, data: dict[str, str]) -> Any:
    form = client.get(page)
    assert form.status_code == 200, form.text
    return client.post(url, data={"csrf": csrf_of(form.text), **data})


# (for, the form, its fields, the answer when the person is found)
LOOKUPS = [
    (
        "move_out",
        "/officer/move-outs",
        {
            "requester_name": "王建国",
            "requester_role": "owner",
            "property_proof": "嘉房权证 2019 第 1 号",
        },
        303,
    ),
    # registered on a dwelling: refused (409) once found, but looked up all the same
    ("attach", "/officer/attach", {"reason": "demolition"}, 409),
]


@pytest.mark.parametrize(("purpose", "url", "data", "status"), LOOKUPS, ids=[x[0] for x in LOOKUPS])
@pytest.mark.parametrize("hit", [True, False], ids=["found", "missed"])
def test_a_page_look_up_by_id_number_is_audited_found_or_not(
    world: World, purpose: str, url: str, data: dict[str, str], status: int, hit: bool
) -> None:
    """An officer's form naming a person by ID number: one ``read.person`` record, a miss
    as well as a hit, with a keyed digest of the number asked (never the number)."""
    client, _ = _client(world, "officer_nanhu", page=True)
    form = client.get("/officer/move-outs")
    last = _last_id(world.registry)
    number = world.number if hit else MISSING
    r = client.post(url, data={"csrf": csrf_of(form.text), "id_number": number, **data})
    assert r.status_code == (status if hit else 404), r.text[:300]
    records = _since(world.registry, last)
    looked = [x for x in records if x["action"] == "read.person"]
    assert len(looked) == 1 and records[0] == looked[0], records
    [record] = looked
    assert record["actor"] == "officer_nanhu" and record["entity"] == "person"
    assert record["entity_id"] == (str(world.person) if hit else "")
    after = record["after"]
    assert after["via"] == "page" and after["for"] == purpose
    assert after["found"] == (1 if hit else 0)
    assert after["persons"] == ([world.person] if hit else [])
    assert after["number"] == reads.number_digest(world.registry, number)
    assert number not in json.dumps(records, ensure_ascii=False)
    if not hit:
        assert [x["action"] for x in records] == ["read.person"]  # nothing else happened
    _clear(world, records)


def test_a_page_look_up_by_a_keeper_is_a_refused_read(world: World) -> None:
    client, _ = _client(world, "keeper", page=True)
    form = client.get("/login")  # any page's form carries the session's CSRF token
    last = _last_id(world.registry)
    r = client.post(
        "/officer/attach",
        data={"csrf": csrf_of(form.text), "id_number": world.number, "reason": "other"},
    )
    assert r.status_code == 403
    [record] = _since(world.registry, last)
    assert record["action"] == "read.refused" and record["after"]["action"] == "read.person"
    assert world.number not in json.dumps(record, ensure_ascii=False)


def test_the_api_look_up_keeps_a_digest_of_the_number_and_a_miss(world: World) -> None:
    client, headers = _client(world, "officer_nanhu")
    last = _last_id(world.registry)
    r = client.post("/api/persons/lookup", headers=headers, json={"id_number": MISSING})
    assert r.status_code == 200 and r.json() == []
    [record] = _since(world.registry, last)
    assert record["action"] == "read.person" and record["after"]["found"] == 0
    assert record["after"]["number"] == reads.number_digest(world.registry, MISSING)
    assert MISSING not in json.dumps(record, ensure_ascii=False)


def test_the_move_outs_page_is_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The list showed every procedure ever made: now the newest ``reads.LIST_MAX``."""
    monkeypatch.setattr(reads, "LIST_MAX", 1)
    client, _ = _client(world, "officer_nanhu", page=True)
    form = client.get("/officer/move-outs")
    for _ in range(2):
        r = client.post(
            "/officer/move-outs",
            data={"csrf": csrf_of(form.text), "id_number": world.number, **LOOKUPS[0][2]},
        )
        assert r.status_code == 303, r.text[:300]
    last = _last_id(world.registry)
    page = client.get("/officer/move-outs")
    assert page.status_code == 200
    [record] = _since(world.registry, last)
    assert record["action"] == "read.move_outs" and len(record["after"]["shown"]) == 1


# ---- a log-in refused by the rate limit is a security event ---------------------------


@pytest.mark.parametrize("page", [False, True], ids=["api", "page"])
def test_a_rate_limited_login_is_a_security_event(world: World, page: bool) -> None:
    """429s on ``/api/login`` and ``/login`` left no trace. Now the first of each run of
    refusals from an address is audited (``login.rate_limited``): a flood of 429s is not a
    flood of writes."""
    limits = Limits.unlimited(login=Rate(per_second=0.001, burst=2), clock=lambda: 0.0)
    client = TestClient(create_app(world.registry, limits=limits), base_url="https://testserver")
    form = client.get("/login")

    def attempt() -> int:
        body = {"username": "officer_nanhu", "password": "wrong password!"}
        if page:
            r = client.post("/login", data={"csrf": csrf_of(form.text), **body})
        else:
            r = client.post("/api/login", json=body)
        return r.status_code

    last = _last_id(world.registry)
    statuses = [attempt() for _ in range(5)]
    assert statuses == [403, 403, 429, 429, 429]
    records = [x for x in _since(world.registry, last) if x["action"] == "login.rate_limited"]
    assert len(records) == 1, records
    [record] = records
    assert record["actor"] == "anonymous" and record["entity"] == "user"
    assert record["after"]["address"] == "testclient" and record["after"]["retry_after"] >= 1
