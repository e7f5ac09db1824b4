"""Residence registration (居住登记) and residence permits (居住证, 国务院令第663号) in the
register: every transition allowed and refused, the endorsement's lapse by date, the
cancellation on settlement in the registration's own transaction, jurisdiction on every
write, audit, bad input — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from hukou.policy.facts import id_birth_date, id_sex
from hukou.policy.permit import GROUNDS, load_parameters
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory
from hukou.registry.demo import settle_materials
from hukou.registry.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    RegistryError,
)
from hukou.registry.models import (
    RESIDENCE_PERMIT_STATES,
    AuditRecord,
    Membership,
    Person,
    ResidencePermit,
    ResidencePermitEndorsement,
    ResidenceRegistration,
    StationNotice,
)
from hukou.registry.moves import same_name
from hukou.registry.permits import (
    PERMIT_TRANSITIONS,
    add_months,
    period_end,
    permit_status,
    residence_years,
    valid_for_a_period,
)
from hukou.registry.service import Registry
from hukou.service.app import create_app

from .conftest import NANHU, XIUZHOU
from .helpers import id_number, owner_case, reside_on
from .test_move_out_periods import PASSWORD, _page_login

MIGRANT = id_number("341221", "19900101", 7, True)  # 安徽省临泉县: hukou outside Jiaxing
NAME = "张三"
LONG_AGO = dt.date(2024, 6, 1)  # more than half a year before the clock's 2025-03-01
TODAY = dt.date(2025, 3, 1)
ACTIONS = sorted({a for _, a in PERMIT_TRANSITIONS})
HOUSING = {"housing": "employer", "address": "经济开发区宿舍3幢201", "provider": "嘉兴某机械厂"}
EMPLOYED = {"local_labour_contract": True}
OWNER = owner_case()["applicant"]["name"]  # the settling applicant (李建国)
JIASHAN = "330421"  # 嘉善县: an area of its own (南湖区 and 秀洲区 are one: 市本级)


# ---- helpers -------------------------------------------------------------------------


@pytest.fixture
def third_officer(registry: Registry) -> Actor:
    uid = registry.add_user(SYSTEM, "officer_jiashan", "correct horse battery", "officer", JIASHAN)
    return Actor(uid, "officer_jiashan", "officer", JIASHAN)


def _reside(
    registry: Registry,
    officer: Actor,
    number: str = MIGRANT,
    since: dt.date = LONG_AGO,
    county: str | None = None,
) -> ResidenceRegistration:
    """A registration recorded on ``since`` (``reside_on``)."""
    county = county or officer.jurisdiction or ""
    return reside_on(registry, officer, number, county, since, name=NAME, **HOUSING)


def _applied(
    registry: Registry, officer: Actor, number: str = MIGRANT, since: dt.date = LONG_AGO
) -> ResidencePermit:
    _reside(registry, officer, number, since)
    assert officer.jurisdiction is not None
    return registry.apply_for_residence_permit(
        officer, number, officer.jurisdiction, "employment", facts=EMPLOYED
    )


def _issued(
    registry: Registry, officer: Actor, number: str = MIGRANT, since: dt.date = LONG_AGO
) -> ResidencePermit:
    permit = _applied(registry, officer, number, since)
    registry.review_residence_permit(officer, permit.id, note="材料齐全")
    return registry.issue_residence_permit(officer, permit.id)


def _not_issued(
    registry: Registry, officer: Actor, permit_id: int, status: str, field: str
) -> tuple[dict[str, Any], RegistryError]:
    """The review finds ``status``; the issue is then refused naming ``field`` (writing
    nothing): the decision and the refusal."""
    decision = registry.review_residence_permit(officer, permit_id).decision
    assert decision is not None and decision["status"] == status
    error = _refused(
        registry,
        InvalidTransition,
        field,
        lambda: registry.issue_residence_permit(officer, permit_id),
    )
    return decision, error


def _in_state(registry: Registry, officer: Actor, state: str) -> ResidencePermit:
    """A permit (or application) brought to ``state`` through the register's own steps."""
    if state == "applied":
        return _applied(registry, officer)
    if state in ("under_review", "refused"):
        permit = _applied(registry, officer)
        registry.review_residence_permit(officer, permit.id)
        if state == "refused":
            registry.refuse_residence_permit(officer, permit.id, "材料不实")
        return _permit(registry, permit.id)
    if state == "withdrawn":
        permit = _applied(registry, officer)
        return registry.withdraw_residence_permit(officer, permit.id)
    permit = _issued(registry, officer)
    if state == "void":
        registry.replace_residence_permit(officer, permit.id, "lost")
    elif state == "cancelled":
        registry.cancel_residence_permit(officer, permit.id, "issued_in_error")
    return _permit(registry, permit.id)


def _hukou_in(registry: Registry, number: str, county: str) -> None:
    """The register holds ``number``'s hukou in a collective household of ``county`` (the
    person added when the register does not hold them yet)."""
    household = registry.establish_household(SYSTEM, "unit_collective", county, unit_name="某厂")

    def put_in_household(s: Any) -> None:
        person = s.execute(select(Person).where(Person.id_number == number)).scalar_one_or_none()
        if person is None:
            person = Person(
                id_number=number,
                name=NAME,
                sex=id_sex(number).value,
                birth_date=id_birth_date(number),
            )
            s.add(person)
            s.flush()
        s.add(
            Membership(
                person_id=person.id,
                household_id=household,
                relation_to_head="集体户成员",
                start_date=dt.date(2020, 1, 1),
                reason_in="test",
            )
        )
        s.commit()

    registry.read(put_in_household)


def _notices(registry: Registry) -> list[StationNotice]:
    return registry.read(
        lambda s: list(s.execute(select(StationNotice).order_by(StationNotice.id)).scalars())
    )


def _permit(registry: Registry, permit_id: int) -> ResidencePermit:
    found = registry.read(lambda s: s.get(ResidencePermit, permit_id))
    assert found is not None
    return found


def _registration(registry: Registry, reg_id: int) -> ResidenceRegistration:
    found = registry.read(lambda s: s.get(ResidenceRegistration, reg_id))
    assert found is not None
    return found


def _written(registry: Registry) -> dict[str, Any]:
    """Everything these operations write: row counts, and each row's state and version."""

    def query(s: Any) -> dict[str, Any]:
        def count(model: Any) -> int:
            return int(s.execute(select(func.count()).select_from(model)).scalar_one())

        return {
            "counts": [
                count(m)
                for m in (
                    Person,
                    Membership,
                    ResidenceRegistration,
                    ResidencePermit,
                    ResidencePermitEndorsement,
                    StationNotice,
                    AuditRecord,
                )
            ],
            "permits": s.execute(
                select(
                    ResidencePermit.id,
                    ResidencePermit.state,
                    ResidencePermit.valid_until,
                    ResidencePermit.version,
                )
            ).all(),
            "registrations": s.execute(
                select(
                    ResidenceRegistration.id,
                    ResidenceRegistration.end_date,
                    ResidenceRegistration.version,
                )
            ).all(),
        }

    return registry.read(query)


def _actions(registry: Registry, since: int = 0) -> list[tuple[str, str]]:
    return registry.read(
        lambda s: [
            (a, str(e))
            for a, e in s.execute(
                select(AuditRecord.action, AuditRecord.entity_id)
                .where(AuditRecord.id > since)
                .order_by(AuditRecord.id)
            ).all()
        ]
    )


def _last_audit(registry: Registry) -> int:
    return registry.read(
        lambda s: int(s.execute(select(func.coalesce(func.max(AuditRecord.id), 0))).scalar_one())
    )


def _refused(
    registry: Registry,
    error: type[RegistryError],
    field: str | None,
    call: Callable[[], Any],
    *,
    audited: bool = True,
) -> RegistryError:
    """``call`` is refused with ``error`` naming ``field``, bilingually, writing nothing
    but the refusal's audit record (``refusals_audited``): the action asked, the reason and
    the field, no ID number or name in clear."""
    before = _written(registry)
    mark = _last_audit(registry)
    with pytest.raises(error) as info:
        call()
    assert info.value.zh and info.value.en and info.value.zh != info.value.en
    if field is not None:
        assert info.value.field == field, info.value
    after = _written(registry)
    if not audited:  # not a residence write: nothing at all
        assert after == before
        return info.value
    trail = -1  # AuditRecord, the last of the counts
    assert after["counts"][trail] == before["counts"][trail] + 1
    after["counts"][trail] = before["counts"][trail]
    assert after == before
    [(action, detail)] = registry.read(
        lambda s: s.execute(
            select(AuditRecord.action, AuditRecord.after).where(AuditRecord.id > mark)
        ).all()
    )
    assert action.endswith(".refused") and action.startswith("residence_"), action
    assert detail["field"] == info.value.field
    assert detail["reason"] == {403: "forbidden", 404: "not_found", 409: "conflict"}.get(
        info.value.status, "invalid"
    )
    text = json.dumps(detail, ensure_ascii=False)
    assert MIGRANT not in text and NAME not in text
    return info.value


# ---- jurisdiction: a station acts only on its county's registrations and permits ------


def test_every_write_by_an_officer_of_another_county_is_refused_and_writes_nothing(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    permit = _issued(registry, officer)
    applied = _applied(registry, officer, id_number("341221", "19920202", 8, False))
    reg = registry.read(
        lambda s: s.execute(
            select(ResidenceRegistration).where(ResidenceRegistration.person_id == permit.person_id)
        ).scalar_one()
    )
    dwelling = registry.add_dwelling(officer, NANHU, "南湖区某路1号", "111", "rented_registered")
    other = other_officer
    attacks: list[tuple[str, Callable[[], Any]]] = [
        (
            "county",
            lambda: _reside(
                registry, other, id_number("341221", "19850101", 9, True), county=NANHU
            ),
        ),
        (
            "dwelling_id",
            lambda: registry.register_residence(
                other,
                id_number("341221", "19850101", 9, True),
                XIUZHOU,
                name="李四",
                dwelling_id=dwelling,
            ),
        ),
        ("registration_id", lambda: registry.change_residence_address(other, reg.id, **HOUSING)),
        ("registration_id", lambda: registry.end_residence(other, reg.id)),
        (
            "county",
            lambda: registry.apply_for_residence_permit(other, MIGRANT, NANHU, "employment"),
        ),
        ("residence_permit_id", lambda: registry.review_residence_permit(other, applied.id)),
        ("residence_permit_id", lambda: registry.withdraw_residence_permit(other, applied.id)),
        ("residence_permit_id", lambda: registry.issue_residence_permit(other, applied.id)),
        ("residence_permit_id", lambda: registry.refuse_residence_permit(other, applied.id, "x")),
        ("residence_permit_id", lambda: registry.endorse_residence_permit(other, permit.id)),
        (
            "residence_permit_id",
            lambda: registry.replace_residence_permit(other, permit.id, "lost"),
        ),
        (
            "residence_permit_id",
            lambda: registry.cancel_residence_permit(other, permit.id, "left"),
        ),
    ]
    for field, attack in attacks:
        _refused(registry, Forbidden, field, attack)


@pytest.mark.parametrize("role", ["keeper", "analyst", "admin"])
def test_no_other_role_takes_a_step(registry: Registry, officer: Actor, role: str) -> None:
    permit = _applied(registry, officer)
    actor = Actor(None, f"a_{role}", role, "1" if role == "keeper" else None)
    for call in (
        lambda: _reside(registry, actor, id_number("341221", "19850101", 9, True), county=NANHU),
        lambda: registry.review_residence_permit(actor, permit.id),
        lambda: registry.apply_for_residence_permit(actor, MIGRANT, NANHU, "employment"),
    ):
        _refused(registry, Forbidden, None, call)


def test_a_missing_record_is_not_found(registry: Registry, officer: Actor) -> None:
    _refused(registry, NotFound, "registration_id", lambda: registry.end_residence(officer, 99))
    _refused(
        registry,
        NotFound,
        "residence_permit_id",
        lambda: registry.review_residence_permit(officer, 2**40),
    )


# ---- residence registration ----------------------------------------------------------


def test_registration_change_of_address_and_end_with_history_and_audit(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    first = _reside(registry, officer)
    assert (first.county, first.start_date, first.end_date) == (NANHU, LONG_AGO, None)
    person = registry.read(lambda s: s.get(Person, first.person_id))
    assert person is not None and person.name == NAME and person.sex == "male"
    dwelling = registry.add_dwelling(officer, NANHU, "南湖区某路1号", "111", "rented_registered")
    clock.advance(10)
    second = registry.change_residence_address(officer, first.id, dwelling_id=dwelling)
    old = _registration(registry, first.id)
    assert (old.end_date, old.end_reason) == (clock.today(), "address_change")
    assert (second.start_date, second.previous_id, second.address) == (
        clock.today(),
        first.id,
        "南湖区某路1号",
    )
    _refused(
        registry,
        InvalidTransition,
        "state",
        lambda: registry.change_residence_address(officer, first.id, dwelling_id=dwelling),
    )
    _refused(
        registry,
        RegistryError,
        "dwelling_id",
        lambda: registry.change_residence_address(officer, second.id, dwelling_id=dwelling),
    )
    clock.advance(5)
    ended = registry.end_residence(officer, second.id)
    assert (ended.end_date, ended.end_reason) == (clock.today(), "left")
    _refused(
        registry, InvalidTransition, "state", lambda: registry.end_residence(officer, second.id)
    )
    history = registry.residence_history(officer, MIGRANT)
    assert [(r.start_date, r.end_date, r.end_reason) for r in history] == [
        (LONG_AGO, TODAY + dt.timedelta(days=10), "address_change"),
        (TODAY + dt.timedelta(days=10), TODAY + dt.timedelta(days=15), "left"),
    ]
    actions = [a for a, _ in _actions(registry)]
    assert actions.count("residence_registration.start") == 2
    assert "residence_registration.change_address" in actions
    assert "residence_registration.end" in actions
    assert "person.add" in actions


def test_history_is_per_county(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    _reside(registry, officer)
    clock.advance(30)
    _reside(registry, other_officer, since=clock.today())
    assert [r.county for r in registry.residence_history(officer, MIGRANT)] == [NANHU]
    assert [r.county for r in registry.residence_history(other_officer, MIGRANT)] == [XIUZHOU]
    assert len(registry.residence_history(SYSTEM, MIGRANT)) == 2
    with pytest.raises(Forbidden):
        registry.residence_history(officer, MIGRANT, county=XIUZHOU)


def test_no_residence_registration_in_ones_own_hukou_county(
    registry: Registry, officer: Actor, third_officer: Actor
) -> None:
    local = id_number("330402", "19900101", 3, True)
    _hukou_in(registry, local, NANHU)
    _refused(registry, RegistryError, "county", lambda: _reside(registry, officer, local))
    # a hukou in another area of Jiaxing is away from its place (嘉善县 is not 市本级)
    reg = _reside(registry, third_officer, local)
    assert reg.county == JIASHAN


def test_a_second_registration_in_the_same_county_is_a_change_of_address(
    registry: Registry, officer: Actor
) -> None:
    _reside(registry, officer)
    _refused(registry, Conflict, "id_number", lambda: _reside(registry, officer))


def test_moving_to_another_county_ends_the_old_registration_and_its_permit(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    permit = _issued(registry, officer)
    clock.advance(20)
    mark = _last_audit(registry)
    _refused(
        registry,
        RegistryError,
        "start_date",
        lambda: _reside(registry, other_officer, since=LONG_AGO - dt.timedelta(days=1)),
    )
    new = _reside(registry, other_officer, since=clock.today())
    old = registry.residence_history(officer, MIGRANT)[0]
    assert (old.end_date, old.end_reason) == (clock.today(), "moved_away")
    assert new.end_date is None
    moved = _permit(registry, permit.id)
    assert (moved.state, moved.close_reason, moved.closed_on) == (
        "cancelled",
        "moved_away",
        clock.today(),
    )
    assert [a for a, _ in _actions(registry, mark)] == [
        "residence_registration.start.refused",
        "residence_registration.end",
        "residence_permit.cancel",
        "notice.send",
        "residence_registration.start",
    ]


def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    registry: Registry, officer: Actor
) -> None:
    good = id_number("341221", "19850101", 9, True)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    baby = id_number("341221", "20250220", 3, True)
    for field, call in [
        ("id_number", lambda: _reside(registry, officer, bad_check)),
        ("id_number", lambda: _reside(registry, officer, "12345")),
        ("county", lambda: _reside(registry, officer, good, county="999999")),
        ("county", lambda: _reside(registry, officer, good, county="330100")),
        ("name", lambda: registry.register_residence(officer, good, NANHU, **HOUSING)),
        ("start_date", lambda: _reside(registry, officer, good, since=TODAY + dt.timedelta(1))),
        (
            "start_date",
            lambda: registry.register_residence(  # born 2025-02-20: before birth
                officer, baby, NANHU, name=NAME, since=dt.date(2025, 2, 19), **HOUSING
            ),
        ),
        (
            "housing",
            lambda: registry.register_residence(officer, good, NANHU, name=NAME, housing="tent"),
        ),
        ("dwelling_id", lambda: registry.register_residence(officer, good, NANHU, name=NAME)),
        (
            "address",
            lambda: registry.register_residence(
                officer, good, NANHU, name=NAME, housing="school", provider="嘉兴学院"
            ),
        ),
        (
            "address",
            lambda: registry.register_residence(
                officer,
                good,
                NANHU,
                name=NAME,
                housing="school",
                address="宿舍\x00楼",
                provider="嘉兴学院",
            ),
        ),
    ]:
        _refused(registry, RegistryError, field, call)
    _reside(registry, officer, good)
    _refused(
        registry,
        RegistryError,
        "name",
        lambda: registry.register_residence(officer, good, NANHU, name="李四", **HOUSING),
    )


def test_names_are_kept_in_nfc(registry: Registry, officer: Actor) -> None:
    decomposed = "e\u0301"  # é as e + combining accent
    reg = registry.register_residence(
        officer,
        MIGRANT,
        NANHU,
        name="张" + decomposed,
        housing="school",
        address="宿舍" + decomposed,
        provider="学院",
    )
    person = registry.read(lambda s: s.get(Person, reg.person_id))
    assert person is not None and person.name == "张\u00e9"
    assert reg.address == "宿舍\u00e9"


# ---- residence permits ---------------------------------------------------------------


def test_the_permit_lifecycle_is_audited_step_by_step(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    mark = _last_audit(registry)
    permit = _applied(registry, officer)
    assert permit.state == "applied" and re.fullmatch(r"JZ-\d{8}-[0-9A-F]{10}", permit.reference)
    reviewed = registry.review_residence_permit(officer, permit.id, note="材料齐全")
    assert reviewed.state == "under_review" and reviewed.review_note == "材料齐全"
    assert reviewed.decision is not None and reviewed.decision["status"] == "eligible"
    assert reviewed.rule_version
    issued = registry.issue_residence_permit(officer, permit.id)
    assert issued.state == "issued"
    assert issued.number is not None and re.fullmatch(r"JZ33040220250301[0-9A-F]{8}", issued.number)
    assert (issued.issued_on, issued.valid_until) == (TODAY, dt.date(2026, 2, 28))
    assert issued.residence_since == LONG_AGO  # the registration's start
    assert permit_status(issued, TODAY) == "valid"
    assert residence_years(issued, TODAY) == 0
    clock.day = dt.date(2026, 2, 15)
    endorsed = registry.endorse_residence_permit(officer, permit.id)
    assert endorsed.valid_until == dt.date(2027, 2, 28) and endorsed.residence_since == LONG_AGO
    assert residence_years(endorsed, clock.today()) == 1
    new = registry.replace_residence_permit(officer, permit.id, "lost")
    old = _permit(registry, permit.id)
    assert (old.state, old.close_reason) == ("void", "lost")
    assert new.number != old.number and new.replaces_id == old.id
    assert (new.valid_until, new.residence_since) == (old.valid_until, old.residence_since)
    cancelled = registry.cancel_residence_permit(officer, new.id, "issued_in_error")
    assert cancelled.state == "cancelled"
    assert [a for a, _ in _actions(registry, mark)] == [
        "person.add",
        "residence_registration.start",
        "residence_permit.apply",
        "residence_permit.review",
        "residence_permit.issue",
        "residence_permit.endorse",
        "residence_permit.replace",
        "residence_permit.reissue",
        "residence_permit.cancel",
    ]


@pytest.mark.parametrize("state", RESIDENCE_PERMIT_STATES)
def test_every_step_not_in_the_table_is_refused(
    registry: Registry, officer: Actor, state: str
) -> None:
    permit = _in_state(registry, officer, state)
    assert permit.state == state
    args: dict[str, Callable[[], Any]] = {
        "review": lambda: registry.review_residence_permit(officer, permit.id),
        "withdraw": lambda: registry.withdraw_residence_permit(officer, permit.id),
        "issue": lambda: registry.issue_residence_permit(officer, permit.id),
        "refuse": lambda: registry.refuse_residence_permit(officer, permit.id, "理由"),
        "endorse": lambda: registry.endorse_residence_permit(officer, permit.id),
        "replace": lambda: registry.replace_residence_permit(officer, permit.id, "damaged"),
        "cancel": lambda: registry.cancel_residence_permit(officer, permit.id, "issued_in_error"),
    }
    assert set(args) == set(ACTIONS)
    for action in ACTIONS:
        if (state, action) not in PERMIT_TRANSITIONS:
            _refused(registry, InvalidTransition, "state", args[action])


def test_a_stale_version_is_refused(registry: Registry, officer: Actor) -> None:
    permit = _applied(registry, officer)
    _refused(
        registry,
        Conflict,
        "version",
        lambda: registry.review_residence_permit(officer, permit.id, version=permit.version + 1),
    )


def test_the_rules_not_eligible_refuse_the_issue_with_their_reason(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    permit = _applied(registry, officer, since=TODAY - dt.timedelta(days=60))  # two months only
    _decision, error = _not_issued(registry, officer, permit.id, "not_eligible", "decision")
    assert "半年" in error.zh or "居住" in error.zh
    refused = registry.refuse_residence_permit(officer, permit.id, "居住未满半年")
    assert (refused.state, refused.reasons, refused.decided_on) == (
        "refused",
        "居住未满半年",
        TODAY,
    )
    _refused(
        registry,
        RegistryError,
        "reasons",
        lambda: registry.refuse_residence_permit(officer, permit.id, "  "),
    )


def test_an_application_needs_a_registration_here_one_ground_and_good_facts(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    apply = registry.apply_for_residence_permit
    _refused(
        registry, RegistryError, "id_number", lambda: apply(officer, MIGRANT, NANHU, "employment")
    )
    _reside(registry, other_officer)
    _refused(
        registry, RegistryError, "id_number", lambda: apply(officer, MIGRANT, NANHU, "employment")
    )
    for field, call in [
        ("ground", lambda: apply(other_officer, MIGRANT, XIUZHOU, "lottery")),
        ("county", lambda: apply(other_officer, MIGRANT, "999999", "study")),
        ("id_number", lambda: apply(other_officer, "33040219900101123", XIUZHOU, "study")),
        (
            "facts.salary",
            lambda: apply(other_officer, MIGRANT, XIUZHOU, "study", facts={"salary": 1}),
        ),
        (
            "facts.continuous_study",
            lambda: apply(
                other_officer, MIGRANT, XIUZHOU, "study", facts={"continuous_study": "often"}
            ),
        ),
    ]:
        _refused(registry, RegistryError, field, call)
    apply(other_officer, MIGRANT, XIUZHOU, "study", facts={"continuous_study": True})
    _refused(
        registry, Conflict, "id_number", lambda: apply(other_officer, MIGRANT, XIUZHOU, "study")
    )


@pytest.mark.parametrize(
    "day,expect",
    [
        (dt.date(2026, 1, 31), "too_early"),  # the day before the window opens
        (dt.date(2026, 2, 1), "on_time"),  # the window's first day
        (dt.date(2026, 2, 27), "on_time"),  # the day before the deadline
        (dt.date(2026, 2, 28), "on_time"),  # the deadline: valid_until
        (dt.date(2026, 3, 1), "late"),  # the day after: lapsed, endorsed late
    ],
)
def test_endorsement_window_and_lapse_by_date(
    registry: Registry, officer: Actor, clock: FixedClock, day: dt.date, expect: str
) -> None:
    permit = _issued(registry, officer)
    assert permit.valid_until == dt.date(2026, 2, 28)
    clock.day = day
    assert permit_status(permit, day) == ("lapsed" if expect == "late" else "valid")
    due = [p.id for p in registry.endorsements_due(officer)]
    assert due == ([] if expect == "too_early" else [permit.id])
    if expect == "too_early":
        _refused(
            registry,
            InvalidTransition,
            "valid_until",
            lambda: registry.endorse_residence_permit(officer, permit.id),
        )
        return
    endorsed = registry.endorse_residence_permit(officer, permit.id)
    if expect == "on_time":
        assert endorsed.valid_until == dt.date(2027, 2, 28)
        assert endorsed.residence_since == LONG_AGO
    else:  # art. 10 ¶3: restored, and the residence years count again from today
        assert endorsed.valid_until == dt.date(2027, 2, 28)
        assert endorsed.residence_since == day
        assert residence_years(endorsed, dt.date(2027, 2, 28)) == 0
    record = registry.read(lambda s: s.execute(select(ResidencePermitEndorsement)).scalar_one())
    assert (record.endorsed_on, record.late, record.valid_until) == (
        day,
        expect == "late",
        endorsed.valid_until,
    )


def test_a_lapsed_permit_is_endorsed_before_it_is_replaced(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    permit = _issued(registry, officer)
    clock.day = dt.date(2026, 3, 1)
    _refused(
        registry,
        InvalidTransition,
        "valid_until",
        lambda: registry.replace_residence_permit(officer, permit.id, "lost"),
    )
    _refused(
        registry,
        RegistryError,
        "reason",
        lambda: registry.replace_residence_permit(officer, permit.id, "stolen by aliens"),
    )


def test_leaving_ends_the_registration_and_the_permit_together(
    registry: Registry, officer: Actor
) -> None:
    permit = _issued(registry, officer)
    registry.cancel_residence_permit(officer, permit.id, "left")
    assert _permit(registry, permit.id).close_reason == "left"
    assert registry.residence_history(officer, MIGRANT)[-1].end_reason == "left"


def test_ending_the_registration_cancels_the_permit_and_withdraws_an_application(
    registry: Registry, officer: Actor
) -> None:
    permit = _issued(registry, officer)
    other = id_number("341221", "19920202", 8, False)
    pending = _applied(registry, officer, other)
    for number in (MIGRANT, other):
        reg = registry.residence_history(officer, number)[-1]
        registry.end_residence(officer, reg.id)
    assert _permit(registry, permit.id).state == "cancelled"
    assert _permit(registry, pending.id).state == "withdrawn"
    _refused(
        registry, RegistryError, "reason", lambda: registry.end_residence(officer, 1, "settled")
    )


# ---- settlement: the permit is cancelled in the registration's own transaction --------


def _settling(
    registry: Registry, officer: Actor, resident: Actor | None = None, *, issue: bool = True
) -> tuple[ResidencePermit, int, int]:
    """A migrant registered as living in ``resident``'s county (default the officer's, 南湖区)
    with a permit there (or, ``issue`` false, an application under review) whose §1.1
    application in 南湖区 is approved."""
    resident = resident or officer
    county = resident.jurisdiction
    assert county is not None
    facts = owner_case(with_spouse=False)
    number = facts["applicant"]["id_number"]
    reside_on(
        registry, resident, number, county, LONG_AGO, name=facts["applicant"]["name"], **HOUSING
    )
    permit = registry.apply_for_residence_permit(
        resident, number, county, "employment", facts=EMPLOYED
    )
    permit = registry.review_residence_permit(resident, permit.id)
    if issue:
        permit = registry.issue_residence_permit(resident, permit.id)
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    dwelling = registry.add_dwelling(officer, NANHU, "南湖区新居1号", "111", "owned")
    return permit, app.id, dwelling


def test_settling_in_the_county_cancels_the_permit_in_the_same_transaction(
    registry: Registry, officer: Actor
) -> None:
    permit, app_id, dwelling = _settling(registry, officer)
    mark = _last_audit(registry)
    registry.register(officer, app_id, dwelling_id=dwelling)
    settled = _permit(registry, permit.id)
    assert (settled.state, settled.close_reason, settled.closed_on) == (
        "cancelled",
        "settled",
        TODAY,
    )
    person_number = registry.read(lambda s: s.get(Person, permit.person_id)).id_number  # type: ignore[union-attr]
    reg = registry.residence_history(officer, person_number)[-1]
    assert (reg.end_date, reg.end_reason) == (TODAY, "settled")
    actions = [a for a, _ in _actions(registry, mark)]
    assert actions.index("membership.open") < actions.index("residence_permit.cancel")
    assert "residence_registration.end" in actions and "application.register" in actions
    # now a resident of the county: no residence registration or permit here
    _refused(
        registry,
        RegistryError,
        "county",
        lambda: registry.register_residence(officer, person_number, NANHU, name=OWNER, **HOUSING),
    )


@pytest.mark.parametrize("lives", [NANHU, XIUZHOU])
def test_a_failed_registration_leaves_the_permit_as_it_was(
    registry: Registry,
    officer: Actor,
    other_officer: Actor,
    monkeypatch: pytest.MonkeyPatch,
    lives: str,
) -> None:
    resident = officer if lives == NANHU else other_officer
    permit, app_id, dwelling = _settling(registry, officer, resident)
    seen: list[str] = []
    settled_in = Registry.settled_in
    transition = Registry._transition

    def spy(self: Registry, *args: Any, **kwargs: Any) -> None:
        seen.append("settled_in")
        settled_in(self, *args, **kwargs)

    def failing(self: Registry, s: Any, actor: Actor, app: Any, action: str, *rest: Any) -> None:
        if action == "register":
            raise Conflict("模拟失败", "simulated failure", "state")
        transition(self, s, actor, app, action, *rest)

    monkeypatch.setattr(Registry, "settled_in", spy)
    monkeypatch.setattr(Registry, "_transition", failing)
    before = _written(registry)
    with pytest.raises(Conflict):
        registry.register(officer, app_id, dwelling_id=dwelling)
    assert seen == ["settled_in"]  # the hook ran, inside the registration's transaction
    assert _written(registry) == before  # no notice either
    assert _permit(registry, permit.id).state == "issued"


@pytest.mark.parametrize("issued", [True, False])
def test_settling_in_the_other_district_of_the_city_proper_ends_the_registration_there(
    registry: Registry, officer: Actor, other_officer: Actor, issued: bool
) -> None:
    """南湖区 and 秀洲区 are one area (市本级): a hukou settled in 南湖区 ends the person's
    residence registration in 秀洲区 with its permit (or application), in the registration's
    transaction, and 秀洲区's station is told, as when the person moves away."""
    permit, app_id, dwelling = _settling(registry, officer, other_officer, issue=issued)
    person_number = registry.read(lambda s: s.get(Person, permit.person_id)).id_number  # type: ignore[union-attr]
    [reg] = registry.residence_history(other_officer, person_number)
    assert reg.county == XIUZHOU
    mark = _last_audit(registry)
    registry.register(officer, app_id, dwelling_id=dwelling)
    ended = _registration(registry, reg.id)
    assert (ended.end_date, ended.end_reason) == (TODAY, "settled")
    closed = _permit(registry, permit.id)
    step, state, reason = (
        ("cancel", "cancelled", "settled") if issued else ("withdraw", "withdrawn", None)
    )
    assert (closed.state, closed.close_reason, closed.closed_on) == (state, reason, TODAY)
    [notice] = [n for n in _notices(registry) if n.kind == "residence_moved_away"]
    assert (
        notice.county,
        notice.from_county,
        notice.person_id,
        notice.closed_registration_id,
        notice.to_household_id,
        notice.moved_on,
        notice.state,
    ) == (XIUZHOU, NANHU, permit.person_id, reg.id, None, TODAY, "pending")
    actions = _actions(registry, mark)
    names = [a for a, _ in actions]
    assert (
        names.index("membership.open")
        < names.index("residence_registration.end")
        < names.index(f"residence_permit.{step}")
        < names.index("notice.send")
    )
    assert ("notice.send", str(notice.id)) in actions
    # the told station's moves page lists it, saying why the registration ended
    registry.add_user(SYSTEM, "xiuzhou_page", PASSWORD, "officer", XIUZHOU)
    page = _moves_page(registry, "xiuzhou_page")
    assert "户口迁入同一区域（市本级）另一区，居住登记结束" in page
    assert "迁往本市其他县（市、区）居住" not in page
    # the told station acknowledges it, not the telling one
    _refused(
        registry,
        Forbidden,
        "notice_id",
        lambda: registry.acknowledge_notice(officer, notice.id),
        audited=False,
    )
    assert registry.acknowledge_notice(other_officer, notice.id).state == "acknowledged"
    # a resident of 市本级 now: no residence registration in either district
    for actor, county in ((officer, NANHU), (other_officer, XIUZHOU)):
        _refused(
            registry,
            RegistryError,
            "county",
            lambda: registry.register_residence(
                actor,  # noqa: B023
                person_number,
                county,  # noqa: B023
                name=OWNER,
                **HOUSING,
            ),
        )


def test_settling_in_another_area_leaves_the_registration_where_the_person_lives(
    registry: Registry, officer: Actor, third_officer: Actor
) -> None:
    """A hukou settled in 南湖区 leaves a registration and permit in 嘉善县 (an area of its
    own) as they are: the person may live there still; nobody is told."""
    permit = _issued(registry, third_officer)
    person = registry.read(lambda s: s.get(Person, permit.person_id))
    assert person is not None

    def settle(s: Any) -> None:
        registry.settled_in(s, officer, s.get(Person, person.id), NANHU, TODAY)
        s.commit()

    registry.read(settle)  # the hook of ``Registry._move``, in a transaction of its own
    assert _permit(registry, permit.id).state == "issued"
    [reg] = registry.residence_history(third_officer, MIGRANT)
    assert reg.end_date is None
    assert _notices(registry) == []


def test_an_application_undecided_after_fifteen_days_is_overdue(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    permit = _applied(registry, officer)
    clock.day = TODAY + dt.timedelta(days=15)  # the fifteenth day after it was taken
    assert registry.overdue_permit_applications(officer) == []
    clock.day = TODAY + dt.timedelta(days=16)
    assert [p.id for p in registry.overdue_permit_applications(officer)] == [permit.id]
    assert registry.overdue_permit_applications(other_officer) == []


# ---- issue: on the rules' decision of the day, on the ground they found ------------------


def test_the_grounds_of_the_register_are_the_rules_grounds() -> None:
    from hukou.registry.models import RESIDENCE_PERMIT_GROUNDS
    from hukou.registry.permits import GROUND_RULES

    assert set(GROUND_RULES) == set(RESIDENCE_PERMIT_GROUNDS)
    assert set(GROUND_RULES.values()) == {g.key for g in GROUNDS}


def test_the_issue_decides_anew_and_keeps_that_decision(
    registry: Registry, officer: Actor, clock: FixedClock, engine: Engine
) -> None:
    permit = _applied(registry, officer)
    registry.review_residence_permit(officer, permit.id)
    table = ResidencePermit.__table__
    with engine.begin() as conn:  # a review that kept no decision (the rules not installed)
        conn.execute(
            update(table).where(table.c.id == permit.id).values(decision=None, rule_version=None)
        )
    assert _permit(registry, permit.id).decision is None
    clock.advance(3)
    mark = _last_audit(registry)
    issued = registry.issue_residence_permit(officer, permit.id)
    assert issued.decision is not None and issued.decision["status"] == "eligible"
    assert issued.decision["decision_date"] == clock.today().isoformat()
    assert "stable_employment" in issued.decision["grounds"] and issued.rule_version
    stored = _permit(registry, permit.id)
    assert (stored.decision, stored.rule_version) == (issued.decision, issued.rule_version)
    after = registry.read(
        lambda s: s.execute(
            select(AuditRecord.after).where(
                AuditRecord.id > mark, AuditRecord.action == "residence_permit.issue"
            )
        ).scalar_one()
    )
    assert after["decision"]["status"] == "eligible" and after["rule_version"]


def test_an_undetermined_decision_is_not_issued_and_the_missing_facts_are_named(
    registry: Registry, officer: Actor
) -> None:
    _reside(registry, officer)
    permit = registry.apply_for_residence_permit(officer, MIGRANT, NANHU, "employment")
    decision, error = _not_issued(registry, officer, permit.id, "undetermined", "decision")
    labels = decision["missing_labels"]
    assert labels
    assert all(label["zh"] in error.zh and label["en"] in error.en for label in labels)


def test_a_ground_the_rules_did_not_find_is_not_issued(registry: Registry, officer: Actor) -> None:
    _reside(registry, officer)
    permit = registry.apply_for_residence_permit(officer, MIGRANT, NANHU, "study", facts=EMPLOYED)
    decision, error = _not_issued(registry, officer, permit.id, "eligible", "ground")
    assert decision["grounds"] == ["stable_employment"]
    assert "连续就读" in error.zh and "study" in error.en


# ---- review again: a "not yet" is decided anew ------------------------------------------


def test_a_review_that_found_not_yet_is_done_again_and_audited(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    permit = _applied(registry, officer, since=TODAY - dt.timedelta(days=60))
    first = registry.review_residence_permit(officer, permit.id, note="未满半年")
    assert first.decision is not None and first.decision["status"] == "not_eligible"
    clock.day = dt.date.fromisoformat(first.decision["earliest_date"])
    mark = _last_audit(registry)
    again = registry.review_residence_permit(officer, permit.id, note="已满半年")
    assert (again.state, again.reviewed_on, again.review_note) == (
        "under_review",
        clock.today(),
        "已满半年",
    )
    assert again.decision is not None and again.decision["status"] == "eligible"
    [(before, after)] = registry.read(
        lambda s: s.execute(
            select(AuditRecord.before, AuditRecord.after).where(
                AuditRecord.id > mark, AuditRecord.action == "residence_permit.review"
            )
        ).all()
    )
    assert before["note"] == "未满半年" and before["decision"]["status"] == "not_eligible"
    assert after["note"] == "已满半年" and after["decision"]["status"] == "eligible"
    assert registry.issue_residence_permit(officer, permit.id).state == "issued"


# ---- backdating: at most r663_register.registration_backdate_days ------------------------


def test_a_registration_is_dated_back_at_most_the_parameters_days(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    param = load_parameters().parameters["r663_register.registration_backdate_days"]
    assert param.reference == "R663.9" and param.description
    days = load_parameters().at(TODAY)["r663_register.registration_backdate_days"]
    assert days == 30  # this project's reading: never a stretch toward the half year
    first = TODAY - dt.timedelta(days=days)

    def register(since: dt.date) -> ResidenceRegistration:
        return registry.register_residence(
            officer, MIGRANT, NANHU, name=NAME, since=since, **HOUSING
        )

    _refused(registry, RegistryError, "start_date", lambda: register(first - dt.timedelta(1)))
    reg = register(first)  # the day of the limit
    assert reg.start_date == first
    clock.day = TODAY + dt.timedelta(days=800)
    limit = clock.today() - dt.timedelta(days=days)
    before = limit - dt.timedelta(days=1)
    for field, call in [
        (
            "on",
            lambda: registry.change_residence_address(officer, reg.id, **SCHOOL, on=before),
        ),
        ("on", lambda: registry.end_residence(officer, reg.id, on=before)),
    ]:
        _refused(registry, RegistryError, field, call)
    moved = registry.change_residence_address(officer, reg.id, **SCHOOL, on=limit)
    assert moved.start_date == limit
    assert registry.end_residence(officer, moved.id, on=limit).end_date == limit
    again = registry.register_residence(
        officer, MIGRANT, NANHU, name=NAME, since=limit + dt.timedelta(1), **HOUSING
    )
    assert again.start_date == limit + dt.timedelta(1)  # the day after the limit


def test_a_move_from_another_county_is_dated_the_day_of_the_move_within_the_days_back(
    registry: Registry, officer: Actor, third_officer: Actor, clock: FixedClock
) -> None:
    """He moved from 南湖区 to 嘉善县 20 days ago and reports it today: 嘉善 dates the new
    registration that day and 南湖's ends on it (its station is told the date), so no day
    counts where he no longer lived; a day beyond the days back is refused, as for anyone."""
    old = _reside(registry, officer)
    days = load_parameters().at(TODAY)["r663_register.registration_backdate_days"]

    def move(since: dt.date) -> ResidenceRegistration:
        return registry.register_residence(
            third_officer, MIGRANT, JIASHAN, name=NAME, since=since, **HOUSING
        )

    limit = clock.today() - dt.timedelta(days=days)
    _refused(registry, RegistryError, "start_date", lambda: move(limit - dt.timedelta(1)))
    assert registry.residence_history(officer, MIGRANT)[0].end_date is None
    moved_on = clock.today() - dt.timedelta(days=20)
    new = move(moved_on)
    assert new.start_date == moved_on
    [ended] = registry.residence_history(officer, MIGRANT)
    assert (ended.id, ended.end_date, ended.end_reason) == (old.id, moved_on, "moved_away")
    [notice] = _notices(registry)
    assert (notice.county, notice.moved_on) == (NANHU, moved_on)


def test_no_registration_starts_before_the_persons_hukou_left_the_area(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    """He settled in 南湖区 (his registration and permit there closed) and his hukou moved
    on to 嘉善县 ten days later: a registration of his residence in 南湖 may start on the
    day the hukou left, not the day before (those days were a resident's)."""
    _, app_id, dwelling = _settling(registry, officer)
    registry.register(officer, app_id, dwelling_id=dwelling)
    clock.advance(10)
    number = owner_case()["applicant"]["id_number"]
    left = clock.today()
    household = registry.establish_household(SYSTEM, "unit_collective", JIASHAN, unit_name="某厂")

    def hukou_leaves(s: Any) -> None:  # as another station's registration would move it
        person = s.execute(select(Person).where(Person.id_number == number)).scalar_one()
        current = s.execute(
            select(Membership).where(
                Membership.person_id == person.id, Membership.end_date.is_(None)
            )
        ).scalar_one()
        current.end_date = left
        s.add(
            Membership(
                person_id=person.id,
                household_id=household,
                relation_to_head="集体户成员",
                start_date=left,
                reason_in="test",
            )
        )
        s.commit()

    registry.read(hukou_leaves)
    clock.advance(5)

    def reside(since: dt.date) -> ResidenceRegistration:
        return registry.register_residence(
            officer, number, NANHU, name=OWNER, since=since, **HOUSING
        )

    _refused(registry, RegistryError, "start_date", lambda: reside(left - dt.timedelta(1)))
    assert reside(left).start_date == left


SCHOOL = {"housing": "school", "address": "学生公寓5幢", "provider": "嘉兴学院"}


# ---- no close before a record's own dates -------------------------------------------------


def test_no_registration_or_permit_closes_before_the_permits_issue_or_endorsement(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    permit = _issued(registry, officer)  # issued TODAY, registered since LONG_AGO
    reg = registry.residence_history(officer, MIGRANT)[0]

    def neither_closes_on(day: dt.date) -> None:
        """Moving to the other county, or leaving, dated ``day``: refused."""
        for field, call in [
            ("start_date", lambda: _reside(registry, other_officer, since=day)),
            ("on", lambda: registry.end_residence(officer, reg.id, on=day)),
        ]:
            _refused(registry, RegistryError, field, call)

    clock.advance(20)
    neither_closes_on(TODAY - dt.timedelta(days=1))  # the day before the issue
    clock.day = dt.date(2026, 2, 15)
    registry.endorse_residence_permit(officer, permit.id)
    clock.day = dt.date(2026, 3, 1)
    neither_closes_on(dt.date(2026, 2, 14))  # the day before the endorsement
    _reside(registry, other_officer, since=dt.date(2026, 2, 15))  # the endorsement's day
    closed = _permit(registry, permit.id)
    assert (closed.state, closed.closed_on) == ("cancelled", dt.date(2026, 2, 15))


def test_the_database_refuses_a_permit_closed_before_its_issue(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    permit = _issued(registry, officer)
    registry.cancel_residence_permit(officer, permit.id, "issued_in_error")
    table = ResidencePermit.__table__
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == permit.id)
            .values(closed_on=TODAY - dt.timedelta(days=1))
        )
    assert _permit(registry, permit.id).closed_on == TODAY
    with engine.begin() as conn:  # the day of issue itself is allowed
        conn.execute(update(table).where(table.c.id == permit.id).values(closed_on=TODAY))


def test_migration_0009_goes_down_and_up_again(db_url: str) -> None:
    """0009 (the permit's close not before its issue; notices of a residence moved away)
    downgrades to 0008 and upgrades back, on both databases."""
    from alembic import command
    from sqlalchemy import create_engine

    from hukou.registry.db import alembic_config, upgrade

    def schema() -> tuple[set[str | None], set[str]]:
        engine = create_engine(db_url)
        try:
            found = inspect(engine)
            checks = {c["name"] for c in found.get_check_constraints("residence_permits")}
            columns = {c["name"] for c in found.get_columns("station_notices")}
            return checks, columns
        finally:
            engine.dispose()

    check = "ck_residence_permits_closed_after_issue"
    checks, columns = schema()
    assert check in checks and {"kind", "closed_registration_id"} <= columns
    command.downgrade(alembic_config(db_url), "0008")
    try:
        checks, columns = schema()
        assert check not in checks and "kind" not in columns
    finally:
        upgrade(db_url)
    checks, columns = schema()
    assert check in checks and {"kind", "closed_registration_id"} <= columns


# ---- the other county's station is told; it alone acts on its records ---------------------


def test_moving_away_tells_the_old_countys_station_in_the_same_transaction(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    permit = _issued(registry, officer)
    old = registry.residence_history(officer, MIGRANT)[0]
    clock.advance(20)
    _refused(  # a refused registration tells nobody
        registry,
        RegistryError,
        "start_date",
        lambda: _reside(registry, other_officer, since=TODAY - dt.timedelta(days=1)),
    )
    assert _notices(registry) == []
    _reside(registry, other_officer, since=clock.today())
    [notice] = _notices(registry)
    assert (
        notice.kind,
        notice.county,
        notice.from_county,
        notice.person_id,
        notice.closed_registration_id,
        notice.to_household_id,
        notice.moved_on,
        notice.state,
    ) == (
        "residence_moved_away",
        NANHU,
        XIUZHOU,
        permit.person_id,
        old.id,
        None,
        clock.today(),
        "pending",
    )
    sent = registry.read(
        lambda s: s.execute(
            select(AuditRecord.after).where(AuditRecord.action == "notice.send")
        ).scalar_one()
    )
    assert (sent["kind"], sent["closed_registration_id"]) == ("residence_moved_away", old.id)
    _refused(
        registry,
        Forbidden,
        "notice_id",
        lambda: registry.acknowledge_notice(other_officer, notice.id),
        audited=False,
    )
    assert registry.acknowledge_notice(officer, notice.id).state == "acknowledged"


def test_another_countys_officer_cannot_end_or_cancel_the_records_directly(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    permit = _issued(registry, officer)
    reg = registry.residence_history(officer, MIGRANT)[0]
    other = other_officer
    attacks: list[tuple[str, Callable[[], Any]]] = [
        ("registration_id", lambda: registry.end_residence(other, reg.id)),
        ("registration_id", lambda: registry.end_residence(other, reg.id, on=TODAY)),
        ("registration_id", lambda: registry.change_residence_address(other, reg.id, **SCHOOL)),
        ("residence_permit_id", lambda: registry.cancel_residence_permit(other, permit.id, "left")),
        (
            "residence_permit_id",
            lambda: registry.cancel_residence_permit(other, permit.id, "issued_in_error"),
        ),
    ]
    for field, attack in attacks:
        _refused(registry, Forbidden, field, attack)
    # once the person has moved to the other county, the old records stay out of its reach
    clock.advance(20)
    _reside(registry, other, since=clock.today())
    for field, attack in attacks[:2] + attacks[3:]:
        _refused(registry, Forbidden, field, attack)


def _moves_page(registry: Registry, username: str) -> str:
    """The officer's 户口迁移 page (``/officer/moves``) as ``username`` sees it (Chinese)."""
    client = TestClient(create_app(registry), base_url="https://testserver")
    login = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert found, "no CSRF field on the login page"
    r = client.post(
        "/login",
        data={"csrf": found.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/officer/moves")
    assert page.status_code == 200, page.text
    return page.text


def test_the_officers_moves_page_lists_a_residence_notice(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    registry.add_user(SYSTEM, "nanhu_api", PASSWORD, "officer", NANHU)
    _reside(registry, officer)
    clock.advance(20)
    _reside(registry, other_officer, since=clock.today())
    client = TestClient(create_app(registry), base_url="https://testserver")
    _page_login(client)
    page = client.get("/officer/moves")
    assert page.status_code == 200, page.text
    assert NAME in page.text and clock.today().isoformat() in page.text
    assert "迁往本市其他县（市、区）居住" in page.text or "moved to another county" in page.text
    # the heading names both kinds of notice
    assert "迁出及居住登记通知" in page.text or "Move-out and residence notices" in page.text


# ---- endorsement: each year from the anchor -------------------------------------------------


@pytest.mark.parametrize(
    "anchor,months,last",
    [
        (dt.date(2025, 3, 1), 12, dt.date(2026, 2, 28)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),  # 2025 has no 29 February
        (dt.date(2024, 2, 29), 48, dt.date(2028, 2, 28)),  # the day before 2028-02-29
        (dt.date(2025, 1, 31), 1, dt.date(2025, 2, 28)),
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),
        (dt.date(2025, 1, 28), 1, dt.date(2025, 2, 27)),
        (dt.date(2025, 3, 31), 12, dt.date(2026, 3, 30)),
    ],
)
def test_a_period_ends_the_day_before_its_anniversary(
    anchor: dt.date, months: int, last: dt.date
) -> None:
    assert period_end(anchor, months) == last


def test_endorsements_keep_the_anniversary_of_29_february(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    clock.day = dt.date(2024, 2, 29)
    permit = _issued(registry, officer, since=dt.date(2023, 8, 1))
    assert permit.valid_until == dt.date(2025, 2, 28)
    for year in (2025, 2026, 2027, 2028):
        clock.day = dt.date(year, 2, 20)
        endorsed = registry.endorse_residence_permit(officer, permit.id)
        assert endorsed.valid_until == dt.date(year + 1, 2, 28), year


def test_a_late_endorsement_is_the_anchor_and_a_replacement_keeps_it(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    clock.day = dt.date(2027, 2, 1)
    permit = _issued(registry, officer, since=dt.date(2026, 7, 1))
    assert permit.valid_until == dt.date(2028, 1, 31)  # not endorsed: lapsed after it
    clock.day = dt.date(2028, 2, 29)  # endorsed late: the years count from this day
    late = registry.endorse_residence_permit(officer, permit.id)
    assert late.valid_until == dt.date(2029, 2, 28)
    clock.day = dt.date(2028, 6, 1)
    new = registry.replace_residence_permit(officer, permit.id, "lost")
    for year in (2029, 2030, 2031):  # from 2028-02-29, not from either issue date
        clock.day = dt.date(year, 2, 20)
        endorsed = registry.endorse_residence_permit(officer, new.id)
        assert endorsed.valid_until == dt.date(year + 1, 2, 28), year


# ---- 市本级: 南湖区 and 秀洲区 are one area ------------------------------------------------


@pytest.mark.parametrize("hukou,lives", [(NANHU, XIUZHOU), (XIUZHOU, NANHU)])
def test_the_city_proper_is_one_area_for_registration_and_permit(
    registry: Registry, officer: Actor, other_officer: Actor, hukou: str, lives: str
) -> None:
    actor = officer if lives == NANHU else other_officer
    local = id_number(hukou, "19900101", 3, True)
    _hukou_in(registry, local, hukou)
    _refused(registry, RegistryError, "county", lambda: _reside(registry, actor, local))
    # registered before the hukou came to the other district of 市本级: no permit
    settled = id_number("341221", "19910101", 4, True)
    _reside(registry, actor, settled)
    _hukou_in(registry, settled, hukou)
    _refused(
        registry,
        RegistryError,
        "county",
        lambda: registry.apply_for_residence_permit(
            actor, settled, lives, "employment", facts=EMPLOYED
        ),
    )


# ---- dates past the calendar's end ----------------------------------------------------------


def test_a_validity_past_the_year_9999_is_refused_naming_the_field(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    params = load_parameters().at(TODAY)
    for call in (
        lambda: valid_for_a_period(dt.date(9999, 6, 1), params),
        lambda: add_months(dt.date(9999, 12, 1), 1),
        lambda: period_end(dt.date(9999, 1, 1), 12),
    ):
        with pytest.raises(RegistryError) as info:
            call()
        assert info.value.field == "valid_until" and info.value.zh and info.value.en
    clock.day = dt.date(9999, 6, 1)
    permit = _applied(registry, officer, since=dt.date(9999, 6, 1) - dt.timedelta(days=200))
    registry.review_residence_permit(officer, permit.id)
    _refused(
        registry,
        RegistryError,
        "valid_until",
        lambda: registry.issue_residence_permit(officer, permit.id),
    )


# ---- the dwelling ground: the register's dwelling --------------------------------------------


def test_the_registered_dwelling_is_the_cases_and_typed_ones_are_kept_as_conflicts(
    registry: Registry, officer: Actor
) -> None:
    dwelling = registry.add_dwelling(officer, NANHU, "南湖区某路1号", "111", "rented_registered")
    reside_on(registry, officer, MIGRANT, NANHU, LONG_AGO, name=NAME, dwelling_id=dwelling)
    elsewhere = {"tenure": "owned", "address": {"county": "330106"}}  # 杭州: not in Jiaxing
    _refused(  # what is typed is checked all the same, though the register's stands for it
        registry,
        RegistryError,
        "facts.dwellings[0].tenure",
        lambda: registry.apply_for_residence_permit(
            officer, MIGRANT, NANHU, "dwelling", facts={"dwellings": [{"tenure": "castle"}]}
        ),
    )
    permit = registry.apply_for_residence_permit(
        officer, MIGRANT, NANHU, "dwelling", facts={"dwellings": [elsewhere]}
    )
    reviewed = registry.review_residence_permit(officer, permit.id)
    decision = reviewed.decision
    assert decision is not None and decision["status"] == "eligible"
    assert "stable_dwelling" in decision["grounds"]
    register = {
        "tenure": "rented_registered",
        "commercial_housing": True,
        "address": {"county": NANHU, "urban_rural_code": "111"},
    }
    assert decision["register_conflicts"] == [
        {"field": "applicant.dwellings[0]", "typed": elsewhere, "register": [register]}
    ]
    issued = registry.issue_residence_permit(officer, permit.id)
    assert issued.state == "issued"
    assert issued.decision is not None and issued.decision["register_conflicts"]
    assert _permit(registry, permit.id).facts == {"dwellings": [elsewhere]}  # as given
    # a typed dwelling that agrees with the register's (what it gives) is no conflict
    registry.cancel_residence_permit(officer, permit.id, "issued_in_error")
    same = {"tenure": "rented_registered", "address": {"county": NANHU}}
    again = registry.apply_for_residence_permit(
        officer, MIGRANT, NANHU, "dwelling", facts={"dwellings": [same]}
    )
    decision = registry.review_residence_permit(officer, again.id).decision
    assert decision is not None and decision["register_conflicts"] == []


def test_a_registration_cannot_start_before_the_persons_last_one_ended(
    registry: Registry, officer: Actor, third_officer: Actor
) -> None:
    """The review's attack: 南湖区 registers a migrant from 2024-06-01, who leaves on
    2025-02-27; 嘉善县 then registers the same person from 2024-09-02 — the days between
    would count in both areas (§1.2's stretch is per area). Refused naming the start
    date, nothing written; the day before the end too; from the day it ended, taken."""
    nanhu = _reside(registry, officer)
    ended_on = dt.date(2025, 2, 27)
    registry.end_residence(officer, nanhu.id, on=ended_on)
    for day in (dt.date(2024, 9, 2), ended_on - dt.timedelta(days=1)):
        err = _refused(
            registry,
            RegistryError,
            "start_date",
            lambda d=day: _reside(registry, third_officer, since=d),  # type: ignore[misc]
        )
        assert str(ended_on) in err.zh and str(ended_on) in err.en
    reg = _reside(registry, third_officer, since=ended_on)
    assert (reg.county, reg.start_date, reg.end_date) == (JIASHAN, ended_on, None)


# ---- one person, one write at a time: settlement against a residence write ---------------


def test_a_settlement_and_a_registration_in_its_area_at_once_cannot_both_pass(
    db_url: str,
    registry: Registry,
    clock: FixedClock,
    officer: Actor,
    other_officer: Actor,
) -> None:
    """南湖 registers the settlement of a migrant who lives there; at the same moment 秀洲
    — the same area (市本级) — registers him as living in 秀洲. Whichever reads first, the
    other must read what it committed: here the settlement holds the person, the residence
    registration waits for it and is then refused (his hukou is in the area now). Without
    the hold it read his hukou still outside, waited only for the 南湖 registration's row,
    and opened a registration in his own hukou's area. On SQLite as on PostgreSQL: there
    the hold takes the database's write lock."""
    permit, app_id, dwelling = _settling(registry, officer)
    number = owner_case()["applicant"]["id_number"]
    settling = threading.Event()
    results: list[object] = [None, None]

    def settle() -> None:
        engine = make_engine(db_url)
        mine = Registry(session_factory(engine), clock)
        settled_in = mine.settled_in

        def slow(*args: Any) -> None:
            settled_in(*args)
            settling.set()  # the settlement has locked what it locks; it commits in a while
            time.sleep(1.5)

        mine.settled_in = slow  # type: ignore[method-assign]
        try:
            results[0] = mine.register(officer, app_id, dwelling_id=dwelling)
        except Exception as exc:  # the test inspects it
            results[0] = exc
        finally:
            settling.set()
            engine.dispose()

    def reside() -> None:
        engine = make_engine(db_url)
        mine = Registry(session_factory(engine), clock)
        settling.wait(30)
        try:
            results[1] = mine.register_residence(
                other_officer, number, XIUZHOU, name=OWNER, **HOUSING
            )
        except Exception as exc:  # the test inspects it
            results[1] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=settle), threading.Thread(target=reside)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert isinstance(results[0], int), results
    assert isinstance(results[1], RegistryError) and results[1].field == "county", results
    assert [r.end_reason for r in registry.residence_history(officer, number)] == ["settled"]
    assert registry.residence_history(other_officer, number) == []
    assert _permit(registry, permit.id).state == "cancelled"


# ---- a name is not revealed by an ID number ----------------------------------------------


def test_an_id_number_does_not_reveal_the_registered_name_and_each_try_is_audited(
    registry: Registry, officer: Actor, third_officer: Actor
) -> None:
    """The person 南湖 registered as 张三 is registered in 嘉善县 by ID number and name
    together: without the name, or with another, the write is refused naming ``name``,
    the register's name never in the answer, and each try leaves a refusal in the audit
    trail under the same keyed digest of the number (an auditor can follow it; the number
    itself is not there)."""
    _reside(registry, officer)
    digests = []
    for given in ({}, {"name": "李四"}):
        error = _refused(
            registry,
            RegistryError,
            "name",
            lambda g=given: registry.register_residence(  # type: ignore[misc]
                third_officer, MIGRANT, JIASHAN, **g, **HOUSING
            ),
        )
        assert NAME not in f"{error.zh} {error.en}"
        digests.append(
            registry.read(
                lambda s: s.execute(
                    select(AuditRecord.actor, AuditRecord.after)
                    .order_by(AuditRecord.id.desc())
                    .limit(1)
                ).one()
            )
        )
    assert [actor for actor, _ in digests] == ["officer_jiashan"] * 2
    first, second = (detail["number"] for _, detail in digests)
    assert first == second and first.startswith("#") and MIGRANT not in first
    # the same name typed otherwise (a full-width space) is the same name
    moved = registry.register_residence(
        third_officer, MIGRANT, JIASHAN, name="张\u3000三", **HOUSING
    )
    assert moved.county == JIASHAN


def test_names_typed_on_other_keyboards_are_the_same_name() -> None:
    assert same_name("买买提・艾力", "买买提·艾力") and same_name("买买提•艾力", "买买提．艾力")
    assert same_name(" 张 三 ", "张三") and same_name("ＡＢＣ", "ABC")
    assert not same_name("张三", "张山") and not same_name("买买提艾力", "买买提·艾力")


def test_a_refusal_by_keyword_is_audited_under_its_record(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    reg = _reside(registry, officer)
    for call, action, entity in (
        (
            lambda: registry.end_residence(other_officer, registration_id=reg.id),
            "residence_registration.end.refused",
            "residence_registration",
        ),
        (
            lambda: registry.apply_on_registration(other_officer, reg.id, "employment"),
            "residence_permit.apply.refused",
            "residence_registration",  # the record named is the registration
        ),
    ):
        _refused(registry, Forbidden, "registration_id", call)
        last = registry.read(
            lambda s: s.execute(
                select(AuditRecord.action, AuditRecord.entity, AuditRecord.entity_id)
                .order_by(AuditRecord.id.desc())
                .limit(1)
            ).one()
        )
        assert tuple(last) == (action, entity, str(reg.id))


def test_no_close_precedes_an_applications_review(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    """Reviewed five days after it was taken, an application is not withdrawn by a
    registration's end dated before the review: the day before is refused, the day of it
    is not (and the day after the application's taking no longer suffices)."""
    permit = _applied(registry, officer)
    clock.advance(5)
    registry.review_residence_permit(officer, permit.id)
    reviewed = clock.today()
    clock.advance(3)
    reg = registry.residence_history(officer, MIGRANT)[0]
    for day in (TODAY + dt.timedelta(days=1), reviewed - dt.timedelta(days=1)):
        _refused(
            registry,
            RegistryError,
            "on",
            lambda d=day: registry.end_residence(officer, reg.id, on=d),  # type: ignore[misc]
        )
    assert registry.end_residence(officer, reg.id, on=reviewed).end_date == reviewed
    closed = _permit(registry, permit.id)
    assert (closed.state, closed.closed_on) == ("withdrawn", reviewed)
