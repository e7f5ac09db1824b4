"""A citizen's self-service application never tells whether an ID number, or a name with
it, is in the register; the officer sees the difference on the case."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from hukou.registry.models import Membership, Person
from hukou.registry.service import Registry

from . import drive
from .conftest import csrf_of, login
from .helpers_ids import unregistered_id
from .scenarios import OWNER_FAMILY


def _apply(client: TestClient, number: str, name: str) -> tuple[int, str]:
    result, _ = drive.run(client, OWNER_FAMILY)
    r = client.post(
        "/check/apply",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "name": name,
            "id_number": number,
            "kind": "s1_1",
            "county": "330483",
            "origin_county": "341221",
        },
    )
    return r.status_code, r.text


def test_the_citizen_is_not_told_and_the_officer_is(
    client: TestClient, demo_registry: Registry
) -> None:
    registered = demo_registry.read(
        lambda s: s.execute(
            select(Person.id_number, Person.name)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.end_date.is_(None))
            .order_by(Person.id)
        ).first()
    )
    assert registered is not None
    number, real_name = registered
    pages = {
        "known number, another name": _apply(client, number, "冒名顶替"),
        "unknown number": _apply(client, unregistered_id(demo_registry), "冒名顶替"),
    }
    shapes = set()
    for what, (status, html) in pages.items():
        assert status == 200, (what, html)
        assert real_name not in html and "登记簿" not in html, what
        shapes.add(re.sub(r"HK-\d{8}-[0-9A-F]{10}", "REF", html))
    assert len(shapes) == 1, "the two answers differ beyond the reference"
    login(client, "officer_330483")
    queue = client.get("/officer?state=submitted").text
    cases = re.findall(r'href="/officer/app/(\d+)"', queue)
    flagged = [c for c in cases if 'id="identity-flags"' in client.get(f"/officer/app/{c}").text]
    assert len(flagged) == 1
    assert "facts.applicant.name" in client.get(f"/officer/app/{flagged[0]}").text
