"""The register as the source of a settlement case's residence facts (issue 16, part 3).

A person the register holds a residence registration of applies to settle: the permit, the
registration and the §1.2 residence history come from the register on the decision date,
not from what was typed; what was typed otherwise is kept on the application
(``register_conflicts``) and beside the stored decision. ``hukou batch --from-registry``
reads the same facts and agrees with the per-case decision. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from hukou.analytics import batch
from hukou.analytics.registry_source import run_registry
from hukou.engine.decide import decide
from hukou.policy.facts import parse_case
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.demo import settle_materials
from hukou.registry.demo_residence import on_day
from hukou.registry.errors import InvalidTransition
from hukou.registry.models import Application, AuditRecord, Person
from hukou.registry.permits import register_residence_facts, settlement_facts
from hukou.registry.service import Registry

from .conftest import NANHU, XIUZHOU
from .helpers import id_number, owner_case

pytestmark = pytest.mark.clause("§1.2")

TODAY = dt.date(2025, 3, 1)  # the fixture clock's day
EMPLOYER = {"housing": "employer", "address": "经济开发区宿舍3幢201", "provider": "嘉兴某机械厂"}


def _migrant(seq: int) -> str:
    return id_number("341221", "19900101", seq, True)


def _name(number: str) -> str:
    return f"迁{number[-4:]}"


def _reside(
    registry: Registry, officer: Actor, number: str, since: dt.date, county: str = NANHU
) -> int:
    with on_day(registry, since):  # a registration is dated back a year at most
        return registry.register_residence(
            officer, number, county, name=_name(number), since=since, **EMPLOYER
        ).id


def _issue(registry: Registry, officer: Actor, number: str, county: str = NANHU) -> int:
    applied = registry.apply_for_residence_permit(
        officer, number, county, "employment", facts={"local_labour_contract": True}
    )
    registry.review_residence_permit(officer, applied.id)
    return registry.issue_residence_permit(officer, applied.id).id


def _case(number: str, **applicant: Any) -> dict[str, Any]:
    """An owner of an urban flat in 南湖区 (§1.1), alone, with the typed facts given."""
    facts = owner_case(_name(number), with_spouse=False)
    facts["applicant"]["id_number"] = number
    facts["applicant"].update(applicant)
    return facts


def _rented(number: str, **applicant: Any) -> dict[str, Any]:
    """A tenant of a registered lease on a commercial flat in 南湖区: §1.1 only after §1.2's
    three years of continuous residence."""
    facts = _case(number, **applicant)
    facts["applicant"]["dwellings"][0]["tenure"] = "rented_registered"
    return facts


def _app(registry: Registry, app_id: int) -> Application:
    found = registry.read(lambda s: s.get(Application, app_id))
    assert found is not None
    return found


def _fields(conflicts: list[dict[str, Any]] | None) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["typed"], c["register"]) for c in conflicts or []}


# ---- decided on the register's facts, the conflict listed ------------------------------


def test_the_decision_is_made_on_the_register_and_the_conflicts_are_kept(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    number = _migrant(1)
    clock.day = dt.date(2024, 12, 2)
    _reside(registry, officer, number, dt.date(2024, 5, 1))
    _issue(registry, officer, number)  # 南湖区, 2024-12-02
    clock.day = TODAY
    # typed: no permit, no registration, a registration elsewhere since long ago — on these
    # facts §1.1 fails (no residence permit or registration)
    facts = _case(
        number,
        residence_permit={"held": False},
        residence_registration=False,
        residence_registration_since="2015-01-01",
        residence_history=[
            {"start": "2015-01-01", "county": XIUZHOU},
            {"start": "2010-01-01", "end": "2014-12-31", "county": "330106"},  # outside
        ],
    )
    typed = decide(parse_case(facts), on=TODAY, parameters=registry.parameters)
    assert next(c for c in typed.channels if c.key == "s1_1").status != "eligible"

    app = registry.create_application(officer, "s1_1", NANHU, facts)
    register = [{"start": "2024-05-01", "end": None, "county": NANHU}]
    expected = {
        "applicant.residence_registration": (False, True),
        "applicant.residence_registration_since": ("2015-01-01", "2024-05-01"),
        "applicant.residence_permit.held": (False, True),
        "applicant.residence_history": ([{"start": "2015-01-01", "end": None, "county": XIUZHOU}], register),
    }  # fmt: skip
    assert _fields(app.register_conflicts) == expected
    assert _app(registry, app.id).facts == facts  # what was typed is kept as typed
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    approved = registry.approve(officer, app.id)  # eligible on the register's facts
    assert approved.state == "approved"
    stored = _app(registry, app.id)
    assert _fields(stored.register_conflicts) == expected
    assert stored.decision is not None
    assert _fields(stored.decision["register_conflicts"]) == expected
    s1_1 = next(c for c in stored.decision["channels"] if c["key"] == "s1_1")
    assert s1_1["status"] == "eligible"
    # the case as decided: the register's permit (first issued 2024-12-02) and registration;
    # the typed period outside Jiaxing is kept beside the register's (it counts nowhere)
    merged, _ = registry.read(lambda s: settlement_facts(s, facts, TODAY))
    a = merged["applicant"]
    assert a["residence_permit"] == {"held": True, "county": NANHU, "issued_on": "2024-12-02"}
    assert (a["residence_registration"], a["residence_registration_since"]) == (True, "2024-05-01")
    assert a["residence_registration_county"] == NANHU and a["lives_in"] == NANHU
    assert [(p["start"], p["county"]) for p in a["residence_history"]] == [
        ("2010-01-01", "330106"),
        ("2024-05-01", NANHU),
    ]
    # the approval's audit record carries the conflicts with the application's state
    after = registry.read(
        lambda s: s.execute(
            select(AuditRecord.after)
            .where(AuditRecord.action == "application.approve")
            .order_by(AuditRecord.id.desc())
        ).scalar_one()
    )
    assert _fields(after["register_conflicts"]) == expected


def test_facts_that_agree_are_no_conflict_and_a_person_the_register_does_not_hold_is_left_alone(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    number = _migrant(2)
    clock.day = dt.date(2024, 12, 2)
    _reside(registry, officer, number, dt.date(2024, 5, 1))
    _issue(registry, officer, number)
    clock.day = TODAY
    agreeing = _case(
        number,
        residence_permit={"held": True, "county": NANHU},  # no date typed: nothing to compare
        residence_registration=True,
        residence_registration_county=NANHU,
    )
    app = registry.create_application(officer, "s1_1", NANHU, agreeing)
    assert app.register_conflicts == []
    stranger = registry.create_application(officer, "s1_1", NANHU, owner_case("李四", seq=4))
    assert stranger.register_conflicts is None  # the register holds no residence of theirs
    facts, conflicts = registry.read(
        lambda s: settlement_facts(s, owner_case("李四", seq=4), TODAY)
    )
    assert facts == owner_case("李四", seq=4) and conflicts is None


# ---- a lapsed, cancelled or replaced permit ---------------------------------------------


def test_a_lapsed_permit_is_not_held_and_the_conflict_appears_when_it_lapses(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    number = _migrant(3)
    clock.day = dt.date(2024, 3, 1)
    _reside(registry, officer, number, dt.date(2023, 6, 1))
    _issue(registry, officer, number)  # valid until 2025-02-28
    pid = registry.read(
        lambda s: s.execute(select(Person.id).where(Person.id_number == number)).scalar_one()
    )

    def held(day: dt.date) -> dict[str, Any]:
        facts = registry.read(lambda s: register_residence_facts(s, pid, day))
        assert facts is not None
        return dict(facts["residence_permit"])

    assert held(dt.date(2025, 2, 27)) == {"held": True, "county": NANHU, "issued_on": "2024-03-01"}
    assert held(dt.date(2025, 2, 28))["held"] is True  # its last day
    assert held(dt.date(2025, 3, 1)) == {"held": False}  # lapsed: 使用功能中止
    assert held(dt.date(2024, 2, 29)) == {"held": False}  # not issued yet

    # taken while valid, typed as held: no conflict; decided after the lapse: the conflict
    clock.day = dt.date(2025, 2, 28)
    app = registry.create_application(
        officer, "s1_1", NANHU, _case(number, residence_permit={"held": True})
    )
    assert app.register_conflicts == []
    clock.day = dt.date(2025, 3, 1)
    registry.act(officer, app.id, "submit")
    assert _fields(_app(registry, app.id).register_conflicts) == {
        "applicant.residence_permit.held": (True, False)
    }
    # still registered: §1.1's residence document holds, the permit is not held
    merged, _ = registry.read(lambda s: settlement_facts(s, _app(registry, app.id).facts, TODAY))
    assert merged["applicant"]["residence_permit"] == {"held": False}
    assert merged["applicant"]["residence_registration"] is True


def test_a_cancelled_permit_is_not_held_and_a_replacement_keeps_the_first_issue_date(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    replaced, cancelled = _migrant(4), _migrant(5)
    clock.day = dt.date(2024, 12, 2)
    for number in (replaced, cancelled):
        _reside(registry, officer, number, dt.date(2024, 5, 1))
    first = _issue(registry, officer, replaced)
    gone = _issue(registry, officer, cancelled)
    clock.day = TODAY
    registry.replace_residence_permit(officer, first, "lost")
    registry.cancel_residence_permit(officer, gone, "issued_in_error")

    def permit(number: str) -> dict[str, Any]:
        facts, _ = registry.read(lambda s: settlement_facts(s, _case(number), TODAY))
        return dict(facts["applicant"]["residence_permit"])

    assert permit(replaced) == {"held": True, "county": NANHU, "issued_on": "2024-12-02"}
    assert permit(cancelled) == {"held": False}


# ---- §1.2: three years of continuous residence from the registration history ------------


@pytest.mark.parametrize(
    ("day", "eligible"),
    [
        (dt.date(2025, 2, 28), False),  # the day before the 3rd anniversary
        (dt.date(2025, 3, 1), True),  # the anniversary
        (dt.date(2025, 3, 2), True),  # the day after
    ],
)
def test_the_registration_history_gives_three_years_continuous_residence(
    registry: Registry, officer: Actor, clock: FixedClock, day: dt.date, eligible: bool
) -> None:
    """Registered in 南湖区 from 2022-03-01, with an address change on 2023-07-01 (the chain
    is unbroken); typed: a residence history from 2015, which would be eligible any day."""
    number = _migrant(6)
    clock.day = day
    reg = _reside(registry, officer, number, dt.date(2022, 3, 1))
    with on_day(registry, dt.date(2023, 7, 1)):
        registry.change_residence_address(
            officer, reg, housing="school", address="学生公寓", provider="某校"
        )
    facts = _rented(
        number,
        residence_registration=True,
        residence_history=[{"start": "2015-01-01", "county": NANHU}],
    )
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    assert _fields(app.register_conflicts)["applicant.residence_history"] == (
        [{"start": "2015-01-01", "end": None, "county": NANHU}],
        [{"start": "2022-03-01", "end": None, "county": NANHU}],
    )
    merged, _ = registry.read(lambda s: settlement_facts(s, facts, day))
    assert merged["applicant"]["residence_registration_since"] == "2022-03-01"
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    if not eligible:
        with pytest.raises(InvalidTransition) as refused:
            registry.approve(officer, app.id)
        assert refused.value.field == "kind"
        decision = decide(parse_case(merged), on=day, parameters=registry.parameters)
        s1_1 = next(c for c in decision.channels if c.key == "s1_1")
        assert (s1_1.status, s1_1.earliest_date) == ("not_eligible", dt.date(2025, 3, 1))
        return
    assert registry.approve(officer, app.id).state == "approved"


# ---- hukou batch --from-registry agrees with the per-case decision ----------------------


def test_the_batch_on_the_register_agrees_with_the_per_case_decision(
    registry: Registry,
    officer: Actor,
    clock: FixedClock,
    db_url: str,
    tmp_path: Path,
) -> None:
    """Three tenants of registered leases on commercial flats in 南湖区 (in the register,
    theirs), each with a residence registration and an application whose typed residence
    facts disagree with the register: three years passed with a valid permit; registered
    since 2023-08-01 with a lapsed permit (not yet: 2026-08-01); the 3rd anniversary on the
    decision date. The batch on the register and the per-case decision of each application
    (the case ``Registry.approve`` decides) give the same §1.1 answer and earliest date."""
    on = TODAY
    admin = Actor(
        registry.add_user(SYSTEM, "admin", "correct horse battery", "admin"), "admin", "admin", None
    )  # a tenant's dwelling names a person outside any county's hukou: the admin's
    people = {
        "long": (_migrant(7), dt.date(2021, 1, 10), dt.date(2024, 12, 2)),
        "lapsed": (_migrant(8), dt.date(2023, 8, 1), dt.date(2024, 2, 1)),
        "anniversary": (_migrant(9), dt.date(2022, 3, 1), None),
    }
    apps: dict[str, int] = {}
    for key, (number, since, issued) in people.items():
        clock.day = issued or on
        _reside(registry, officer, number, since)
        if issued is not None:
            _issue(registry, officer, number)
        clock.day = on
        pid = registry.read(
            lambda s, n=number: s.execute(
                select(Person.id).where(Person.id_number == n)
            ).scalar_one()
        )
        registry.add_dwelling(
            admin, NANHU, f"南湖区租住{key}", "111", "rented_registered", owner_person_id=pid
        )
        facts = _rented(
            number,
            residence_permit={"held": True, "county": NANHU, "issued_on": "2019-01-01"},
            residence_history=[{"start": "2012-01-01", "county": NANHU}],
        )
        apps[key] = registry.create_application(officer, "s1_1", NANHU, facts).id

    per_case: dict[int, tuple[str, dt.date | None]] = {}
    for key, app_id in apps.items():
        app = _app(registry, app_id)
        assert "applicant.residence_history" in _fields(app.register_conflicts), key
        merged, _ = registry.read(lambda s, f=app.facts: settlement_facts(s, f, on))
        decision = decide(parse_case(merged), on=on, parameters=registry.parameters)
        s1_1 = next(c for c in decision.channels if c.key == "s1_1")
        pid = registry.read(
            lambda s, n=app.applicant_id_number: s.execute(
                select(Person.id).where(Person.id_number == n)
            ).scalar_one()
        )
        per_case[pid] = (s1_1.status, s1_1.earliest_date)
    assert sorted(per_case.values(), key=str) == sorted(
        [("eligible", None), ("not_eligible", dt.date(2026, 8, 1)), ("eligible", None)], key=str
    )

    run_registry(tmp_path / "out", on, db_url)
    rows = pq.read_table(tmp_path / "out" / batch.RESULTS_FILE).to_pylist()
    got = {
        r["person_id"]: (r["s1_1_status"], r["s1_1_earliest"])
        for r in rows
        if r["person_id"] in per_case
    }
    assert got == per_case


# ---- migration 0008 -------------------------------------------------------------------


def test_migration_0008_goes_down_and_up_again(db_url: str) -> None:
    """0008 (``applications.register_conflicts``; ``residence_records`` dropped) downgrades
    to 0007 and upgrades back, on both databases."""
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from hukou.registry.db import alembic_config, upgrade

    def schema() -> tuple[set[str], set[str]]:
        engine = create_engine(db_url)
        try:
            found = inspect(engine)
            columns = {c["name"] for c in found.get_columns("applications")}
            return set(found.get_table_names()), columns
        finally:
            engine.dispose()

    tables, columns = schema()
    assert "residence_records" not in tables and "register_conflicts" in columns
    command.downgrade(alembic_config(db_url), "0007")
    try:
        tables, columns = schema()
        assert "residence_records" in tables and "register_conflicts" not in columns
    finally:
        upgrade(db_url)
    tables, columns = schema()
    assert "residence_records" not in tables and "register_conflicts" in columns
