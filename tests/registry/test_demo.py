"""The demonstration register: every application state, a §4.5 procedure, an intact audit."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from hukou.registry import demo
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.models import APPLICATION_STATES, Application, MoveOutProcedure
from hukou.registry.service import Registry


def test_demo_has_every_state_and_verifies(tmp_path: Path) -> None:
    import datetime as dt

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)), FixedClock(dt.date(2026, 11, 28)))
    assert not demo.loaded(registry)
    logins = demo.load(registry)
    assert demo.loaded(registry)
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
