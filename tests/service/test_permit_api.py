"""§6 in the API (issue 16): residence registration, residence permits and the permit check,
on SQLite and PostgreSQL.

Every write endpoint × {own county: its success; another county's officer: 403 naming the
field; an id nobody holds: 404 naming it; an analyst, an admin, nobody logged in: 403} —
each refusal leaving every table as it was. Bad input is a 422 naming the field in Chinese
and English. The reads are audited and mask what a list does not need. ``POST
/api/permit/check`` answers eligible, not yet (with the earliest date) and open (with the
missing facts), and refuses bad input as ``POST /api/check`` does."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.models import AuditRecord
from hukou.registry.service import Registry
from hukou.service import permits_api
from hukou.service.app import create_app
from hukou.service.limits import Limits

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import id_number
from .test_referenced import snapshot_counts

PASSWORD = "a long enough secret"
TODAY = dt.date(2025, 3, 1)
MISSING = 999_999
HOUSING = {"housing": "employer", "address": "经济开发区宿舍3幢201", "provider": "嘉兴某机械厂"}
RESIDENCE_TABLES = (
    "persons",
    "residence_registrations",
    "residence_permits",
    "residence_permit_endorsements",
)


def migrant(seq: int) -> str:
    """A migrant's ID number (安徽省临泉县: a hukou outside Jiaxing)."""
    return id_number("341221", "19900101", seq, True)


WRONG_CHECK = migrant(5)[:-1] + ("0" if migrant(5)[-1] != "0" else "1")  # a bad check character


def last_action(registry: Registry) -> str:
    """The action of the audit trail's newest record."""
    return str(
        registry.read(
            lambda s: s.execute(text("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1"))
        ).scalar_one()
    )


def refused_only(registry: Registry, before: dict[str, int], refusals: int = 1) -> bool:
    """Since ``before`` (``written``), nothing was written but the register's audit records
    of ``refusals`` refused writes."""
    after = written(registry)
    if {**after, "audit_log": 0} != {**before, "audit_log": 0}:
        return False
    if after["audit_log"] != before["audit_log"] + refusals:
        return False
    actions = registry.read(
        lambda s: (
            s.execute(
                text("SELECT action FROM audit_log ORDER BY id DESC LIMIT :n"), {"n": refusals}
            )
            .scalars()
            .all()
        )
    )
    return all(str(a).endswith(".refused") for a in actions)


def written(registry: Registry) -> dict[str, int]:
    """What a refused write must leave alone: every table's rows (the change records of
    the audit trail among them), and the versions of the residence rows."""

    def query(s: Any) -> dict[str, int]:
        out = {
            t: int(s.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in RESIDENCE_TABLES
        }
        for t in ("residence_registrations", "residence_permits"):
            total = s.execute(text(f'SELECT coalesce(sum(version), 0) FROM "{t}"')).scalar_one()
            out[f"{t}.version"] = int(total)
        return out

    return {**snapshot_counts(registry), **registry.read(query)}


@dataclass
class World:
    registry: Registry
    clock: FixedClock
    client: TestClient
    officers: dict[str, Actor]
    tokens: dict[str, dict[str, str]]  # who -> headers


@pytest.fixture
def world(registry: Registry, clock: FixedClock) -> World:
    officers = {}
    for name, county in (("nanhu", NANHU), ("xiuzhou", XIUZHOU)):
        uid = registry.add_user(SYSTEM, name, PASSWORD, "officer", county)
        officers[county] = Actor(uid, name, "officer", county)
    registry.add_user(SYSTEM, "admin", PASSWORD, "admin")
    registry.add_user(SYSTEM, "analyst", PASSWORD, "analyst")
    registry.add_user(SYSTEM, "keeper", PASSWORD, "keeper", "1")
    client = TestClient(create_app(registry, limits=Limits.unlimited()))
    tokens = {"anonymous": {}}
    for name in ("nanhu", "xiuzhou", "admin", "analyst", "keeper"):
        r = client.post("/api/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[name] = {"Authorization": f"Bearer {r.json()['token']}"}
    return World(registry, clock, client, officers, tokens)


def prepare(w: World, county: str, state: str, seq: int) -> int:
    """A record of ``county`` in ``state``, made through the register's own steps: a
    residence ``registration`` (its id), or a permit (its id) ``applied``,
    ``under_review``, ``issued`` (today) or ``lapsed`` (issued a year ago, not endorsed)."""
    officer, number = w.officers[county], migrant(seq)
    day = TODAY - dt.timedelta(days=366) if state == "lapsed" else w.clock.day
    try:
        w.clock.day = day - dt.timedelta(days=300)  # recorded then: dated back 30 days at most
        reg = w.registry.register_residence(officer, number, county, name="张三", **HOUSING)
        w.clock.day = day
        if state == "registration":
            return reg.id
        permit = w.registry.apply_for_residence_permit(
            officer, number, county, "employment", facts={"local_labour_contract": True}
        )
        if state == "applied":
            return permit.id
        w.registry.review_residence_permit(officer, permit.id, note="材料齐全")
        if state == "under_review":
            return permit.id
        return w.registry.issue_residence_permit(officer, permit.id).id
    finally:
        w.clock.day = TODAY


# ---- every write × who asks ---------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    route: str  # as FastAPI names it (``permits_api.WRITES``)
    needs: str | None  # the state of the record named (None: the body names a county)
    success: int
    request: Callable[[int | None, str, int], tuple[str, dict[str, Any]]]  # (id, county, seq)
    field: str  # the field a jurisdiction refusal names


def _permit(action: str, body: dict[str, Any] | None = None) -> Callable[..., Any]:
    return lambda x, _c, _s: (f"/api/residence-permits/{x}:{action}", body or {})


ROWS = [
    Row(
        "register residence",
        "/api/residence-registrations",
        None,
        201,
        lambda _x, c, s: (
            "/api/residence-registrations",
            {"id_number": migrant(s), "county": c, "name": "李四", **HOUSING},
        ),
        "county",
    ),
    Row(
        "change address",
        "/api/residence-registrations/{registration_id}:change-address",
        "registration",
        200,
        lambda x, _c, _s: (
            f"/api/residence-registrations/{x}:change-address",
            {**HOUSING, "address": "经济开发区宿舍5幢102"},
        ),
        "registration_id",
    ),
    Row(
        "end residence",
        "/api/residence-registrations/{registration_id}:end",
        "registration",
        200,
        lambda x, _c, _s: (f"/api/residence-registrations/{x}:end", {"reason": "left"}),
        "registration_id",
    ),
    Row(
        "apply",
        "/api/residence-permits",
        "registration",
        201,
        lambda _x, c, s: (
            "/api/residence-permits",
            {
                "id_number": migrant(s),
                "county": c,
                "ground": "employment",
                "facts": {"local_labour_contract": True},
            },
        ),
        "county",
    ),
    Row("review", "/api/residence-permits/{permit_id}:review", "applied", 200,
        _permit("review", {"note": "材料齐全"}), "residence_permit_id"),
    Row("issue", "/api/residence-permits/{permit_id}:issue", "under_review", 200,
        _permit("issue"), "residence_permit_id"),
    Row("refuse", "/api/residence-permits/{permit_id}:refuse", "under_review", 200,
        _permit("refuse", {"reasons": "材料不实 / the papers are false"}), "residence_permit_id"),
    Row("withdraw", "/api/residence-permits/{permit_id}:withdraw", "applied", 200,
        _permit("withdraw"), "residence_permit_id"),
    Row("endorse", "/api/residence-permits/{permit_id}:endorse", "lapsed", 200,
        _permit("endorse"), "residence_permit_id"),
    Row("replace", "/api/residence-permits/{permit_id}:replace", "issued", 201,
        _permit("replace", {"reason": "lost"}), "residence_permit_id"),
    Row("cancel", "/api/residence-permits/{permit_id}:cancel", "issued", 200,
        _permit("cancel", {"reason": "issued_in_error"}), "residence_permit_id"),
]  # fmt: skip


def test_the_table_covers_every_write() -> None:
    assert {row.route for row in ROWS} == set(permits_api.WRITES)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_each_write_allowed_and_refused(world: World, row: Row) -> None:
    w = world
    own = prepare(w, NANHU, row.needs, 1) if row.needs else None
    other = prepare(w, XIUZHOU, row.needs, 2) if row.needs else None
    seq_own = 1 if row.needs else 3
    cases: list[tuple[str, int | None, str, str, int, str | None]] = [
        # (case, id, county, who, status, the field named)
        ("other county", other if row.needs else None, XIUZHOU, "nanhu", 403, row.field),
        ("analyst", own, NANHU, "analyst", 403, None),
        ("keeper", own, NANHU, "keeper", 403, None),
        ("admin", own, NANHU, "admin", 403, None),
        ("nobody", own, NANHU, "anonymous", 403, "authorization"),
    ]
    if "{" in row.route:
        cases.insert(1, ("nonexistent", MISSING, NANHU, "nanhu", 404, row.field))
    if row.name == "apply":  # the other county holds the person: the county named is refused
        cases[0] = ("other county", None, XIUZHOU, "nanhu", 403, "county")
    problems = []
    for case, x, county, who, want, field in cases:
        url, body = row.request(x, county, 2 if case == "other county" else seq_own)
        before = written(w.registry)
        r = w.client.post(url, headers=w.tokens[who], json=body)
        after = written(w.registry)
        err = r.json().get("errors", [{}])[0] if r.status_code >= 400 else {}
        if r.status_code != want:
            problems.append(f"{case}: {r.status_code} (wanted {want}) {r.text[:300]}")
        elif {**before, "audit_log": 0} != {**after, "audit_log": 0} or after["audit_log"] != (
            before["audit_log"] + (case != "nobody")  # the register audits its refusals
        ):
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            problems.append(f"{case}: refused yet wrote {changed}")
        elif not (err.get("zh") and err.get("en")):
            problems.append(f"{case}: the error lacks zh or en: {err}")
        elif field is not None and err.get("field") != field:
            problems.append(f"{case}: names {err.get('field')!r}, not {field!r}")
    url, body = row.request(own, NANHU, seq_own)
    before = written(w.registry)
    r = w.client.post(url, headers=w.tokens["nanhu"], json=body)
    if r.status_code != row.success:
        problems.append(f"own county: {r.status_code} (wanted {row.success}) {r.text[:300]}")
    elif written(w.registry) == before:
        problems.append("own county: nothing was written")
    assert not problems, "\n".join(problems)


# ---- bad input: 422 naming the field in both languages -------------------------------------


BAD = [
    ("/api/residence-registrations", {"id_number": WRONG_CHECK, "county": NANHU,
     "name": "王五", **HOUSING}, "id_number"),
    ("/api/residence-registrations", {"id_number": migrant(5), "county": NANHU, "name": "王五",
     "housing": "employer", "address": "宿舍"}, "provider"),
    ("/api/residence-registrations", {"id_number": migrant(5), "county": "999999",
     "name": "王五", **HOUSING}, "county"),
    ("/api/residence-registrations", {"id_number": migrant(5), "county": NANHU,
     "name": "王\x00五", **HOUSING}, "name"),
    ("/api/residence-registrations", {"id_number": migrant(5), "county": NANHU, "name": "王五",
     "since": "2025-02-30", **HOUSING}, "since"),
    ("/api/residence-registrations", {"id_number": migrant(5), "county": NANHU, "name": "王五",
     "since": "2026-01-01", **HOUSING}, "start_date"),
    ("/api/residence-registrations", {"id_number": migrant(5), "county": NANHU,
     **HOUSING}, "name"),
    ("/api/residence-permits", {"id_number": migrant(5), "county": NANHU,
     "ground": "lottery"}, "ground"),
    ("/api/residence-permits", {"id_number": migrant(5), "county": NANHU,
     "ground": "employment", "facts": {"salary": 1}}, "facts.salary"),
    ("/api/residence-permits", {"id_number": migrant(5), "county": NANHU,
     "ground": "employment"}, "id_number"),  # no registration in the county
    ("/api/residence/history", {"id_number": "123"}, "id_number"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "body", "field"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)]
)
def test_bad_input_is_422_naming_the_field(
    world: World, url: str, body: dict[str, Any], field: str
) -> None:
    before = written(world.registry)
    r = world.client.post(url, headers=world.tokens["nanhu"], json=body)
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"] == field and err["zh"] and err["en"], err
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err["zh"]), err  # Chinese, not pydantic's
    after = written(world.registry)
    # nothing written; a refusal by the register leaves its audit record, one by the
    # request's schema none
    assert {**after, "audit_log": 0} == {**before, "audit_log": 0}
    if after["audit_log"] != before["audit_log"]:
        assert after["audit_log"] == before["audit_log"] + 1
        assert last_action(world.registry).endswith(".refused")


def test_bad_steps_are_422_or_409(world: World) -> None:
    w = world
    permit = prepare(w, NANHU, "under_review", 1)
    h = w.tokens["nanhu"]
    r = w.client.post(f"/api/residence-permits/{permit}:refuse", headers=h, json={"reasons": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reasons"
    r = w.client.post(f"/api/residence-permits/{permit}:replace", headers=h, json={"reason": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = w.client.post(f"/api/residence-permits/{permit}:endorse", headers=h, json={})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "state"  # not issued
    r = w.client.post(f"/api/residence-permits/{permit}:issue", headers=h, json={"version": 1})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "version"
    r = w.client.post("/api/residence-permits/0:issue", headers=h, json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.permit_id"


# ---- a migrant's path ----------------------------------------------------------------------


def test_a_migrants_path_through_the_api(world: World) -> None:
    w, h = world, world.tokens["nanhu"]
    number = migrant(7)
    w.clock.day = dt.date(2024, 6, 1)  # registered then (a date 30 days back at most)
    r = w.client.post(
        "/api/residence-registrations",
        headers=h,
        json={"id_number": number, "county": NANHU, "name": "赵六", "since": "2024-06-01",
              **HOUSING},
    )  # fmt: skip
    w.clock.day = TODAY
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["state"] == "open" and reg["start_date"] == "2024-06-01"
    r = w.client.post(
        "/api/residence-permits",
        headers=h,
        json={"id_number": number, "county": NANHU, "ground": "employment",
              "facts": {"local_labour_contract": True}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    permit = r.json()
    assert permit["state"] == "applied" and permit["reference"].startswith("JZ-")
    queue = w.client.get("/api/residence-permits/queue", headers=h).json()
    assert [p["id"] for p in queue["applications"]] == [permit["id"]]
    listed = queue["applications"][0]
    assert listed["name"] == "赵六" and "*" in listed["id_number"]  # a list needs no number
    r = w.client.post(f"/api/residence-permits/{permit['id']}:review", headers=h, json={})
    assert r.status_code == 200 and r.json()["rules"]["status"] == "eligible", r.text
    r = w.client.post(f"/api/residence-permits/{permit['id']}:issue", headers=h, json={})
    issued = r.json()
    assert issued["state"] == "issued" and issued["status"] == "valid" and issued["number"]
    assert issued["valid_until"] == "2026-02-28" and issued["residence_since"] == "2024-06-01"
    assert issued["endorsement_window"] == {"opens": "2026-02-01", "closes": "2026-02-28"}
    # endorsing before the window is refused, naming the day it opens
    r = w.client.post(f"/api/residence-permits/{permit['id']}:endorse", headers=h, json={})
    assert r.status_code == 409 and "2026-02-01" in r.json()["errors"][0]["zh"]
    detail = w.client.get(f"/api/residence-permits/{permit['id']}", headers=h).json()
    assert detail["decision"]["status"] == "eligible" and detail["id_number"] == number
    # lost: a new permit, a new number; the old one void
    r = w.client.post(
        f"/api/residence-permits/{permit['id']}:replace", headers=h, json={"reason": "lost"}
    )
    assert r.status_code == 201
    new = r.json()
    assert new["number"] != issued["number"] and new["replaces_id"] == permit["id"]
    history = w.client.post("/api/residence/history", headers=h, json={"id_number": number})
    body = history.json()
    assert body["person"]["name"] == "赵六"
    assert [p["state"] for p in body["permits"]] == ["void", "issued"]
    assert [r["state"] for r in body["registrations"]] == ["open"]
    # another county's officer sees nothing of it (and no name)
    other = w.client.post(
        "/api/residence/history", headers=w.tokens["xiuzhou"], json={"id_number": number}
    ).json()
    assert other == {"person": None, "registrations": [], "permits": []}
    assert (
        w.client.get(f"/api/residence-permits/{new['id']}", headers=w.tokens["xiuzhou"]).status_code
        == 403
    )
    # leaving: the registration ends, and the permit is cancelled with it
    r = w.client.post(f"/api/residence-registrations/{reg['id']}:end", headers=h, json={})
    assert r.status_code == 200 and r.json()["end_reason"] == "left"
    final = w.client.get(f"/api/residence-permits/{new['id']}", headers=h).json()
    assert final["state"] == "cancelled" and final["close_reason"] == "left"


def test_a_lapsed_permit_is_in_the_queue_and_a_late_endorsement_restores_it(world: World) -> None:
    w, h = world, world.tokens["nanhu"]
    permit = prepare(w, NANHU, "lapsed", 1)
    queue = w.client.get("/api/residence-permits/queue", headers=h).json()
    due = {p["id"]: p for p in queue["endorsements_due"]}
    assert due[permit]["status"] == "lapsed" and due[permit]["lapsed"] is True
    assert due[permit]["residence_years"] == 0
    r = w.client.post(f"/api/residence-permits/{permit}:endorse", headers=h, json={})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "valid" and body["valid_until"] == "2026-02-28"
    assert body["residence_since"] == TODAY.isoformat()  # art. 10 ¶3: counted again
    detail = w.client.get(f"/api/residence-permits/{permit}", headers=h).json()
    assert detail["endorsements"] == [
        {"endorsed_on": "2025-03-01", "late": True, "valid_until": "2026-02-28"}
    ]


def test_an_overdue_application_is_in_the_queue(world: World) -> None:
    w = world
    w.clock.day = TODAY - dt.timedelta(days=20)
    try:
        permit = prepare(w, NANHU, "applied", 1)
    finally:
        w.clock.day = TODAY
    w.clock.day = TODAY  # prepare restores it too
    queue = w.client.get("/api/residence-permits/queue", headers=w.tokens["nanhu"]).json()
    assert [p["id"] for p in queue["overdue"]] == [permit]
    assert queue["overdue"][0]["overdue"] is True
    assert (
        w.client.get("/api/residence-permits/queue", headers=w.tokens["xiuzhou"]).json()["overdue"]
        == []
    )


def test_change_of_address_keeps_the_history(world: World) -> None:
    w, h = world, world.tokens["nanhu"]
    reg = prepare(w, NANHU, "registration", 1)
    r = w.client.post(
        f"/api/residence-registrations/{reg}:change-address",
        headers=h,
        json={**HOUSING, "address": "经济开发区宿舍9幢9", "on": "2025-02-10"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["previous_id"] == reg and r.json()["start_date"] == "2025-02-10"
    body = w.client.post("/api/residence/history", headers=h, json={"id_number": migrant(1)}).json()
    assert [(x["state"], x["end_reason"]) for x in body["registrations"]] == [
        ("ended", "address_change"),
        ("open", None),
    ]


# ---- reads: roles and audit ----------------------------------------------------------------


def _audit(registry: Registry, action: str) -> list[AuditRecord]:
    return registry.read(
        lambda s: list(
            s.execute(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
            ).scalars()
        )
    )


def test_reads_are_audited_and_refused_to_other_roles(world: World) -> None:
    w = world
    permit = prepare(w, NANHU, "issued", 1)
    number = migrant(1)
    assert w.client.post("/api/residence/history", headers=w.tokens["nanhu"],
                         json={"id_number": number}).status_code == 200  # fmt: skip
    record = _audit(w.registry, "read.residence")[-1]
    dumped = json.dumps(record.after, ensure_ascii=False)
    assert number not in dumped and "张三" not in dumped and record.after["number"].startswith("#")
    assert record.after["permits"] == [permit]
    for who in ("analyst", "keeper", "anonymous"):
        for method, url, body in (
            ("post", "/api/residence/history", {"id_number": number}),
            ("get", "/api/residence-permits/queue", None),
            ("get", f"/api/residence-permits/{permit}", None),
        ):
            r = getattr(w.client, method)(
                url, headers=w.tokens[who], **({"json": body} if body else {})
            )
            assert r.status_code == 403, (who, url, r.text)
    refused = _audit(w.registry, "read.refused")
    assert {r.after["action"] for r in refused} >= {
        "read.residence",
        "read.permit_queue",
        "read.residence_permit",
    }
    w.client.get("/api/residence-permits/queue", headers=w.tokens["nanhu"])
    assert _audit(w.registry, "read.permit_queue")[-1].after["shown"] == []  # issued: not due
    # the admin reads everything (and takes no step)
    assert (
        w.client.get(f"/api/residence-permits/{permit}", headers=w.tokens["admin"]).json()[
            "id_number"
        ]
        == number
    )


# ---- the anonymous permit check ------------------------------------------------------------


def _case(**applicant: Any) -> dict[str, Any]:
    base = {
        "lives_in": NANHU,
        "hukou": {"kind": "outside_jiaxing", "address": {"county": "341221"}},
        "residence_registration": True,
        "residence_registration_since": "2024-01-15",
        "residence_registration_county": NANHU,
        "local_labour_contract": True,
        "local_business": False,
        "dwellings": [],
        "continuous_study": False,
    }
    return {"applicant": {**base, **applicant}}


def test_permit_check_eligible(world: World) -> None:
    r = world.client.post("/api/permit/check", params={"on": "2024-07-15"}, json=_case())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schema"] == "hukou.permit-decision/1" and body["status"] == "eligible"
    assert body["grounds"] == ["stable_employment"] and body["materials"]
    assert r.headers["cache-control"] == "no-store"


def test_permit_check_not_yet_names_the_earliest_date(world: World) -> None:
    r = world.client.post("/api/permit/check", params={"on": "2024-07-14"}, json=_case())
    body = r.json()
    assert body["status"] == "not_eligible" and body["earliest_date"] == "2024-07-15"


def test_permit_check_undetermined_names_the_missing_facts(world: World) -> None:
    case = _case()
    for key in ("local_labour_contract", "local_business", "continuous_study", "dwellings"):
        del case["applicant"][key]
    r = world.client.post("/api/permit/check", params={"on": "2024-07-15"}, json=case)
    body = r.json()
    assert body["status"] == "undetermined"
    assert "applicant.local_labour_contract" in body["missing_facts"]
    assert all(label["zh"] and label["en"] for label in body["missing_labels"])


@pytest.mark.parametrize(
    ("params", "content", "field"),
    [
        ({}, json.dumps({"applicant": {"lives_in": "999999"}}), "applicant.lives_in"),
        ({}, '{"applicant": ', "(case)"),
        ({"on": "2024-13-01"}, json.dumps(_case()), "query.on"),
        ({}, json.dumps(_case(residence_registration_since="9999-10-01")),
         "applicant.residence_registration_since"),
    ],
)  # fmt: skip
def test_permit_check_refuses_bad_input_like_check(
    world: World, params: dict[str, str], content: str, field: str
) -> None:
    r = world.client.post(
        "/api/permit/check",
        params=params,
        content=content.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"] == field and err["zh"] and err["en"], err
    # /api/check words the same problem the same way
    same = world.client.post(
        "/api/check",
        params=params,
        content=content.encode(),
        headers={"content-type": "application/json"},
    )
    if field != "applicant.residence_registration_since":
        assert same.json()["errors"][0] == err


def test_permit_check_stores_nothing(world: World) -> None:
    before = written(world.registry)
    world.client.post("/api/permit/check", json=_case())
    assert written(world.registry) == before


def test_openapi_describes_the_endpoints(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    for route in [*permits_api.WRITES, "/api/permit/check", "/api/residence/history"]:
        assert route in spec["paths"], route
    ok = spec["paths"]["/api/residence-permits/queue"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/QueueOut")
    check = spec["paths"]["/api/permit/check"]["post"]["responses"]["200"]
    assert check["content"]["application/json"]["schema"]["$ref"].endswith("/PermitCheckOut")
    schemas = spec["components"]["schemas"]
    assert {"PermitOut", "PermitDetailOut", "RegistrationOut", "HistoryOut"} <= set(schemas)
    # no ID number in a path or a query
    for path, item in spec["paths"].items():
        for op in item.values():
            for p in op.get("parameters", []):
                assert "id_number" not in p["name"], path
