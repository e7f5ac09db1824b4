"""X7/X8: flooding the officers' queue (issue 12, items 5b and 4b).

Attacks that worked on the old main:

* X7 — anonymous ``/check/apply`` in a loop, one ID number 50 times under other names:
  50 applications, every one in the queue. Now one open application per applicant's ID
  number, city-wide, whoever takes it (an officer or the self-service page): a second is
  refused, 409, naming the field but not the first one's reference, county or name. Two
  at once: one wins (a partial unique index, on SQLite and PostgreSQL). The citizen is
  answered the same whoever holds the open application, wherever, under whatever name.
  And the block it made possible (a stranger files someone's number online, so that
  their own station got a 409): an application taken in person supersedes a
  self-service one no officer has handled, which is withdrawn, saying why.
* X8 — 300 self-service applications, and ``/officer`` and ``GET /api/applications``
  (the newest 200, no paging) showed none of the 10 real ones. Both are now paged and
  filtered (state, kind, how it was taken, the day taken, reference): the officer finds
  each real case.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.orm import Session

from hukou.privacy import mask_id
from hukou.registry.access import Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import alembic_config, make_engine, session_factory, upgrade
from hukou.registry.errors import Conflict, RegistryError
from hukou.registry.models import Application, ApplicationEvent, AuditRecord, Base
from hukou.registry.service import Registry, SecondOpenApplication
from hukou.service.app import create_app
from hukou.service.limits import Limits
from hukou.service.reads import REFERENCE_LENGTH, QueueFilter
from hukou.service.web.citizen import WEB_CLERK

from ..registry.conftest import NANHU, XIUZHOU
from ..registry.helpers import id_number, owner_case
from ..web import drive
from ..web.conftest import csrf_of
from ..web.scenarios import OWNER_FAMILY

PASSWORD = "correct horse battery"  # the ``officer`` fixtures'
CLERK = Actor(None, WEB_CLERK, "officer", NANHU)  # the self-service page's clerk


def _number(n: int) -> str:
    """The ``n``-th of many valid ID numbers (a man born in May 1988)."""
    born = dt.date(1988, 5, 12) + dt.timedelta(days=n // 400)
    return id_number("341221", f"{born:%Y%m%d}", n % 400 + 1, True)


def _case(n: int, name: str = "申请人", county: str = NANHU) -> dict[str, Any]:
    """A §1.1 case whose applicant's ID number is ``_number(n)`` (no spouse)."""
    facts = owner_case(name=name, with_spouse=False, county=county)
    facts["applicant"]["id_number"] = _number(n)
    return facts


def _count(registry: Registry, number: str | None = None) -> int:
    stmt = select(func.count()).select_from(Application)
    if number is not None:
        stmt = stmt.where(Application.applicant_id_number == number)
    return int(registry.read(lambda s: s.execute(stmt).scalar_one()))


# ---- one open application per ID number --------------------------------------------------


def _refusal_says_nothing(exc: Conflict, first: Application) -> None:
    assert exc.status == 409 and exc.field == "facts.applicant.id_number"
    assert exc.zh and exc.en and "open application" in exc.en
    text = f"{exc.zh} {exc.en}"
    for secret in (first.reference, first.county, first.applicant_name, "南湖", "Nanhu"):
        assert secret not in text


def test_a_second_open_application_is_refused_anywhere_in_the_city(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    facts = _case(1, "李建国")
    first = registry.create_application(officer, "s1_1", NANHU, facts)
    registry.act(officer, first.id, "submit")
    attempts = [
        (officer, NANHU, False),  # the same station
        (other_officer, XIUZHOU, False),  # another county's
        (Actor(None, WEB_CLERK, "officer", XIUZHOU), XIUZHOU, True),  # online, elsewhere
    ]
    for actor, county, online in attempts:
        again = _case(1, "冒名顶替", county)
        with pytest.raises(SecondOpenApplication) as err:
            registry.create_application(actor, "s1_1", county, again, self_service=online)
        _refusal_says_nothing(err.value, first)
    assert _count(registry, facts["applicant"]["id_number"]) == 1


@pytest.mark.parametrize(
    ("state", "open_"),
    [
        ("draft", True),
        ("submitted", True),
        ("under_review", True),
        ("approved", True),
        ("rejected", False),
        ("registered", False),
        ("withdrawn", False),
    ],
)
def test_only_an_open_application_holds_the_number(
    registry: Registry, officer: Actor, engine: Engine, state: str, open_: bool
) -> None:
    first = registry.create_application(officer, "s1_1", NANHU, _case(2))
    with engine.begin() as conn:
        conn.execute(update(Application).where(Application.id == first.id).values(state=state))
    if open_:
        with pytest.raises(SecondOpenApplication):
            registry.create_application(officer, "s1_1", NANHU, _case(2))
    else:
        again = registry.create_application(officer, "s1_1", NANHU, _case(2))
        assert again.state == "draft"


def test_the_database_refuses_a_second_one_too(registry: Registry, officer: Actor) -> None:
    """Whatever writes to the table: the partial unique index, not only the check."""
    first = registry.create_application(officer, "s1_1", NANHU, _case(3))
    row = {
        c: getattr(first, c)
        for c in ("kind", "county", "applicant_id_number", "applicant_name", "facts")
    }

    def write(s: Session) -> None:
        now = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        s.execute(
            insert(Application).values(
                **row,
                reference="HK-20250301-00000000AA",
                state="submitted",
                created_at=now,
                updated_at=now,
                version=1,
            )
        )
        s.commit()

    with pytest.raises(Exception, match=r"uq_applications_open_applicant|applicant_id_number"):
        registry.read(write)
    assert _count(registry, first.applicant_id_number) == 1


def test_two_creations_at_once_one_wins(
    db_url: str, registry: Registry, clock: FixedClock, officer: Actor, other_officer: Actor
) -> None:
    """南湖 and 秀洲 take one ID number at the same moment: both pass the check, both
    insert; the index lets one through, the other is the same clear 409."""
    stations = [(officer, NANHU), (other_officer, XIUZHOU)]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(i: int) -> None:
        engine = make_engine(db_url)
        factory = session_factory(engine)

        @event.listens_for(factory, "before_flush")
        def together(session: Session, _ctx: Any, _instances: Any) -> None:
            if any(isinstance(o, Application) for o in session.new):
                barrier.wait(timeout=30)  # both have checked: none open yet

        try:
            actor, county = stations[i]
            mine = Registry(factory, clock)
            results[i] = mine.create_application(actor, "s1_1", county, _case(4, county=county))
        except Exception as exc:  # the test inspects it
            results[i] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [r for r in results if isinstance(r, Application)]
    losses = [r for r in results if isinstance(r, SecondOpenApplication)]
    assert len(wins) == 1 and len(losses) == 1, results
    _refusal_says_nothing(losses[0], wins[0])
    assert _count(registry, _number(4)) == 1
    assert registry.verify_audit() == []


# ---- an application taken in person supersedes a self-service one ------------------------


def _events(registry: Registry, app_id: int) -> list[tuple[str | None, str, int | None, str]]:
    stmt = (
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == app_id)
        .order_by(ApplicationEvent.id)
    )
    return registry.read(
        lambda s: [
            (e.from_state, e.to_state, e.actor_id, e.note or "") for e in s.execute(stmt).scalars()
        ]
    )


def _audit_of(registry: Registry, app_id: int) -> list[AuditRecord]:
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.entity == "application", AuditRecord.entity_id == str(app_id))
        .order_by(AuditRecord.id)
    )
    return registry.read(lambda s: list(s.execute(stmt).scalars()))


def _state(registry: Registry, app_id: int) -> str:
    stmt = select(Application.state).where(Application.id == app_id)
    return str(registry.read(lambda s: s.execute(stmt).scalar_one()))


@pytest.mark.parametrize("online_submit", [False, True], ids=["draft", "submitted-online"])
def test_an_application_taken_in_person_supersedes_a_self_service_one(
    registry: Registry, officer: Actor, other_officer: Actor, online_submit: bool
) -> None:
    """Anyone at the self-service page can file a stranger's number (under any name) in
    南湖; the person's own station, 秀洲, sees the ID card and takes the application: the
    online one, which no officer has touched, is withdrawn in the same transaction,
    saying why, and the new one is taken."""
    number = _number(8)
    online = registry.create_application(
        CLERK, "s1_1", NANHU, _case(8, "冒名顶替"), self_service=True
    )
    if online_submit:  # as the page does: submitted by the self-service counter
        registry.act(CLERK, online.id, "submit", note="网上提交 / submitted online")
    taken = registry.create_application(other_officer, "s1_1", XIUZHOU, _case(8, "李建国", XIUZHOU))
    assert taken.state == "draft" and taken.county == XIUZHOU and taken.created_by is not None
    assert _state(registry, online.id) == "withdrawn"
    last = _events(registry, online.id)[-1]
    assert last[1] == "withdrawn" and last[2] == other_officer.user_id
    assert "superseded" in last[3] and "in person" in last[3]
    withdrawn = [r for r in _audit_of(registry, online.id) if r.action == "application.withdraw"]
    assert len(withdrawn) == 1
    record = withdrawn[0]
    assert record.actor == other_officer.username
    assert record.after and record.after["state"] == "withdrawn"
    assert record.after["reason"] == "superseded_in_person"
    assert record.after["superseded_by"] == taken.id
    for secret in (number, "冒名顶替", "李建国"):
        assert secret not in f"{record.before} {record.after}"
    assert _count(registry, number) == 2
    assert registry.verify_audit() == []
    # the one taken in person holds the number now: the page, or another station, is refused
    for actor, county, online_ in ((CLERK, NANHU, True), (officer, NANHU, False)):
        with pytest.raises(SecondOpenApplication):
            registry.create_application(
                actor, "s1_1", county, _case(8, "又一次", county), self_service=online_
            )
    assert _state(registry, taken.id) == "draft"


def _reviewed(registry: Registry, officer: Actor, app: Application) -> None:
    registry.act(CLERK, app.id, "submit")
    registry.act(officer, app.id, "review")


def _submitted_by_officer(registry: Registry, officer: Actor, app: Application) -> None:
    registry.act(officer, app.id, "submit")


def _papers_received(registry: Registry, officer: Actor, app: Application) -> None:
    registry.receive_document(officer, app.id, "身份证", "§1.1")


@pytest.mark.parametrize(
    "handled",
    [_reviewed, _submitted_by_officer, _papers_received],
    ids=["under-review", "submitted-by-an-officer", "papers-received"],
)
def test_a_self_service_application_an_officer_has_handled_still_blocks(
    registry: Registry, officer: Actor, other_officer: Actor, handled: Any
) -> None:
    online = registry.create_application(
        CLERK, "s1_1", NANHU, _case(9, "申请人"), self_service=True
    )
    handled(registry, officer, online)
    before = _state(registry, online.id)
    with pytest.raises(SecondOpenApplication) as err:
        registry.create_application(other_officer, "s1_1", XIUZHOU, _case(9, "李建国", XIUZHOU))
    _refusal_says_nothing(err.value, online)
    assert _state(registry, online.id) == before
    assert _count(registry, _number(9)) == 1


def test_an_open_application_taken_by_an_officer_still_blocks(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    """Even a draft: an officer saw the ID card for it."""
    first = registry.create_application(officer, "s1_1", NANHU, _case(10, "李建国"))
    for actor, county in ((other_officer, XIUZHOU), (officer, NANHU)):
        with pytest.raises(SecondOpenApplication) as err:
            registry.create_application(actor, "s1_1", county, _case(10, "李建国", county))
        _refusal_says_nothing(err.value, first)
    assert _state(registry, first.id) == "draft"
    assert _count(registry, _number(10)) == 1


def test_two_stations_superseding_at_once_one_wins(
    db_url: str, registry: Registry, clock: FixedClock, officer: Actor, other_officer: Actor
) -> None:
    """南湖 and 秀洲 take in person, at the same moment, a number with a self-service
    draft: both look for the open application together (on PostgreSQL one waits on the
    other's row lock); one supersedes the draft and is taken, the other is the 409."""
    online = registry.create_application(
        CLERK, "s1_1", NANHU, _case(11, "冒名顶替"), self_service=True
    )
    stations = [(officer, NANHU), (other_officer, XIUZHOU)]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(i: int) -> None:
        engine = make_engine(db_url)
        factory = session_factory(engine)

        @event.listens_for(factory, "do_orm_execute")
        def together(state: Any) -> None:
            statement = state.statement
            if (
                state.is_select
                and statement._for_update_arg is not None
                and statement.column_descriptions[0].get("entity") is Application
            ):
                barrier.wait(timeout=30)  # both about to look for the open one

        try:
            actor, county = stations[i]
            mine = Registry(factory, clock)
            results[i] = mine.create_application(actor, "s1_1", county, _case(11, "李建国", county))
        except Exception as exc:  # the test inspects it
            results[i] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [r for r in results if isinstance(r, Application)]
    losses = [r for r in results if isinstance(r, SecondOpenApplication)]
    assert len(wins) == 1 and len(losses) == 1, results
    _refusal_says_nothing(losses[0], wins[0])
    assert _state(registry, online.id) == "withdrawn"
    assert [e[1] for e in _events(registry, online.id)] == ["draft", "withdrawn"]
    assert _count(registry, _number(11)) == 2
    assert registry.verify_audit() == []


# ---- the schema: one head, the index as the models say ----------------------------------------


def test_one_migration_head_and_the_migrated_schema_is_the_models(engine: Engine) -> None:
    heads = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads()
    assert len(heads) == 1, heads
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], diff
        if engine.dialect.name == "postgresql":
            sql = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                {"n": "uq_applications_open_applicant"},
            ).scalar_one()
        else:
            sql = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :n"),
                {"n": "uq_applications_open_applicant"},
            ).scalar_one()
    assert "UNIQUE" in sql.upper() and "WHERE" in sql.upper() and "approved" in sql


def test_the_migration_stops_on_two_open_applications_naming_no_number(
    tmp_path: Path,
) -> None:
    """A register that already holds two open applications for one number (the flood) is
    not changed behind anyone's back: the upgrade stops, naming the rows by id."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    number = _number(5)
    engine = create_engine(url)
    now = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        for i, state in enumerate(("submitted", "draft", "rejected")):
            conn.execute(
                insert(Application).values(
                    reference=f"HK-20250301-{i:010d}",
                    kind="s1_1",
                    state=state,
                    county=NANHU,
                    applicant_id_number=number,
                    applicant_name=f"冒名{i}",
                    facts={},
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            )
    with pytest.raises(RuntimeError) as err:
        upgrade(url)
    assert "2 " in str(err.value) and "1, 2" in str(err.value)
    assert number not in str(err.value) and "冒名" not in str(err.value)
    with engine.begin() as conn:  # an officer withdraws the extra one; then it goes
        conn.execute(text("UPDATE applications SET state = 'withdrawn' WHERE id = 2"))
    upgrade(url)
    engine.dispose()


# ---- X7: the self-service page ----------------------------------------------------------------


@pytest.fixture
def web(registry: Registry, officer: Actor) -> TestClient:
    """The app on the ``registry`` fixture (SQLite and PostgreSQL), no rate limits (they
    are tested in test_limits.py): the flood is what the register itself lets through."""
    return TestClient(
        create_app(registry, limits=Limits.unlimited()),
        base_url="https://testserver",
        follow_redirects=False,
    )


def _apply(client: TestClient, result: str, number: str, name: str) -> tuple[int, str]:
    r = client.post(
        "/check/apply",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "name": name,
            "id_number": number,
            "kind": "s1_1",
            "county": NANHU,
            "origin_county": "341221",
        },
    )
    return r.status_code, r.text


def _main(html: str) -> str:
    """The page's answer: its <main>, without the per-browser CSRF token."""
    body = html.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r'name="csrf" value="[^"]*"', "", body)


def test_one_id_number_fifty_times_is_one_application(
    web: TestClient, registry: Registry, officer: Actor
) -> None:
    result, _ = drive.run(web, OWNER_FAMILY)
    number = OWNER_FAMILY["id_number"]
    status, html = _apply(web, result, number, "王小明")
    assert status == 200 and 'id="reference"' in html, html
    reference = re.search(r'id="reference">([A-Z0-9-]+)<', html)
    assert reference
    answers = set()
    for i in range(49):
        status, html = _apply(web, result, number, f"冒名{i}")
        assert status == 409
        assert reference.group(1) not in html and "王小明" not in html and "王**" not in html
        assert "南湖" not in _main(html) and NANHU not in _main(html)
        answers.add(_main(html))
    assert len(answers) == 1, "the refusals differ"
    assert _count(registry, number) == 1
    # each refusal is a security event, with neither the number nor a name
    events = registry.read(
        lambda s: s.execute(
            text("SELECT after FROM audit_log WHERE action = 'apply.refused'")
        ).all()
    )
    assert len(events) == 49
    assert all(number not in str(e) and "冒名" not in str(e) for e in events)


def test_the_citizen_is_answered_the_same_whoever_holds_the_open_application(
    web: TestClient, registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    """A number whose open application an officer of another county took under the real
    name, and one whose open application was filed online here under another name: the
    same page, naming no reference, county or name. (The officer is told plainly: above.)"""
    taken_elsewhere = _number(6)
    filed_online = _number(7)
    elsewhere = _case(6, "张秀英", XIUZHOU)
    first = registry.create_application(other_officer, "s1_1", XIUZHOU, elsewhere)
    online = registry.create_application(
        CLERK, "s1_1", NANHU, _case(7, "冒名顶替"), self_service=True
    )
    result, _ = drive.run(web, OWNER_FAMILY)
    pages = {
        "taken elsewhere by an officer": _apply(web, result, taken_elsewhere, "张秀英"),
        "filed online here": _apply(web, result, filed_online, "李四"),
    }
    shapes = set()
    for what, (status, html) in pages.items():
        assert status == 409, (what, html)
        for secret in (first.reference, online.reference, "张秀英", "冒名顶替", "秀洲"):
            assert secret not in html, (what, secret)
        assert XIUZHOU not in _main(html) and NANHU not in _main(html)
        shapes.add(_main(html))
    assert len(shapes) == 1, "the two answers differ"


def test_the_person_s_own_station_supersedes_what_the_page_filed_in_their_number(
    web: TestClient, registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    """X7's block: a stranger files the person's number online in 南湖; the person goes to
    秀洲's station with their ID card, and the officer takes the application (201)."""
    result, _ = drive.run(web, OWNER_FAMILY)
    number = OWNER_FAMILY["id_number"]
    status, html = _apply(web, result, number, "冒名顶替")
    assert status == 200, html
    filed = registry.read(
        lambda s: s.execute(
            select(Application).where(Application.applicant_id_number == number)
        ).scalar_one()
    )
    token = web.post("/api/login", json={"username": other_officer.username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    h = {"Authorization": f"Bearer {token.json()['token']}"}
    facts = owner_case(name="王小明", with_spouse=False, county=XIUZHOU)
    facts["applicant"]["id_number"] = number
    r = web.post(
        "/api/applications", headers=h, json={"kind": "s1_1", "county": XIUZHOU, "facts": facts}
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "draft" and r.json()["county"] == XIUZHOU
    assert _state(registry, filed.id) == "withdrawn"
    assert "superseded" in _events(registry, filed.id)[-1][3]
    # the number is held again: the page still answers with the same refusal as ever
    status, html = _apply(web, result, number, "冒名顶替")
    assert status == 409 and r.json()["reference"] not in html and XIUZHOU not in _main(html)


# ---- X8: the queue, paged and filtered ------------------------------------------------------


def _flood(registry: Registry, clock: FixedClock, officer: Actor) -> list[str]:
    """10 real cases taken at the station on 2025-03-01 (submitted), then 300 self-service
    drafts on 2025-03-02: the real ones' references."""
    real = []
    for i in range(10):
        app = registry.create_application(officer, "s1_1", NANHU, _case(100 + i, f"真实{i}"))
        registry.act(officer, app.id, "submit")
        real.append(app.reference)
    clock.advance(1)
    for i in range(300):
        registry.create_application(
            CLERK, "s1_1", NANHU, _case(1000 + i, "灌水"), self_service=True
        )
    return real


def _api(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get("/api/applications", headers=headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"page", "size", "total", "items"}
    return body


def _page_refs(client: TestClient, **params: Any) -> tuple[str, list[str]]:
    r = client.get("/officer", params=params)
    assert r.status_code == 200, r.text
    total = re.search(r'id="queue-total">([^<]*)<', r.text)
    assert total
    return total.group(1), re.findall(r'href="/officer/app/\d+">(HK-[0-9A-F-]+)<', r.text)


def test_after_a_flood_the_officer_finds_every_real_case(
    web: TestClient, registry: Registry, clock: FixedClock, officer: Actor
) -> None:
    real = _flood(registry, clock, officer)
    token = web.post("/api/login", json={"username": officer.username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    h = {"Authorization": f"Bearer {token.json()['token']}"}

    everything = _api(web, h)
    assert everything["total"] == 310 and everything["size"] == 50
    assert not {a["reference"] for a in everything["items"]} & set(real)  # buried, as before
    for ref in real:  # by reference: whole, or its start
        assert [a["reference"] for a in _api(web, h, reference=ref)["items"]] == [ref]
        start = _api(web, h, reference=ref[:16].lower())
        assert ref in [a["reference"] for a in start["items"]]
    by_channel = _api(web, h, source="officer")
    assert by_channel["total"] == 10 and {a["reference"] for a in by_channel["items"]} == set(real)
    assert {a["source"] for a in by_channel["items"]} == {"officer"}
    assert _api(web, h, state="submitted")["total"] == 10
    assert _api(web, h, source="self_service", state="draft")["total"] == 300
    by_day = _api(web, h, **{"from": "2025-03-01", "to": "2025-03-01"})
    assert by_day["total"] == 10 and {a["taken_on"] for a in by_day["items"]} == {"2025-03-01"}
    assert _api(web, h, **{"from": "2025-03-02"})["total"] == 300
    assert _api(web, h, kind="s1_1", size=200)["total"] == 310
    # paging: newest first, every case exactly once
    seen = []
    for page in (1, 2):
        body = _api(web, h, size=200, page=page)
        seen += [a["id"] for a in body["items"]]
    assert len(seen) == 310 == len(set(seen)) and seen == sorted(seen, reverse=True)
    assert _api(web, h, page=99)["items"] == []

    # the officer's page: the same filters
    login = web.get("/login")
    r = web.post(
        "/login",
        data={"csrf": csrf_of(login.text), "username": officer.username, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    total, refs = _page_refs(web)
    assert "310" in total and len(refs) == 50 and not set(refs) & set(real)
    total, refs = _page_refs(web, source="officer")
    assert "10" in total and set(refs) == set(real)
    total, refs = _page_refs(web, state="submitted", to="2025-03-01")
    assert set(refs) == set(real)
    for ref in real:
        assert _page_refs(web, reference=ref)[1] == [ref]
    total, refs = _page_refs(web, size=200, page=2)
    assert len(refs) == 110 and "2/2" in total
    next_page = web.get("/officer", params={"source": "self_service", "size": 100})
    assert 'id="queue-next"' in next_page.text and "source=self_service" in next_page.text


def _reference_box(html: str) -> tuple[int, re.Pattern[str]]:
    """The queue's reference box: its maxlength, and its pattern as a browser applies it
    (anchored at both ends)."""
    box = re.search(r'<input id="reference"[^>]*>', html)
    assert box, html
    maxlength = re.search(r'maxlength="(\d+)"', box.group(0))
    pattern = re.search(r'pattern="([^"]+)"', box.group(0))
    assert maxlength and pattern, box.group(0)
    return int(maxlength.group(1)), re.compile(f"^(?:{unescape(pattern.group(1))})$")


def test_the_queue_s_reference_box_takes_a_reference_only(
    web: TestClient, registry: Registry, officer: Actor
) -> None:
    """The box is a GET form: an ID number typed there would sit in a URL (history, logs).
    The browser refuses anything not reference-shaped; the server refuses it too (422),
    without echoing it and without keeping it in the audit trail."""
    app = registry.create_application(officer, "s1_1", NANHU, _case(12))
    login = web.get("/login")
    web.post(
        "/login",
        data={"csrf": csrf_of(login.text), "username": officer.username, "password": PASSWORD},
    )
    page = web.get("/officer")
    assert page.status_code == 200, page.text
    maxlength, pattern = _reference_box(page.text)
    assert maxlength == REFERENCE_LENGTH == len(app.reference)
    number = OWNER_FAMILY["id_number"]
    fits = [app.reference, app.reference[:16], app.reference.lower(), "HK", "HK-2025"]
    refused = [number, number.lower(), "李建国", "HK-2025_%", "%", "HK-20250301-XYZ", "330402"]
    for value in fits:
        assert pattern.match(value), value
        assert QueueFilter.from_query({"reference": value}).reference  # the server agrees
    for value in refused:
        assert not pattern.match(value), value
        with pytest.raises(RegistryError):
            QueueFilter.from_query({"reference": value})
    assert [r for r in _page_refs(web, reference=app.reference)[1]] == [app.reference]
    r = web.get("/officer", params={"reference": number})
    assert r.status_code == 422 and 'id="error-message"' in r.text
    assert number not in r.text and mask_id(number) not in r.text
    token = web.post("/api/login", json={"username": officer.username, "password": PASSWORD})
    h = {"Authorization": f"Bearer {token.json()['token']}"}
    api = web.get("/api/applications", headers=h, params={"reference": number})
    assert api.status_code == 422 and number not in api.text
    records = registry.read(lambda s: list(s.execute(select(AuditRecord)).scalars()))
    assert [a for a in records if a.action == "read.refused"], "the refusal is recorded"
    for a in records:
        assert number not in f"{a.entity_id} {a.before} {a.after}", a.action


BAD = [
    {"page": "0"},
    {"page": "100001"},
    {"page": "99999999999999999999"},
    {"page": "x"},
    {"size": "0"},
    {"size": "201"},
    {"size": "-5"},
    {"state": "open"},
    {"kind": "s9_9"},
    {"source": "mail"},
    {"from": "yesterday"},
    {"from": "9999-12-31"},
    {"to": "0001-01-01"},
    {"from": "2025-03-02", "to": "2025-03-01"},
    {"reference": "%"},
    {"reference": "HK-2025_%"},
    {"reference": OWNER_FAMILY["id_number"]},  # a number would be kept in the audit trail
    {"reference": "x" * 40},
]


@pytest.mark.parametrize("params", BAD, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
def test_bad_queue_parameters_are_422_never_500(
    web: TestClient, officer: Actor, params: dict[str, str]
) -> None:
    token = web.post("/api/login", json={"username": officer.username, "password": PASSWORD})
    h = {"Authorization": f"Bearer {token.json()['token']}"}
    api = web.get("/api/applications", headers=h, params=params)
    assert api.status_code == 422, api.text
    assert api.json()["errors"][0]["field"]
    login = web.get("/login")
    web.post(
        "/login",
        data={"csrf": csrf_of(login.text), "username": officer.username, "password": PASSWORD},
    )
    page = web.get("/officer", params=params)
    assert page.status_code == 422, page.text
    assert 'id="error-message"' in page.text
