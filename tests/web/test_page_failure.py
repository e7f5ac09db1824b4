"""Issue 11: a page write that fails midway — after rows were flushed, before the commit —
leaves the register as it was (one transaction, rolled back), whatever the page answers.

The failure is injected into ``Registry._move`` (each person's membership): it runs the real
step, whose rows are flushed, then raises ``RuntimeError``. The page answers 500 (the test
client does not re-raise: ``raise_server_exceptions=False``).

* the officer page's register action with a new dwelling: the dwelling, the family
  household and the first person's membership are flushed when the first or the second
  ``_move`` fails;
* the §4.5 page action ``move_ex_officio``: the person's membership is closed and one in the
  community collective household opened when the only ``_move`` fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hukou.registry.access import Actor
from hukou.registry.clock import FixedClock
from hukou.registry.models import Application, Membership, MoveOutProcedure, User
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import NANHU
from ..service.test_referenced import snapshot_counts
from .conftest import csrf_of
from .test_page_atomic import (  # noqa: F401 (the fixtures: ``world`` and what it needs)
    World,
    _login,
    _register,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
    world,
)


class Injected(RuntimeError):
    pass


def _fail_move_on(monkeypatch: pytest.MonkeyPatch, call: int) -> list[int]:
    """``Registry._move`` does its work, then raises on its ``call``-th call (1-based);
    the list counts the calls."""
    real: Callable[..., Membership] = Registry._move
    calls: list[int] = []

    def failing(self: Registry, *args: Any, **kwargs: Any) -> Membership:
        calls.append(1)
        m = real(self, *args, **kwargs)  # flushed: the rows exist in the transaction
        if len(calls) == call:
            raise Injected(f"injected failure after _move call {call}")
        return m

    monkeypatch.setattr(Registry, "_move", failing)
    return calls


def _quiet_client(w: World) -> World:
    """The same register behind a client that answers 500 instead of re-raising."""
    client = TestClient(
        create_app(w.registry),
        base_url="https://testserver",
        follow_redirects=False,
        raise_server_exceptions=False,
    )
    return dataclasses.replace(w, client=client)


def _app_state(reg: Registry, app_id: int) -> tuple[str, int]:
    app = reg.read(lambda s: s.get(Application, app_id))
    assert app is not None
    return app.state, app.version


@pytest.mark.parametrize("call", [1, 2], ids=["first-move", "second-move"])
def test_a_page_registration_failing_midway_leaves_the_register_unchanged(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    call: int,
) -> None:
    quiet = _quiet_client(world)
    before = snapshot_counts(world.registry)
    app_before = _app_state(world.registry, world.approved)
    calls = _fail_move_on(monkeypatch, call)
    status = _register(quiet, "officer_nanhu", world.approved, world.community)
    assert len(calls) == call  # it failed where it was meant to, after real work
    assert status == 500
    assert snapshot_counts(world.registry) == before
    assert _app_state(world.registry, world.approved) == app_before
    # and without the failure the same registration goes through (the positive control)
    monkeypatch.undo()
    assert _register(quiet, "officer_nanhu", world.approved, world.community) == 303
    after = snapshot_counts(world.registry)
    assert after["dwellings"] == before["dwellings"] + 1
    assert after["memberships"] == before["memberships"] + 2


# ---- §4.5 move_ex_officio through the page -----------------------------------------------


def _public_notice_run_out(w: World) -> tuple[int, int]:
    """Register the approved family on a dwelling of the community, open a §4.5 procedure
    for the applicant, take it to public notice, and move the clock past the notice.
    The procedure and the person."""
    reg = w.registry
    uid = reg.read(
        lambda s: s.execute(select(User.id).where(User.username == "officer_nanhu")).scalar_one()
    )
    officer = Actor(int(uid), "officer_nanhu", "officer", NANHU)
    dwelling = reg.add_dwelling(
        officer, NANHU, "紫阳街道8号", "111", "owned", community_id=w.community
    )
    reg.register(officer, w.approved, dwelling_id=dwelling)
    person = reg.read(
        lambda s: s.execute(
            select(Membership.person_id)
            .where(Membership.relation_to_head == "户主", Membership.end_date.is_(None))
            .limit(1)
        ).scalar_one()
    )
    p = reg.request_move_out(officer, dwelling, int(person), "赵六", "owner", "不动产权证")
    p = reg.move_out_step(officer, p.id, "unreachable")  # straight to public notice
    assert p.state == "public_notice" and p.notice_until is not None
    fixed = reg.clock
    assert isinstance(fixed, FixedClock)
    fixed.day = p.notice_until + dt.timedelta(days=1)
    return p.id, int(person)


def _where(reg: Registry, person: int) -> list[tuple[int, Any]]:
    """The person's memberships: (household, end date), in order."""
    return reg.read(
        lambda s: [
            (m.household_id, m.end_date)
            for m in s.execute(
                select(Membership).where(Membership.person_id == person).order_by(Membership.id)
            ).scalars()
        ]
    )


def _procedure(reg: Registry, procedure: int) -> tuple[str, int, Any]:
    p = reg.read(lambda s: s.get(MoveOutProcedure, procedure))
    assert p is not None
    return p.state, p.version, p.target_household_id


def _step(w: World, procedure: int) -> int:
    _login(w.client, "officer_nanhu")
    page = w.client.get("/officer/move-outs")
    assert page.status_code == 200, page.text
    r = w.client.post(
        f"/officer/move-outs/{procedure}",
        data={"csrf": csrf_of(page.text), "action": "move_ex_officio"},
    )
    return int(r.status_code)


def test_a_page_move_ex_officio_failing_midway_leaves_the_register_unchanged(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    procedure, person = _public_notice_run_out(world)
    quiet = _quiet_client(world)
    before = snapshot_counts(world.registry)
    where = _where(world.registry, person)
    state = _procedure(world.registry, procedure)
    assert state[0] == "public_notice"
    calls = _fail_move_on(monkeypatch, 1)
    assert _step(quiet, procedure) == 500
    assert len(calls) == 1
    assert snapshot_counts(world.registry) == before
    assert _where(world.registry, person) == where  # the membership is still open
    assert _procedure(world.registry, procedure) == state
    monkeypatch.undo()  # the positive control: without the failure, it is moved
    assert _step(quiet, procedure) == 303
    assert _procedure(world.registry, procedure)[0] == "moved_ex_officio"
    assert len(_where(world.registry, person)) == len(where) + 1
