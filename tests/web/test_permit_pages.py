"""§6 on the pages (issue 16): the citizen's residence-permit self-check, the officer's permit
queue and a person's registrations and permits with their actions, the register's
conflicts on a settlement case, and the demo's permits in every state.

The pages are rendered in Chinese and English from the demo register (SQLite, in-process);
the forms' actions run on SQLite and PostgreSQL (the ``registry`` fixture): own county (the
form's redirect, something written), another county (403 page, nothing written), nothing
(404 page, nothing written)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.models import (
    Person,
    ResidencePermit,
    ResidencePermitEndorsement,
    ResidenceRegistration,
)
from hukou.registry.permits import permit_status
from hukou.registry.service import Registry
from hukou.service.app import create_app
from hukou.service.limits import Limits
from hukou.service.web import common, residence

from ..registry.conftest import (  # noqa: F401 (the fixtures, on SQLite and PostgreSQL)
    NANHU,
    XIUZHOU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..service.test_permit_api import (
    HOUSING,
    MISSING,
    World,
    migrant,
    prepare,
    refused_only,
    written,
)
from .conftest import TODAY, csrf_of, login

ID_NUMBER = re.compile(r"\b\d{17}[\dX]\b")


# ---- the demo ------------------------------------------------------------------------------


def _demo_permits(register: Registry) -> list[ResidencePermit]:
    return register.read(lambda s: list(s.execute(select(ResidencePermit)).scalars()))


def test_the_demo_has_permits_in_every_state(demo_registry: Registry) -> None:
    permits = _demo_permits(demo_registry)
    states = {p.state for p in permits}
    assert states >= {"applied", "under_review", "issued", "refused", "withdrawn", "void",
                      "cancelled"}  # fmt: skip
    statuses = {permit_status(p, TODAY) for p in permits}
    assert {"valid", "lapsed"} <= statuses
    endorsed = demo_registry.read(
        lambda s: {e.permit_id for e in s.execute(select(ResidencePermitEndorsement)).scalars()}
    )
    assert any(p.id in endorsed and permit_status(p, TODAY) == "valid" for p in permits)
    void = [p for p in permits if p.state == "void"]
    assert void and any(p.replaces_id == void[0].id and p.state == "issued" for p in permits)
    closed = {p.close_reason for p in permits if p.state == "cancelled"}
    assert {"settled", "left"} <= closed
    assert any(
        p.state == "applied" and p.applied_on < TODAY - dt.timedelta(days=15) for p in permits
    )  # fmt: skip  (overdue)
    ends = demo_registry.read(
        lambda s: {r.end_reason for r in s.execute(select(ResidenceRegistration)).scalars()}
    )
    assert {None, "address_change", "moved_away", "settled", "left"} <= ends


def test_the_settled_holder_is_registered_and_the_permit_cancelled_that_day(
    demo_registry: Registry,
) -> None:
    from hukou.registry.demo_residence import LEASE_HOLDER_ID
    from hukou.registry.models import Membership

    settled = [p for p in _demo_permits(demo_registry) if p.close_reason == "settled"]
    assert len(settled) == 1
    assert settled[0].issued_on is not None and settled[0].issued_on < TODAY - dt.timedelta(3 * 365)
    holder = demo_registry.read(lambda s: s.get(Person, settled[0].person_id))
    assert holder is not None and holder.id_number == LEASE_HOLDER_ID
    registered = demo_registry.read(
        lambda s: s.execute(
            select(Membership.start_date).where(Membership.person_id == holder.id)
        ).scalar_one()
    )
    assert settled[0].closed_on == registered < TODAY


def test_the_lease_holders_path_on_the_officers_pages(
    client: TestClient, demo_registry: Registry
) -> None:
    """The README's walk through the demo (*§6 in the demo*): the officer of 南湖区 looks up
    陈晓燕 by ID number — her registration on the leased flat, ended when she settled; her
    permit, endorsed each year, cancelled then — and opens her settlement case, decided on
    the register's facts (nothing she typed disagrees)."""
    from hukou.registry.demo_residence import LEASE_ADDRESS, LEASE_HOLDER_ID
    from hukou.registry.models import Application

    login(client, "officer_330402")
    page = client.get("/officer/permits")
    r = client.post(
        "/officer/residence", data={"csrf": csrf_of(page.text), "id_number": LEASE_HOLDER_ID}
    )
    assert r.status_code == 303
    history = client.get(r.headers["location"] + "?lang=zh").text
    assert LEASE_ADDRESS in history and "合法稳定住所" in history
    # settled: the registration ended and the permit cancelled
    assert history.count("户口迁入本地（落户）") == 2
    endorsed = re.search(r"签注记录：([^<]*)", history)
    assert endorsed and endorsed.group(1).count("→") == 3
    app = demo_registry.read(
        lambda s: s.execute(
            select(Application).where(Application.applicant_id_number == LEASE_HOLDER_ID)
        ).scalar_one()
    )
    case = client.get(f"/officer/app/{app.id}?lang=zh").text
    assert 'id="register-facts"' in case and 'id="register-conflicts"' not in case
    assert re.search(r'<li class="channel yes"><span class="clause">§1\.1<', case)
    assert re.search(r'<dd id="state"><strong>已办理落户登记</strong>', case)


# ---- the citizen's self-check --------------------------------------------------------------

BASE = {
    "lives_in": "330402",
    "hukou": "elsewhere",
    "registration": "yes",
    "reg_county": "",
    "reg_since": "2025-01-10",
    "labour_contract": "yes",
    "business": "no",
    "study": "no",
    "dwelling": "none",
}


def _check(client: TestClient, answers: dict[str, str], lang: str = "zh") -> Any:
    page = client.get(f"/check/permit?lang={lang}")
    assert page.status_code == 200
    return client.post("/check/permit", data={"csrf": csrf_of(page.text), **answers})


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_self_check_form_renders(client: TestClient, lang: str) -> None:
    page = client.get(f"/check/permit?lang={lang}")
    assert page.status_code == 200
    heading = "居住证申领自测" if lang == "zh" else "Residence permit: may I apply?"
    assert heading in page.text and 'name="csrf"' in page.text
    assert "/check/permit" in client.get(f"/?lang={lang}").text  # linked from the home page


def test_the_self_check_says_yes_with_grounds_and_materials(client: TestClient) -> None:
    r = _check(client, BASE)
    assert r.status_code == 200, r.text
    assert 'data-status="eligible"' in r.text and "您可以申领居住证" in r.text
    assert "合法稳定就业" in r.text and 'id="materials"' in r.text
    assert "本人居民身份证" in r.text and "第二条" in r.text  # art. 2 quoted
    assert 'id="trace"' in r.text


def test_the_self_check_says_from_when(client: TestClient) -> None:
    since = TODAY - dt.timedelta(days=30)
    r = _check(client, BASE | {"reg_since": since.isoformat()}, "en")
    assert 'data-status="not_eligible"' in r.text
    earliest = re.search(r'id="earliest">You may apply from (\d{4}-\d\d-\d\d)', r.text)
    assert earliest and dt.date.fromisoformat(earliest.group(1)) > TODAY


def test_the_self_check_names_what_is_missing(client: TestClient) -> None:
    answers = BASE | {"labour_contract": "?", "business": "?", "study": "?", "dwelling": "?"}
    r = _check(client, answers)
    assert 'data-status="undetermined"' in r.text and 'id="missing"' in r.text


def test_the_self_check_refuses_bad_input_and_a_missing_token(client: TestClient) -> None:
    r = _check(client, BASE | {"reg_since": "2025-02-30"}, "en")
    assert r.status_code == 422 and 'id="pc-errors"' in r.text and "pc_reg_since_err" in r.text
    r = _check(client, BASE | {"lives_in": "999999"})
    assert r.status_code == 422 and "pc_lives_in_err" in r.text
    r = client.post("/check/permit", data=BASE)
    assert r.status_code == 403


# ---- the officer's pages on the demo ---------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_queue_renders_without_id_numbers(client: TestClient, lang: str) -> None:
    login(client, "officer_330402")
    page = client.get(f"/officer/permits?lang={lang}")
    assert page.status_code == 200, page.text
    for table in ("rp-applications", "rp-due", "rp-overdue"):
        assert f'id="{table}"' in page.text, table
    assert not ID_NUMBER.search(page.text)  # masked in the lists
    assert ("逾期未签注" if lang == "zh" else "lapsed") in page.text
    assert 'action="/officer/residence/register"' in page.text


def test_another_county_sees_none_of_it(client: TestClient) -> None:
    login(client, "officer_330411")
    page = client.get("/officer/permits")
    assert page.status_code == 200 and 'id="rp-applications"' not in page.text
    own = [p for p in _permits_of(client) if p.county == NANHU]
    person = client.get(f"/officer/residence/person/{own[0].person_id}")
    assert person.status_code == 404


def _permits_of(client: TestClient) -> list[ResidencePermit]:
    register: Registry = client.app.state.registry  # type: ignore[attr-defined]
    return _demo_permits(register)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_persons_page_shows_state_lapse_and_actions(client: TestClient, lang: str) -> None:
    login(client, "officer_330402")
    lapsed = next(p for p in _permits_of(client) if permit_status(p, TODAY) == "lapsed")
    page = client.get(f"/officer/residence/person/{lapsed.person_id}?lang={lang}")
    assert page.status_code == 200, page.text
    assert 'data-status="lapsed"' in page.text and 'value="endorse"' in page.text
    assert f'action="/officer/residence/permit/{lapsed.id}"' in page.text
    assert 'id="registrations"' in page.text and 'id="end-residence"' in page.text
    assert ("居住登记" if lang == "zh" else "Residence registrations") in page.text


def test_the_roles_without_permits_are_refused(client: TestClient) -> None:
    assert client.get("/officer/permits").status_code == 303  # to the login
    login(client, "analyst")
    assert client.get("/officer/permits").status_code == 403


def test_a_look_up_by_id_number(client: TestClient) -> None:
    login(client, "officer_330402")
    register: Registry = client.app.state.registry  # type: ignore[attr-defined]
    held = next(p for p in _permits_of(client) if p.state == "under_review")
    number = register.read(lambda s: s.get(Person, held.person_id).id_number)
    page = client.get("/officer/permits")
    r = client.post("/officer/residence", data={"csrf": csrf_of(page.text), "id_number": number})
    assert r.status_code == 303 and r.headers["location"].endswith(f"/person/{held.person_id}")
    stranger = migrant(60)
    r = client.post("/officer/residence", data={"csrf": csrf_of(page.text), "id_number": stranger})
    assert r.status_code == 200 and 'id="no-records"' in r.text and stranger in r.text


# ---- the register's conflicts on a settlement case --------------------------------------------


CONFLICTS = [
    {"field": "applicant.residence_permit.county", "typed": "330411", "register": "330402"},
    {"field": "applicant.residence_registration_since", "typed": "2020-01-01",
     "register": "2022-05-01"},
]  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_register_conflicts_render_as_a_warning_table(lang: str) -> None:
    from functools import partial

    from hukou.policy.facts import field_label
    from hukou.service.web import i18n

    a = {"register_conflicts": residence.register_conflicts(
        type("App", (), {"decision": {"register_conflicts": CONFLICTS}, "facts": {}})()
    )}  # fmt: skip
    html = common.env.get_template("_register_conflicts.html").render(
        a=a, t=partial(i18n.t, lang=lang), field_label=partial(field_label, lang=lang)
    )
    assert 'id="register-conflicts"' in html and 'role="alert"' in html
    assert html.count("<tr>") == 3 and "330411" in html and "2022-05-01" in html
    assert ("登记簿记录" if lang == "zh" else "Register") in html
    empty = common.env.get_template("_register_conflicts.html").render(a={}, t=i18n.t)
    assert "register-conflicts" not in empty


def test_register_conflicts_are_read_wherever_the_application_keeps_them() -> None:
    class App:
        decision: dict[str, Any] | None = None
        facts: ClassVar[dict[str, Any]] = {"register_conflicts": [{"field": "x", "typed": True}]}

    assert residence.register_conflicts(App()) == [
        {"field": "x", "typed": "是 / yes", "register": "—"}
    ]
    App.register_conflicts = [{"field": "y", "typed": 1, "register": 2}]  # type: ignore[attr-defined]
    assert residence.register_conflicts(App())[0]["field"] == "y"
    assert residence.register_conflicts(object()) == []


# ---- the forms: own county, another county, nothing (SQLite and PostgreSQL) --------------------

PASSWORD = "a long enough secret"


@pytest.fixture
def pages(registry: Registry, clock: FixedClock) -> tuple[World, TestClient]:  # noqa: F811
    officers = {}
    for name, county in (("nanhu", NANHU), ("xiuzhou", XIUZHOU)):
        uid = registry.add_user(SYSTEM, name, PASSWORD, "officer", county)
        officers[county] = Actor(uid, name, "officer", county)
    app = create_app(registry, limits=Limits.unlimited())
    page = TestClient(app, base_url="https://testserver", follow_redirects=False)
    form = page.get("/login")
    r = page.post(
        "/login", data={"csrf": csrf_of(form.text), "username": "nanhu", "password": PASSWORD}
    )
    assert r.status_code == 303
    return World(registry, clock, page, officers, {}), page


# (name, route, the state of what it names, its form)
FORMS = [
    ("register", "/officer/residence/register", None, {"name": "李四", **HOUSING}),
    ("change address", "/officer/residence/registration/{registration_id}", "registration",
     {"action": "change_address", **HOUSING, "address": "宿舍9幢"}),
    ("end", "/officer/residence/registration/{registration_id}", "registration",
     {"action": "end"}),
    ("apply", "/officer/residence/registration/{registration_id}", "registration",
     {"action": "apply", "ground": "employment", "local_labour_contract": "yes"}),
    ("review", "/officer/residence/permit/{permit_id}", "applied", {"action": "review"}),
    ("issue", "/officer/residence/permit/{permit_id}", "under_review", {"action": "issue"}),
    ("refuse", "/officer/residence/permit/{permit_id}", "under_review",
     {"action": "refuse", "reasons": "材料不实"}),
    ("withdraw", "/officer/residence/permit/{permit_id}", "applied", {"action": "withdraw"}),
    ("endorse", "/officer/residence/permit/{permit_id}", "lapsed", {"action": "endorse"}),
    ("replace", "/officer/residence/permit/{permit_id}", "issued",
     {"action": "replace", "reason": "damaged"}),
    ("cancel", "/officer/residence/permit/{permit_id}", "issued",
     {"action": "cancel", "reason": "issued_in_error"}),
]  # fmt: skip
# the officer POST routes of §6 (tests/web/test_page_referenced.py leaves them to this table)
RESIDENCE_FORMS = {route for _, route, _, _ in FORMS} | {"/officer/residence"}


def test_the_table_covers_every_residence_form(registry: Registry) -> None:  # noqa: F811
    from .test_page_referenced import _posts

    posts = _posts(create_app(registry).routes)
    assert {p for p in posts if p.startswith("/officer/residence")} == RESIDENCE_FORMS


def _url(route: str, x: int) -> str:
    return re.sub(r"\{\w+\}", str(x), route)


@pytest.mark.parametrize(("name", "route", "needs", "form"), FORMS, ids=[f[0] for f in FORMS])
def test_each_form_own_other_and_nothing(
    pages: tuple[World, TestClient], name: str, route: str, needs: str | None, form: dict[str, str]
) -> None:
    w, page = pages
    csrf = csrf_of(page.get("/officer/permits").text)
    problems = []
    if needs is not None:
        own, other = prepare(w, NANHU, needs, 1), prepare(w, XIUZHOU, needs, 2)
        for case, x, want in (("other county", other, 403), ("nothing", MISSING, 404)):
            before = written(w.registry)
            r = page.post(_url(route, x), data={"csrf": csrf, **form})
            if r.status_code != want or not refused_only(w.registry, before):
                problems.append(f"{case}: {r.status_code} (wanted {want}) {r.text[:200]}")
            elif "<html" not in r.text or "</html>" not in r.text:
                problems.append(f"{case}: not a page")
        url, data = _url(route, own), form
    else:
        url, data = route, {**form, "id_number": migrant(9)}
    before = written(w.registry)
    r = page.post(url, data={"csrf": csrf, **data})
    if r.status_code != 303 or "done=" not in r.headers.get("location", ""):
        problems.append(f"own county: {r.status_code} {r.text[:300]}")
    elif written(w.registry) == before:
        problems.append("own county: nothing written")
    else:
        shown = page.get(r.headers["location"])
        if shown.status_code != 200 or 'id="done"' not in shown.text:
            problems.append(f"own county: the person's page {shown.status_code}")
    # without the form's token: refused, nothing written
    before = written(w.registry)
    r = page.post(url, data=data)
    if r.status_code != 403 or written(w.registry) != before:
        problems.append(f"no token: {r.status_code}")
    assert not problems, "\n".join(problems)


def test_a_refused_step_is_a_bilingual_page(pages: tuple[World, TestClient]) -> None:
    w, page = pages
    permit = prepare(w, NANHU, "issued", 1)
    csrf = csrf_of(page.get("/officer/permits").text)
    before = written(w.registry)
    r = page.post(f"/officer/residence/permit/{permit}", data={"csrf": csrf, "action": "endorse"})
    assert r.status_code == 409 and "endorsement window" in r.text and "签注期" in r.text
    r = page.post(
        f"/officer/residence/permit/{permit}",
        data={"csrf": csrf, "action": "cancel", "reason": "bored"},
    )
    assert r.status_code == 422 and refused_only(w.registry, before, refusals=2)
