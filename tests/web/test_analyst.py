"""The analyst dashboard (issue 6, item 5) and ``GET /api/indicators``, in process.

§7 indicators per county and period from the register and a small synthetic
population (conftest ``demo_population``), small counts suppressed, the period form,
a reform run (the noop reform: nobody gains or loses), a bad reform parameter named
in both languages, CSRF on the reform form, and the roles that may not see any of it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hukou.registry.service import Registry
from hukou.service.web import panels

from .conftest import PASSWORD, csrf_of, login

NUMBER = re.compile(r"^(<\d+|\d[\d,]*|—)$")


def cells(html: str, table_id: str) -> list[list[str]]:
    """The body rows of a table, cells as text."""
    found = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert found, f"no table #{table_id}"
    body = found.group(1).split("<tbody>", 1)[1]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).replace("&lt;", "<").strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
        ]
        for r in rows
    ]


def counts_ok(values: list[str], k: int = 5) -> bool:
    """Every count is 0, suppressed (<k) or at least k."""
    for v in values:
        assert NUMBER.match(v), v
        if v[0].isdigit() and 0 < int(v.replace(",", "")) < k:
            return False
    return True


def finished(client: TestClient, url: str, timeout: float = 300) -> Any:
    """The reform job's page once it is no longer queued or running."""
    end = time.monotonic() + timeout
    while True:
        page = client.get(url)
        if not re.search(r'data-state="(queued|running)"', page.text):
            return page
        assert time.monotonic() < end, "the reform job did not finish"
        time.sleep(0.5)


@pytest.fixture
def analyst(client: TestClient, demo_population: Path) -> TestClient:
    login(client, "analyst")
    return client


def test_the_dashboard_shows_the_three_indicators(analyst: TestClient) -> None:
    page = analyst.get("/analyst")
    assert page.status_code == 200
    html = page.text
    for table in ("summary", "settlements", "permits", "eligible", "by-county"):
        assert f'<table id="{table}"' in html, table
    # the demo registers applications: settlements per channel, from the register
    assert cells(html, "settlements")
    assert "§1.1" in html and "统计期间" in html
    # charts: images served by a route (no inline script or style), each with a text alternative
    charts = re.findall(r'<img src="(/analyst/chart/(\w+)\.svg\?[^"]+)" alt="([^"]+)"', html)
    assert {c[1] for c in charts} == {"settlements", "permits", "eligible"}
    assert all("数字见下表" in alt for _, _, alt in charts)
    assert "<script" not in html and "style=" not in html
    svg = analyst.get(charts[0][0].replace("&amp;", "&"))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and b"<script" not in svg.content
    # aggregates only: nothing like an ID number on the page
    assert not re.search(r"\d{17}[\dX]", html)


def test_small_counts_are_suppressed(
    analyst: TestClient, web_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = analyst.get("/analyst?period=month").text
    assert "小数抑制" in html and "&lt;5" in html
    shown = [v for row in cells(html, "summary") for v in row[2:]]
    shown += [v for row in cells(html, "settlements") for v in row[3:]]
    shown += [v for row in cells(html, "eligible") for v in row[3:]]
    assert counts_ok(shown) and "<5" in shown
    # the threshold is a parameter: 1 shows every count as it is
    monkeypatch.setattr(web_app.state, "suppress_below", 1, raising=False)
    plain = analyst.get("/analyst?period=month").text
    raw = [v for row in cells(plain, "summary") for v in row[2:]]
    assert not any(v.startswith("<") for v in raw)
    assert any(v.isdigit() and 0 < int(v) < 5 for v in raw)


def test_the_period_switch(analyst: TestClient) -> None:
    def periods(query: str) -> set[str]:
        html = analyst.get(f"/analyst?{query}").text
        return {row[1] for row in cells(html, "summary")}

    assert "2026-11" in periods("period=month&from=2026-01-01")
    quarters = periods("period=quarter&from=2025-01-01&to=2026-12-31")
    assert "2026-Q4" in quarters and all(re.fullmatch(r"20\d\d-Q[1-4]", p) for p in quarters)
    # years with data in the window, and none outside it (the demo's register permits begin
    # in 2023; the population's earlier ones count only while the register holds none)
    years = periods("period=year&from=2021-01-01&to=2023-12-31")
    assert "2023" in years and years <= {"2021", "2022", "2023"}
    # the English page
    en = analyst.get("/analyst?period=quarter&lang=en").text
    assert '<html lang="en">' in en and "Persons settled by channel" in en


def headers(html: str, table_id: str) -> list[str]:
    """The column headings of a table, as text."""
    found = re.search(rf'<table id="{table_id}"[^>]*>.*?<thead>(.*?)</thead>', html, re.S)
    assert found, f"no table #{table_id}"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", found[1])]


def test_permits_and_endorsements_beside_the_settlements(
    analyst: TestClient,
    web_app: FastAPI,
    demo_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """§7 from the register (issue 16, part 4): per county and year, the permits issued and,
    apart, their endorsements, beside the settlements — each count as the register's own
    rows give it (counted here from the tables, not by the indicator module)."""
    from collections import Counter

    from sqlalchemy import select

    from hukou.registry.models import ResidencePermit, ResidencePermitEndorsement

    def by_year(rows: Any) -> Counter[tuple[str, str]]:
        return Counter((county, str(day.year)) for county, day in rows if day is not None)

    issued = by_year(
        demo_registry.read(
            lambda s: s.execute(select(ResidencePermit.county, ResidencePermit.issued_on)).all()
        )
    )
    endorsed = by_year(
        demo_registry.read(
            lambda s: s.execute(
                select(ResidencePermitEndorsement.county, ResidencePermitEndorsement.endorsed_on)
            ).all()
        )
    )
    assert sum(endorsed.values()) >= 3 and len({y for _, y in endorsed}) >= 3  # yearly
    monkeypatch.setattr(web_app.state, "suppress_below", 1, raising=False)  # exact counts
    query = "/analyst?period=year&from=2021-01-01&to=2026-12-31"
    for lang, permits, endorsements in (
        ("zh", "居住证办理数", "居住证签注数"),
        ("en", "Residence permits issued", "Permit endorsements"),
    ):
        html = analyst.get(f"{query}&lang={lang}").text
        head = headers(html, "summary")
        assert head.index(permits) + 1 == head.index(endorsements) == 5  # after settlements
        assert headers(html, "permits")[2:] == [permits, endorsements]
    html = analyst.get(f"{query}&lang=zh").text
    name = {c: _county_zh(c) for c, _ in issued | endorsed}
    summary = {(row[0], row[1]): row for row in cells(html, "summary")}
    detail = {(row[0], row[1]): row for row in cells(html, "permits")}
    for county, year in issued | endorsed:
        key = (name[county], year)
        want = (str(issued[(county, year)]), str(endorsed[(county, year)]))
        assert (summary[key][4], summary[key][5]) == want, key
        assert (detail[key][2], detail[key][3]) == want, key
    shown = {(c, y) for c, y in summary if summary[(c, y)][4] != "0" or summary[(c, y)][5] != "0"}
    assert shown == {(name[c], y) for c, y in issued | endorsed}  # nothing else counted


def _county_zh(code: str) -> str:
    from hukou.policy.places import county_name

    return county_name(code, "zh")


def test_a_bad_period_is_named_in_both_languages(analyst: TestClient) -> None:
    r = analyst.get("/analyst?period=week&from=2025-13-01")
    assert r.status_code == 422
    assert re.findall(r'data-field="([^"]+)"', r.text) == ["period", "from"]
    assert "期间须为" in r.text and "period must be month, quarter or year" in r.text


def test_the_noop_reform_has_no_gainers_and_no_losers(analyst: TestClient) -> None:
    page = analyst.get("/analyst?example=noop")
    assert 'value="noop" selected' in page.text
    form = {
        "csrf": csrf_of(page.text),
        "name_zh": "不作改动（对照）",
        "name_en": "No change (control)",
        "dates": "2025-01-01",
        "s1_urban.continuous_residence_years": "3",  # the law's own value
        "readings.residence_permit_or_registration_required": "true",
    }
    r = analyst.post("/analyst/reform", data=form)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    assert re.fullmatch(r"/analyst/reform/[\w-]{16}", url)  # a random id: no parameter in it
    result = finished(analyst, url)  # a background job: its page reloads until done
    assert result.status_code == 200
    html = result.text
    assert "不作改动（对照）" in html and "未改动任何参数" in html
    for table in ("by-channel", "by-county", "by-age-band", "by-sex"):
        rows = cells(html, table)
        assert rows, table
        assert all(row[4] == "0" and row[5] == "0" for row in rows), (table, rows)
    overall = cells(html, "by-channel")[0]
    assert overall[2] == overall[3]  # eligible before == after
    en = analyst.get(f"{url}?lang=en").text
    assert "No change (control)" in en and "Gains" in en and "No parameter changed" in en
    # charts and downloads, served from routes
    assert analyst.get(f"{url}/chart/0.svg").headers["content-type"].startswith("image/svg")
    xlsx = analyst.get(f"{url}/reform.xlsx")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    chart = analyst.get(f"{url}/reform.html")
    assert chart.status_code == 200 and "attachment" in chart.headers["content-disposition"]
    assert analyst.get("/analyst/reform/not-a-run").status_code == 404


def test_a_bad_reform_parameter_is_named_in_both_languages(analyst: TestClient) -> None:
    page = analyst.get("/analyst")
    form = {
        "csrf": csrf_of(page.text),
        "name_zh": "",
        "name_en": "Ages",
        "dates": "2025-01-01",
        "s3_relatives.parent_min_age_male": "-1",
        "s1_urban.continuous_residence_years": "two",
    }
    r = analyst.post("/analyst/reform", data=form)
    assert r.status_code == 422
    fields = re.findall(r'data-field="([^"]+)"', r.text)
    assert "parameters.s3_relatives.parent_min_age_male.2020-08-01" in fields
    assert "parameters.s1_urban.continuous_residence_years.2020-08-01" in fields
    assert "name.zh" in fields
    assert "不能为负数" in r.text and "must not be negative" in r.text
    assert "须为整数" in r.text and "must be a whole number" in r.text
    # the input is marked and described by its message; the values are kept
    assert re.search(
        r'id="p-s3_relatives-parent_min_age_male" name="s3_relatives.parent_min_age_male" '
        r'value="-1"[^>]*aria-invalid="true"',
        r.text,
    )


def test_the_reform_form_needs_its_csrf_token(analyst: TestClient) -> None:
    r = analyst.post("/analyst/reform", data={"s1_urban.continuous_residence_years": "2"})
    assert r.status_code == 403 and "安全校验失败" in r.text
    forged = analyst.post(
        "/analyst/reform", data={"csrf": "forged", "s1_urban.continuous_residence_years": "2"}
    )
    assert forged.status_code == 403


def test_without_the_population_the_page_says_what_is_unavailable(
    analyst: TestClient, web_app: FastAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(web_app.state, "population_dir", tmp_path / "none", raising=False)
    page = analyst.get("/analyst")
    assert page.status_code == 200
    assert 'id="eligible-unavailable"' in page.text and "符合条件尚未落户" in page.text
    assert "hukou batch" in page.text
    r = analyst.post(
        "/analyst/reform",
        data={"csrf": csrf_of(page.text), "name_zh": "x", "name_en": "x", "dates": "2025-01-01"},
    )
    assert r.status_code == 503 and 'id="reform-unavailable"' in r.text


@pytest.mark.parametrize("user", ["officer_330402", "keeper"])
def test_other_roles_are_refused(client: TestClient, user: str) -> None:
    login(client, user)
    page = client.get("/")
    for path in ("/analyst", "/analyst/chart/permits.svg", "/analyst/reform/x/reform.xlsx"):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "无此权限" in r.text and "this needs the role" in r.text
    r = client.post("/analyst/reform", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 403


def test_the_admin_may_see_the_dashboard(client: TestClient, demo_population: Path) -> None:
    login(client, "admin")
    assert client.get("/analyst").status_code == 200


def test_the_population_lives_beside_the_register(
    demo_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    class State:
        pass

    monkeypatch.delenv("HUKOU_POPULATION_DIR", raising=False)
    db = Path(demo_registry.factory.kw["bind"].url.database)
    assert panels.population_dir(State(), demo_registry) == db.resolve().parent / "population"
    monkeypatch.setenv("HUKOU_POPULATION_DIR", "/srv/pop")
    assert panels.population_dir(State(), demo_registry) == Path("/srv/pop")


# ---- GET /api/indicators ---------------------------------------------------------------


def token(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_api_gives_the_tables_to_analysts(client: TestClient, demo_population: Path) -> None:
    r = client.get("/api/indicators?period=quarter", headers=token(client, "analyst"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["period"] == "quarter" and body["suppress_below"] == 5
    assert set(body["tables"]) == {"summary", "settlements", "permits", "eligible"}
    assert body["sources"]["eligible"] == "batch" and not body["unavailable"]
    assert all(re.fullmatch(r"\d{4}-Q[1-4]", row["period"]) for row in body["tables"]["summary"])
    values = [
        row[c]
        for row in body["tables"]["summary"]
        for c in ("settled_persons", "permits", "eligible_not_settled")
    ]
    assert None in values  # suppressed
    assert all(v is None or v == 0 or v >= 5 for v in values)
    # every count of every table, the §5.1 flags' counts included
    from hukou.analytics.indicators import COUNT_COLUMNS

    for rows in body["tables"].values():
        for row in rows:
            for c in COUNT_COLUMNS & row.keys():
                assert row[c] is None or row[c] == 0 or row[c] >= 5, (c, row)
    admin = client.get(
        "/api/indicators?period=year&from=2024-01-01&to=2024-12-31",
        headers=token(client, "admin"),
    )
    assert admin.status_code == 200
    assert {row["period"] for row in admin.json()["tables"]["summary"]} == {"2024"}


@pytest.mark.parametrize(
    ("query", "field"),
    [("period=week", "period"), ("from=2025-02-30", "from"), ("to=tomorrow", "to")],
)
def test_the_api_names_a_bad_field(client: TestClient, query: str, field: str) -> None:
    r = client.get(f"/api/indicators?{query}", headers=token(client, "analyst"))
    assert r.status_code == 422
    [problem] = r.json()["errors"]
    assert problem["field"] == field and problem["zh"] and problem["en"]


@pytest.mark.parametrize("user", ["officer_330402", "keeper"])
def test_the_api_refuses_other_roles(client: TestClient, user: str) -> None:
    r = client.get("/api/indicators", headers=token(client, user))
    assert r.status_code == 403
    assert r.json()["errors"][0]["en"].startswith("this needs the role")
    assert client.get("/api/indicators").status_code == 403  # no token at all
