"""Civil Code art. 203 in the register (reading R9a): the §4.5 public notice and a move-in
permit's validity end on a working day — a last day on a public holiday or an ordinary
weekend runs on to the next working day, a 调休 working weekend day stays — and the
register never acts against the person before that day is over."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from hukou.policy import calendar
from hukou.registry import moves
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.errors import InvalidTransition, RegistryError
from hukou.registry.models import Household, Membership, MoveInPermit, Person
from hukou.registry.service import Registry
from hukou.service.app import create_app

from .conftest import NANHU
from .helpers import id_number, owner_case

D = dt.date
LINQUAN = "341221"  # 安徽省临泉县: outside Zhejiang, so approval issues a permit
NOTICE_DAYS = 30  # s4_registration.move_out_public_notice_days
VALIDITY = 40  # s4_registration.move_in_permit_validity_days
PASSWORD = "a long enough secret"


def _resident(registry: Registry, officer: Actor, engine: Engine) -> tuple[int, int, int]:
    """A person registered at a dwelling in a community with its public collective household
    (set up directly: the test is about the notice, not about how he came there)."""
    community, collective = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    dwelling = registry.add_dwelling(
        officer, NANHU, "紫阳街道8号", "111", "owned", community_id=community
    )
    with Session(engine) as s, s.begin():
        person = Person(
            id_number=id_number(NANHU, "19850304", 7, True),
            name="钱七",
            sex="male",
            birth_date=D(1985, 3, 4),
        )
        household = Household(
            number="330402P0000001",
            kind="family",
            county=NANHU,
            dwelling_id=dwelling,
            established_on=D(2020, 1, 1),
        )
        s.add_all([person, household])
        s.flush()
        s.add(
            Membership(
                person_id=person.id,
                household_id=household.id,
                relation_to_head="户主",
                start_date=D(2020, 1, 1),
                reason_in="test",
            )
        )
        person_id = person.id
    return dwelling, person_id, collective


def _on_notice(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock, start: dt.date
) -> tuple[int, dt.date]:
    """A procedure whose public notice starts on ``start`` (the person refused to move)."""
    dwelling, person, _ = _resident(registry, officer, engine)
    clock.day = start
    p = registry.request_move_out(officer, dwelling, person, "赵六", "owner", "不动产权证 123")
    registry.move_out_step(officer, p.id, "notify")
    p = registry.move_out_step(officer, p.id, "refused")
    assert p.state == "public_notice" and p.notice_from == start
    assert p.notice_until is not None
    return p.id, p.notice_until


# ---- §4.5 public notice -------------------------------------------------------------


@pytest.mark.clause("§4.5")
def test_a_notice_counted_to_national_day_runs_to_the_first_working_day_after(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    # 30 days from 2 September 2025 (that day counted): 1 October, National Day;
    # the holiday is 1-8 October, so the notice runs through Thursday 9 October
    start = D(2025, 9, 2)
    assert start + dt.timedelta(days=NOTICE_DAYS - 1) == D(2025, 10, 1)
    pid, last_day = _on_notice(registry, officer, engine, clock, start)
    assert last_day == D(2025, 10, 9)
    for day in (D(2025, 10, 1), D(2025, 10, 8), D(2025, 10, 9)):  # counted, eve, last day
        clock.day = day
        with pytest.raises(InvalidTransition) as err:
            registry.move_out_step(officer, pid, "move_ex_officio")
        assert "2025-10-09" in err.value.zh
        assert registry.due_move_outs(officer) == []
    clock.day = D(2025, 10, 10)  # the day after: run out
    assert [p.id for p in registry.due_move_outs(officer)] == [pid]
    done = registry.move_out_step(officer, pid, "move_ex_officio")
    assert done.state == "moved_ex_officio"


@pytest.mark.clause("§4.5")
def test_a_notice_counted_to_an_adjusted_working_sunday_is_not_extended(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    # 30 days from 30 August 2025: Sunday 28 September, a working day (调休上班)
    pid, last_day = _on_notice(registry, officer, engine, clock, D(2025, 8, 30))
    assert last_day == D(2025, 9, 28)
    clock.day = D(2025, 9, 28)
    with pytest.raises(InvalidTransition):
        registry.move_out_step(officer, pid, "move_ex_officio")
    clock.day = D(2025, 9, 29)
    assert registry.move_out_step(officer, pid, "move_ex_officio").state == "moved_ex_officio"


@pytest.mark.clause("§4.5")
def test_a_notice_counted_to_a_saturday_runs_to_monday(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    # 30 days from Friday 7 February 2025: Saturday 8 March -> Monday 10 March
    pid, last_day = _on_notice(registry, officer, engine, clock, D(2025, 2, 7))
    assert last_day == D(2025, 3, 10)
    for day in (D(2025, 3, 8), D(2025, 3, 9), D(2025, 3, 10)):
        clock.day = day
        with pytest.raises(InvalidTransition):
            registry.move_out_step(officer, pid, "move_ex_officio")
    clock.day = D(2025, 3, 11)
    assert registry.move_out_step(officer, pid, "move_ex_officio").state == "moved_ex_officio"


@pytest.mark.clause("§4.5")
def test_a_notice_counted_to_a_working_day_stands(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    # 30 days from 3 June 2025: Wednesday 2 July, a working day
    pid, last_day = _on_notice(registry, officer, engine, clock, D(2025, 6, 3))
    assert last_day == D(2025, 7, 2)
    clock.day = D(2025, 7, 1)  # the day before the last day
    with pytest.raises(InvalidTransition):
        registry.move_out_step(officer, pid, "move_ex_officio")
    clock.day = D(2025, 7, 2)  # the last day
    with pytest.raises(InvalidTransition):
        registry.move_out_step(officer, pid, "move_ex_officio")
    clock.day = D(2025, 7, 3)  # the day after
    assert registry.move_out_step(officer, pid, "move_ex_officio").state == "moved_ex_officio"


@pytest.mark.clause("§4.5")
def test_without_art_203_the_counted_day_stands(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    registry.parameters = registry.parameters.with_overrides(
        {"readings.civil_code_art_203": {D(2020, 8, 1): False}}
    )
    pid, last_day = _on_notice(registry, officer, engine, clock, D(2025, 9, 2))
    assert last_day == D(2025, 10, 1)
    clock.day = D(2025, 10, 2)
    assert registry.move_out_step(officer, pid, "move_ex_officio").state == "moved_ex_officio"


@pytest.mark.clause("§4.5")
def test_a_notice_counted_on_weekends_alone_is_noted_and_rechecked(
    registry: Registry,
    officer: Actor,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A year the calendar does not know: weekends alone, the procedure's note says so, and
    no ex officio move while the year is still unknown; once known, the real date counts."""
    monkeypatch.setattr(calendar, "holiday_years", lambda: (2004, 2024))
    pid, last_day = _on_notice(registry, officer, engine, clock, D(2025, 9, 2))
    assert last_day == D(2025, 10, 1)  # a Wednesday: weekends alone do not move it
    note = registry.read(
        lambda s: s.execute(
            text("SELECT note FROM move_out_procedures WHERE id = :i"), {"i": pid}
        ).scalar_one()
    )
    assert note is not None and "2025-10-01" in note and "weekends alone" in note
    clock.day = D(2025, 10, 2)
    with pytest.raises(RegistryError) as err:
        registry.move_out_step(officer, pid, "move_ex_officio")
    assert err.value.field == "calendar" and "2025" in err.value.zh
    monkeypatch.setattr(calendar, "holiday_years", lambda: (2004, 2026))  # the library updated
    with pytest.raises(InvalidTransition):  # 2 October is inside the holiday: not run out
        registry.move_out_step(officer, pid, "move_ex_officio")
    clock.day = D(2025, 10, 10)
    assert registry.move_out_step(officer, pid, "move_ex_officio").state == "moved_ex_officio"


# ---- move-in permit ------------------------------------------------------------------


def _approved_app(registry: Registry, officer: Actor, engine: Engine) -> int:
    """An application bringing a hukou from Anhui, put in state ``approved`` directly."""
    app = registry.create_application(officer, "s1_1", NANHU, owner_case(origin=LINQUAN))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE applications SET state = 'approved' WHERE id = :i"), {"i": app.id}
        )
    return app.id


def _permit(registry: Registry, permit_id: int) -> MoveInPermit:
    found = registry.read(lambda s: s.get(MoveInPermit, permit_id))
    assert found is not None
    return found


@pytest.mark.clause("§4.3")
def test_a_permit_whose_validity_ends_on_national_day_is_valid_to_the_next_working_day(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    # 40 days from 23 August 2025 (that day counted): 1 October -> 9 October
    clock.day = D(2025, 8, 23)
    assert clock.day + dt.timedelta(days=VALIDITY - 1) == D(2025, 10, 1)
    permit = registry.reissue_permit(officer, _approved_app(registry, officer, engine))
    assert permit.issued_on == D(2025, 8, 23) and permit.valid_until == D(2025, 10, 9)
    assert permit.note is None
    for day, ok in ((D(2025, 10, 8), True), (D(2025, 10, 9), True), (D(2025, 10, 10), False)):
        assert moves.usable(permit, day) is ok
    clock.day = D(2025, 10, 9)  # the last day: not yet expired
    with pytest.raises(InvalidTransition) as err:
        registry.permit_step(officer, permit.id, "expire")
    assert err.value.field == "valid_until"
    assert registry.expire_permits(officer) == []
    clock.day = D(2025, 10, 10)
    assert registry.permit_step(officer, permit.id, "expire").state == "expired"


@pytest.mark.clause("§4.3")
def test_a_permit_ending_on_a_working_saturday_is_not_extended(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    # 40 days from 2 September 2025: Saturday 11 October, a working day (调休上班)
    clock.day = D(2025, 9, 2)
    permit = registry.reissue_permit(officer, _approved_app(registry, officer, engine))
    assert permit.valid_until == D(2025, 10, 11)
    assert not moves.usable(permit, D(2025, 10, 12))


@pytest.mark.clause("§4.3")
def test_a_permit_counted_on_weekends_alone_is_noted_and_its_use_rechecked(
    registry: Registry,
    officer: Actor,
    engine: Engine,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calendar, "holiday_years", lambda: (2004, 2024))
    clock.day = D(2025, 8, 23)
    permit = registry.reissue_permit(officer, _approved_app(registry, officer, engine))
    assert permit.valid_until == D(2025, 10, 1)  # weekends alone
    assert permit.note is not None and "weekends alone" in permit.note
    clock.day = D(2025, 10, 2)
    with pytest.raises(RegistryError) as err:  # cannot confirm the permit has run out
        registry.permit_step(officer, permit.id, "expire")
    assert err.value.field == "calendar"
    monkeypatch.setattr(calendar, "holiday_years", lambda: (2004, 2026))
    # known now: 1 October was a holiday, so the permit is usable through 9 October
    stored = _permit(registry, permit.id)
    assert moves.usable(stored, D(2025, 10, 9)) and not moves.usable(stored, D(2025, 10, 10))
    with pytest.raises(InvalidTransition):
        registry.permit_step(officer, permit.id, "expire")


# ---- what the API and the page show ---------------------------------------------------


def _api_login(client: TestClient) -> dict[str, str]:
    """A bearer token for today (a session does not outlive a jump of the clock)."""
    r = client.post("/api/login", json={"username": "nanhu_api", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _page_login(client: TestClient) -> None:
    client.cookies.clear()  # a fresh session for the day the clock shows
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "no CSRF field on the login page"
    r = client.post(
        "/login",
        data={"csrf": found.group(1), "username": "nanhu_api", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


@pytest.mark.clause("§4.5")
def test_the_api_and_the_pages_show_the_extended_dates(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock
) -> None:
    registry.add_user(SYSTEM, "nanhu_api", PASSWORD, "officer", NANHU)
    client = TestClient(create_app(registry), base_url="https://testserver")
    dwelling, person, _ = _resident(registry, officer, engine)
    clock.day = D(2025, 8, 23)  # a permit counted to 1 October
    registry.reissue_permit(officer, _approved_app(registry, officer, engine))
    clock.day = D(2025, 9, 2)  # a notice counted to 1 October
    h = _api_login(client)
    r = client.post(
        "/api/move-outs",
        headers=h,
        json={
            "dwelling_id": dwelling,
            "person_id": person,
            "requester_name": "赵六",
            "requester_role": "owner",
            "property_proof": "不动产权证 123",
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post(f"/api/move-outs/{pid}/unreachable", headers=h, json={})
    assert r.status_code == 200, r.text
    assert r.json()["notice_until"] == "2025-10-09"
    assert client.get("/api/move-outs/due", headers=h).json() == []
    [permit] = client.get("/api/permits", headers=h).json()
    assert permit["valid_until"] == "2025-10-09"
    clock.day = D(2025, 10, 10)
    h = _api_login(client)
    [due] = client.get("/api/move-outs/due", headers=h).json()
    assert due["id"] == pid and due["notice_until"] == "2025-10-09"
    _page_login(client)
    page = client.get("/officer/move-outs")
    assert page.status_code == 200 and "2025-10-09" in page.text
    page = client.get("/officer/moves")
    assert page.status_code == 200 and "2025-10-09" in page.text
