"""Issue 11, as a table: every API write × every id it accepts × {own county, other county,
nonexistent, an admin naming one's own}, on SQLite and PostgreSQL.

Each write resolves every object it names through ``scope.Named`` inside its transaction:

* own county — the endpoint's success status (the world is built so that each step is
  allowed: a draft to submit, a case under review to approve, a pending notice, …);
* other county — 403 naming the id field, and nothing written;
* nonexistent — 404 naming the id field, and nothing written;
* an admin, naming an object of the acting county — 403 (admins take no step on a case),
  and nothing written.

"Nothing written": every table's row count (``test_referenced.snapshot_counts``, with the
tables of moves added) and the version of every versioned row are as before.

One world per row of the table (and per database): two counties, each with a registered
family, a §4.5 procedure, a draft, a move-in permit (an applicant from 安徽 341221) and a
station notice (a person the register holds there, registered by the other county). The
refusals run first, the own-county success last, so one world serves the whole row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.demo import settle_materials
from hukou.registry.models import MoveInPermit, Person, StationNotice
from hukou.registry.service import Registry
from hukou.service import permits_api
from hukou.service.app import create_app

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import id_number, owner_case
from .test_referenced import PASSWORD, snapshot_counts

MISSING = 999_999  # a row id no table holds
MOVE_TABLES = (
    "move_out_procedures",
    "move_in_permits",
    "station_notices",
    "residence_registrations",
    "residence_permits",
    "residence_permit_endorsements",
)
OTHER_TABLES = ("material_waivers",)  # a refused waiver writes none
VERSIONED = (
    "applications",
    "households",
    "move_out_procedures",
    "move_in_permits",
    "station_notices",
)
PLACED = "authority_order"  # a §4.3 placement reason (the collective is not the decided place)
# a material a draft (§1.1, an owner's family) needs: waived by the waiver row
WAIVED = "居民身份证、户口簿（或户籍证明）"


def register_state(registry: Registry) -> dict[str, int]:
    """What a refused write must leave alone: the row count of every table, the sum of the
    versions of every versioned table, and the number of open memberships."""

    def query(s: Any) -> dict[str, int]:
        out = {
            t: int(s.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in MOVE_TABLES + OTHER_TABLES
        }
        for t in VERSIONED:
            total = s.execute(text(f'SELECT coalesce(sum(version), 0) FROM "{t}"')).scalar_one()
            out[f"{t}.version"] = int(total)
        open_ = "SELECT count(*) FROM memberships WHERE end_date IS NULL"
        out["memberships.open"] = int(s.execute(text(open_)).scalar_one())
        return out

    return {**snapshot_counts(registry), **registry.read(query)}


# ---- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class County:
    code: str
    officer: Actor
    community: int
    collective: int
    home: int  # a dwelling holding ``family``
    spare: int  # an empty dwelling
    family: int
    householder: int  # the family's applicant (person id)
    spouse: int
    procedure: int  # §4.5, requested, on ``home`` for ``householder``
    draft: int  # an application in draft
    permit_app: int  # approved, from outside Zhejiang
    permit: int  # its move-in permit, issued
    notice: int  # pending: a person held here, registered by the other county
    mover_seq: int  # the ``owner_case`` seq of that person
    review: int = 0  # under review (the acting county only)
    approved: int = 0  # approved, not yet registered (the acting county only)
    lapsed: int = 0  # approved, its permit cancelled (the acting county only)


@dataclass(frozen=True)
class World:
    registry: Registry
    client: TestClient
    officer: dict[str, str]  # the 330402 officer's bearer token
    admin: dict[str, str]
    own: County  # 330402
    other: County  # 330411


def _approved(registry: Registry, officer: Actor, facts: dict[str, Any]) -> int:
    app = registry.create_application(officer, "s1_1", str(officer.jurisdiction), facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    return app.id


def _permit_of(registry: Registry, app_id: int) -> int:
    return int(
        registry.read(
            lambda s: s.execute(
                select(MoveInPermit.id).where(MoveInPermit.application_id == app_id)
            ).scalar_one()
        )
    )


def _person(registry: Registry, number: str) -> int:
    return int(
        registry.read(
            lambda s: s.execute(select(Person.id).where(Person.id_number == number)).scalar_one()
        )
    )


def _county(registry: Registry, code: str, seq: int, acting: bool) -> dict[str, Any]:
    """One county's objects (no notice yet); ``seq``: the first of its ID-number seqs."""
    uid = registry.add_user(SYSTEM, f"officer_{code}", PASSWORD, "officer", code)
    officer = Actor(uid, f"officer_{code}", "officer", code)
    community, collective = registry.add_community(officer, code, "街道", f"{code}社区", "111")
    home, spare = (
        registry.add_dwelling(
            officer, code, f"{code}路{n}号", "111", "owned", community_id=community
        )
        for n in (1, 2)
    )
    family = registry.register(
        officer, _approved(registry, officer, owner_case(seq=seq, county=code)), dwelling_id=home
    )
    householder = _person(registry, id_number("341221", "19880512", seq, True))
    spouse = _person(registry, id_number("341221", "19900823", seq, False))
    procedure = registry.request_move_out(officer, home, householder, "赵六", "owner", "不动产权证")
    draft = registry.create_application(officer, "s1_1", code, owner_case(seq=seq + 1, county=code))
    permit_app = _approved(registry, officer, owner_case(seq=seq + 2, county=code, origin="341221"))
    # the person the other county will register: held here, in the collective household
    mover = _approved(registry, officer, owner_case(seq=seq + 3, county=code, with_spouse=False))
    registry.register(officer, mover, household_id=collective, placement_reason=PLACED)
    out: dict[str, Any] = {
        "code": code,
        "officer": officer,
        "community": community,
        "collective": collective,
        "home": home,
        "spare": spare,
        "family": family,
        "householder": householder,
        "spouse": spouse,
        "procedure": procedure.id,
        "draft": draft.id,
        "permit_app": permit_app,
        "permit": _permit_of(registry, permit_app),
        "mover_seq": seq + 3,
    }
    if acting:
        review = registry.create_application(officer, "s1_1", code, owner_case(seq=seq + 4))
        for action in ("submit", "review"):
            registry.act(officer, review.id, action)
        settle_materials(registry, officer, review.id)  # ready to approve
        lapsed = _approved(registry, officer, owner_case(seq=seq + 5, origin="341221"))
        registry.permit_step(officer, _permit_of(registry, lapsed), "cancel")
        out |= {
            "review": review.id,
            "approved": _approved(registry, officer, owner_case(seq=seq + 6)),
            "lapsed": lapsed,
        }
    return out


def _notice(registry: Registry, held: dict[str, Any], by: dict[str, Any]) -> int:
    """``by``'s officer registers ``held``'s mover: ``held``'s station gets a pending notice."""
    officer: Actor = by["officer"]
    facts = owner_case(seq=held["mover_seq"], county=by["code"], with_spouse=False)
    app = _approved(registry, officer, facts)
    registry.register(officer, app, household_id=by["collective"], placement_reason=PLACED)
    return int(
        registry.read(
            lambda s: s.execute(
                select(StationNotice.id).where(
                    StationNotice.county == held["code"], StationNotice.application_id == app
                )
            ).scalar_one()
        )
    )


def _login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def build_world(registry: Registry) -> World:
    registry.add_user(SYSTEM, "admin", PASSWORD, "admin")
    own = _county(registry, NANHU, 10, acting=True)
    other = _county(registry, XIUZHOU, 30, acting=False)
    own["notice"] = _notice(registry, own, other)
    other["notice"] = _notice(registry, other, own)
    client = TestClient(create_app(registry))
    return World(
        registry,
        client,
        _login(client, f"officer_{NANHU}"),
        _login(client, "admin"),
        County(**own),
        County(**other),
    )


# ---- the table ------------------------------------------------------------------------------

Request = Callable[[World, int], tuple[str, dict[str, Any] | None]]


@dataclass(frozen=True)
class Row:
    name: str
    route: str  # the FastAPI route's path (the coverage test compares them)
    field: str  # the id field a refusal names
    own: str  # the ``County`` attribute naming the object, in the acting county …
    other: str  # … and in the other county
    success: int
    request: Request  # (url, json body) naming the id given


def _register(body: Callable[[int], dict[str, Any]]) -> Request:
    return lambda w, x: (f"/api/applications/{w.own.approved}:register", body(x))


def _move_out(dwelling: int, person: int) -> dict[str, Any]:
    return {
        "dwelling_id": dwelling,
        "person_id": person,
        "requester_name": "赵六",
        "requester_role": "owner",
        "property_proof": "不动产权证",
    }


def _app(suffix: str, body: dict[str, Any] | None = None) -> Request:
    return lambda w, x: (f"/api/applications/{x}{suffix}", body if body is not None else {})


ROWS: list[Row] = [
    Row(
        "register household_id",
        "/api/applications/{app_id}:register",
        "household_id",
        "collective",
        "family",
        200,
        _register(lambda x: {"household_id": x, "placement_reason": PLACED}),
    ),
    Row(
        "register dwelling_id",
        "/api/applications/{app_id}:register",
        "dwelling_id",
        "spare",
        "spare",
        200,
        _register(lambda x: {"dwelling_id": x}),
    ),
    Row(
        "register new_dwelling.community_id",
        "/api/applications/{app_id}:register",
        "community_id",
        "community",
        "community",
        200,
        _register(lambda x: {"new_dwelling": {"address": "示范路9号", "community_id": x}}),
    ),
    Row(
        "attach person",
        "/api/persons/{person_id}:attach",
        "person_id",
        "spouse",
        "householder",
        200,
        lambda w, x: (f"/api/persons/{x}:attach", {"reason": "divorce"}),
    ),
    Row(
        "move-out dwelling_id",
        "/api/move-outs",
        "dwelling_id",
        "home",
        "home",
        201,
        lambda w, x: ("/api/move-outs", _move_out(x, w.own.householder)),
    ),
    Row(
        "move-out person_id",
        "/api/move-outs",
        "person_id",
        "householder",
        "householder",
        201,
        lambda w, x: ("/api/move-outs", _move_out(w.own.home, x)),
    ),
    Row(
        "move-out notify",
        "/api/move-outs/{procedure_id}/{action}",
        "procedure_id",
        "procedure",
        "procedure",
        200,
        lambda w, x: (f"/api/move-outs/{x}/notify", {}),
    ),
    Row(
        "submit",
        "/api/applications/{app_id}/{action}",
        "application_id",
        "draft",
        "draft",
        200,
        _app("/submit"),
    ),
    Row(
        "approve",
        "/api/applications/{app_id}:approve",
        "application_id",
        "review",
        "draft",
        200,
        _app(":approve"),
    ),
    Row(
        "reject",
        "/api/applications/{app_id}:reject",
        "application_id",
        "review",
        "draft",
        200,
        _app(":reject", {"reasons": "材料不全"}),
    ),
    Row(
        "documents",
        "/api/applications/{app_id}/documents",
        "application_id",
        "draft",
        "draft",
        201,
        _app("/documents", {"material": "居民身份证"}),
    ),
    Row(
        "waive material",
        "/api/applications/{app_id}/materials/{material:path}/waiver",
        "application_id",
        "draft",
        "draft",
        201,
        _app(f"/materials/{quote(WAIVED, safe='')}/waiver", {"reason": "原件已当场核验"}),
    ),
    Row(
        "reissue-permit",
        "/api/applications/{app_id}:reissue-permit",
        "application_id",
        "lapsed",
        "permit_app",
        201,
        _app(":reissue-permit"),
    ),
    Row(
        "acknowledge notice",
        "/api/notices/{notice_id}:acknowledge",
        "notice_id",
        "notice",
        "notice",
        200,
        lambda w, x: (f"/api/notices/{x}:acknowledge", {}),
    ),
    Row(
        "cancel permit",
        "/api/permits/{permit_id}/{action}",
        "permit_id",
        "permit",
        "permit",
        200,
        lambda w, x: (f"/api/permits/{x}/cancel", {}),
    ),
]

# POST routes under /api that name no row (the case model alone, a login, a new application)
# writes that name no row: a check, a log-in or -out (the caller's own session), a new
# application, and the person look-up (a POST only to keep the ID number out of the URL)
NAMES_NOTHING = {
    "/api/check",
    "/api/login",
    "/api/logout",
    "/api/applications",
    "/api/persons/lookup",
    "/api/permit/check",  # the permit rules on a case (§6), as /api/check
    "/api/residence/history",  # a read by ID number, a POST to keep the number out of the URL
}
# §6's writes (residence registration and permits) have their own table, with the same four
# cases and "nothing written": tests/service/test_permit_api.py (``ROWS``)
RESIDENCE_WRITES = set(permits_api.WRITES)


def test_the_table_covers_every_api_write(registry: Registry) -> None:
    """A new write endpoint must join the table (or be listed as naming nothing)."""
    app = create_app(registry)
    writes = {
        getattr(r, "path", "")
        for r in app.routes
        if "POST" in getattr(r, "methods", set()) and getattr(r, "path", "").startswith("/api/")
    }
    assert writes - NAMES_NOTHING - RESIDENCE_WRITES == {row.route for row in ROWS}


def _check(world: World, row: Row, case: str, x: int, headers: dict[str, str], want: int) -> str:
    """Send one case; a description of what went wrong, or ''."""
    url, body = row.request(world, x)
    before = register_state(world.registry)
    r = world.client.post(url, headers=headers, json=body)
    after = register_state(world.registry)
    where = f"{row.name} / {case}: POST {url} {body}"
    if r.status_code != want:
        return f"{where}: {r.status_code} (wanted {want}) {r.text}"
    if want < 400:
        if after == before:
            return f"{where}: {want} but nothing was written"
        return ""
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    if changed:
        return f"{where}: refused with {want} yet wrote {changed}"
    err = r.json()["errors"][0]
    if not (err.get("zh") and err.get("en")):
        return f"{where}: the error lacks zh or en: {err}"
    if case != "admin" and err.get("field") != row.field:
        return f"{where}: the error names {err.get('field')!r}, not {row.field!r}"
    return ""


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_named_object_matrix(registry: Registry, row: Row) -> None:
    world = build_world(registry)
    own, other = getattr(world.own, row.own), getattr(world.other, row.other)
    assert own and other, row  # the world holds both
    cases = [  # refusals first: the success comes last, on the same world
        ("other county", other, world.officer, 403),
        ("nonexistent", MISSING, world.officer, 404),
        ("admin", own, world.admin, 403),
        ("own county", own, world.officer, row.success),
    ]
    problems = [_check(world, row, case, x, headers, want) for case, x, headers, want in cases]
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
