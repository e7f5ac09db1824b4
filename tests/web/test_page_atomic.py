"""Issue 11: the officer page's "register" action (a new dwelling, then the registration)
is one all-or-nothing write: refused, it leaves no dwelling (nor anything else) behind.

A small world of its own on a fresh register, SQLite and PostgreSQL (the ``db_url``-based
``registry`` fixture of tests/registry/conftest.py; the session's demo register is shared by
the other page tests): two counties, a community in each, an approved and an under-review
application of 330402.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.demo import settle_materials
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import (  # noqa: F401 (the fixtures, on SQLite and PostgreSQL)
    NANHU,
    XIUZHOU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..registry.helpers import owner_case
from ..service.test_referenced import snapshot_counts
from . import drive
from .conftest import csrf_of

PASSWORD = "a long enough secret"


@dataclass(frozen=True)
class World:
    registry: Registry
    client: TestClient
    community: int  # 330402's
    other_community: int  # 330411's
    approved: int  # 330402, approved
    under_review: int  # 330402, not yet approved


@pytest.fixture
def world(registry: Registry) -> World:  # noqa: F811
    """On a fresh register (the ``registry`` fixture: a ``FixedClock`` at 2025-03-01)."""
    uid = registry.add_user(SYSTEM, "officer_nanhu", PASSWORD, "officer", NANHU)
    other_uid = registry.add_user(SYSTEM, "officer_xiuzhou", PASSWORD, "officer", XIUZHOU)
    registry.add_user(SYSTEM, "admin", PASSWORD, "admin")
    officer = Actor(uid, "officer_nanhu", "officer", NANHU)
    other = Actor(other_uid, "officer_xiuzhou", "officer", XIUZHOU)
    community, _ = registry.add_community(officer, NANHU, "建设街道", "紫阳社区", "111")
    other_community, _ = registry.add_community(other, XIUZHOU, "新城街道", "秀园社区", "111")
    approved = registry.create_application(officer, "s1_1", NANHU, owner_case())
    under_review = registry.create_application(officer, "s1_1", NANHU, owner_case("陈明", seq=3))
    for app_id in (approved.id, under_review.id):
        for action in ("submit", "review"):
            registry.act(officer, app_id, action)
    settle_materials(registry, officer, approved.id)
    registry.approve(officer, approved.id)
    client = TestClient(create_app(registry), base_url="https://testserver", follow_redirects=False)
    return World(registry, client, community, other_community, approved.id, under_review.id)


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    r = client.post(
        "/login", data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD}
    )
    assert r.status_code == 303, r.text


def _register(
    world: World, username: str, app_id: int, community: int, version: str | None = None
) -> int:
    """Post the case page's register action; the reply's status."""
    _login(world.client, username)
    url = f"/officer/app/{app_id}"
    page = world.client.get(url)
    assert page.status_code == 200, page.text
    r = world.client.post(
        url,
        data={
            "csrf": csrf_of(page.text),
            "action": "register",
            "version": version or drive.hidden(page.text, "version") or "",
            "address": "南湖区示范路9号",
            "community_id": str(community),
        },
    )
    return int(r.status_code)


def test_a_register_refused_as_not_approved_leaves_no_dwelling(world: World) -> None:
    before = snapshot_counts(world.registry)
    status = _register(world, "officer_nanhu", world.under_review, world.community)
    assert status == 409
    assert snapshot_counts(world.registry) == before  # today: one dwelling more


def test_a_register_refused_as_stale_leaves_no_dwelling(world: World) -> None:
    before = snapshot_counts(world.registry)
    status = _register(world, "officer_nanhu", world.approved, world.community, version="99")
    assert status == 409
    assert snapshot_counts(world.registry) == before  # today: one dwelling more


def test_an_admin_register_is_refused_and_leaves_no_dwelling(world: World) -> None:
    before = snapshot_counts(world.registry)
    status = _register(world, "admin", world.approved, world.community)
    assert status == 403
    assert snapshot_counts(world.registry) == before  # today: one dwelling more


def test_a_register_into_another_countys_community_is_refused(world: World) -> None:
    before = snapshot_counts(world.registry)
    status = _register(world, "officer_nanhu", world.approved, world.other_community)
    assert status == 403  # today: 303, a 330402 dwelling in 330411's community
    assert snapshot_counts(world.registry) == before


def test_a_register_in_ones_own_community_is_done(world: World) -> None:
    """The positive control: one dwelling, one household, the family in it."""
    before = snapshot_counts(world.registry)
    status = _register(world, "officer_nanhu", world.approved, world.community)
    assert status == 303
    after = snapshot_counts(world.registry)
    assert after["dwellings"] == before["dwellings"] + 1
    assert after["households"] == before["households"] + 1
    assert after["memberships"] == before["memberships"] + 2
