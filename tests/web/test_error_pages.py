"""Pages that finish the job (issue 14, item 6): styled bilingual 404 / 405 / 422 / 500
pages for the page routes (the API keeps its JSON), ``/docs`` and ``/redoc`` from local
files, and the citizen's disclaimer only on the citizen's pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hukou.policy.facts import parse_case
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

from .conftest import login


def _is_page(r: object, status: int, lang: str) -> str:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    html: str = r.text  # type: ignore[attr-defined]
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in html
    assert '<link rel="stylesheet" href="/static/site.css">' in html  # styled: the site's frame
    assert 'id="error-message"' in html and 'href="/"' in html
    return html


@pytest.mark.parametrize(
    ("lang", "heading", "message"),
    [("zh", "页面不存在", "没有这个网页"), ("en", "Page not found", "There is no such page")],
)
def test_an_unknown_address_is_a_404_page(
    client: TestClient, lang: str, heading: str, message: str
) -> None:
    html = _is_page(client.get(f"/no/such/page?lang={lang}"), 404, lang)
    assert f'<h1 id="error-heading">{heading}</h1>' in html
    assert message in html
    assert '{"detail"' not in html


def test_a_404_page_carries_the_security_headers(client: TestClient) -> None:
    r = client.get("/no/such/page")
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_the_api_keeps_its_json_404(client: TestClient) -> None:
    r = client.get("/api/no/such/thing")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": "Not Found"}


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh", ("请求有误", "网址中的“申请编号”无效", "应为整数")),
        ("en", ("The request is not valid", "application number", "must be a whole number")),
    ],
)
def test_a_bad_address_parameter_is_a_422_page_in_words(
    client: TestClient, lang: str, words: tuple[str, ...]
) -> None:
    html = _is_page(client.get(f"/officer/app/abc?lang={lang}"), 422, lang)
    for w in words:
        assert w in html
    # never pydantic's English nor the parameter's code name
    assert "Input should be" not in html and "app_id" not in html


def test_the_api_keeps_its_json_422(client: TestClient) -> None:
    r = client.post("/api/login", json={"username": "x"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/json"
    assert r.json()["errors"][0]["field"] == "password"


def test_a_method_a_page_does_not_take_is_a_page(client: TestClient) -> None:
    html = _is_page(client.put("/check"), 405, "zh")
    assert "不接受这种请求方式" in html
    assert "allow" in {k.lower() for k in client.put("/check").headers}


@pytest.fixture(scope="module")
def failing_app(demo_registry: Registry) -> Iterator[FastAPI]:
    """The service with a page and an API route that fail unforeseen."""
    app = create_app(demo_registry, limits=Limits.unlimited())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unforeseen")

    @app.get("/api/boom")
    def api_boom() -> None:
        raise RuntimeError("unforeseen")

    @app.get("/bad-case")
    def bad_case() -> None:  # a page deciding facts that do not hold
        parse_case(b'{"applicant": {"birth_date": "2999-01-01", "sex": "male"}}')

    yield app


@pytest.mark.parametrize(
    ("lang", "heading", "message"),
    [
        ("zh", "服务器出错", "错误已记入服务器日志"),
        ("en", "Server error", "tell the system administrator"),
    ],
)
def test_an_unforeseen_failure_is_a_500_page(
    failing_app: FastAPI, lang: str, heading: str, message: str
) -> None:
    client = TestClient(failing_app, base_url="https://testserver", raise_server_exceptions=False)
    r = client.get(f"/boom?lang={lang}")
    html = _is_page(r, 500, lang)
    assert heading in html and message in html
    assert "RuntimeError" not in html and "unforeseen" not in html and "Traceback" not in html
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_an_unforeseen_api_failure_is_json(failing_app: FastAPI) -> None:
    client = TestClient(failing_app, base_url="https://testserver", raise_server_exceptions=False)
    r = client.get("/api/boom")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["errors"][0]["en"] == "internal server error"


@pytest.mark.parametrize(("lang", "label"), [("zh", "出生日期"), ("en", "birth date")])
def test_a_case_s_input_error_names_the_field_in_words(
    failing_app: FastAPI, lang: str, label: str
) -> None:
    client = TestClient(failing_app, base_url="https://testserver")
    html = _is_page(client.get(f"/bad-case?lang={lang}"), 422, lang)
    message = re.search(r'id="error-message">([^<]*)<', html)
    assert message and label in message.group(1), html
    assert "birth_date" not in html and "applicant.birth" not in html


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(
        r"(?:url|spec-url)[:=]\s*['\"]([^'\"]+)['\"]", html
    )


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_only_local_files(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _urls(r.text)
    assert any(u.endswith(".js") for u in urls), urls
    assert "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url  # this server's own
        assert client.get(url).status_code == 200, url
    assert "cdn" not in r.text.lower() and "fonts.googleapis" not in r.text
    assert "http://" not in r.text and "https://" not in r.text
    # and the browser is told to fetch from this server only (ReDoc's logo is on a CDN)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    assert "http" not in csp


def test_the_docs_assets_are_the_packaged_files(client: TestClient) -> None:
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert "javascript" in js.headers["content-type"]
    redoc = client.get("/docs/assets/redoc.standalone.js")
    assert redoc.status_code == 200 and len(redoc.content) > 100_000
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200


DISCLAIMER = ("自助测评不保存任何信息", "The self-check stores nothing")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_self_check_disclaimer_is_on_citizen_pages_only(client: TestClient, lang: str) -> None:
    said = DISCLAIMER[lang == "en"]
    for path in ("/", "/check", "/track"):
        assert said in client.get(f"{path}?lang={lang}").text, path
    assert said not in client.get(f"/login?lang={lang}").text
    login(client, "officer_330402")
    for path in ("/officer", "/officer/moves", "/officer/move-outs"):
        html = client.get(f"{path}?lang={lang}").text
        assert said not in html, path
        assert ("工作人员页面" if lang == "zh" else "Staff pages") in html, path
    assert said in client.get(f"/check?lang={lang}").text  # logged in, a citizen's page still
