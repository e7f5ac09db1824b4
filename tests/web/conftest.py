"""The web pages' fixtures: an app on a temporary SQLite register loaded with the demo,
in-process (TestClient) and served by uvicorn on a free port for Chromium (Playwright).

The browser tests need Debian's Chromium at /usr/bin/chromium (``make browser``
installs it); they are skipped, saying so, only when it is absent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hukou.registry import demo
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the browser tests' screenshots: a scratch folder, so that ``make test`` leaves the tree
# clean; ``make screenshots`` points this at docs/screenshots to refresh the README's
SCREENSHOTS = Path(
    os.environ.get("HUKOU_SCREENSHOTS") or Path(tempfile.gettempdir()) / "hukou-screenshots"
)
TODAY = dt.date(2026, 11, 28)
PASSWORD = demo.DEMO_PASSWORD


@pytest.fixture(scope="session")
def demo_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'register.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)), FixedClock(TODAY))
    demo.load(registry)
    return registry


@pytest.fixture(scope="session")
def web_app(demo_registry: Registry) -> FastAPI:
    # the whole session's interviews, applications and look-ups come from one address:
    # no rate limits here (tests/security/test_limits.py tests them)
    return create_app(demo_registry, limits=Limits.unlimited())


POPULATION_PEOPLE = 3000


@pytest.fixture(scope="session")
def demo_population(web_app: FastAPI, demo_registry: Registry) -> Path:
    """A small synthetic Jiaxing and its batch results, beside the register (where the
    analyst page looks by default), made once per session: a few seconds."""
    from hukou.analytics import batch, synth

    bind = demo_registry.factory.kw["bind"]
    pop = Path(bind.url.database).parent / "population"
    if not (pop / "results" / "results.parquet").is_file():
        synth.generate(POPULATION_PEOPLE, 2026, pop)
        batch.run(pop, pop / "results", "duckdb", TODAY)
    web_app.state.population_dir = pop  # never a developer's HUKOU_POPULATION_DIR
    return pop


@pytest.fixture
def client(web_app: FastAPI) -> TestClient:
    """In-process client; https, so the Secure cookies are sent back."""
    return TestClient(web_app, base_url="https://testserver", follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_url(web_app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(web_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium is a ``browser`` test, whatever its file says:
    ``make test`` runs those in one process of their own (``-m browser``), because a
    Playwright session inside a pytest-xdist worker has hung at the end of a run."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is not installed at /usr/bin/chromium "
            "(run `make browser`: apt-get install -y chromium fonts-noto-cjk)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser: Any, live_url: str) -> Iterator[Any]:
    """A page in a 360×740 phone viewport."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, base_url=live_url, device_scale_factor=2
    )
    context.set_default_timeout(30_000)  # a shared, busy CI machine
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desk(browser: Any, live_url: str) -> Iterator[Any]:
    """A page in a desktop viewport (staff work at a desk)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=live_url)
    context.set_default_timeout(30_000)  # a shared, busy CI machine
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def no_js(browser: Any, live_url: str) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, base_url=live_url, java_script_enabled=False
    )
    context.set_default_timeout(30_000)  # a shared, busy CI machine
    page = context.new_page()
    yield page
    context.close()
