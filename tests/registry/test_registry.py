"""The register on SQLite and PostgreSQL: invariants, lifecycle, atomicity, concurrency, audit."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from hukou.registry import audit
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import session_factory
from hukou.registry.demo import settle_materials
from hukou.registry.errors import Conflict, Forbidden, InvalidTransition, RegistryError
from hukou.registry.models import (
    APPLICATION_STATES,
    Application,
    AuditRecord,
    Household,
    Membership,
    Person,
)
from hukou.registry.service import APPLICATION_TRANSITIONS, Registry

from .conftest import NANHU
from .helpers import owner_case


def _dwelling(registry: Registry, officer: Actor, address: str = "紫阳街道1号") -> int:
    return registry.add_dwelling(officer, NANHU, address, "111", "owned")


def _approved(registry: Registry, officer: Actor, facts: dict[str, Any]) -> int:
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    return app.id


def _count(registry: Registry, model: Any) -> int:
    return registry.read(lambda s: len(s.execute(select(model)).scalars().all()))


# ---- §1.2 一房一户 and §4.1 as database constraints -----------------------------------


@pytest.mark.clause("§1.2")
def test_one_dwelling_holds_one_household(registry: Registry, officer: Actor) -> None:
    d = _dwelling(registry, officer)
    registry.establish_household(officer, "family", NANHU, dwelling_id=d)
    with pytest.raises(Conflict) as err:
        registry.establish_household(officer, "family", NANHU, dwelling_id=d)
    assert err.value.field == "dwelling_id" and "一房一户" in err.value.zh


@pytest.mark.clause("§1.2")
def test_one_dwelling_one_household_holds_in_sql_too(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    """Even a write that bypasses the service cannot put two households on one dwelling."""
    d = _dwelling(registry, officer)
    registry.establish_household(officer, "family", NANHU, dwelling_id=d)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO households (number, kind, county, dwelling_id, established_on, version)"
                " VALUES ('X1', 'family', :c, :d, '2025-03-01', 1)"
            ),
            {"c": NANHU, "d": d},
        )


@pytest.mark.clause("§4.1")
def test_each_community_has_one_public_collective_household(
    registry: Registry, officer: Actor
) -> None:
    cid, hid = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    household = registry.read(lambda s: s.get(Household, hid))
    assert household is not None and household.kind == "community_collective"
    assert household.community_id == cid


# ---- application lifecycle ---------------------------------------------------------


@pytest.mark.clause("§1.1")
def test_register_moves_applicant_and_approved_relatives_in_one_household(
    registry: Registry, officer: Actor
) -> None:
    app_id = _approved(registry, officer, owner_case())
    app = registry.read(lambda s: s.get(Application, app_id))
    assert app is not None and app.state == "approved"
    assert app.approved_relatives == [0]
    assert app.rule_version and app.rule_version.startswith("jiaxing-2020-28/")
    assert app.decision and app.decision["status"] == "eligible"
    hid = registry.register(officer, app_id, dwelling_id=_dwelling(registry, officer))
    members = registry.read(
        lambda s: s.execute(
            select(Person.name, Membership.relation_to_head)
            .join(Membership)
            .where(Membership.household_id == hid, Membership.end_date.is_(None))
        ).all()
    )
    assert sorted(members) == [("李建国", "户主"), ("王芳", "配偶")]


def test_history_is_kept_when_a_person_moves(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    first = registry.register(
        officer,
        _approved(registry, officer, owner_case(with_spouse=False)),
        dwelling_id=_dwelling(registry, officer, "一号"),
    )
    clock.advance(30)
    _cid, collective = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    second_app = _approved(registry, officer, owner_case(with_spouse=False))
    second = registry.register(
        officer, second_app, household_id=collective, placement_reason="data_correction"
    )
    rows = registry.read(
        lambda s: s.execute(
            select(Membership.household_id, Membership.start_date, Membership.end_date).order_by(
                Membership.id
            )
        ).all()
    )
    assert [r[0] for r in rows] == [first, second]
    assert rows[0][2] == clock.today() and rows[1][2] is None


def test_approval_is_refused_when_the_channel_is_not_eligible(
    registry: Registry, officer: Actor
) -> None:
    facts = owner_case()
    facts["applicant"]["dwellings"][0]["address"]["urban_rural_code"] = "220"  # a village
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    registry.act(officer, app.id, "submit")
    registry.act(officer, app.id, "review")
    with pytest.raises(InvalidTransition) as err:
        registry.approve(officer, app.id)
    assert "not_eligible" in err.value.en


ACTIONS = ("submit", "review", "approve", "reject", "register", "withdraw")


@pytest.mark.parametrize("state", APPLICATION_STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_application_transition_allowed_or_refused(
    registry: Registry, officer: Actor, engine: Engine, state: str, action: str
) -> None:
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    with engine.begin() as conn:  # put the application in ``state`` directly
        conn.execute(
            text("UPDATE applications SET state = :s WHERE id = :i"), {"s": state, "i": app.id}
        )
    allowed = (state, action) in APPLICATION_TRANSITIONS
    if (state, action) == ("under_review", "approve"):
        settle_materials(registry, officer, app.id)
    call = {
        "approve": lambda: registry.approve(officer, app.id),
        "reject": lambda: registry.reject(officer, app.id, "材料不全 / papers missing"),
        "register": lambda: registry.register(
            officer,
            app.id,
            dwelling_id=_dwelling(registry, officer),
            placement_reason="data_correction",  # set to approved by hand: no decision
        ),
    }.get(action, lambda: registry.act(officer, app.id, action))
    if allowed:
        call()
        new = registry.read(
            lambda s: s.execute(
                text("SELECT state FROM applications WHERE id = :i"), {"i": app.id}
            ).scalar_one()
        )
        assert new == APPLICATION_TRANSITIONS[(state, action)]
    else:
        with pytest.raises(InvalidTransition):
            call()


def test_an_officer_outside_the_jurisdiction_is_refused(
    registry: Registry, officer: Actor, other_officer: Actor
) -> None:
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    with pytest.raises(Forbidden):
        registry.act(other_officer, app.id, "submit")
    with pytest.raises(Forbidden):
        registry.create_application(other_officer, "s1_1", NANHU, owner_case())


def test_bad_facts_are_refused_naming_the_field(registry: Registry, officer: Actor) -> None:
    facts = owner_case()
    facts["applicant"]["id_number"] = facts["applicant"]["id_number"][:-1] + "0"
    with pytest.raises(RegistryError) as err:
        registry.create_application(officer, "s1_1", NANHU, facts)
    assert err.value.field == "facts.applicant.id_number"
    assert "校验" in err.value.zh and "check" in err.value.en
    assert _count(registry, Application) == 0


# ---- optimistic versions -----------------------------------------------------------


def test_a_stale_update_is_a_conflict(registry: Registry, officer: Actor) -> None:
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    seen = app.version
    registry.act(officer, app.id, "submit", version=seen)  # the first officer
    with pytest.raises(Conflict) as err:  # the second, holding the same version
        registry.act(officer, app.id, "withdraw", version=seen)
    assert err.value.status == 409


# ---- atomicity ---------------------------------------------------------------------


def test_a_failure_midway_through_registration_changes_nothing(
    registry: Registry, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id = _approved(registry, officer, owner_case())
    d = _dwelling(registry, officer)
    before = (
        _count(registry, Household),
        _count(registry, Membership),
        _count(registry, Person),
        _count(registry, AuditRecord),
    )
    real = Registry._move
    calls = {"n": 0}

    def failing(self: Registry, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the applicant is in; the spouse's move fails
            raise RuntimeError("injected failure")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Registry, "_move", failing)
    with pytest.raises(RuntimeError):
        registry.register(officer, app_id, dwelling_id=d)
    after = (
        _count(registry, Household),
        _count(registry, Membership),
        _count(registry, Person),
        _count(registry, AuditRecord),
    )
    assert after == before
    state = registry.read(
        lambda s: s.execute(
            text("SELECT state FROM applications WHERE id = :i"), {"i": app_id}
        ).scalar_one()
    )
    assert state == "approved"
    assert registry.verify_audit() == []


# ---- concurrency -------------------------------------------------------------------


@pytest.mark.clause("§1.2")
def test_two_registrations_at_one_dwelling_at_once_one_wins(
    engine: Engine, clock: FixedClock, registry: Registry, officer: Actor
) -> None:
    apps = [
        _approved(registry, officer, owner_case(name=f"申请人{i}", seq=10 + i, with_spouse=False))
        for i in range(2)
    ]
    d = _dwelling(registry, officer)
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(i: int) -> None:
        mine = Registry(session_factory(engine), clock)
        barrier.wait()
        try:
            results[i] = mine.register(officer, apps[i], dwelling_id=d)
        except Conflict as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [r for r in results if isinstance(r, int)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].field in ("dwelling_id", None)
    assert _count(registry, Household) == 1
    assert registry.verify_audit() == []


# ---- audit -------------------------------------------------------------------------


def test_every_change_is_audited_and_the_chain_verifies(registry: Registry, officer: Actor) -> None:
    app_id = _approved(registry, officer, owner_case())
    registry.register(officer, app_id, dwelling_id=_dwelling(registry, officer))
    actions = registry.read(
        lambda s: [
            r.action for r in s.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars()
        ]
    )
    for expected in (
        "user.add",
        "application.create",
        "application.submit",
        "application.review",
        "application.approve",
        "dwelling.add",
        "household.establish",
        "person.add",
        "membership.open",
        "application.register",
    ):
        assert expected in actions
    assert registry.verify_audit() == []


def test_an_altered_audit_record_is_named(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
    problems = registry.verify_audit()
    assert [p.record_id for p in problems] == [2]
    assert "altered" in problems[0].en and "改动" in problems[0].zh


def test_deleting_the_newest_audit_record_is_found(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    n = _count(registry, AuditRecord)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": n})
    problems = registry.verify_audit()
    assert [p.record_id for p in problems] == [n], problems


def test_deleting_an_old_audit_record_is_found(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 1"))
    problems = registry.verify_audit()
    assert problems and problems[0].record_id == 1, problems
    assert "deleted" in problems[0].en


def test_audit_hash_covers_the_content(registry: Registry, officer: Actor) -> None:
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    rec = registry.read(lambda s: s.get(AuditRecord, 1))
    assert rec is not None
    assert audit.record_hash(rec, rec.prev_hash, registry.keys.audit) == rec.hash
    rec.after = {"username": "someone else"}
    assert audit.record_hash(rec, rec.prev_hash, registry.keys.audit) != rec.hash


# ---- users and logins --------------------------------------------------------------


def test_login_throttles_after_repeated_failures(registry: Registry, clock: FixedClock) -> None:
    """Five failures from one address: the sixth attempt waits (the same refusal as a wrong
    password, tested in tests/security/test_login.py); later it is checked again."""
    registry.add_user(SYSTEM, "keeper1", "a long enough secret", "keeper", "1")
    for _ in range(5):
        with pytest.raises(Forbidden):
            registry.login("keeper1", "wrong password!")
    with pytest.raises(Forbidden) as err:  # right password, but too soon
        registry.login("keeper1", "a long enough secret")
    assert "too many attempts" in err.value.en
    clock.tick(registry.security.first_delay)
    assert registry.login("keeper1", "a long enough secret").role == "keeper"


def test_passwords_are_hashed_with_argon2(registry: Registry) -> None:
    registry.add_user(SYSTEM, "admin2", "a long enough secret", "admin")
    stored = registry.read(
        lambda s: s.execute(
            text("SELECT password_hash FROM users WHERE username = 'admin2'")
        ).scalar_one()
    )
    assert stored.startswith("$argon2") and "a long enough secret" not in stored
