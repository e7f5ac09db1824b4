"""§4.5 迁出原有户口: every allowed and every refused step, and the notice period by date."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, text

from hukou.policy.calendar import deadline
from hukou.registry.access import Actor
from hukou.registry.clock import FixedClock
from hukou.registry.demo import settle_materials
from hukou.registry.errors import InvalidTransition, RegistryError
from hukou.registry.models import MOVE_OUT_STATES, Household, Membership
from hukou.registry.service import MOVE_OUT_TRANSITIONS, Registry

from .conftest import NANHU
from .helpers import owner_case

ACTIONS = ("notify", "unreachable", "refused", "moved_out", "move_ex_officio", "withdraw")


def _setup(registry: Registry, officer: Actor) -> tuple[int, int, int]:
    """A family household at a dwelling in a community, with the person to be moved out."""
    community, collective = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    dwelling = registry.add_dwelling(
        officer, NANHU, "紫阳街道8号", "111", "owned", community_id=community
    )
    app = registry.create_application(officer, "s1_1", NANHU, owner_case(with_spouse=False))
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    registry.register(officer, app.id, dwelling_id=dwelling)
    person = registry.read(lambda s: s.execute(select(Membership.person_id)).scalar_one())
    return dwelling, person, collective


@pytest.mark.clause("§4.5")
def test_request_needs_a_requester_role_and_property_proof(
    registry: Registry, officer: Actor
) -> None:
    dwelling, person, _ = _setup(registry, officer)
    with pytest.raises(RegistryError) as err:
        registry.request_move_out(officer, dwelling, person, "赵六", "neighbour", "不动产权证")
    assert err.value.field == "requester_role"
    with pytest.raises(RegistryError) as err:
        registry.request_move_out(officer, dwelling, person, "赵六", "owner", " ")
    assert err.value.field == "property_proof"


@pytest.mark.clause("§4.5")
@pytest.mark.parametrize("state", MOVE_OUT_STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_step_allowed_or_refused(
    registry: Registry, officer: Actor, engine: Engine, clock: FixedClock, state: str, action: str
) -> None:
    dwelling, person, _ = _setup(registry, officer)
    p = registry.request_move_out(officer, dwelling, person, "赵六", "owner", "不动产权证 123")
    with engine.begin() as conn:  # put the procedure in ``state``, its notice long run out
        conn.execute(
            text(
                "UPDATE move_out_procedures SET state = :s, notice_from = :f, "
                "notice_until = :u WHERE id = :i"
            ),
            {"s": state, "f": dt.date(2024, 1, 1), "u": dt.date(2024, 1, 30), "i": p.id},
        )
    allowed = (state, action) in MOVE_OUT_TRANSITIONS
    if allowed:
        done = registry.move_out_step(officer, p.id, action)
        assert done.state == MOVE_OUT_TRANSITIONS[(state, action)]
    else:
        with pytest.raises(InvalidTransition):
            registry.move_out_step(officer, p.id, action)


@pytest.mark.clause("§4.5")
def test_ex_officio_only_after_the_public_notice_has_run(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    dwelling, person, collective = _setup(registry, officer)
    p = registry.request_move_out(officer, dwelling, person, "赵六", "owner", "不动产权证 123")
    p = registry.move_out_step(officer, p.id, "notify")
    p = registry.move_out_step(officer, p.id, "refused")
    assert p.state == "public_notice"
    days = registry.parameters.at(clock.today())["s4_registration.move_out_public_notice_days"]
    # counted to Sunday 2025-03-30; Civil Code art. 203 (R9a) runs it to Monday 2025-03-31
    assert p.notice_until == deadline(clock.today() + dt.timedelta(days=days - 1)).last_day
    last_day = p.notice_until
    clock.day = last_day - dt.timedelta(days=1)  # the day before the last day
    with pytest.raises(InvalidTransition):
        registry.move_out_step(officer, p.id, "move_ex_officio")
    assert registry.due_move_outs(officer) == []
    clock.day = last_day  # the last day of the notice
    with pytest.raises(InvalidTransition) as err:
        registry.move_out_step(officer, p.id, "move_ex_officio")
    assert str(last_day) in err.value.zh
    assert registry.due_move_outs(officer) == []
    clock.day = last_day + dt.timedelta(days=1)  # the day after: the period has run out
    assert [x.id for x in registry.due_move_outs(officer)] == [p.id]
    done = registry.move_out_step(officer, p.id, "move_ex_officio")
    assert done.state == "moved_ex_officio" and done.target_household_id == collective
    now_in = registry.read(
        lambda s: s.execute(
            select(Membership.household_id).where(
                Membership.person_id == person, Membership.end_date.is_(None)
            )
        ).scalar_one()
    )
    assert now_in == collective
    kind = registry.read(lambda s: s.get(Household, collective))
    assert kind is not None and kind.kind == "community_collective"
    assert registry.verify_audit() == []


@pytest.mark.clause("§4.5")
def test_only_a_person_registered_at_the_dwelling_can_be_moved_out(
    registry: Registry, officer: Actor
) -> None:
    _dwelling, person, _ = _setup(registry, officer)
    other = registry.add_dwelling(officer, NANHU, "别处9号", "111", "owned")
    with pytest.raises(RegistryError) as err:
        registry.request_move_out(officer, other, person, "赵六", "owner", "不动产权证 9")
    assert err.value.field == "person_id"


@pytest.mark.clause("§4.5")
def test_ex_officio_never_moves_someone_who_has_left_the_dwelling(
    registry: Registry, officer: Actor, clock: FixedClock
) -> None:
    """The person settled elsewhere during the notice: moving "ex officio" must not take
    them out of their new household (it did: the move was from wherever they were)."""
    dwelling, person, _collective = _setup(registry, officer)
    p = registry.request_move_out(officer, dwelling, person, "赵六", "owner", "不动产权证 123")
    registry.move_out_step(officer, p.id, "unreachable")
    facts = owner_case(with_spouse=False)
    facts["applicant"]["hukou"] = {"kind": "own_family_household", "address": {"county": NANHU}}
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    new_home = registry.add_dwelling(officer, NANHU, "紫阳街道9号", "111", "owned")
    household = registry.register(officer, app.id, dwelling_id=new_home)
    clock.advance(400)
    with pytest.raises(InvalidTransition) as err:
        registry.move_out_step(officer, p.id, "move_ex_officio")
    assert err.value.field == "person_id"
    now_in = registry.read(
        lambda s: s.execute(
            select(Membership.household_id).where(
                Membership.person_id == person, Membership.end_date.is_(None)
            )
        ).scalar_one()
    )
    assert now_in == household
    assert registry.move_out_step(officer, p.id, "withdraw").state == "withdrawn"
