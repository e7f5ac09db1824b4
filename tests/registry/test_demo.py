"""The demonstration register: every application state, a §4.5 procedure, an intact audit;
and the demo stays a demo — it refuses a register with real users unless forced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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
    assert permits == {"used": 7, "issued": 7}  # per county: one registered, one approved
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
