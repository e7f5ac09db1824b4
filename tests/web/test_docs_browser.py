"""In Chromium, with every address but the server's own unreachable: ``/docs`` (Swagger
UI) and ``/redoc`` draw the API, and the 404 / 422 pages are styled (issue 14, item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def offline(browser: Any, live_url: str) -> Iterator[tuple[Any, list[str]]]:
    """A desktop page whose requests to anywhere but the server are refused (as without
    internet), and the list of the addresses it tried."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=live_url)
    context.set_default_timeout(30_000)  # a shared, busy CI machine
    tried: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(live_url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            tried.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_local)
    page = context.new_page()
    yield page, tried
    context.close()


def test_swagger_ui_draws_the_api_offline(offline: tuple[Any, list[str]]) -> None:
    page, tried = offline
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "hukou" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path[data-path='/api/check']")
    assert not tried, tried


def test_redoc_draws_the_api_offline(offline: tuple[Any, list[str]]) -> None:
    page, tried = offline
    page.goto("/redoc")
    page.wait_for_selector("h1:has-text('hukou')")
    page.get_by_text("/api/check").first.wait_for()
    assert not tried, tried


@pytest.mark.parametrize(("path", "status"), [("/no/such/page", 404), ("/officer/app/abc", 422)])
def test_error_pages_are_styled(offline: tuple[Any, list[str]], path: str, status: int) -> None:
    page, tried = offline
    response = page.goto(path)
    assert response.status == status
    # the site's own style sheet is applied: the brand's header, the alert's border
    header = page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
    assert header == "rgb(11, 79, 138)"
    border = page.eval_on_selector("#error-message", "e => getComputedStyle(e).borderLeftStyle")
    assert border == "solid"
    assert page.locator("h1#error-heading").is_visible()
    assert not tried, tried
