"""The demonstration register: every application state, a §4.5 procedure, an intact audit;
and the demo stays a demo — it refuses a register with real users unless forced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry import demo
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.errors import RegistryError
from hukou.registry.models import (
    APPLICATION_STATES,
    Application,
    AuditRecord,
    MoveOutProcedure,
    User,
)
from hukou.registry.service import Registry

REAL_PASSWORD = "a long enough secret"
runner = CliRunner()


def _registry(tmp_path: Path) -> tuple[Registry, str]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    return Registry(session_factory(make_engine(url)), FixedClock(dt.date(2026, 11, 28))), url


def _counts(registry: Registry) -> dict[str, int]:
    """Rows of users, applications and audit_log: a refusal writes none of them."""
    return registry.read(
        lambda s: {
            model.__tablename__: s.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (User, Application, AuditRecord)
        }
    )


def test_demo_has_every_state_and_verifies(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    assert not demo.loaded(registry)
    logins = demo.load(registry)
    assert demo.loaded(registry)
    assert demo.foreign_users(registry) == []
    assert len(logins.officers) == 7
    states = registry.read(
        lambda s: dict(
            s.execute(select(Application.state, func.count()).group_by(Application.state)).all()
        )
    )
    assert set(states) == set(APPLICATION_STATES)
    procedure = registry.read(lambda s: s.execute(select(MoveOutProcedure.state)).scalar_one())
    assert procedure == "public_notice"
    assert registry.verify_audit() == []
    actor = registry.login("officer_330402", demo.DEMO_PASSWORD)
    assert actor.jurisdiction == "330402"


def test_second_load_is_a_no_op(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    demo.load(registry)
    before = _counts(registry)
    logins = demo.load(registry, seed=7)
    assert _counts(registry) == before
    assert logins.admin == "admin" and len(logins.officers) == 7


def test_refuses_a_register_with_a_real_officer(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    registry.add_user(SYSTEM, "wang_wei", REAL_PASSWORD, "officer", "330402")
    assert demo.foreign_users(registry) == ["wang_wei"]
    assert not demo.loaded(registry)
    before = _counts(registry)
    with pytest.raises(RegistryError) as refused:
        demo.load(registry)
    assert refused.value.field == "users"
    assert "wang_wei" in refused.value.zh and "wang_wei" in refused.value.en
    assert "--force" in refused.value.en
    assert _counts(registry) == before
    assert not demo.loaded(registry)


def test_force_loads_beside_real_users(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    registry.add_user(SYSTEM, "wang_wei", REAL_PASSWORD, "officer", "330402")
    demo.load(registry, force=True)
    assert demo.loaded(registry)
    assert demo.foreign_users(registry) == ["wang_wei"]
    assert registry.login("wang_wei", REAL_PASSWORD).username == "wang_wei"
    assert registry.verify_audit() == []
    before = _counts(registry)
    demo.load(registry, force=True)  # loaded: still a no-op
    assert _counts(registry) == before


def test_never_overwrites_a_real_account_of_the_same_name(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    registry.add_user(SYSTEM, "admin", REAL_PASSWORD, "admin")
    assert demo.foreign_users(registry) == []
    assert not demo.loaded(registry)
    before = _counts(registry)
    for force in (False, True):
        with pytest.raises(RegistryError) as refused:
            demo.load(registry, force=force)
        assert refused.value.field == "users" and "admin" in refused.value.en
    assert _counts(registry) == before
    assert registry.login("admin", REAL_PASSWORD).role == "admin"


def test_refuses_a_register_with_data_but_no_users(tmp_path: Path) -> None:
    registry, _ = _registry(tmp_path)
    registry.add_community(
        Actor(None, "cli", "officer", "330402"), "330402", "新区", "某社区", "111"
    )
    before = _counts(registry)
    with pytest.raises(RegistryError) as refused:
        demo.load(registry)
    assert refused.value.field == "users" and "communities" in refused.value.en
    assert _counts(registry) == before


def test_cli_refuses_in_both_languages_and_force_overrides(tmp_path: Path) -> None:
    registry, url = _registry(tmp_path)
    registry.add_user(SYSTEM, "wang_wei", REAL_PASSWORD, "officer", "330402")
    before = _counts(registry)
    refused = runner.invoke(app, ["demo", "load", "--url", url])
    assert refused.exit_code == 2, refused.output
    text = " ".join(refused.output.split())  # rich wraps long lines
    assert "非演示用户" in text and "the demo did not create" in text
    assert text.index("非演示用户") < text.index("the demo did not create")
    assert "Traceback" not in refused.output
    assert _counts(registry) == before
    forced = runner.invoke(app, ["demo", "load", "--force", "--url", url])
    assert forced.exit_code == 0, forced.output
    assert demo.loaded(registry)
    again = runner.invoke(app, ["demo", "load", "--url", url])  # a second `make run`
    assert again.exit_code == 0 and "already loaded" in again.output


def test_cli_loads_an_empty_register(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    first = runner.invoke(app, ["demo", "load", "--url", url])
    assert first.exit_code == 0, first.output
    assert "officer_330402" in first.output
    again = runner.invoke(app, ["demo", "load", "--url", url])
    assert again.exit_code == 0 and "already loaded" in again.output


def test_the_demo_has_both_kinds_of_move(tmp_path: Path) -> None:
    """Families from outside Zhejiang came with move-in permits (one still open), families
    from Hangzhou in one step (the sending side told through the provincial system), and a
    南湖区 owner moved to 秀洲区, leaving a pending notice in 南湖区's queue."""
    import datetime as dt

    from hukou.registry.models import Membership, MoveInPermit, Person, StationNotice

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)), FixedClock(dt.date(2026, 11, 28)))
    demo.load(registry)
    permits = registry.read(
        lambda s: dict(
            s.execute(select(MoveInPermit.state, func.count()).group_by(MoveInPermit.state)).all()
        )
    )
    # per county: one registered, one approved; and the lease holder's (§6), used
    assert permits == {"used": 8, "issued": 7}
    notices = registry.read(
        lambda s: [
            (n.county, n.from_county, n.state)
            for n in s.execute(select(StationNotice).order_by(StationNotice.id)).scalars()
        ]
    )
    # one notice per person: the applicant, the spouse and the child of one family a county
    assert notices.count(("330106", "330402", "forwarded")) == 3
    assert sum(1 for c, _f, st in notices if c == "330106" and st == "forwarded") == 21
    assert ("330402", "330411", "pending") in notices
    pending = next(
        n
        for n in registry.read(
            lambda s: list(
                s.execute(select(StationNotice).where(StationNotice.state == "pending")).scalars()
            )
        )
    )
    memberships = registry.read(
        lambda s: s.execute(
            select(Membership.end_date, Membership.reason_out)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.id == pending.person_id)
            .order_by(Membership.id)
        ).all()
    )
    assert len(memberships) == 2 and memberships[0][0] is not None and memberships[1][0] is None
    assert registry.verify_audit() == []


# ---- §6: the lease holder's whole path (issue 16, "done when") ------------------------------


def _explained_facts(node: Any) -> dict[str, Any]:
    """Every fact an explanation tree (the decision JSON) says it read, with its value."""
    found: dict[str, Any] = {}
    if isinstance(node, dict):
        found.update(node.get("facts") or {})
        for value in node.values():
            found.update(_explained_facts(value))
    elif isinstance(node, list):
        for value in node:
            found.update(_explained_facts(value))
    return found


def test_the_lease_holders_path_runs_end_to_end(tmp_path: Path) -> None:
    """陈晓燕 (README *§6 in the demo*): residence registered on a registered lease → a
    permit applied for on the dwelling ground, issued → endorsed on time every year →
    three years on, a settlement application under §1.1 with §1.2 decided on the
    register's permit and registration facts → approved, registered on the leased flat →
    the permit cancelled (``settled``) and the registration ended, that day."""
    from hukou.policy.places import in_jiaxing
    from hukou.registry import demo_residence as dr
    from hukou.registry.models import (
        ApplicationEvent,
        Dwelling,
        Household,
        Membership,
        Person,
        ResidencePermit,
        ResidencePermitEndorsement,
        ResidenceRegistration,
    )

    registry, _ = _registry(tmp_path)
    today = registry.clock.today()
    demo.load(registry)

    def days_ago(n: int) -> dt.date:
        return today - dt.timedelta(days=n)

    def query(s: Any) -> dict[str, Any]:
        person = s.execute(
            select(Person).where(Person.id_number == dr.LEASE_HOLDER_ID)
        ).scalar_one()
        app = s.execute(
            select(Application).where(Application.applicant_id_number == dr.LEASE_HOLDER_ID)
        ).scalar_one()
        permits = list(
            s.execute(
                select(ResidencePermit)
                .where(ResidencePermit.person_id == person.id)
                .order_by(ResidencePermit.id)
            ).scalars()
        )
        return {
            "person": person,
            "regs": list(
                s.execute(
                    select(ResidenceRegistration)
                    .where(ResidenceRegistration.person_id == person.id)
                    .order_by(ResidenceRegistration.id)
                ).scalars()
            ),
            "permits": permits,
            "endorsements": list(
                s.execute(
                    select(ResidencePermitEndorsement)
                    .where(ResidencePermitEndorsement.permit_id.in_([p.id for p in permits]))
                    .order_by(ResidencePermitEndorsement.endorsed_on)
                ).scalars()
            ),
            "app": app,
            "events": [
                (e.to_state, e.at.date())
                for e in s.execute(
                    select(ApplicationEvent)
                    .where(ApplicationEvent.application_id == app.id)
                    .order_by(ApplicationEvent.id)
                ).scalars()
            ],
            "memberships": [
                (m.start_date, m.end_date, h.kind, h.county, h.dwelling_id)
                for m, h in s.execute(
                    select(Membership, Household)
                    .join(Household, Household.id == Membership.household_id)
                    .where(Membership.person_id == person.id)
                ).all()
            ],
            "dwellings": {d.id: d for d in s.execute(select(Dwelling)).scalars()},
        }

    got = registry.read(query)
    assert got["person"].name == dr.LEASE_HOLDER_NAME
    # 1. residence registered on a registered lease of a commercial flat in 南湖区
    [reg] = got["regs"]
    lease = got["dwellings"][reg.dwelling_id]
    assert (reg.county, reg.housing) == (demo.SETTLER_COUNTY, "dwelling")
    assert (lease.tenure, lease.commercial_housing, lease.county) == (
        "rented_registered", True, demo.SETTLER_COUNTY
    )  # fmt: skip
    assert reg.start_date == days_ago(dr.LEASE_SINCE)
    # 2. a permit applied for on the dwelling ground half a year later, the rules' ground
    [permit] = got["permits"]
    assert permit.ground == "dwelling" and permit.applied_on == days_ago(dr.PERMIT_APPLIED)
    assert permit.applied_on >= reg.start_date + dt.timedelta(days=182)
    assert permit.decision is not None and permit.decision["status"] == "eligible"
    assert "stable_dwelling" in permit.decision["grounds"]
    assert permit.issued_on == days_ago(dr.PERMIT_ISSUED) and permit.number
    assert permit.residence_since == reg.start_date
    # 3. endorsed on time every year: one each full year since issue, none late
    ends = got["endorsements"]
    years = (today - permit.issued_on).days // 365
    assert years >= 3 and len(ends) == years
    assert not any(e.late for e in ends)
    anniversaries = [permit.issued_on.replace(year=permit.issued_on.year + k) for k in (1, 2, 3)]
    for e, anniversary in zip(ends, anniversaries, strict=False):
        assert anniversary - dt.timedelta(days=31) <= e.endorsed_on < anniversary
        assert e.valid_until == anniversary.replace(year=anniversary.year + 1) - dt.timedelta(1)
    # 4. three years after the registration began: a settlement application under §1.1
    # (a registered lease of a commercial flat: §1.2), decided on the register's facts
    app = got["app"]
    assert app.kind == "s1_1" and app.county == demo.SETTLER_COUNTY
    applied = days_ago(dr.SETTLE_APPLIED)
    assert applied >= reg.start_date.replace(year=reg.start_date.year + 3)
    typed = app.facts["applicant"]
    for field in ("residence_registration_since", "residence_history"):
        assert field not in typed  # not typed: only the register gives them
    assert typed["dwellings"][0]["tenure"] == "rented_registered"
    assert app.register_conflicts == []  # the register holds her: compared, and agrees
    assert app.decision is not None and app.decision["register_conflicts"] == []
    s1_1 = next(c for c in app.decision["channels"] if c["key"] == "s1_1")
    assert s1_1["status"] == "eligible"
    read = _explained_facts(s1_1)
    assert read["applicant.registration_since"] == reg.start_date.isoformat()
    assert read["applicant.dwellings[0].stretch_start"] == reg.start_date.isoformat()
    assert read["applicant.permit_since"] == permit.issued_on.isoformat()
    assert read["applicant.permit_county"] == demo.SETTLER_COUNTY
    # 5. submitted, reviewed, approved, registered — each on its day
    assert got["events"] == [
        ("draft", applied),
        ("submitted", applied),
        ("under_review", days_ago(dr.SETTLE_REVIEWED)),
        ("approved", days_ago(dr.SETTLE_APPROVED)),
        ("registered", days_ago(dr.SETTLE_REGISTERED)),
    ]
    assert app.state == "registered" and app.decided_on == days_ago(dr.SETTLE_APPROVED)
    settled_on = days_ago(dr.SETTLE_REGISTERED)
    assert got["memberships"] == [
        (settled_on, None, "family", demo.SETTLER_COUNTY, reg.dwelling_id)
    ]  # her hukou on the leased flat, a household of its own
    assert not in_jiaxing(dr.LEASE_HOLDER_HUKOU)  # she came from outside: a move-in permit
    # 6. the registration cancelled the permit and ended the residence registration
    assert (permit.state, permit.close_reason, permit.closed_on) == (
        "cancelled", "settled", settled_on
    )  # fmt: skip
    assert (reg.end_date, reg.end_reason) == (settled_on, "settled")
    assert registry.verify_audit() == []
