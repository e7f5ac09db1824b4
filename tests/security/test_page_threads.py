"""The pages call the register off the event loop (review, item 2).

An ``async def`` page handler that calls the register directly runs that call on the
event loop: a SQLite write lock held elsewhere then freezes every request of the worker,
for up to the 30 s busy timeout. Each handler here must call the register in a worker
thread (``run_in_threadpool``). No timings: the register's method is wrapped to record
whether it runs where an event loop is running (with the TestClient the loop runs in a
portal thread, not the main thread, so ``asyncio.get_running_loop()`` is the test: it
raises ``RuntimeError`` in a worker thread).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hukou.registry.access import Actor
from hukou.registry.demo import settle_materials
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

from ..registry.conftest import NANHU
from ..registry.helpers import owner_case
from ..web import drive
from ..web.conftest import csrf_of
from ..web.scenarios import OWNER_FAMILY

PASSWORD = "correct horse battery"  # the ``officer`` fixtures'


@pytest.fixture
def web(registry: Registry, officer: Actor) -> TestClient:
    return TestClient(
        create_app(registry, limits=Limits.unlimited()),
        base_url="https://testserver",
        follow_redirects=False,
    )


def _off_the_loop() -> bool:
    """True in a worker thread; False where an event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def _spy(monkeypatch: pytest.MonkeyPatch, registry: Registry, name: str) -> list[bool]:
    """Wrap ``registry.<name>``: each call records whether it ran off the event loop."""
    calls: list[bool] = []
    real = getattr(registry, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(_off_the_loop())
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, name, spy)
    return calls


def test_the_self_service_application_is_taken_off_the_loop(
    web: TestClient, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = drive.run(web, OWNER_FAMILY)
    created = _spy(monkeypatch, registry, "create_application")
    submitted = _spy(monkeypatch, registry, "act")
    r = web.post(
        "/check/apply",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "name": "王小明",
            "id_number": OWNER_FAMILY["id_number"],
            "kind": "s1_1",
            "county": NANHU,
            "origin_county": "341221",
        },
    )
    assert r.status_code == 200 and 'id="reference"' in r.text, r.text
    assert created == [True] and submitted == [True]
    # refused (the number is held now): the refusal's audit record is written off it too
    refused = _spy(monkeypatch, registry, "audit_event")
    again = web.post(
        "/check/apply",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "name": "冒名顶替",
            "id_number": OWNER_FAMILY["id_number"],
            "kind": "s1_1",
            "county": NANHU,
            "origin_county": "341221",
        },
    )
    assert again.status_code == 409
    assert created == [True, True] and refused and all(refused)


def test_tracking_reads_off_the_loop(
    web: TestClient, registry: Registry, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    page = web.get("/track")
    reads = _spy(monkeypatch, registry, "read")
    r = web.post("/track", data={"csrf": csrf_of(page.text), "reference": app.reference})
    assert r.status_code == 200 and app.reference in r.text, r.text
    assert reads and all(reads)


def _logged_in(web: TestClient, officer: Actor) -> None:
    login = web.get("/login")
    r = web.post(
        "/login",
        data={"csrf": csrf_of(login.text), "username": officer.username, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_the_officer_decides_off_the_loop(
    web: TestClient,
    registry: Registry,
    officer: Actor,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
) -> None:
    """approve and reject run the engine's ``decide()`` and write: in a worker thread."""
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    registry.act(officer, app.id, "submit")
    app = registry.act(officer, app.id, "review")
    settle_materials(registry, officer, app.id)  # materials before approval
    _logged_in(web, officer)
    case = web.get(f"/officer/app/{app.id}")
    assert case.status_code == 200, case.text
    decided = _spy(monkeypatch, registry, action)
    sessions = _spy(monkeypatch, registry, "session_actor")
    r = web.post(
        f"/officer/app/{app.id}",
        data={
            "csrf": csrf_of(case.text),
            "action": action,
            "version": str(app.version),
            "reasons": "材料不全 / papers missing",
        },
    )
    assert r.status_code == 303, r.text
    assert decided == [True]
    assert sessions and all(sessions)  # who is asking: looked up off the loop too


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("/officer/attach", {"id_number": OWNER_FAMILY["id_number"], "reason": "other"}),
        (
            "/officer/move-outs",
            {
                "id_number": OWNER_FAMILY["id_number"],
                "requester_name": "张三",
                "requester_role": "owner",
                "property_proof": "不动产权证书",
            },
        ),
    ],
    ids=["attach", "move-out"],
)
def test_the_officer_s_look_ups_by_number_run_off_the_loop(
    web: TestClient,
    registry: Registry,
    officer: Actor,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    form: dict[str, str],
) -> None:
    """§4.4 and §4.5 look the person up by ID number first (here: not in the register)."""
    _logged_in(web, officer)
    page = web.get("/officer/move-outs")
    assert page.status_code == 200, page.text
    reads = _spy(monkeypatch, registry, "read")
    r = web.post(url, data={"csrf": csrf_of(page.text), **form})
    assert r.status_code == 404, r.text
    assert re.search(r'id="error-message"', r.text)
    assert reads and all(reads)
