"""The pages in a real browser: Debian's Chromium driven by Playwright, against uvicorn.

The self-check on a 360×740 phone in Chinese and in English (one applicant per
channel), without JavaScript, an officer approving and registering, a keeper, an
analyst, a refused page, CSRF; axe-core on every main page (no serious or critical
violation). Screenshots go to a scratch folder; `make screenshots` writes them to
docs/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD, SCREENSHOTS
from .scenarios import DIVORCED, GRADUATE, OWNER_FAMILY, PARENT, VOCATIONAL

pytestmark = pytest.mark.browser


def shot(page: Any, name: str, full: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full)


def axe_ok(page: Any) -> None:
    """No serious or critical accessibility violation (axe-core)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, bad


def answer_step(page: Any, answers: dict[str, str]) -> None:
    """Answer the questions on the page (unknown ones: "don't know") and go on."""
    for key in _keys(page):
        value = answers.get(key, "?")
        radio = f'input[type="radio"][name="{key}"][value="{value}"]'
        if page.locator(f'input[type="radio"][name="{key}"]').count():
            if page.locator(radio).count():
                page.check(radio)
        elif page.locator(f'select[name="{key}"]').count():
            page.select_option(
                f'select[name="{key}"]', value if value != "?" or key != "sex" else ""
            )
        elif value != "?":
            page.fill(f'input[name="{key}"]', value)
    page.click('button[name="action"][value="next"]')


def _keys(page: Any) -> list[str]:
    """The question keys from the HTML (works without JavaScript in the page)."""
    return re.findall(r'name="q" value="([^"]+)"', page.content())


def interview(page: Any, answers: dict[str, str], lang: str, shots: str | None = None) -> list[str]:
    page.goto(f"/check?lang={lang}")
    page.click('button[name="action"][value="start"]')
    asked: list[str] = []
    for _ in range(40):
        if page.locator('input[name="step"][value="result"]').count():
            return asked
        step = page.locator('input[name="step"]').first.get_attribute("value")
        assert step
        asked.append(step)
        width = page.viewport_size["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width, step
        if shots and len(asked) in (1, 4):
            shot(page, f"{shots}-step{len(asked)}", full=False)
        if shots and len(asked) == 1:
            axe_ok(page)
        answer_step(page, answers)
    raise AssertionError(f"the interview did not end: {asked}")


def channel_status(page: Any, key: str) -> str:
    cls = page.locator(f'li[data-channel="{key}"]').get_attribute("class") or ""
    return cls.split()[-1]


def test_self_check_in_chinese_on_a_phone(phone: Any) -> None:
    asked = interview(phone, OWNER_FAMILY, "zh", shots="selfcheck-zh")
    assert asked[:2] == ["identity", "hukou"]
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    assert phone.locator("li.channel").count() == 6
    assert channel_status(phone, "s1_1") == "yes"
    assert "您可以落户" in phone.inner_text("#summary")
    assert phone.locator("blockquote").count() >= 6  # each clause quoted in Chinese
    assert phone.locator(".materials li").count() >= 3
    # nothing wider than the phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "selfcheck-zh-result", full=False)
    shot(phone, "selfcheck-zh-result-full")
    axe_ok(phone)
    phone.emulate_media(media="print")
    shot(phone, "selfcheck-zh-print")
    phone.emulate_media(media="screen")

    interview(phone, GRADUATE, "zh")
    assert channel_status(phone, "s2_1") == "yes"
    interview(phone, DIVORCED, "zh")
    assert channel_status(phone, "s4_4") == "yes"


def test_self_check_in_english_on_a_phone(phone: Any) -> None:
    interview(phone, VOCATIONAL, "en", shots="selfcheck-en")
    assert phone.locator("html").get_attribute("lang") == "en"
    assert channel_status(phone, "s2_2") == "yes"
    assert "You may settle" in phone.inner_text("#summary")
    interview(phone, PARENT, "en")
    assert channel_status(phone, "s3_1") == "yes"
    assert phone.locator("li.channel").count() == 6
    shot(phone, "selfcheck-en-result", full=False)
    shot(phone, "selfcheck-en-result-full")
    axe_ok(phone)
    # switch to Chinese on the result page: the answers are kept
    phone.click('button[name="switch_lang"]')
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    assert channel_status(phone, "s3_1") == "yes"


def test_the_self_check_needs_no_javascript(no_js: Any) -> None:
    no_js.goto("/check")
    no_js.click('button[name="action"][value="start"]')
    for _ in range(40):
        if no_js.locator('input[name="step"][value="result"]').count():
            break
        answer_step(no_js, OWNER_FAMILY)
    assert no_js.locator("li.channel").count() == 6
    assert no_js.locator('li[data-channel="s1_1"].yes').count() == 1
    shot(no_js, "selfcheck-nojs-result", full=False)


def login(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("#u", username)
    page.fill("#p", PASSWORD)
    page.click('button[type="submit"].primary')
    page.wait_for_load_state("load")  # the page logged in to, not the login form


def test_an_officer_approves_and_registers(desk: Any) -> None:
    login(desk, "officer_330402")
    assert desk.url.endswith("/officer")
    axe_ok(desk)
    shot(desk, "officer-queue")
    desk.select_option("#state", "under_review")
    desk.click("form.filter button")
    desk.locator("#queue tbody tr a").first.click()
    assert desk.locator("#state").inner_text() == "审查中"
    axe_ok(desk)
    shot(desk, "officer-case")
    # materials before approval: all but one received, the last waived with the reason
    while desk.locator('button[value="receive"]').count() > 1:
        with desk.expect_navigation():
            desk.locator('button[value="receive"]').first.click()
    assert "已收取" in desk.inner_text("main")
    desk.locator("details.waive summary").first.click()
    desk.locator('details.waive input[name="reason"]').first.fill(
        "已在系统中核验 / verified online"
    )
    with desk.expect_navigation():
        desk.locator('button[value="waive"]').first.click()
    assert "已免交" in desk.inner_text("main")
    desk.click('button[value="approve"]')
    assert desk.locator("#state").inner_text() == "准予落户"
    pdf = desk.request.get(desk.locator("#notice-link").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    assert desk.locator("#permits li").first.inner_text().startswith("ZQ330402")
    desk.fill("#address", "南湖区示范路8号")
    # from outside Zhejiang: each person's migration certificate, required by the form
    documents = desk.locator('input[name^="doc"][name$="_number"]')
    assert documents.count() >= 1
    for i in range(documents.count()):
        documents.nth(i).fill(f"QY-2026-{i}")
    desk.click('button[value="register"]')
    assert desk.locator("#state").inner_text() == "已办理落户登记"
    assert desk.locator("#household").inner_text().startswith("330402")
    shot(desk, "officer-registered", full=False)
    desk.goto("/officer/move-outs")
    assert desk.locator("#moveouts tbody tr").count() >= 1
    axe_ok(desk)
    shot(desk, "officer-move-outs")
    desk.goto("/officer/moves")
    assert "已使用" in desk.inner_text("#permits")
    axe_ok(desk)


def test_a_keeper_sees_the_collective_household(desk: Any) -> None:
    login(desk, "keeper")
    assert desk.url.endswith("/keeper")
    assert desk.locator("h1").inner_text() == "社区公共集体户"
    axe_ok(desk)
    shot(desk, "keeper")


def images_loaded(page: Any) -> None:
    page.wait_for_load_state("load")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src)"
    )
    assert not broken, broken


def test_an_analyst_sees_aggregates(desk: Any, demo_population: Path) -> None:
    login(desk, "analyst")
    assert desk.url.endswith("/analyst")
    desk.wait_for_selector("#by-county tbody tr")  # the URL changes before the page is in
    assert desk.locator("#by-county tbody tr").count() == 7  # the seven counties
    # §7 indicators per county and period, with charts (SVG images) and small counts hidden
    desk.select_option("#period", "quarter")
    desk.fill("#from", "2025-01-01")
    desk.click("#period-form button[type=submit]")
    assert "period=quarter" in desk.url
    desk.wait_for_load_state("load")  # the URL changes before the new page is in
    for table in ("#summary", "#settlements", "#permits", "#eligible"):
        # the detail tables are folded (<details>): present, not necessarily visible
        desk.wait_for_selector(f"{table} tbody tr", state="attached")
    for table in ("#summary", "#settlements", "#permits", "#eligible"):
        assert desk.locator(f"{table} tbody tr").count() >= 1, table
    assert "<5" in desk.inner_text("#summary")
    charts = desk.locator("figure.chart img")
    assert charts.count() == 3
    images_loaded(desk)  # every chart loaded: the CSP lets the images in
    axe_ok(desk)
    shot(desk, "analyst")
    # a reform: an example loaded into the form, run on the demo population
    desk.select_option("#example", "two-years")
    desk.click("#example-form button[type=submit]")
    assert desk.input_value("#p-s1_urban-continuous_residence_years") == "2"
    desk.click("#run-reform")
    desk.wait_for_url(re.compile(r"/analyst/reform/[\w-]+$"), timeout=120_000)
    # a background job: its page shows the progress and reloads itself until the result
    desk.wait_for_selector("#by-channel tbody tr", timeout=180_000)
    assert "2年" in desk.inner_text("#reform-name")
    overall = desk.locator("#by-channel tbody tr").first.locator("td")
    assert overall.nth(4).inner_text() == "0"  # 3 years -> 2 only ever gains: no loss
    assert desk.locator("#by-county tbody tr").count() >= 7
    assert desk.locator("#by-age-band tbody tr").count() >= 6
    assert desk.locator("#by-sex tbody tr").count() >= 2
    charts = desk.locator("figure.chart img")
    assert charts.count() == 4
    images_loaded(desk)
    xlsx = desk.request.get(desk.locator("#downloads a").first.get_attribute("href"))
    assert xlsx.ok and xlsx.body().startswith(b"PK")
    axe_ok(desk)
    shot(desk, "analyst-reform")


def test_a_page_a_role_may_not_see_is_refused(desk: Any) -> None:
    login(desk, "analyst")
    response = desk.goto("/officer")
    assert response.status == 403
    assert "无此权限" in desk.inner_text("#error-message")
    axe_ok(desk)
    shot(desk, "refused", full=False)


def test_a_forged_form_is_refused(desk: Any) -> None:
    desk.goto("/check")
    # the browser's own cookies, but a token that is not this browser's
    with desk.expect_navigation():
        desk.evaluate(
            """() => { const f = document.querySelector('main form');
                       f.querySelector('input[name=csrf]').value = 'forged'; f.submit(); }"""
        )
    assert "安全校验失败" in desk.inner_text("#error-message")
    # a cross-site POST has no CSRF cookie at all (SameSite=Strict) nor token
    r = desk.request.post("/check", form={"action": "start"})
    assert r.status == 403
    shot(desk, "csrf-refused", full=False)
