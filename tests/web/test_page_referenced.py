"""Issue 11 on the officer pages: every page form that names an object of the register ×
{own county, other county, nonexistent}, on SQLite and PostgreSQL.

The API side is ``tests/service/test_referenced_matrix.py``; this is its page twin, on the
same world (``build_world``: two counties, each with a registered family, a §4.5 procedure,
a draft, a move-in permit and a station notice; 330402 also has a case under review, an
approved one and one whose permit was cancelled). The 330402 officer logs in through
/login and posts each form with its CSRF token, as a browser without JavaScript would:

* other county — a 403 error page saying the object named lies outside the jurisdiction
  (``scope.Named``), and nothing written;
* nonexistent — a 404 error page, and nothing written;
* own county — the form's redirect (303 to ``…?done=…``) and something written, or, where
  the world gives no case the step applies to, a domain refusal (409) writing nothing.

"Nothing written": ``register_state`` — the row count of every table, the sum of the
versions of every versioned table and the number of open memberships.

Forms name objects by row id in the path (the case, the procedure, the notice, the permit),
by row id in a field (the community of a new dwelling) or by a number (户号, ID number)
the page resolves before the register authorises the row it found. The refusals run first,
the own-county case last, so one world per form (and per database) serves the whole row.

Besides the table: every officer POST route and every action of the case page must be in
it, and an id one past PostgreSQL's ``integer`` is a nonexistent object too (404; it was a
500 on PostgreSQL for the case and §4.5 routes until ``Named`` bounded the ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hukou.registry.models import Household, Person
from hukou.registry.service import APPLICATION_TRANSITIONS, Registry
from hukou.service.app import create_app

from ..registry.conftest import (  # noqa: F401 (the fixtures, on SQLite and PostgreSQL)
    NANHU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..registry.helpers import id_number
from ..service.test_referenced_matrix import MISSING, PLACED, World, build_world, register_state
from .conftest import csrf_of
from .test_page_atomic import _login

NO_HOUSEHOLD = "3304020000000000"  # a 330402 household number the register does not hold
UNKNOWN_ID = id_number("330402", "19700101", 99, True)  # a valid ID number nobody has

Form = dict[str, str]


@dataclass(frozen=True)
class Row:
    name: str
    route: str  # the page route's path (the coverage test compares them)
    action: str  # the form's ``action`` field ('' when it has none)
    other_en: str  # the English of the 403 page's message …
    missing_en: str  # … and of the 404 page's
    own: Callable[[World], str]  # what the form names, in the acting county …
    other: Callable[[World], str]  # … and in the other county
    missing: str  # … and nowhere
    request: Callable[[World, str], tuple[str, Form]]  # (url, form fields) naming it
    success: int = 303  # the own-county answer


def _household_number(w: World, household: int) -> str:
    return str(
        w.registry.read(
            lambda s: s.execute(
                select(Household.number).where(Household.id == household)
            ).scalar_one()
        )
    )


def _person_number(w: World, person: int) -> str:
    return str(
        w.registry.read(
            lambda s: s.execute(select(Person.id_number).where(Person.id == person)).scalar_one()
        )
    )


def _case(action: str, **fields: str) -> Callable[[World, str], tuple[str, Form]]:
    """The case page's form, the application named by the path."""
    return lambda w, x: (f"/officer/app/{x}", {"action": action, **fields})


def _register(field: str, **fields: str) -> Callable[[World, str], tuple[str, Form]]:
    """The case page's register action on 330402's approved case, ``field`` naming the place."""
    return lambda w, x: (
        f"/officer/app/{w.own.approved}",
        {"action": "register", field: x, **fields},
    )


def _own(attr: str) -> Callable[[World], str]:
    return lambda w: str(getattr(w.own, attr))


def _other(attr: str) -> Callable[[World], str]:
    return lambda w: str(getattr(w.other, attr))


CASE = "/officer/app/{app_id}"
APP_403 = "the application named is outside your jurisdiction"
APP_404 = "no such application"

ROWS: list[Row] = [
    Row(
        "register household_number",
        CASE,
        "register",
        "the household named is outside your jurisdiction",
        "no household with that number",
        lambda w: _household_number(w, w.own.collective),
        lambda w: _household_number(w, w.other.family),
        NO_HOUSEHOLD,
        _register("household_number", placement_reason=PLACED),
    ),
    Row(
        "register community_id",
        CASE,
        "register",
        "the community named is outside your jurisdiction",
        "no such community",
        _own("community"),
        _other("community"),
        str(MISSING),
        _register("community_id", address="南湖区示范路9号"),
    ),
    Row(
        "submit",
        CASE,
        "submit",
        APP_403,
        APP_404,
        _own("draft"),
        _other("draft"),
        str(MISSING),
        _case("submit"),
    ),
    # no case of 330402 is submitted: the own draft is refused as a step from the wrong state
    Row(
        "review",
        CASE,
        "review",
        APP_403,
        APP_404,
        _own("draft"),
        _other("draft"),
        str(MISSING),
        _case("review"),
        success=409,
    ),
    Row(
        "approve",
        CASE,
        "approve",
        APP_403,
        APP_404,
        _own("review"),
        _other("draft"),
        str(MISSING),
        _case("approve"),
    ),
    Row(
        "reject",
        CASE,
        "reject",
        APP_403,
        APP_404,
        _own("review"),
        _other("draft"),
        str(MISSING),
        _case("reject", reasons="材料不全"),
    ),
    Row(
        "receive",
        CASE,
        "receive",
        APP_403,
        APP_404,
        _own("draft"),
        _other("draft"),
        str(MISSING),
        _case("receive", material="居民身份证", clause="§1.1"),
    ),
    Row(
        "reissue_permit",
        CASE,
        "reissue_permit",
        APP_403,
        APP_404,
        _own("lapsed"),
        _other("permit_app"),
        str(MISSING),
        _case("reissue_permit"),
    ),
    Row(
        "move-out request id_number",
        "/officer/move-outs",
        "",
        # the page finds the person's dwelling; the register refuses it first
        "the dwelling named is outside your jurisdiction",
        "no such person in the register",
        lambda w: _person_number(w, w.own.householder),
        lambda w: _person_number(w, w.other.householder),
        UNKNOWN_ID,
        lambda w, x: (
            "/officer/move-outs",
            {
                "id_number": x,
                "requester_name": "赵六",
                "requester_role": "owner",
                "property_proof": "不动产权证",
            },
        ),
    ),
    Row(
        "move-out notify",
        "/officer/move-outs/{procedure_id}",
        "notify",
        "the procedure named is outside your jurisdiction",
        "no such procedure",
        _own("procedure"),
        _other("procedure"),
        str(MISSING),
        lambda w, x: (f"/officer/move-outs/{x}", {"action": "notify"}),
    ),
    Row(
        "attach id_number",
        "/officer/attach",
        "",
        "the person named is outside your jurisdiction",
        "no such person in the register",
        lambda w: _person_number(w, w.own.spouse),
        lambda w: _person_number(w, w.other.spouse),
        UNKNOWN_ID,
        lambda w, x: ("/officer/attach", {"id_number": x, "reason": "divorce"}),
    ),
    Row(
        "acknowledge notice",
        "/officer/moves/notice/{notice_id}",
        "",
        "the notice named is outside your jurisdiction",
        "no such notice",
        _own("notice"),
        _other("notice"),
        str(MISSING),
        lambda w, x: (f"/officer/moves/notice/{x}", {}),
    ),
    Row(
        "cancel permit",
        "/officer/moves/permit/{permit_id}",
        "cancel",
        "the move-in permit named is outside your jurisdiction",
        "no such move-in permit",
        _own("permit"),
        _other("permit"),
        str(MISSING),
        lambda w, x: (f"/officer/moves/permit/{x}", {"action": "cancel"}),
    ),
]

# the case page's actions: every step of an application but withdraw (the applicant's), and
# the two that are not steps (a document received, a new permit)
CASE_ACTIONS = {a for (_, a) in APPLICATION_TRANSITIONS} - {"withdraw"} | {
    "receive",
    "reissue_permit",
}


def _posts(routes: list[Any], prefix: str = "") -> set[str]:
    """The paths of the POST routes, into included routers (FastAPI keeps them as
    ``_IncludedRouter``s holding the ``original_router``)."""
    out: set[str] = set()
    for r in routes:
        included = getattr(r, "original_router", None)
        if included is not None:
            more = getattr(getattr(r, "include_context", None), "prefix", "") or ""
            out |= _posts(included.routes, prefix + more)
        elif "POST" in (getattr(r, "methods", None) or set()):
            out.add(prefix + getattr(r, "path", ""))
    return out


def test_the_table_covers_every_officer_form(registry: Registry) -> None:  # noqa: F811
    """A new officer form (or case-page action) must join the table."""
    posts = _posts(create_app(registry).routes)
    assert "/api/move-outs" in posts  # the walk sees the API …
    assert "/login" in posts  # … and the pages
    forms = {path for path in posts if path.startswith("/officer")}
    # §6's forms (residence registration and permits) have their own table, with the same
    # cases and "nothing written": tests/web/test_permit_pages.py (``FORMS``)
    from .test_permit_pages import RESIDENCE_FORMS

    assert forms - RESIDENCE_FORMS == {row.route for row in ROWS}
    assert CASE_ACTIONS == {row.action for row in ROWS if row.route == CASE}


def _check(
    w: World, page: TestClient, csrf: str, row: Row, case: str, x: str, want: int, en: str
) -> str:
    """Post one case; a description of what went wrong, or ''."""
    url, form = row.request(w, x)
    before = register_state(w.registry)
    r = page.post(url, data={"csrf": csrf, **form})
    after = register_state(w.registry)
    where = f"{row.name} / {case}: POST {url} {form}"
    changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    if r.status_code != want:
        wrote = f"; it wrote {changed}" if changed else ""
        return f"{where}: {r.status_code} (wanted {want}){wrote} {r.text[:300]!r}"
    if want == 303:
        location = r.headers.get("location", "")
        if "done=" not in location:
            return f"{where}: redirected to {location!r}, not the form's done page"
        if not changed:
            return f"{where}: 303 but nothing was written"
        return ""
    if changed:
        return f"{where}: refused with {want} yet wrote {changed}"
    if en and en not in r.text:
        return f"{where}: the {want} page does not say {en!r}: {r.text[:300]!r}"
    return ""


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_named_object_matrix_on_the_pages(registry: Registry, row: Row) -> None:  # noqa: F811
    w = build_world(registry)
    page = TestClient(create_app(registry), base_url="https://testserver", follow_redirects=False)
    _login(page, f"officer_{NANHU}")
    home = page.get("/officer")
    assert home.status_code == 200, home.text
    csrf = csrf_of(home.text)
    own, other = row.own(w), row.other(w)
    assert own and other and own != other, row  # the world holds both
    cases = [  # refusals first: the own-county case comes last, on the same world
        ("other county", other, 403, row.other_en),
        ("nonexistent", row.missing, 404, row.missing_en),
        ("own county", own, row.success, ""),
    ]
    problems = [_check(w, page, csrf, row, case, x, want, en) for case, x, want, en in cases]
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


# ---- an id beyond the database's integer ----------------------------------------------------

BEYOND = 2**31  # one past PostgreSQL's ``integer``: no row has it, on either database
BY_PATH = ("submit", "move-out notify", "acknowledge notice", "cancel permit")


def test_an_id_beyond_the_integer_column_is_not_found(
    db_url: str,  # noqa: F811
    registry: Registry,  # noqa: F811
) -> None:
    w = build_world(registry)
    page = TestClient(
        create_app(registry),
        base_url="https://testserver",
        follow_redirects=False,
        raise_server_exceptions=False,  # a 500 is an answer here, not a crash of the test
    )
    _login(page, f"officer_{NANHU}")
    csrf = csrf_of(page.get("/officer").text)
    # the forms naming their object by row id in the path (a case's steps all share one route)
    by_path = [row for row in ROWS if row.name in BY_PATH]
    assert len(by_path) == len(BY_PATH)
    problems = [_check(w, page, csrf, row, "beyond", str(BEYOND), 404, "") for row in by_path]
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
