"""The officer's case page decides a settlement case on the register's facts (issue 16, part
3): when the register holds a residence registration of the applicant, the page's decision
is the one approval makes — on the register's permit and registration, not on what was
typed — and the typed facts that disagree are shown to the officer as a warning table.

Both directions, on SQLite and PostgreSQL: the typed facts say "no permit" where the
register holds one (the page says eligible, and approval goes through), and "a permit"
where the register's was cancelled when the holder left (the page says not eligible, and
approval is refused)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hukou.engine.decide import decide
from hukou.policy.facts import parse_case
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.demo import settle_materials
from hukou.registry.errors import InvalidTransition
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

from ..registry.conftest import (  # noqa: F401 (the fixtures, on SQLite and PostgreSQL)
    NANHU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..service.test_application_register_conflicts import owner_facts
from ..service.test_permit_api import HOUSING, migrant
from .conftest import csrf_of

PASSWORD = "a long enough secret"
TODAY = dt.date(2025, 3, 1)  # the fixture clock's day
NAME = "赵敏"
ISSUED = dt.date(2024, 12, 2)
SINCE = dt.date(2024, 5, 1)


def _owner(number: str, **applicant: Any) -> dict[str, Any]:
    return owner_facts(number, NAME, **applicant)


def _permit_holder(register: Registry, officer: Actor, the_clock: FixedClock, number: str) -> int:
    """Registered in 南湖区 since ``SINCE``, a permit issued on ``ISSUED``: its id."""
    the_clock.day = SINCE  # recorded that day (a registration is dated 30 days back at most)
    try:
        register.register_residence(officer, number, NANHU, name=NAME, **HOUSING)
        the_clock.day = ISSUED
        applied = register.apply_for_residence_permit(
            officer, number, NANHU, "employment", facts={"local_labour_contract": True}
        )
        register.review_residence_permit(officer, applied.id)
        return register.issue_residence_permit(officer, applied.id).id
    finally:
        the_clock.day = TODAY


@pytest.fixture
def officer_page(registry: Registry) -> tuple[Actor, TestClient]:  # noqa: F811
    uid = registry.add_user(SYSTEM, "nanhu", PASSWORD, "officer", NANHU)
    page = TestClient(
        create_app(registry, limits=Limits.unlimited()),
        base_url="https://testserver",
        follow_redirects=False,
    )
    form = page.get("/login")
    r = page.post(
        "/login", data={"csrf": csrf_of(form.text), "username": "nanhu", "password": PASSWORD}
    )
    assert r.status_code == 303
    return Actor(uid, "nanhu", "officer", NANHU), page


def _channel(html: str, clause: str) -> str:
    """The css class of a channel on the case page: yes, no or open."""
    found = re.search(rf'<li class="channel (\w+)"><span class="clause">{re.escape(clause)}<', html)
    assert found, f"no channel {clause} on the page"
    return found.group(1)


def _conflicts(html: str) -> dict[str, tuple[str, str]]:
    """The warning table: field -> (typed, register)."""
    found = re.search(r'<div[^>]*id="register-conflicts".*?<tbody>(.*?)</tbody>', html, re.S)
    if not found:
        return {}
    rows = re.findall(
        r"<tr><th[^>]*>.*?<code>([^<]+)</code></th><td>([^<]*)</td><td>([^<]*)</td></tr>",
        found.group(1),
        re.S,
    )
    return {field: (typed, register) for field, typed, register in rows}


def _typed_status(register: Registry, facts: dict[str, Any]) -> str:
    typed = decide(parse_case(facts), on=TODAY, parameters=register.parameters)
    return next(c for c in typed.channels if c.key == "s1_1").status


def test_the_page_shows_the_registers_decision_and_the_conflicts(
    registry: Registry,  # noqa: F811
    clock: FixedClock,  # noqa: F811
    officer_page: tuple[Actor, TestClient],
) -> None:
    officer, page = officer_page
    number = migrant(41)
    _permit_holder(registry, officer, clock, number)
    # typed: no permit, no registration — on these facts §1.1 fails (R2: neither held)
    facts = _owner(number, residence_permit={"held": False}, residence_registration=False)
    assert _typed_status(registry, facts) == "not_eligible"
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    registry.act(officer, app.id, "submit")

    html = page.get(f"/officer/app/{app.id}").text
    assert _channel(html, "§1.1") == "yes"  # the register's permit and registration count
    assert _conflicts(html) == {
        "applicant.residence_permit.held": ("否 / no", "是 / yes"),
        "applicant.residence_registration": ("否 / no", "是 / yes"),
    }
    assert 'id="register-facts"' in html and TODAY.isoformat() in html
    en = page.get(f"/officer/app/{app.id}?lang=en").text
    assert _channel(en, "§1.1") == "yes" and "the register&#39;s residence" in en
    assert "Register" in en and "applicant.residence_permit.held" in en

    # approval decides as the page said; the page then shows the decision's conflicts
    registry.act(officer, app.id, "review")
    settle_materials(registry, officer, app.id)
    assert registry.approve(officer, app.id).state == "approved"
    after = page.get(f"/officer/app/{app.id}").text
    assert _channel(after, "§1.1") == "yes"
    assert set(_conflicts(after)) == {
        "applicant.residence_permit.held",
        "applicant.residence_registration",
    }


def test_the_page_says_not_eligible_when_the_register_holds_no_permit_now(
    registry: Registry,  # noqa: F811
    clock: FixedClock,  # noqa: F811
    officer_page: tuple[Actor, TestClient],
) -> None:
    officer, page = officer_page
    number = migrant(42)
    permit_id = _permit_holder(registry, officer, clock, number)
    clock.day = dt.date(2025, 2, 1)
    registry.cancel_residence_permit(officer, permit_id, "left")  # the registration ends too
    clock.day = TODAY
    # typed: a permit of 南湖区 — on these facts §1.1 holds
    facts = _owner(number, residence_permit={"held": True, "county": NANHU})
    assert _typed_status(registry, facts) == "eligible"
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    for step in ("submit", "review"):
        registry.act(officer, app.id, step)

    html = page.get(f"/officer/app/{app.id}").text
    assert _channel(html, "§1.1") == "no"
    assert _conflicts(html) == {"applicant.residence_permit.held": ("是 / yes", "否 / no")}
    settle_materials(registry, officer, app.id)
    with pytest.raises(InvalidTransition):  # approval decides as the page does
        registry.approve(officer, app.id)


def test_a_case_the_register_holds_nothing_of_is_decided_as_typed(
    registry: Registry,  # noqa: F811
    officer_page: tuple[Actor, TestClient],
) -> None:
    officer, page = officer_page
    facts = _owner(migrant(43), residence_permit={"held": True, "county": NANHU})
    app = registry.create_application(officer, "s1_1", NANHU, facts)
    html = page.get(f"/officer/app/{app.id}").text
    assert _channel(html, "§1.1") == "yes"
    assert 'id="register-conflicts"' not in html and 'id="register-facts"' not in html
