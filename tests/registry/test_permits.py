"""Residence registration (居住登记) and residence permits (居住证, 国务院令第663号) in the
register: every transition allowed and refused, the endorsement's lapse by date, the
cancellation on settlement in the registration's own transaction, jurisdiction on every
write, audit, bad input — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
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
)
from hukou.registry.permits import PERMIT_TRANSITIONS, permit_status, residence_years
from hukou.registry.service import Registry

from .conftest import NANHU, XIUZHOU
from .helpers import id_number, owner_case

MIGRANT = id_number("341221", "19900101", 7, True)  # 安徽省临泉县: hukou outside Jiaxing
NAME = "张三"
LONG_AGO = dt.date(2024, 6, 1)  # more than half a year before the clock's 2025-03-01
TODAY = dt.date(2025, 3, 1)
ACTIONS = sorted({a for _, a in PERMIT_TRANSITIONS})
HOUSING = {"housing": "employer", "address": "经济开发区宿舍3幢201", "provider": "嘉兴某机械厂"}
EMPLOYED = {"local_labour_contract": True}


# ---- helpers -------------------------------------------------------------------------


def _reside(
    registry: Registry,
    officer: Actor,
    number: str = MIGRANT,
    since: dt.date = LONG_AGO,
    county: str | None = None,
) -> ResidenceRegistration:
    county = county or officer.jurisdiction or ""
    return registry.register_residence(officer, number, county, name=NAME, since=since, **HOUSING)


def _applied(registry: Registry, officer: Actor, number: str = MIGRANT) -> ResidencePermit:
    _reside(registry, officer, number)
    assert officer.jurisdiction is not None
    return registry.apply_for_residence_permit(
        officer, number, officer.jurisdiction, "employment", facts=EMPLOYED
    )


def _issued(registry: Registry, officer: Actor, number: str = MIGRANT) -> ResidencePermit:
    permit = _applied(registry, officer, number)
    registry.review_residence_permit(officer, permit.id, note="材料齐全")
    return registry.issue_residence_permit(officer, permit.id)


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
    registry: Registry, error: type[RegistryError], field: str | None, call: Callable[[], Any]
) -> RegistryError:
    """``call`` is refused with ``error`` naming ``field``, bilingually, writing nothing."""
    before = _written(registry)
    with pytest.raises(error) as info:
        call()
    assert info.value.zh and info.value.en and info.value.zh != info.value.en
    if field is not None:
        assert info.value.field == field, info.value
    assert _written(registry) == before
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
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    household = registry.establish_household(SYSTEM, "unit_collective", NANHU, unit_name="某厂")
    local = id_number("330402", "19900101", 3, True)

    def put_in_household(s: Any) -> None:
        person = Person(id_number=local, name=NAME, sex="male", birth_date=dt.date(1990, 1, 1))
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
    _refused(registry, RegistryError, "county", lambda: _reside(registry, officer, local))
    # a hukou in another Jiaxing county is away from its place, county by county
    reg = _reside(registry, other_officer, local)
    assert reg.county == XIUZHOU


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
        "residence_registration.end",
        "residence_permit.cancel",
        "residence_registration.start",
    ]


def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    registry: Registry, officer: Actor
) -> None:
    good = id_number("341221", "19850101", 9, True)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    for field, call in [
        ("id_number", lambda: _reside(registry, officer, bad_check)),
        ("id_number", lambda: _reside(registry, officer, "12345")),
        ("county", lambda: _reside(registry, officer, good, county="999999")),
        ("county", lambda: _reside(registry, officer, good, county="330100")),
        ("name", lambda: registry.register_residence(officer, good, NANHU, **HOUSING)),
        ("start_date", lambda: _reside(registry, officer, good, since=TODAY + dt.timedelta(1))),
        (
            "start_date",
            lambda: _reside(registry, officer, good, since=dt.date(1980, 1, 1)),
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
    _reside(registry, officer, since=TODAY - dt.timedelta(days=60))  # two months only
    permit = registry.apply_for_residence_permit(
        officer, MIGRANT, NANHU, "employment", facts=EMPLOYED
    )
    reviewed = registry.review_residence_permit(officer, permit.id)
    assert reviewed.decision is not None and reviewed.decision["status"] == "not_eligible"
    error = _refused(
        registry,
        InvalidTransition,
        "decision",
        lambda: registry.issue_residence_permit(officer, permit.id),
    )
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


def _settling(registry: Registry, officer: Actor) -> tuple[ResidencePermit, int, int]:
    """A migrant with a permit in 南湖区 whose §1.1 application there is approved."""
    facts = owner_case(with_spouse=False)
    number = facts["applicant"]["id_number"]
    registry.register_residence(
        officer, number, NANHU, name=facts["applicant"]["name"], since=LONG_AGO, **HOUSING
    )
    permit = registry.apply_for_residence_permit(
        officer, number, NANHU, "employment", facts=EMPLOYED
    )
    registry.review_residence_permit(officer, permit.id)
    permit = registry.issue_residence_permit(officer, permit.id)
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
        lambda: registry.register_residence(officer, person_number, NANHU, **HOUSING),
    )


def test_a_failed_registration_leaves_the_permit_as_it_was(
    registry: Registry, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    permit, app_id, dwelling = _settling(registry, officer)
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
    assert _written(registry) == before
    assert _permit(registry, permit.id).state == "issued"


def test_an_application_undecided_after_fifteen_days_is_overdue(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    permit = _applied(registry, officer)
    clock.day = TODAY + dt.timedelta(days=15)  # the fifteenth day after it was taken
    assert registry.overdue_permit_applications(officer) == []
    clock.day = TODAY + dt.timedelta(days=16)
    assert [p.id for p in registry.overdue_permit_applications(officer)] == [permit.id]
    assert registry.overdue_permit_applications(other_officer) == []
