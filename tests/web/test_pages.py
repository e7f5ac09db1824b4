"""The pages' logic in-process (TestClient): the interview's choice of questions, CSRF,
the language switch, security headers, roles, apply and track, the PDF notice."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from fastapi.testclient import TestClient

from hukou.engine.decide import decide
from hukou.policy.facts import parse_case
from hukou.registry.service import Registry
from hukou.service.web import i18n, interview

from . import drive
from .conftest import TODAY, csrf_of, login
from .scenarios import GRADUATE, OWNER_FAMILY, SCENARIOS


def _next(answers: dict[str, str]) -> interview.Shown | None:
    case = parse_case(interview.build_case(answers, TODAY))
    return interview.next_step(answers, interview.outcome_missing(decide(case, on=TODAY)))


# ---- the interview's choice of questions ---------------------------------------------


def test_the_interview_starts_with_who_you_are_then_the_hukou() -> None:
    first = _next({})
    assert first is not None and first.step.id == "identity"
    second = _next({"id_number": OWNER_FAMILY["id_number"]})
    assert second is not None and second.step.id == "hukou"
    assert [q.key for q in second.questions] == ["hukou_kind", "hukou_county"]


def test_only_questions_that_can_change_the_outcome_are_asked() -> None:
    answers = {"id_number": OWNER_FAMILY["id_number"], "hukou_kind": "outside_jiaxing"}
    shown = _next(answers)
    # the hukou is outside Jiaxing: its county no longer matters (§4.4 is out)
    assert shown is not None and shown.step.id == "dwelling"
    answers |= {"hukou_county": "?", "dw_tenure": "owned"}
    shown = _next(answers)
    assert shown is not None and shown.step.id == "dwelling_detail"
    answers |= {"dw_county": "330402", "dw_area": "urban", "dw_commercial": "yes"}
    answers |= {"lives_in": "330402", "permit_held": "yes", "permit_county": "330402"}
    answers |= {"registration": "yes"}
    decision = decide(parse_case(interview.build_case(answers, TODAY)), on=TODAY)
    assert decision.best is not None and decision.best.key == "s1_1"
    # settled under §1.1, the first channel: the other channels' open facts (education …)
    # no longer change the outcome, and an owner is never asked since when (§1.2: tenants)
    assert "applicant.education" in decision.missing_facts
    assert "applicant.education" not in interview.outcome_missing(decision)
    shown = _next(answers)
    assert shown is not None and shown.step.id == "family"
    answers |= {"spouse": "yes", "children": "0", "parents": "0"}
    shown = _next(answers)
    # the spouse may come along once known to live with the applicant: asked that, only
    assert shown is not None and [q.key for q in shown.questions] == ["r0_lives_with"]
    assert _next(answers | {"r0_lives_with": "yes"}) is None


def test_a_tenant_is_asked_since_when_they_live_there() -> None:
    answers = {
        "id_number": OWNER_FAMILY["id_number"],
        "hukou_kind": "outside_jiaxing",
        "dw_tenure": "rented_registered",
        "dw_county": "330411",
        "dw_area": "urban",
        "dw_commercial": "yes",
    }
    shown = _next(answers)
    assert shown is not None and shown.step.id == "residence"
    assert "res_since" in [q.key for q in shown.questions]


def test_relatives_are_asked_about_only_once_named() -> None:
    answers = dict.fromkeys(("spouse", "children", "parents"), "0") | {"spouse": "no"}
    assert not any(s.relative is not None for s in interview.steps(answers))
    answers |= {"children": "2"}
    ids = [s.id for s in interview.steps(answers)]
    assert "rel0_basic" in ids and "rel1_quals" in ids and "rel2_basic" not in ids


@pytest.mark.parametrize("channel", sorted(SCENARIOS))
def test_each_scenario_ends_eligible_under_its_channel(client: TestClient, channel: str) -> None:
    html, asked = drive.run(client, SCENARIOS[channel])
    found = drive.statuses(html)
    assert len(found) == 6 and found[channel] == "yes", found
    assert asked[0] == "identity" and "family" in asked
    assert CLAUSE_QUOTED.search(html), "the clause's Chinese text is quoted"


CHILD_ID = "341221201505050015"
CLAUSE_QUOTED = re.compile(r'<blockquote lang="zh-CN">[^<]{10,}</blockquote>')


def test_result_names_the_date_for_a_time_condition(client: TestClient) -> None:
    tenant = GRADUATE | {
        "education": "high_school",
        "labour_contract": "no",
        "dw_tenure": "rented_registered",
        "dw_county": "330411",
        "dw_area": "urban",
        "dw_commercial": "yes",
        "lives_in": "330411",
        "permit_county": "330411",
        "res_since": "2025-07-01",
    }
    html, asked = drive.run(client, tenant)
    assert "residence" in asked
    assert drive.statuses(html)["s1_1"] == "later"
    assert "2028-07-01" in html  # the third year of residence (§1.2)


def test_back_and_change_an_answer(client: TestClient) -> None:
    html = drive.start(client)
    html = drive.answer(client, html, OWNER_FAMILY)
    assert drive.hidden(html, "step") == "hukou"
    back = client.post(
        "/check",
        data={"csrf": csrf_of(html), "state": drive.hidden(html, "state"), "action": "back"},
    )
    assert drive.hidden(back.text, "step") == "identity"
    assert OWNER_FAMILY["id_number"] in back.text  # the earlier answer is kept
    result, _ = drive.run(client, OWNER_FAMILY)
    change = client.post(
        "/check",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "action": "goto:dwelling",
        },
    )
    assert drive.hidden(change.text, "step") == "dwelling"
    assert re.search(r'value="owned" (checked|selected)', change.text)


def test_a_bad_id_number_is_asked_again_with_the_reason(client: TestClient) -> None:
    html = drive.start(client)
    again = drive.answer(client, html, {"id_number": "341221199003150033"})
    assert drive.hidden(again, "step") == "identity"
    assert "校验码" in again and 'role="alert"' in again


def test_a_tampered_state_is_refused(client: TestClient) -> None:
    html = drive.start(client)
    state = drive.hidden(html, "state") or ""
    r = client.post(
        "/check",
        data={"csrf": csrf_of(html), "state": "x" + state, "step": "identity", "action": "next"},
    )
    assert r.status_code == 200 and i18n.t("check.expired") in r.text


def test_no_personal_data_in_urls_the_interview_posts(client: TestClient) -> None:
    html, _ = drive.run(client, OWNER_FAMILY)
    shown = re.sub(r'name="state" value="[^"]*"', "", html).split('id="apply-h"')[0]
    assert OWNER_FAMILY["id_number"] not in shown and "341221********0032" in shown
    for form in re.findall(r"<form[^>]*>", html):
        assert 'method="post"' in form
    assert "?id" not in html and "id_number=" not in html


# ---- CSRF, headers, language ---------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/check")
    assert client.post("/check", data={"action": "start"}).status_code == 403
    r = client.post("/check", data={"action": "start", "csrf": "forged"})
    assert r.status_code == 403 and "安全校验" in r.text and "security check" in r.text
    page = client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": "x"})
    assert r.status_code == 403 and page.status_code == 200


def test_a_token_from_another_browser_does_not_pass(web_app: object, client: TestClient) -> None:
    other = TestClient(web_app, base_url="https://testserver")  # type: ignore[arg-type]
    token = csrf_of(other.get("/check").text)
    client.get("/check")
    assert client.post("/check", data={"action": "start", "csrf": token}).status_code == 403


def test_pages_carry_the_security_headers_and_cookies(client: TestClient) -> None:
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    assert "<script" not in r.text and "style=" not in r.text
    assert "content-security-policy" not in client.get("/api/health").headers


def test_login_session_cookie_is_secure_httponly_samesite(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": "analyst", "password": "jiaxing-demo-2026"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/analyst"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("hukou_session="))
    low = cookie.lower()
    assert "httponly" in low and "secure" in low and "samesite=strict" in low


def test_the_language_switch(client: TestClient) -> None:
    zh = client.get("/")
    assert '<html lang="zh-CN">' in zh.text and "落户自测" in zh.text
    en = client.get("/?lang=en")
    assert '<html lang="en">' in en.text and "Self-check" in en.text
    assert '<html lang="en">' in client.get("/track").text  # remembered (cookie)
    html = drive.start(client, "en")
    assert "Who you are" in html
    switched = client.post(
        "/check",
        data={
            "csrf": csrf_of(html),
            "state": drive.hidden(html, "state"),
            "step": "identity",
            "action": "next",
            "q": ["id_number", "birth_date", "sex"],
            "id_number": OWNER_FAMILY["id_number"],
            "switch_lang": "zh",
        },
    )
    assert "您的身份" in switched.text and OWNER_FAMILY["id_number"] in switched.text


def test_every_message_has_both_languages() -> None:
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh and en, key
        assert re.findall(r"{(\w+)}", zh) == re.findall(r"{(\w+)}", en) or key.startswith("who."), (
            key
        )


def test_every_question_has_a_label_in_both_languages() -> None:
    answers = {"spouse": "yes", "children": "1", "parents": "1"}
    for s in interview.steps(answers):
        assert s.title in i18n.MESSAGES, s.title
        for q in s.questions:
            assert q.label_key in i18n.MESSAGES, q.label_key


# ---- roles ---------------------------------------------------------------------------


def test_staff_pages_need_a_login(client: TestClient) -> None:
    for path in ("/officer", "/keeper", "/analyst", "/officer/move-outs"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("keeper", "/officer"),
        ("analyst", "/officer"),
        ("analyst", "/keeper"),
        ("officer_330402", "/keeper"),
        ("keeper", "/analyst"),
        ("officer_330402", "/analyst"),
    ],
)
def test_a_page_a_role_may_not_see_is_refused(client: TestClient, user: str, path: str) -> None:
    login(client, user)
    r = client.get(path)
    assert r.status_code == 403
    assert "无此权限" in r.text and "this needs the role" in r.text


def test_an_officer_sees_only_the_station_county(
    client: TestClient, demo_registry: Registry
) -> None:
    from sqlalchemy import select

    from hukou.registry.models import Application

    other = demo_registry.read(
        lambda s: s.execute(select(Application.id).where(Application.county == "330411")).scalar()
    )
    login(client, "officer_330402")
    queue = client.get("/officer")
    assert queue.status_code == 200 and "330411" not in queue.text
    r = client.get(f"/officer/app/{other}")
    assert r.status_code == 403 and "仅限本辖区" in r.text


# ---- apply, track, the officer's work, the PDF ----------------------------------------


def test_apply_and_track_then_an_officer_approves_registers_and_prints(client: TestClient) -> None:
    result, _ = drive.run(client, OWNER_FAMILY)
    r = client.post(
        "/check/apply",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "name": "王小明",
            "id_number": OWNER_FAMILY["id_number"],
            "r0_name": "李小红",
            "r0_id_number": "34122119910506002X",
            "r1_name": "王小宝",
            "r1_id_number": CHILD_ID,
            "kind": "s1_1",
            "county": "330402",
            "origin_county": "341221",  # 安徽省临泉县: outside Zhejiang, a move-in permit
        },
    )
    assert r.status_code == 200, r.text
    found = re.search(r'id="reference">([A-Z0-9-]+)<', r.text)
    assert found
    reference = found.group(1)
    tracked = client.post("/track", data={"csrf": csrf_of(result), "reference": reference})
    assert "已提交" in tracked.text and "王**" in tracked.text and "王小明" not in tracked.text

    login(client, "officer_330402")
    queue = client.get("/officer?state=submitted")
    app_id = re.search(rf'href="/officer/app/(\d+)">{reference}<', queue.text)
    assert app_id
    url = f"/officer/app/{app_id.group(1)}"
    page = client.get(url)
    assert "王小明" in page.text  # the station's own county: in full
    for action in ("review", "approve"):
        page = client.get(url)
        if action == "approve":  # materials before approval: each received on the page
            for material, clause in dict(
                re.findall(
                    r'name="material" value="([^"]+)">\s*<input type="hidden" name="clause" '
                    r'value="([^"]*)">',
                    page.text,
                )
            ).items():
                got = client.post(
                    url,
                    data={
                        "csrf": csrf_of(page.text),
                        "action": "receive",
                        "material": html.unescape(material),
                        "clause": clause,
                    },
                )
                assert got.status_code == 303, got.text
            page = client.get(url)
            assert 'id="materials-outstanding"' not in page.text
        version = drive.hidden(page.text, "version")
        r = client.post(
            url, data={"csrf": csrf_of(page.text), "action": action, "version": version}
        )
        assert r.status_code == 303, r.text
    assert "准予落户" in client.get(url).text
    pdf = client.get(url + "/notice.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    page = client.get(url)
    assert re.search(r"ZQ330402\d{8}[0-9A-F]{8} · 有效", page.text), "the move-in permit is shown"
    form = {
        "csrf": csrf_of(page.text),
        "action": "register",
        "version": drive.hidden(page.text, "version"),
        "address": "南湖区示范路1号",
    }
    people = re.findall(r'name="(doc\d+)_person" value="([^"]+)"', page.text)
    assert [who for _, who in people][:1] == ["applicant"]
    r = client.post(url, data=form)  # without the origin's migration certificates: refused
    assert r.status_code == 422 and "户口迁移证" in r.text
    for key, who in people:
        form[f"{key}_person"], form[f"{key}_number"] = who, f"QY-{key}"
    r = client.post(url, data=form)
    assert r.status_code == 303, re.findall(r'id="error-message">([^<]*)<', r.text)
    page = client.get(url)
    assert "已办理落户登记" in page.text and "已使用" in page.text
    tracked = client.post("/track", data={"csrf": csrf_of(page.text), "reference": reference})
    assert "已办理落户登记" in tracked.text


def test_names_are_masked_outside_the_county_for_admin_only_in_full(client: TestClient) -> None:
    login(client, "keeper")
    page = client.get("/keeper")
    assert page.status_code == 200
    assert not re.search(r"\d{18}|\d{17}X", page.text), "ID numbers are masked for the keeper"


def test_the_analyst_sees_aggregates_only(client: TestClient, demo_registry: Registry) -> None:
    login(client, "analyst")
    page = client.get("/analyst")
    assert page.status_code == 200 and 'id="indicators"' in page.text
    from sqlalchemy import select

    from hukou.registry.models import Application

    names = demo_registry.read(
        lambda s: list(s.execute(select(Application.applicant_name)).scalars())
    )
    assert not any(n in page.text for n in names)


def test_the_demo_date_is_fixed() -> None:
    assert dt.date(2026, 11, 28) == TODAY


def _pdf_fonts(pdf: bytes) -> set[str]:
    """The /BaseFont names of a PDF, in plain objects and in compressed object streams.

    Each stream is read by its declared /Length (not by searching for ``endstream``,
    which binary font data may contain)."""
    import zlib

    names = set(re.findall(rb"/BaseFont\s*/([\w+-]+)", pdf))
    for m in re.finditer(rb"/Length (\d+)(?![\d ]*R)[^>]*>>\s*stream\r?\n", pdf):
        data = pdf[m.end() : m.end() + int(m.group(1))]
        try:
            names |= set(re.findall(rb"/BaseFont\s*/([\w+-]+)", zlib.decompress(data)))
        except zlib.error:
            continue
    return {n.decode() for n in names}


def test_the_pdf_notice_is_set_in_noto_cjk(client: TestClient) -> None:
    login(client, "officer_330402")
    for state in ("approved", "rejected"):
        queue = client.get(f"/officer?state={state}")
        app_id = re.search(r'href="/officer/app/(\d+)"', queue.text)
        assert app_id, state
        pdf = client.get(f"/officer/app/{app_id.group(1)}/notice.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        fonts = _pdf_fonts(pdf.content)
        assert any("Noto" in f and "CJK" in f for f in fonts), (state, app_id.group(1), fonts)
    draft = re.search(r'href="/officer/app/(\d+)"', client.get("/officer?state=draft").text)
    assert draft
    r = client.get(f"/officer/app/{draft.group(1)}/notice.pdf")
    assert r.status_code in (400, 422) and "尚未作出决定" in r.text


def test_a_move_out_is_not_moved_before_its_public_notice_runs_out(client: TestClient) -> None:
    login(client, "officer_330402")
    page = client.get("/officer/move-outs")
    found = re.search(r'action="/officer/move-outs/(\d+)"', page.text)
    assert found and "公示中" in page.text
    r = client.post(
        f"/officer/move-outs/{found.group(1)}",
        data={"csrf": csrf_of(page.text), "action": "move_ex_officio"},
    )
    assert r.status_code == 409 and "公示期至" in r.text and "public notice runs until" in r.text


def test_an_officer_attaches_under_4_4(client: TestClient, demo_registry: Registry) -> None:
    from sqlalchemy import select

    from hukou.registry.models import Household, Membership, Person

    def child(s: object) -> str:
        return str(
            s.execute(  # type: ignore[attr-defined]
                select(Person.id_number)
                .join(Membership, Membership.person_id == Person.id)
                .join(Household, Household.id == Membership.household_id)
                .where(
                    Membership.end_date.is_(None),
                    Membership.relation_to_head == "子女",
                    Household.kind == "family",
                    Household.county == "330402",
                )
            )
            .scalars()
            .first()
        )

    number = demo_registry.read(child)
    login(client, "officer_330402")
    page = client.get("/officer/move-outs")
    r = client.post(
        "/officer/attach",
        data={"csrf": csrf_of(page.text), "id_number": number, "reason": "divorce"},
    )
    assert r.status_code == 303, r.text
    kind = demo_registry.read(
        lambda s: s.execute(
            select(Household.kind)
            .join(Membership)
            .join(Person)
            .where(Person.id_number == number, Membership.end_date.is_(None))
        ).scalar_one()
    )
    assert kind == "community_collective"
    login(client, "officer_330411")  # not this officer's county
    page = client.get("/officer/move-outs")
    r = client.post(
        "/officer/attach",
        data={"csrf": csrf_of(page.text), "id_number": number, "reason": "divorce"},
    )
    assert r.status_code in (403, 409)


def test_logins_are_throttled_after_five_failures_and_logout_ends_the_session(
    client: TestClient, demo_registry: Registry
) -> None:
    from hukou.registry.access import SYSTEM

    demo_registry.add_user(SYSTEM, "web_locktest", "a long enough secret", "analyst")
    answers = set()
    for _ in range(5):
        page = client.get("/login")
        r = client.post(
            "/login",
            data={"csrf": csrf_of(page.text), "username": "web_locktest", "password": "wrong!"},
        )
        assert r.status_code == 403 and "用户名或密码错误" in r.text
        answers.add(r.text.split("<main", 1)[1])
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "csrf": csrf_of(page.text),
            "username": "web_locktest",
            "password": "a long enough secret",
        },
    )
    # throttled: the same page as for a wrong password (no hint that the account exists)
    assert r.status_code == 403 and r.text.split("<main", 1)[1] in answers

    login(client, "analyst")
    page = client.get("/analyst")
    assert page.status_code == 200
    r = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert client.get("/analyst").status_code == 303  # back to the login form


def test_a_forged_session_cookie_is_no_login(client: TestClient) -> None:
    client.cookies.set("hukou_session", "eyJ1aWQiOjEsInIiOiJhZG1pbiJ9.forged", domain="testserver")
    r = client.get("/officer")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_an_officer_rejects_with_reasons_and_the_citizen_sees_them(client: TestClient) -> None:
    login(client, "officer_330411")
    queue = client.get("/officer?state=under_review")
    found = re.search(r'href="/officer/app/(\d+)">([A-Z0-9-]+)<', queue.text)
    assert found
    url, reference = f"/officer/app/{found.group(1)}", found.group(2)
    page = client.get(url)
    empty = client.post(
        url,
        data={"csrf": csrf_of(page.text), "action": "reject", "reasons": " "},
    )
    assert empty.status_code in (400, 422) and "理由" in empty.text
    r = client.post(
        url,
        data={
            "csrf": csrf_of(page.text),
            "action": "reject",
            "reasons": "居住证明与登记不符 / the residence proof does not match",
            "version": drive.hidden(page.text, "version"),
        },
    )
    assert r.status_code == 303
    assert "不予落户" in client.get(url).text
    tracked = client.post("/track", data={"csrf": csrf_of(page.text), "reference": reference})
    assert "不予落户" in tracked.text and "居住证明与登记不符" in tracked.text


def test_an_officer_takes_a_move_out_request_and_notifies(
    client: TestClient, demo_registry: Registry
) -> None:
    from sqlalchemy import select

    from hukou.registry.models import Household, Membership, Person

    number = demo_registry.read(
        lambda s: (
            s.execute(
                select(Person.id_number)
                .join(Membership, Membership.person_id == Person.id)
                .join(Household, Household.id == Membership.household_id)
                .where(
                    Membership.end_date.is_(None),
                    Membership.relation_to_head == "配偶",
                    Household.kind == "family",
                    Household.county == "330424",
                )
            )
            .scalars()
            .first()
        )
    )
    login(client, "officer_330424")
    page = client.get("/officer/move-outs")
    r = client.post(
        "/officer/move-outs",
        data={
            "csrf": csrf_of(page.text),
            "id_number": number,
            "requester_name": "房主",
            "requester_role": "owner",
            "property_proof": "不动产权证书",
        },
    )
    assert r.status_code == 303, r.text
    page = client.get("/officer/move-outs")
    assert "已申请" in page.text
    found = re.search(r'action="/officer/move-outs/(\d+)"', page.text)
    assert found
    r = client.post(
        f"/officer/move-outs/{found.group(1)}",
        data={"csrf": csrf_of(page.text), "action": "unreachable"},
    )
    assert r.status_code == 303
    page = client.get("/officer/move-outs")
    # 30 days of public notice from 2026-11-28 end on Sunday 2026-12-27: art. 203, Monday
    assert "2026-12-28" in page.text
