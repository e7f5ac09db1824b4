"""Materials before approval on the officer's case page (SQLite and PostgreSQL): approving
with a material outstanding is refused naming it; each material is received or waived
with a reason (a waiver without one is refused, naming the field); then approval goes
through, and the page shows the waiver and its reason."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.service import Registry
from hukou.service.app import create_app

from ..registry.conftest import (  # noqa: F401 (the fixtures, on SQLite and PostgreSQL)
    NANHU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..registry.helpers import owner_case
from . import drive
from .conftest import csrf_of

PASSWORD = "a long enough secret"
REASON = "已在居住证系统中核验 / verified in the residence-permit system"


@pytest.fixture
def case(registry: Registry) -> tuple[TestClient, str]:  # noqa: F811
    uid = registry.add_user(SYSTEM, "officer_nanhu", PASSWORD, "officer", NANHU)
    officer = Actor(uid, "officer_nanhu", "officer", NANHU)
    app = registry.create_application(officer, "s1_1", NANHU, owner_case(with_spouse=False))
    for action in ("submit", "review"):
        registry.act(officer, app.id, action)
    client = TestClient(create_app(registry), base_url="https://testserver", follow_redirects=False)
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": "officer_nanhu", "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    return client, f"/officer/app/{app.id}"


def _post(client: TestClient, url: str, **data: str) -> int:
    page = client.get(url)
    r = client.post(url, data={"csrf": csrf_of(page.text), **data})
    return int(r.status_code)


def _materials(text: str) -> list[str]:
    found = re.findall(
        r'name="material" value="([^"]+)">\s*<input type="hidden" name="clause"', text
    )
    return list(dict.fromkeys(html.unescape(m) for m in found))


def test_approval_waits_for_every_material_received_or_waived(
    case: tuple[TestClient, str],
) -> None:
    client, url = case
    page = client.get(url)
    missing = _materials(page.text)
    assert len(missing) >= 3 and 'id="materials-outstanding"' in page.text
    assert "免交（须说明理由）" in page.text
    version = drive.hidden(page.text, "version") or ""
    r = client.post(url, data={"csrf": csrf_of(page.text), "action": "approve", "version": version})
    assert r.status_code == 409 and "材料不全" in r.text and "materials missing" in r.text
    # a waiver needs its reason
    assert _post(client, url, action="waive", material=missing[-1], reason="  ") == 422
    for material in missing[:-1]:
        assert _post(client, url, action="receive", material=material, clause="") == 303
    assert _post(client, url, action="waive", material=missing[-1], reason=REASON) == 303
    page = client.get(url)
    assert "已免交" in page.text and "已在居住证系统中核验" in page.text
    assert 'id="materials-outstanding"' not in page.text
    en = client.get(f"{url}?lang=en").text
    assert "Waived" in en and "Reason: " in en
    version = drive.hidden(page.text, "version") or ""
    r = client.post(url, data={"csrf": csrf_of(page.text), "action": "approve", "version": version})
    assert r.status_code == 303, r.text
    assert "准予落户" in client.get(f"{url}?lang=zh").text
