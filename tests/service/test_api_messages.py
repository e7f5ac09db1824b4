"""Issue 14, item 2 over HTTP: ``POST /api/check`` answers bad input as ``hukou check`` does
(``engine.messages.read_case``: a byte-order mark accepted, the encoding named, JSON's
line and column, the day that does not exist), the same bytes from the lean path and the
FastAPI route, and every other endpoint's validation errors are translated — never
"输入无效" over the validation library's English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hukou.registry.access import SYSTEM
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits

from ..registry.conftest import NANHU

PASSWORD = "a long enough secret"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "01-owner-family.json"
RAW = ("Input should", "Field required", "valid", "JSON decode error", "Value error")


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('messages') / 'r.db'}"
    upgrade(url)
    registry = Registry(session_factory(make_engine(url)))
    registry.add_user(SYSTEM, "nanhu", PASSWORD, "officer", NANHU)
    limits = Limits.unlimited()
    return (
        TestClient(create_app(registry, limits=limits)),
        TestClient(create_app(registry, fast_check=False, limits=limits)),
    )


def _both(
    clients: tuple[TestClient, TestClient], body: bytes, params: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """The answer of the lean path, checked to be the route's byte for byte."""
    fast, route = clients
    a = fast.post("/api/check", content=body, params=params or {})
    b = route.post("/api/check", content=body, params=params or {})
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.content == b.content, (a.text, b.text)
    return a.status_code, a.content


def _error(content: bytes) -> dict[str, str]:
    errors = json.loads(content)["errors"]
    assert len(errors) == 1, errors
    err: dict[str, str] = errors[0]
    assert err["zh"] and err["en"] and err["zh"] != "输入无效", err
    assert not any(raw in err["en"] for raw in RAW), err
    return err


def _case() -> dict[str, object]:
    return json.loads(EXAMPLE.read_text("utf-8"))  # type: ignore[no-any-return]


def test_a_byte_order_mark_is_accepted(clients: tuple[TestClient, TestClient]) -> None:
    status, content = _both(clients, b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert status == 200, content
    plain = _both(clients, EXAMPLE.read_bytes())
    assert content == plain[1]  # the same decision as without the mark


def test_a_gbk_body_is_named_with_its_encoding(clients: tuple[TestClient, TestClient]) -> None:
    body = EXAMPLE.read_text("utf-8").encode("gbk")
    status, content = _both(clients, body)
    assert status == 422
    err = _error(content)
    assert err["field"] == "(case)" and err["code"] == "encoding"
    assert "GBK" in err["zh"] and "GBK" in err["en"] and "UTF-8" in err["en"]
    assert "行" in err["zh"] and "line" in err["en"]  # where the first foreign byte is


def test_malformed_json_names_its_line_and_column(
    clients: tuple[TestClient, TestClient],
) -> None:
    status, content = _both(clients, b'{\n  "applicant": {\n    "lives_in": \n  }\n}')
    assert status == 422
    err = _error(content)
    assert err["field"] == "(case)" and err["code"] == "json_invalid"
    assert "line 4, column 3" in err["en"] and "第 4 行第 3 列" in err["zh"], err


def test_a_day_that_does_not_exist_is_named(clients: tuple[TestClient, TestClient]) -> None:
    case = _case()
    case["applicant"]["birth_date"] = "2024-02-30"  # type: ignore[index]
    status, content = _both(clients, json.dumps(case).encode())
    assert status == 422
    err = _error(content)
    assert err["field"] == "applicant.birth_date"
    assert "February 2024 has 29 days" in err["en"] and "2024年2月只有 29 天" in err["zh"]


@pytest.mark.parametrize(
    ("on", "zh", "en"),
    [
        ("2024-02-30", "2024年2月只有 29 天", "February 2024 has 29 days"),
        ("2025-13-01", "月份 13 不存在", "the month 13 does not exist"),
        ("yesterday", "YYYY-MM-DD", "YYYY-MM-DD"),
    ],
)
def test_the_decision_date_in_the_query_is_explained_in_both_languages(
    clients: tuple[TestClient, TestClient], on: str, zh: str, en: str
) -> None:
    status, content = _both(clients, EXAMPLE.read_bytes(), {"on": on})
    assert status == 422
    err = _error(content)
    assert err["field"] == "query.on"
    assert zh in err["zh"] and en in err["en"], err


def _officer(client: TestClient) -> dict[str, str]:
    r = client.post("/api/login", json={"username": "nanhu", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_an_officer_endpoints_bad_body_is_translated(
    clients: tuple[TestClient, TestClient],
) -> None:
    client = clients[0]
    r = client.post(
        "/api/applications",
        headers=_officer(client),
        json={"kind": "s1_1", "county": 330402, "facts": []},
    )
    assert r.status_code == 422
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert set(errors) == {"county", "facts"}
    for err in errors.values():
        assert err["zh"] != "输入无效" and not any(raw in err["en"] for raw in RAW), err
    assert errors["county"]["en"] == "must be a string (in quotes)"
    assert errors["county"]["zh"] == "须为文字（加引号）"
    assert errors["facts"]["en"] == "must be an object ({...})"


def test_a_malformed_body_a_missing_field_and_a_bad_path_are_translated(
    clients: tuple[TestClient, TestClient],
) -> None:
    client = clients[0]
    officer = _officer(client)
    broken = client.post(
        "/api/applications",
        headers={**officer, "content-type": "application/json"},
        content=b'{"kind": "s1_1", "county": }',
    )
    assert broken.status_code == 422
    err = broken.json()["errors"][0]
    assert err["field"] == "(body)" and err["code"] == "json_invalid"
    assert err["en"] == "malformed JSON at character 28: a value was expected", err
    assert err["zh"] == "JSON 格式错误：第 28 个字符处，此处应为一个值", err
    missing = client.post("/api/login", json={"username": "nanhu"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "password", "zh": "缺少必填项", "en": "field required", "code": "missing"}
    ]
    path = client.get("/api/applications/abc", headers=officer)
    assert path.status_code == 422
    assert path.json()["errors"] == [
        {
            "field": "path.app_id",
            "zh": "须为整数",
            "en": "must be an integer",
            "code": "int_parsing",
        }
    ]
    # a check of the project's own (a control character in a one-line text): its own words
    control = client.post("/api/login", json={"username": "nan\x07hu", "password": "x"})
    assert control.status_code == 422
    err = control.json()["errors"][0]
    assert err["field"] == "username" and "控制字符" in err["zh"] and "control" in err["en"]
