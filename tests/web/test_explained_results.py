"""Results that explain rather than alarm (issue 14, item 7), and the self-check's and the
analyst's labels: the anchor relative shown as the person joined; routes that cannot apply
to a relation not listed; exceptions that did not fire "not applicable" in a neutral
colour; no empty explanation nodes; one language on the officer's page; the progress and
the field's label after an input error; the reform tables' labels."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from types import SimpleNamespace

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from hukou.registry.service import Registry
from hukou.service.web import i18n, panels
from hukou.service.web.common import env

from ..registry.helpers import id_number
from . import drive
from .conftest import csrf_of, login
from .scenarios import OWNER_FAMILY, PARENT


def _relatives(html: str) -> list[str]:
    section = html[html.index('<ul class="relatives">') :]
    section = section[: section.index("\n</ul>")]
    return re.split(r'(?=<li data-relative=")', section)[1:]


@pytest.mark.parametrize(
    ("lang", "anchor", "no"), [("zh", "被投靠人", "不符合"), ("en", "the person joined", "No")]
)
def test_the_adult_child_a_parent_joins_is_shown_as_the_anchor(
    client: TestClient, lang: str, anchor: str, no: str
) -> None:
    html, _ = drive.run(client, PARENT, lang)
    [child] = _relatives(html)
    assert f'<span class="badge anchor">{anchor}</span>' in child
    assert "badge no" not in child and f">{no}<" not in child  # no red "No" routes
    assert "<ul>" not in child  # no route is listed for the person joined


def test_the_child_a_parent_may_join_is_the_anchor_while_it_is_open(client: TestClient) -> None:
    # whether the son's hukou is urban is not known: §3.1 is open, not refused
    answers = {**PARENT, "r0_hukou_area": "?", "r0_dw_area": "?"}
    html, _ = drive.run(client, answers)
    assert 'data-channel="s3_1"' in html and drive.statuses(html)["s3_1"] == "open"
    [child] = _relatives(html)
    assert '<span class="badge anchor">被投靠人</span>' in child and "尚待确定" in child
    assert "badge no" not in child


def test_routes_that_cannot_apply_to_a_relation_are_not_listed(client: TestClient) -> None:
    # the spouse does not live with the applicant: not eligible under §1.1
    answers = {**OWNER_FAMILY, "r0_lives_with": "no"}
    html, _ = drive.run(client, answers)
    spouse, child = _relatives(html)
    assert "badge no" in spouse and "§1.1" in spouse  # why not: the routes that could apply
    assert "§3.1" not in spouse  # "a parent joins the applicant": not for a spouse
    # the child may come (§1.1): the routes it does not come by are not listed in red
    assert "badge yes" in child and "badge no" not in child and "§3.1" not in child


@pytest.fixture(scope="module")
def parent_case(web_app: object, demo_registry: Registry) -> str:
    """A §3.1 application (a mother joins her adult son) taken from the self-check: the
    officer's case page URL."""
    client = TestClient(web_app, base_url="https://testserver", follow_redirects=False)  # type: ignore[arg-type]
    number = id_number("412726", "19680315", 77, False)
    answers = {**PARENT, "id_number": number}
    result, _ = drive.run(client, answers)
    r = client.post(
        "/check/apply",
        data={
            "csrf": csrf_of(result),
            "state": drive.hidden(result, "state"),
            "name": "周秀英",
            "id_number": number,
            "r0_name": "周强",
            "kind": "s3_1",
            "county": "330402",
            "origin_county": "341221",
        },
    )
    assert r.status_code == 200, r.text
    reference = re.search(r'id="reference">([A-Z0-9-]+)<', r.text)
    assert reference
    login(client, "officer_330402")
    queue = client.get("/officer?state=submitted")
    found = re.search(rf'href="(/officer/app/\d+)">{reference.group(1)}<', queue.text)
    assert found, queue.text
    return found.group(1)


def _officer(client: TestClient) -> TestClient:
    login(client, "officer_330402")
    return client


def _explanation(html: str) -> str:
    start = html.index('<ul class="trace">')
    return html[start : html.index("<h2>", start)]


@pytest.mark.parametrize(("lang", "anchor"), [("zh", "被投靠人"), ("en", "the person joined")])
def test_the_officer_sees_the_anchor_as_the_person_joined(
    client: TestClient, parent_case: str, lang: str, anchor: str
) -> None:
    html = _officer(client).get(f"{parent_case}?lang={lang}").text
    family = html[html.index('<ul class="relatives">') :]
    family = family[: family.index("</ul>")]
    assert f'<span class="badge anchor">{anchor}</span>' in family
    assert "badge no" not in family


@pytest.mark.parametrize(("lang", "na"), [("zh", "不适用"), ("en", "not applicable")])
def test_an_exception_that_did_not_fire_is_not_applicable_in_a_neutral_colour(
    client: TestClient, parent_case: str, lang: str, na: str
) -> None:
    trace = _explanation(_officer(client).get(f"{parent_case}?lang={lang}").text)
    # §3.2 (no age limit when living with the child with a permit) did not fire
    node = re.search(
        r'<li data-value="(t-\w+)"><span class="t-\w+">(.)</span>\s*<strong>§3.2</strong>'
        r"(.*?)(?:<ul>|</li>)",
        trace,
        re.S,
    )
    assert node, trace
    assert node.group(1) == "t-na" and node.group(2) == "–" and na in node.group(3)
    assert "t-false" not in trace  # an eligible channel: nothing in red


def test_no_explanation_node_is_empty(client: TestClient, parent_case: str) -> None:
    trace = _explanation(_officer(client).get(parent_case).text)
    assert "<strong></strong>" not in trace
    for item in re.findall(r"<li data-value=\"[\w-]+\">(.*?)(?=<ul>|</li>)", trace, re.S):
        text = re.sub(r"<[^>]+>|[✔✘?–\s]", "", item)
        assert text, item


def _visible_main(html: str) -> str:
    main = html[html.index('<main id="main">') : html.index("</main>")]
    text = re.sub(r"<[^>]+>", " ", main)
    return htmllib.unescape(text)


def _latin_words(text: str) -> set[str]:
    text = re.sub(r"HK-\d{8}-[0-9A-F]+", " ", text)  # references
    text = re.sub(r"(?<![A-Za-z0-9])\d{6}(?:19|20)\d{9}[\dX]", " ", text)  # ID numbers
    # words, not codes (permit numbers such as ZQ3304…)
    return set(re.findall(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])", text)) - {"PDF"}


def test_the_zh_officer_case_page_is_in_chinese_only(
    client: TestClient, parent_case: str, demo_registry: Registry
) -> None:
    client = _officer(client)
    queue = client.get("/officer?size=50").text
    urls = {parent_case, *re.findall(r'href="(/officer/app/\d+)"', queue)}
    assert len(urls) > 3
    for url in sorted(urls):
        html = client.get(f"{url}?lang=zh").text
        main = html[html.index('<main id="main">') : html.index("</main>")]
        assert 'lang="en"' not in main, url
        assert not _latin_words(_visible_main(html)), (url, _latin_words(_visible_main(html)))
    # the check itself finds English: the same page in English
    assert _latin_words(_visible_main(client.get(f"{parent_case}?lang=en").text))


@pytest.mark.parametrize(
    ("lang", "label", "raw"),
    [("zh", "出生日期", "birth_date"), ("en", "Birth date", "birth_date")],
)
def test_an_input_error_keeps_the_progress_and_names_the_question(
    client: TestClient, lang: str, label: str, raw: str
) -> None:
    html = drive.start(client, lang)
    future = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    again = drive.answer(client, html, {"birth_date": future, "sex": "female"})
    assert drive.hidden(again, "step") == "identity"
    alert = again[again.index('<div class="alert" role="alert">') :]
    alert = alert[: alert.index("</div>")]
    assert label in alert and raw not in alert, alert
    progress = re.search(r'<progress max="(\d+)" value="(\d+)"', again)
    assert progress, again
    total, n = int(progress.group(1)), int(progress.group(2))
    assert n == 1 and total > 3  # not "step 1 of about 1" with a full bar
    first = re.search(r'<progress max="(\d+)"', html)
    assert first and int(first.group(1)) == total  # as many steps as before the error


def test_the_reform_s_parameter_table_heads_name_values() -> None:
    report = SimpleNamespace(on=dt.date(2026, 11, 28), persons=10, reform=None)
    page = env.get_template("analyst_reform.html").render(
        lang="zh",
        t=lambda key, **v: i18n.t(key, "zh", **v),
        name="示例",
        report=report,
        versions=("a", "b"),
        changed=[
            {
                "path": "s1_urban.continuous_residence_years",
                "clause": "§1.2",
                "from": "2020-08-01",
                "before": 3,
                "after": 2,
            }
        ],
        k=5,
        breakdowns=[],
        grid=[],
        run=SimpleNamespace(id="x"),
        n=str,
        net=lambda r: "",
        kind_label=str,
        path="/analyst/reform/x",
        other_lang="en",
        html_lang="zh-CN",
        csrf="",
        actor=None,
        county=str,
        one_lang=str,
        staff_page=True,
    )
    table = page[
        page.index('<table id="changed"') : page.index(
            "</table>", page.index('<table id="changed"')
        )
    ]
    heads = re.findall(r'<th scope="col">([^<]*)</th>', table)
    assert heads[-2:] == ["现行值", "改革后的值"], heads
    assert "改革前符合" not in table and "改革后符合" not in table


@pytest.mark.parametrize(("lang", "unknown"), [("zh", "未知"), ("en", "unknown")])
def test_the_unknown_age_band_is_translated(lang: str, unknown: str) -> None:
    rows = [
        {"age_band": "18-29", "zh": "18-29", "en": "18-29", "gains": 1, "loses": 0},
        {"age_band": "unknown", "zh": "unknown", "en": "unknown", "gains": 0, "loses": 0},
    ]
    empty = pa.table({"zh": pa.array([], pa.string()), "en": pa.array([], pa.string())})
    report = SimpleNamespace(
        tables={
            "by_channel": empty,
            "by_county": empty,
            "by_age_band": pa.Table.from_pylist(rows),
            "by_sex": empty,
        }
    )
    groups = dict(panels.reform_breakdowns(report, lang))  # type: ignore[arg-type]
    labels = [label for label, _ in groups["年龄段" if lang == "zh" else "By age band"]]
    assert labels == ["18-29", unknown]
