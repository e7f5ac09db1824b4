"""Moves of a hukou into a Jiaxing county: within Zhejiang in one step with the sending
station notified; from outside Zhejiang with a move-in permit (准予迁入证明) and each
person's 户口迁移证; the identity of applicants against the register."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hukou.cli import app as cli
from hukou.policy.calendar import deadline
from hukou.registry import moves
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory
from hukou.registry.demo import settle_materials
from hukou.registry.errors import Conflict, Forbidden, InvalidTransition, RegistryError
from hukou.registry.models import (
    MOVE_IN_PERMIT_STATES,
    Application,
    AuditRecord,
    DocumentReceived,
    Household,
    Membership,
    MoveInPermit,
    Person,
    StationNotice,
)
from hukou.registry.service import Registry

from .conftest import NANHU, XIUZHOU
from .helpers import id_number, owner_case

JIASHAN = "330421"  # 嘉善县: a third Jiaxing county
XIHU = "330106"  # 杭州市西湖区: Zhejiang, outside Jiaxing
LINQUAN = "341221"  # 安徽省临泉县: outside Zhejiang
VALIDITY = 40  # s4_registration.move_in_permit_validity_days
WARNING = 7  # s4_registration.move_in_permit_warning_days
PAPERS = [
    {"person": "applicant", "kind": "paper", "number": "皖迁字第0012345号"},
    {"person": "relatives[0]", "kind": "electronic", "number": "KSQY-2025-000778"},
]


# ---- helpers -------------------------------------------------------------------------


def _dwelling(registry: Registry, officer: Actor, address: str = "紫阳街道1号") -> int:
    assert officer.jurisdiction is not None
    return registry.add_dwelling(officer, officer.jurisdiction, address, "111", "owned")


def _approved(registry: Registry, officer: Actor, facts: dict[str, Any]) -> int:
    assert officer.jurisdiction is not None
    app = registry.create_application(officer, "s1_1", officer.jurisdiction, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    return app.id


def _hukou_in(facts: dict[str, Any], county: str) -> dict[str, Any]:
    """The applicant's hukou is in his own family household in ``county``."""
    facts["applicant"]["hukou"] = {"kind": "own_family_household", "address": {"county": county}}
    return facts


def _count(registry: Registry, model: Any) -> int:
    return registry.read(lambda s: s.execute(select(func.count()).select_from(model)).scalar_one())


def _written(registry: Registry) -> dict[str, int]:
    """Row counts of everything a registration writes."""
    tables = (
        Person,
        Household,
        Membership,
        DocumentReceived,
        StationNotice,
        MoveInPermit,
        AuditRecord,
    )
    return {m.__tablename__: _count(registry, m) for m in tables}


def _permits(registry: Registry, app_id: int) -> list[MoveInPermit]:
    return registry.read(
        lambda s: list(
            s.execute(
                select(MoveInPermit)
                .where(MoveInPermit.application_id == app_id)
                .order_by(MoveInPermit.id)
            ).scalars()
        )
    )


def _permit(registry: Registry, permit_id: int) -> MoveInPermit:
    found = registry.read(lambda s: s.get(MoveInPermit, permit_id))
    assert found is not None
    return found


def _app_state(registry: Registry, app_id: int) -> str:
    return registry.read(lambda s: s.get(Application, app_id).state)  # type: ignore[union-attr]


def _memberships(registry: Registry, number: str) -> list[tuple[int, str, Membership]]:
    """(membership id, county, membership) of a person, oldest first."""
    return registry.read(
        lambda s: [
            (m.id, county, m)
            for m, county in s.execute(
                select(Membership, Household.county)
                .join(Household, Household.id == Membership.household_id)
                .join(Person, Person.id == Membership.person_id)
                .where(Person.id_number == number)
                .order_by(Membership.id)
            ).all()
        ]
    )


def _notices(registry: Registry, county: str | None = None) -> list[StationNotice]:
    """The notices (to ``county``'s station), oldest first."""
    stmt = select(StationNotice).order_by(StationNotice.id)
    if county is not None:
        stmt = stmt.where(StationNotice.county == county)
    return registry.read(lambda s: list(s.execute(stmt).scalars()))


def _audit_since(registry: Registry, last_id: int) -> list[tuple[str, str]]:
    return registry.read(
        lambda s: [
            (r.action, r.entity_id)
            for r in s.execute(
                select(AuditRecord).where(AuditRecord.id > last_id).order_by(AuditRecord.id)
            ).scalars()
        ]
    )


def _last_audit_id(registry: Registry) -> int:
    return registry.read(lambda s: s.execute(select(func.max(AuditRecord.id))).scalar_one() or 0)


def _permit_case(
    registry: Registry, officer: Actor, seq: int = 1, with_spouse: bool = True
) -> tuple[int, MoveInPermit]:
    """An approved §1.1 application in 南湖区 bringing a hukou from Anhui: its permit."""
    app_id = _approved(
        registry, officer, owner_case(seq=seq, origin=LINQUAN, with_spouse=with_spouse)
    )
    [permit] = _permits(registry, app_id)
    return app_id, permit


def _papers(with_spouse: bool = True) -> list[dict[str, str]]:
    return [dict(d) for d in (PAPERS if with_spouse else PAPERS[:1])]


# ---- within Zhejiang: one step, the sending station notified ----------------------------


def test_a_move_between_jiaxing_counties_closes_the_old_membership_and_notifies(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    first = registry.register(
        officer,
        _approved(registry, officer, owner_case()),
        dwelling_id=_dwelling(registry, officer),
    )
    facts = _hukou_in(owner_case(with_spouse=False, county=XIUZHOU), NANHU)
    clock.advance(10)
    app_id = _approved(registry, other_officer, facts)
    assert _permits(registry, app_id) == []  # within Zhejiang: no 准迁证
    me = facts["applicant"]["id_number"]
    spouse = owner_case()["relatives"][0]["id_number"]
    [(old_id, _, _)] = _memberships(registry, me)
    spouse_before = _memberships(registry, spouse)
    last = _last_audit_id(registry)

    second = registry.register(
        other_officer, app_id, dwelling_id=_dwelling(registry, other_officer)
    )

    rows = _memberships(registry, me)
    assert [(c, m.household_id, m.end_date) for _, c, m in rows] == [
        (NANHU, first, clock.today()),
        (XIUZHOU, second, None),
    ]
    assert rows[0][0] == old_id and rows[1][2].start_date == clock.today()
    [notice] = _notices(registry, NANHU)
    assert [n.id for n in _notices(registry) if n.application_id == app_id] == [notice.id]
    assert (notice.county, notice.from_county, notice.state) == (NANHU, XIUZHOU, "pending")
    assert notice.closed_membership_id == old_id
    assert notice.to_household_id == second and notice.application_id == app_id
    assert notice.moved_on == clock.today() and notice.acknowledged_on is None
    records = _audit_since(registry, last)
    assert ("membership.close", str(old_id)) in records
    assert ("membership.open", str(rows[1][0])) in records
    assert ("notice.send", str(notice.id)) in records
    # the spouse stays where she was
    assert [(c, m.household_id, m.end_date) for _, c, m in _memberships(registry, spouse)] == [
        (NANHU, first, None)
    ]
    assert [r[0] for r in spouse_before] == [r[0] for r in _memberships(registry, spouse)]
    assert registry.verify_audit() == []


def test_the_sending_station_acknowledges_its_notice_once(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    registry.register(
        officer,
        _approved(registry, officer, owner_case(with_spouse=False)),
        dwelling_id=_dwelling(registry, officer),
    )
    app_id = _approved(
        registry, other_officer, _hukou_in(owner_case(with_spouse=False, county=XIUZHOU), NANHU)
    )
    registry.register(other_officer, app_id, dwelling_id=_dwelling(registry, other_officer))
    [notice] = _notices(registry, NANHU)
    with pytest.raises(Forbidden) as err:  # the receiving station cannot acknowledge it
        registry.acknowledge_notice(other_officer, notice.id)
    assert err.value.field == "notice_id"
    with pytest.raises(Forbidden):  # nor an admin: only the sending station's officer
        registry.acknowledge_notice(SYSTEM, notice.id)
    assert _notices(registry, NANHU)[0].state == "pending"
    clock.advance(2)
    done = registry.acknowledge_notice(officer, notice.id)
    assert done.state == "acknowledged" and done.acknowledged_on == clock.today()
    assert done.acknowledged_by == officer.user_id
    last = _last_audit_id(registry)
    with pytest.raises(InvalidTransition) as again:
        registry.acknowledge_notice(officer, notice.id)
    assert again.value.field == "state"
    assert _last_audit_id(registry) == last
    actions = [a for a, _ in _audit_since(registry, 0)]
    assert actions.count("notice.acknowledge") == 1


def test_a_stale_acknowledgement_is_a_conflict(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    registry.register(
        officer,
        _approved(registry, officer, owner_case(with_spouse=False)),
        dwelling_id=_dwelling(registry, officer),
    )
    app_id = _approved(
        registry, other_officer, _hukou_in(owner_case(with_spouse=False, county=XIUZHOU), NANHU)
    )
    registry.register(other_officer, app_id, dwelling_id=_dwelling(registry, other_officer))
    [notice] = _notices(registry, NANHU)
    with pytest.raises(Conflict):
        registry.acknowledge_notice(officer, notice.id, version=notice.version + 1)
    assert _notices(registry, NANHU)[0].state == "pending"


def test_a_move_from_zhejiang_outside_jiaxing_is_forwarded(
    registry: Registry, officer: Actor
) -> None:
    app_id = _approved(registry, officer, owner_case(origin=XIHU))
    assert _permits(registry, app_id) == []
    household = registry.register(officer, app_id, dwelling_id=_dwelling(registry, officer))
    people = registry.read(
        lambda s: set(
            s.execute(
                select(Membership.person_id).where(Membership.household_id == household)
            ).scalars()
        )
    )
    notices = _notices(registry)
    # the applicant and the spouse, whose case names no hukou: she moves from where he does
    assert {n.person_id for n in notices} == people and len(notices) == 2
    for n in notices:
        assert (n.county, n.from_county, n.state) == (XIHU, NANHU, "forwarded")
        assert n.closed_membership_id is None and n.to_household_id == household
    with pytest.raises(Forbidden):  # no Jiaxing station acknowledges a forwarded notice
        registry.acknowledge_notice(officer, notices[0].id)


def test_a_move_within_the_county_sends_no_notice(registry: Registry, officer: Actor) -> None:
    registry.register(
        officer,
        _approved(registry, officer, owner_case(with_spouse=False)),
        dwelling_id=_dwelling(registry, officer, "一号"),
    )
    app_id = _approved(registry, officer, _hukou_in(owner_case(with_spouse=False), NANHU))
    registry.register(officer, app_id, dwelling_id=_dwelling(registry, officer, "二号"))
    assert _notices(registry, NANHU) == []
    number = owner_case()["applicant"]["id_number"]
    assert [m.end_date is None for _, _, m in _memberships(registry, number)] == [False, True]


def test_the_register_decides_the_origin_over_the_case(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    """A person the register holds in 南湖区 moves within Zhejiang, whatever the case says."""
    registry.register(
        officer,
        _approved(registry, officer, owner_case(with_spouse=False)),
        dwelling_id=_dwelling(registry, officer),
    )
    facts = owner_case(with_spouse=False, county=XIUZHOU, origin=LINQUAN)
    app_id = _approved(registry, other_officer, facts)
    assert _permits(registry, app_id) == []
    registry.register(other_officer, app_id, dwelling_id=_dwelling(registry, other_officer))
    [notice] = _notices(registry, NANHU)
    assert (notice.county, notice.state) == (NANHU, "pending")


# ---- from outside Zhejiang: the move-in permit --------------------------------------------


@pytest.mark.clause("§4.3")
def test_approval_issues_a_move_in_permit_for_a_hukou_from_outside_zhejiang(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    _, permit = _permit_case(registry, officer)
    assert re.fullmatch(r"ZQ330402" + f"{clock.today():%Y%m%d}" + r"[0-9A-F]{8}", permit.number)
    assert permit.state == "issued" and permit.issued_on == clock.today()
    assert permit.valid_until == permit.issued_on + dt.timedelta(days=VALIDITY - 1)
    assert (permit.valid_until - permit.issued_on).days == 39
    assert permit.persons == ["applicant", "relatives[0]"]
    assert (permit.county, permit.origin_county) == (NANHU, LINQUAN)
    assert permit.closed_on is None
    issued = [e for a, e in _audit_since(registry, 0) if a == "permit.issue"]
    assert issued == [str(permit.id)]


@pytest.mark.clause("§4.3")
@pytest.mark.parametrize(
    ("documents", "field"),
    [
        (None, "migration_documents"),
        ([PAPERS[0]], "migration_documents"),  # the spouse's is missing
        ([{**PAPERS[0], "person": "relatives[1]"}, PAPERS[1]], "migration_documents[0].person"),
        ([PAPERS[0], {**PAPERS[1], "kind": "fax"}], "migration_documents[1].kind"),
        ([{**PAPERS[0], "number": "  "}, PAPERS[1]], "migration_documents[0].number"),
    ],
    ids=["none", "one_missing", "not_on_permit", "bad_kind", "no_number"],
)
def test_registration_refuses_missing_migration_documents_and_writes_nothing(
    registry: Registry,
    officer: Actor,
    documents: list[dict[str, str]] | None,
    field: str,
) -> None:
    app_id, permit = _permit_case(registry, officer)
    d = _dwelling(registry, officer)
    before = _written(registry)
    with pytest.raises(RegistryError) as err:
        registry.register(officer, app_id, dwelling_id=d, migration_documents=documents)
    assert err.value.field == field and err.value.status == 422
    assert _written(registry) == before
    assert _permit(registry, permit.id).state == "issued"
    assert _app_state(registry, app_id) == "approved"


@pytest.mark.clause("§4.3")
def test_registration_with_every_document_uses_the_permit(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    app_id, permit = _permit_case(registry, officer)
    clock.advance(5)
    last = _last_audit_id(registry)
    household = registry.register(
        officer, app_id, dwelling_id=_dwelling(registry, officer), migration_documents=_papers()
    )
    used = _permit(registry, permit.id)
    assert used.state == "used" and used.closed_on == clock.today()
    received = registry.read(
        lambda s: sorted(
            (d.material, d.reference_no, d.received_on)
            for d in s.execute(
                select(DocumentReceived).where(DocumentReceived.application_id == app_id)
            ).scalars()
            if d.reference_no  # the materials received before approval have none
        )
    )
    assert received == sorted(
        [
            ("户口迁移证", PAPERS[0]["number"], clock.today()),
            ("跨省迁移电子信息确认", PAPERS[1]["number"], clock.today()),
        ]
    )
    actions = [a for a, _ in _audit_since(registry, last)]
    assert actions.count("document.receive") == 2 and actions.count("permit.use") == 1
    assert _notices(registry) == []  # a move from outside Zhejiang notifies no station
    members = registry.read(
        lambda s: s.execute(
            select(func.count())
            .select_from(Membership)
            .where(Membership.household_id == household, Membership.end_date.is_(None))
        ).scalar_one()
    )
    assert members == 2
    assert _app_state(registry, app_id) == "registered"


@pytest.mark.clause("§4.3")
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["day_before", "last_day", "day_after"])
def test_a_permit_is_usable_through_its_last_day(
    registry: Registry, officer: Actor, clock: FixedClock, offset: int
) -> None:
    app_id, permit = _permit_case(registry, officer, with_spouse=False)
    d = _dwelling(registry, officer)
    clock.day = permit.valid_until + dt.timedelta(days=offset)
    if offset <= 0:
        registry.register(officer, app_id, dwelling_id=d, migration_documents=_papers(False))
        assert _permit(registry, permit.id).state == "used"
        assert _app_state(registry, app_id) == "registered"
        return
    before = _written(registry)
    with pytest.raises(InvalidTransition) as err:
        registry.register(officer, app_id, dwelling_id=d, migration_documents=_papers(False))
    assert err.value.field == "permit"
    assert permit.number in err.value.zh and permit.number in err.value.en
    assert _written(registry) == before
    assert _permit(registry, permit.id).state == "issued"
    assert _app_state(registry, app_id) == "approved"


@pytest.mark.clause("§4.3")
def test_the_sweep_expires_a_permit_only_after_its_last_day(
    registry: Registry, officer: Actor, other_officer: Actor, clock: FixedClock
) -> None:
    _, permit = _permit_case(registry, officer)
    clock.day = permit.valid_until
    assert registry.expire_permits(officer) == []
    assert registry.expire_permits(SYSTEM) == []
    clock.advance(1)
    assert registry.expire_permits(other_officer) == []  # another county's sweep
    assert _permit(registry, permit.id).state == "issued"
    assert [p.id for p in registry.expire_permits(officer)] == [permit.id]
    expired = _permit(registry, permit.id)
    assert expired.state == "expired" and expired.closed_on == clock.today()
    assert registry.expire_permits(officer) == []
    actions = [(a, e) for a, e in _audit_since(registry, 0) if a == "permit.expire"]
    assert actions == [("permit.expire", str(permit.id))]


def test_an_admin_sweep_expires_every_county_s_permits(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    _, permit = _permit_case(registry, officer)
    clock.day = permit.valid_until + dt.timedelta(days=1)
    assert [p.id for p in registry.expire_permits(SYSTEM)] == [permit.id]


@pytest.mark.clause("§4.3")
def test_an_officer_expires_a_permit_only_after_its_last_day(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    _, permit = _permit_case(registry, officer)
    clock.day = permit.valid_until
    with pytest.raises(InvalidTransition) as err:
        registry.permit_step(officer, permit.id, "expire")
    assert err.value.field == "valid_until"
    assert _permit(registry, permit.id).state == "issued"
    clock.advance(1)
    done = registry.permit_step(officer, permit.id, "expire")
    assert done.state == "expired" and done.closed_on == clock.today()


@pytest.mark.clause("§4.3")
def test_due_lists_a_permit_within_the_warning_days(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    app_id, permit = _permit_case(registry, officer)
    last = permit.valid_until
    for days_before, listed in ((WARNING + 1, False), (WARNING, False), (WARNING - 1, True)):
        due = registry.due_permits(officer, last - dt.timedelta(days=days_before))
        assert ([p.id for p in due] == [permit.id]) is listed, days_before
        assert not listed or due[0].number == permit.number
    for day in (last, last + dt.timedelta(days=3)):  # its last day, and run out unused
        assert [p.id for p in registry.due_permits(officer, day)] == [permit.id]
        assert [p.id for p in registry.due_permits(SYSTEM, day)] == [permit.id]
        assert registry.due_permits(other_officer, day) == []
    registry.permit_step(officer, permit.id, "cancel")
    assert registry.due_permits(officer, last) == []
    assert _app_state(registry, app_id) == "approved"


@pytest.mark.clause("§4.3")
@pytest.mark.parametrize("state", MOVE_IN_PERMIT_STATES)
@pytest.mark.parametrize("action", ("cancel", "expire"))
def test_every_permit_step_allowed_or_refused(
    registry: Registry,
    officer: Actor,
    engine: Engine,
    clock: FixedClock,
    state: str,
    action: str,
) -> None:
    _, permit = _permit_case(registry, officer, with_spouse=False)
    with engine.begin() as conn:  # put the permit in ``state`` directly
        conn.execute(
            text("UPDATE move_in_permits SET state = :s WHERE id = :i"),
            {"s": state, "i": permit.id},
        )
    clock.day = permit.valid_until + dt.timedelta(days=1)  # run out: only the state decides
    if (state, action) in moves.MOVE_IN_PERMIT_TRANSITIONS:
        done = registry.permit_step(officer, permit.id, action)
        assert done.state == moves.MOVE_IN_PERMIT_TRANSITIONS[(state, action)]
        assert _permit(registry, permit.id).state == done.state
        assert done.closed_on == clock.today()
    else:
        before = _written(registry)
        with pytest.raises(InvalidTransition):
            registry.permit_step(officer, permit.id, action)
        assert _permit(registry, permit.id).state == state
        assert _written(registry) == before


def test_only_an_officer_of_the_issuing_county_steps_a_permit(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    app_id, permit = _permit_case(registry, officer)
    with pytest.raises(Forbidden) as err:
        registry.permit_step(other_officer, permit.id, "cancel")
    assert err.value.field == "permit_id"
    with pytest.raises(Forbidden):  # an admin takes no step on a case
        registry.permit_step(SYSTEM, permit.id, "cancel")
    with pytest.raises(Forbidden):
        registry.reissue_permit(other_officer, app_id)
    with pytest.raises(RegistryError) as bad:  # "use" is registration's own
        registry.permit_step(officer, permit.id, "use")
    assert bad.value.field == "action"
    with pytest.raises(Conflict):  # a stale version
        registry.permit_step(officer, permit.id, "cancel", version=permit.version + 1)
    assert _permit(registry, permit.id).state == "issued"


@pytest.mark.clause("§4.3")
def test_a_cancelled_permit_is_replaced_by_a_new_one(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    app_id, permit = _permit_case(registry, officer)
    with pytest.raises(Conflict) as err:  # still valid: no second permit
        registry.reissue_permit(officer, app_id)
    assert permit.number in err.value.en
    registry.permit_step(officer, permit.id, "cancel")
    d = _dwelling(registry, officer)
    with pytest.raises(InvalidTransition) as none:  # nothing to register with
        registry.register(officer, app_id, dwelling_id=d, migration_documents=_papers())
    assert none.value.field == "permit"
    clock.advance(3)
    new = registry.reissue_permit(officer, app_id)
    assert new.id != permit.id and new.number != permit.number
    assert new.state == "issued" and new.issued_on == clock.today()
    # counted to Saturday 2025-04-12; Civil Code art. 203 (R9a) runs it to Monday
    assert new.valid_until == deadline(clock.today() + dt.timedelta(days=VALIDITY - 1)).last_day
    assert new.persons == permit.persons
    registry.register(officer, app_id, dwelling_id=d, migration_documents=_papers())
    assert [(p.id, p.state) for p in _permits(registry, app_id)] == [
        (permit.id, "cancelled"),
        (new.id, "used"),
    ]
    with pytest.raises(InvalidTransition) as late:  # registered: no new permit
        registry.reissue_permit(officer, app_id)
    assert late.value.field == "state"


@pytest.mark.clause("§4.3")
def test_a_lapsed_permit_is_expired_when_a_new_one_is_issued(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    app_id, permit = _permit_case(registry, officer, with_spouse=False)
    clock.day = permit.valid_until + dt.timedelta(days=1)
    new = registry.reissue_permit(officer, app_id)
    assert [(p.id, p.state) for p in _permits(registry, app_id)] == [
        (permit.id, "expired"),
        (new.id, "issued"),
    ]
    registry.register(
        officer,
        app_id,
        dwelling_id=_dwelling(registry, officer),
        migration_documents=_papers(False),
    )
    assert _permit(registry, new.id).state == "used"


def test_a_move_within_zhejiang_gets_no_permit_reissued(registry: Registry, officer: Actor) -> None:
    app_id = _approved(registry, officer, owner_case(origin=XIHU))
    with pytest.raises(InvalidTransition) as err:
        registry.reissue_permit(officer, app_id)
    assert err.value.field == "permit"
    assert _permits(registry, app_id) == []


def test_approval_needs_the_county_of_the_current_hukou(registry: Registry, officer: Actor) -> None:
    facts = owner_case(with_spouse=False)
    facts["applicant"]["hukou"] = {"kind": "outside_jiaxing"}  # from where?
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    with pytest.raises(RegistryError) as err:
        registry.approve(officer, app.id)
    assert err.value.field == "facts.applicant.hukou.address.county"
    assert _app_state(registry, app.id) == "under_review"
    assert _count(registry, MoveInPermit) == 0


# ---- concurrency ----------------------------------------------------------------------


def test_two_stations_registering_one_person_at_once_one_wins(
    db_url: str,
    registry: Registry,
    clock: FixedClock,
    officer: Actor,
    other_officer: Actor,
) -> None:
    """南湖 and 秀洲 each register the same person, whose hukou is in 嘉善县, at once: the
    membership in 嘉善县 is closed once, and only one of them opens another. (He applies
    at 南湖; at 秀洲 he comes as the spouse of another applicant — one person has at most
    one open application of his own.)"""
    uid = registry.add_user(SYSTEM, "officer_jiashan", "correct horse battery", "officer", JIASHAN)
    jiashan = Actor(uid, "officer_jiashan", "officer", JIASHAN)
    registry.register(
        jiashan,
        _approved(registry, jiashan, owner_case(with_spouse=False, county=JIASHAN)),
        dwelling_id=_dwelling(registry, jiashan),
    )
    stations = [officer, other_officer]
    apps, dwellings = [], []
    for i, o in enumerate(stations):
        assert o.jurisdiction is not None
        facts = _hukou_in(owner_case(with_spouse=False, county=o.jurisdiction), JIASHAN)
        if i == 1:  # 王芳 applies, with him as her spouse
            him = facts["applicant"]
            facts["applicant"] = {
                **him,
                "id_number": id_number("341221", "19900823", 2, False),
                "name": "王芳",
                "hukou": {"kind": "outside_jiaxing", "address": {"county": "330106"}},
            }
            facts["relatives"] = [
                {
                    "relation": "spouse",
                    "id_number": him["id_number"],
                    "name": him["name"],
                    "lives_with_applicant": True,
                }
            ]
        apps.append(_approved(registry, o, facts))
        dwellings.append(_dwelling(registry, o))
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(i: int) -> None:
        engine = make_engine(db_url)
        factory = session_factory(engine)

        @event.listens_for(factory, "before_flush")
        def establishing(session: Session, _ctx: Any, _instances: Any) -> None:
            if any(isinstance(o, Household) for o in session.new):
                # both have read where the hukou is (嘉善县) and passed every check; next
                # each locks and closes that membership: one waits for the other
                barrier.wait(timeout=30)

        try:
            mine = Registry(factory, clock)
            barrier.wait(timeout=30)
            results[i] = mine.register(stations[i], apps[i], dwelling_id=dwellings[i])
        except Exception as exc:  # the test inspects it
            results[i] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [i for i, r in enumerate(results) if isinstance(r, int)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].field == "person_id"
    winner = stations[wins[0]].jurisdiction
    number = owner_case()["applicant"]["id_number"]
    open_ = [
        (c, m.household_id) for _, c, m in _memberships(registry, number) if m.end_date is None
    ]
    assert open_ == [(winner, results[wins[0]])]
    [notice] = _notices(registry, JIASHAN)
    assert (notice.county, notice.from_county, notice.state) == (JIASHAN, winner, "pending")
    assert _app_state(registry, apps[1 - wins[0]]) == "approved"
    assert registry.verify_audit() == []


# ---- identity against the register -----------------------------------------------------


def _registered_family(registry: Registry, officer: Actor) -> None:
    registry.register(
        officer,
        _approved(registry, officer, owner_case()),
        dwelling_id=_dwelling(registry, officer),
    )


@pytest.mark.parametrize(
    ("who", "field"),
    [("applicant", "facts.applicant.name"), ("spouse", "facts.relatives[0].name")],
)
def test_an_id_number_under_another_name_is_refused(
    registry: Registry, officer: Actor, other_officer: Actor, who: str, field: str
) -> None:
    _registered_family(registry, officer)
    facts = _hukou_in(owner_case(county=XIUZHOU), NANHU)
    if who == "applicant":
        facts["applicant"]["name"] = "李建军"
    else:
        facts["relatives"][0]["name"] = "王芬"
    before = _written(registry) | {"applications": _count(registry, Application)}
    with pytest.raises(RegistryError) as err:
        registry.create_application(other_officer, "s1_1", XIUZHOU, facts)
    assert err.value.field == field and err.value.status == 422
    assert _written(registry) | {"applications": _count(registry, Application)} == before


def test_an_id_number_the_register_holds_with_another_birth_date_is_refused(
    registry: Registry, officer: Actor, other_officer: Actor, engine: Engine
) -> None:
    """The register's record of a number can carry another birth date than the number's
    own (a §5.2 restoration, a data error): the case, whose birth date the number gives,
    is refused naming the birth date, and nothing is written."""
    _registered_family(registry, officer)
    number = owner_case()["applicant"]["id_number"]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE persons SET birth_date = :d WHERE id_number = :n"),
            {"d": dt.date(1988, 5, 13), "n": number},
        )
    facts = _hukou_in(owner_case(with_spouse=False, county=XIUZHOU), NANHU)
    before = _written(registry) | {"applications": _count(registry, Application)}
    with pytest.raises(RegistryError) as err:
        registry.create_application(other_officer, "s1_1", XIUZHOU, facts)
    assert err.value.field == "facts.applicant.birth_date" and err.value.status == 422
    assert "出生日期" in err.value.zh and "birth date" in err.value.en
    assert _written(registry) | {"applications": _count(registry, Application)} == before
    # the same case with the register's own birth date passes the check
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE persons SET birth_date = :d WHERE id_number = :n"),
            {"d": dt.date(1988, 5, 12), "n": number},
        )
    assert registry.create_application(other_officer, "s1_1", XIUZHOU, facts).id


def test_a_self_service_application_is_flagged_and_not_approved(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    _registered_family(registry, officer)
    facts = _hukou_in(owner_case(name="李建军", with_spouse=False, county=XIUZHOU), NANHU)
    app = registry.create_application(other_officer, "s1_1", XIUZHOU, facts, self_service=True)
    assert [f["field"] for f in app.identity_flags or []] == ["facts.applicant.name"]
    for action in ("submit", "review"):
        registry.act(other_officer, app.id, action)
    with pytest.raises(RegistryError) as err:
        registry.approve(other_officer, app.id)
    assert err.value.field == "facts.applicant.name"
    assert _app_state(registry, app.id) == "under_review"
    number = facts["applicant"]["id_number"]
    assert [c for _, c, m in _memberships(registry, number) if m.end_date is None] == [NANHU]


def test_a_matching_self_service_application_carries_no_flags(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    _registered_family(registry, officer)
    facts = _hukou_in(owner_case(with_spouse=False, county=XIUZHOU), NANHU)
    app = registry.create_application(other_officer, "s1_1", XIUZHOU, facts, self_service=True)
    assert app.identity_flags is None


def test_a_name_in_another_unicode_form_is_the_same_name(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    """六 (U+516D) and its compatibility ideograph (U+F9D1) are one name after NFC."""
    registry.register(
        officer,
        _approved(registry, officer, owner_case(name="李六", with_spouse=False)),
        dwelling_id=_dwelling(registry, officer),
    )
    facts = _hukou_in(owner_case(name="李\uf9d1", with_spouse=False, county=XIUZHOU), NANHU)
    app = registry.create_application(other_officer, "s1_1", XIUZHOU, facts)
    assert app.identity_flags is None


def test_a_new_id_number_is_not_an_identity_problem(registry: Registry, officer: Actor) -> None:
    _registered_family(registry, officer)
    facts = owner_case(with_spouse=False, seq=7)
    assert facts["applicant"]["id_number"] != owner_case()["applicant"]["id_number"]
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    assert app.identity_flags is None


# ---- hukou cases due -----------------------------------------------------------------------


@pytest.mark.clause("§4.3")
def test_cases_due_lists_a_permit_within_the_warning_days(
    registry: Registry, officer: Actor, db_url: str
) -> None:
    _, permit = _permit_case(registry, officer)
    runner = CliRunner()

    def due(on: dt.date, *more: str) -> str:
        result = runner.invoke(
            cli,
            ["cases", "due", "--url", db_url, "--on", on.isoformat(), *more],
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        return result.output

    soon = due(permit.valid_until - dt.timedelta(days=3))
    assert permit.number in soon and "即将到期" in soon
    assert permit.number in due(permit.valid_until - dt.timedelta(days=3), "--county", NANHU)
    assert permit.number not in due(permit.valid_until - dt.timedelta(days=3), "--county", XIUZHOU)
    assert permit.number not in due(permit.valid_until - dt.timedelta(days=WARNING))
    lapsed = due(permit.valid_until + dt.timedelta(days=1))
    assert permit.number in lapsed and "已过期" in lapsed


@pytest.mark.clause("§4.3")
def test_cases_expire_marks_a_run_out_permit_expired(
    registry: Registry, officer: Actor, db_url: str
) -> None:
    """The command runs on today's date: a permit issued on 2025-03-01 has long run out."""
    _, permit = _permit_case(registry, officer)
    assert permit.valid_until < dt.date.today()
    runner = CliRunner()
    other = runner.invoke(cli, ["cases", "expire", "--url", db_url, "--county", XIUZHOU])
    assert other.exit_code == 0, other.output
    assert _permit(registry, permit.id).state == "issued"
    result = runner.invoke(cli, ["cases", "expire", "--url", db_url, "--county", NANHU])
    assert result.exit_code == 0, result.output
    assert "1 份证明已过期" in result.output
    assert _permit(registry, permit.id).state == "expired"
