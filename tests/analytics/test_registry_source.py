"""The batch on the register's own tables (``analytics.registry_source``).

A small register is built through the service (``Registry``) on SQLite and on
PostgreSQL (the registry fixtures): a family registered on its flat (head, spouse,
child, parent), a talent registered in the community collective household, a person
whose membership was closed (moved out of Jiaxing), residence registrations and
permits (written into their tables by hand, so that the dates can lie in the past: a
lapsed permit, a replaced one, a chain of address changes, a registration not yet
begun), and a later application whose facts must win over the earlier one's. Then:

* the layout tables read from the register have exactly the layout's schemas and
  the values the mapping promises for each of these people;
* the batch on the register (inside PostgreSQL; SQLite → DuckDB) equals the per-case
  engine on the same tables, person by person and relative by relative;
* ``hukou batch --from-registry`` writes one result per registered person.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hukou.analytics import batch
from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, TABLES
from hukou.analytics.reference import reference_results
from hukou.analytics.registry_source import fetch_tables, registry_tables, run_registry
from hukou.cli import app
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.demo import settle_materials
from hukou.registry.models import (
    Membership,
    Person,
    ResidencePermit,
    ResidenceRegistration,
)
from hukou.registry.service import Registry

from ..registry.conftest import (  # noqa: F401  (fixtures: the register on both databases)
    NANHU,
    XIUZHOU,
    clock,
    db_url,
    engine,
    pg_url,
    registry,
)
from ..registry.helpers import id_number, owner_case
from .test_compile import assert_same

ON = dt.date(2025, 6, 1)
HAIYAN = "330424"


def _approve(registry: Registry, officer: Actor, facts: dict[str, Any]) -> int:  # noqa: F811
    application = registry.create_application(officer, "s1_1", NANHU, facts)
    for action in ("submit", "review"):
        registry.act(officer, application.id, action)
    settle_materials(registry, officer, application.id)
    registry.approve(officer, application.id)
    return application.id


def _pid(registry: Registry, number: str) -> int:  # noqa: F811
    return int(
        registry.read(
            lambda s: s.execute(select(Person.id).where(Person.id_number == number)).scalar_one()
        )
    )


def _build(registry: Registry, engine: Engine) -> dict[str, int]:  # noqa: F811
    """The register of the module docstring; the person ids by role."""
    uid = registry.add_user(SYSTEM, "officer_nanhu", "correct horse battery", "officer", NANHU)
    officer = Actor(uid, "officer_nanhu", "officer", NANHU)
    admin_id = registry.add_user(SYSTEM, "admin", "correct horse battery", "admin")
    admin = Actor(admin_id, "admin", "admin", None)
    community, collective = registry.add_community(officer, NANHU, "建设街道", "禾兴社区", "111")

    # a family: the head applies under §1.1 with spouse, child and mother living with him
    family = owner_case("李建国", seq=1)
    family["applicant"]["education"] = "junior_college"
    family["applicant"]["local_labour_contract"] = True
    family["relatives"] += [
        {
            "relation": "child",
            "id_number": id_number("341221", "20150301", 1, False),
            "name": "李小红",
            "lives_with_applicant": True,
        },
        {
            "relation": "parent",
            "id_number": id_number("341221", "19600115", 1, False),
            "name": "张桂英",
            "lives_with_applicant": True,
        },
    ]
    home = registry.add_dwelling(
        officer, NANHU, "禾兴南路88弄5号602室", "111", "owned", community_id=community
    )
    registry.register(officer, _approve(registry, officer, family), dwelling_id=home)
    head = _pid(registry, family["applicant"]["id_number"])
    spouse = _pid(registry, family["relatives"][0]["id_number"])
    child = _pid(registry, family["relatives"][1]["id_number"])
    parent = _pid(registry, family["relatives"][2]["id_number"])

    # the head's own dwellings: a registered lease in 秀洲区 and a rural house in 海盐县
    registry.add_dwelling(
        admin, XIUZHOU, "洪兴路1号", "112", "rented_registered", owner_person_id=head
    )
    registry.add_dwelling(
        admin, HAIYAN, "村东10号", "220", "owned", commercial_housing=False, owner_person_id=head
    )
    # a later application by the head (a draft): its facts are the latest
    later = owner_case("李建国", seq=1, with_spouse=False)
    later["applicant"]["education"] = "master"
    later["applicant"]["rural_origin"] = True
    later["applicant"]["employed_in_town_since"] = "2019-04-01"
    registry.create_application(officer, "s1_1", NANHU, later)

    # a talent registered in the community collective household
    talent = owner_case("陈思", seq=2, with_spouse=False)
    talent["applicant"]["education"] = "bachelor"
    talent["applicant"]["residence_registration"] = True
    registry.register(
        officer,
        _approve(registry, officer, talent),
        household_id=collective,
        placement_reason="dwelling_not_in_register",  # the decision's place is her flat
    )
    member = _pid(registry, talent["applicant"]["id_number"])

    # one who moved out (the register has no operation for leaving Jiaxing: closed here)
    gone_case = owner_case("赵强", seq=3, with_spouse=False)
    gone_home = registry.add_dwelling(officer, NANHU, "中山路3号", "111", "owned")
    registry.register(officer, _approve(registry, officer, gone_case), dwelling_id=gone_home)
    gone = _pid(registry, gone_case["applicant"]["id_number"])

    with Session(engine) as s, s.begin():
        s.execute(
            update(Membership)
            .where(Membership.person_id == gone)
            .values(end_date=dt.date(2025, 3, 2), reason_out="迁往市外")
        )

        def reside(person: int, county: str, start: dt.date, **more: Any) -> int:
            reg = ResidenceRegistration(
                person_id=person,
                county=county,
                housing="employer",
                address="宿舍1幢",
                provider="嘉兴某厂",
                start_date=start,
                **more,
            )
            s.add(reg)
            s.flush()
            return reg.id

        def permit(person: int, issued: dt.date, until: dt.date, **more: Any) -> int:
            row = ResidencePermit(
                reference=f"JZ-{person}-{issued:%Y%m%d}",
                number=f"JZ{NANHU}{issued:%Y%m%d}{person:08d}",
                person_id=person,
                county=NANHU,
                ground="employment",
                state=more.pop("state", "issued"),
                applied_on=issued,
                issued_on=issued,
                valid_until=until,
                residence_since=issued,
                **more,
            )
            s.add(row)
            s.flush()
            return row.id

        # the head: moved from 秀洲区 to 南湖区; a permit that lapsed after 2024-12-31
        reside(
            head,
            XIUZHOU,
            dt.date(2019, 1, 1),
            end_date=dt.date(2021, 6, 30),
            end_reason="moved_away",
        )
        reside(head, NANHU, dt.date(2021, 7, 1))
        permit(head, dt.date(2020, 1, 1), dt.date(2024, 12, 31))
        # the member: an address change in 2024; a permit lost and replaced, valid on ON
        first = reside(
            member,
            NANHU,
            dt.date(2023, 5, 1),
            end_date=dt.date(2024, 2, 1),
            end_reason="address_change",
        )
        reside(member, NANHU, dt.date(2024, 2, 1), previous_id=first)
        lost = permit(
            member,
            dt.date(2023, 6, 1),
            dt.date(2024, 5, 31),
            state="void",
            closed_on=dt.date(2024, 3, 1),
            close_reason="lost",
        )
        permit(member, dt.date(2024, 3, 1), dt.date(2026, 5, 31), replaces_id=lost)
        # the spouse: a registration not begun on ON
        reside(spouse, XIUZHOU, dt.date(2026, 1, 1))
    return {
        "head": head,
        "spouse": spouse,
        "child": child,
        "parent": parent,
        "member": member,
        "gone": gone,
    }


def _connect(url: str) -> Any:
    if url.startswith("sqlite"):
        return ibis.sqlite.connect(url.removeprefix("sqlite:///"))
    return batch.postgres_connect(url)


def test_the_register_in_the_layout(
    registry: Registry,  # noqa: F811
    engine: Engine,  # noqa: F811
    db_url: str,  # noqa: F811
) -> None:
    ids = _build(registry, engine)
    con = _connect(db_url)
    try:
        exprs = registry_tables(con, ON)
        assert set(exprs) == set(TABLES)
        tables = {name: expr.to_pyarrow() for name, expr in exprs.items()}
    finally:
        con.disconnect()
    for name, schema in TABLES.items():
        got = tables[name].schema
        assert got.names == schema.names, name
        assert [str(t) for t in got.types] == [str(t) for t in schema.types], name

    people = {r["person_id"]: r for r in tables["persons"].to_pylist()}
    assert sorted(people) == sorted(ids.values())
    head, member, gone = people[ids["head"]], people[ids["member"]], people[ids["gone"]]
    spouse = people[ids["spouse"]]

    # the hukou: the open membership's household and its place
    assert (head["sex"], head["birth_date"]) == ("male", dt.date(1988, 5, 12))
    for who in ("head", "spouse", "child", "parent"):
        p = people[ids[who]]
        assert p["hukou_kind"] == "own_family_household", who
        assert (p["hukou_county"], p["hukou_urban_rural_code"]) == (NANHU, "111"), who
        assert (p["hukou_township"], p["hukou_community"]) == ("建设街道", "禾兴社区"), who
    assert member["hukou_kind"] == "community_collective"
    assert (member["hukou_county"], member["hukou_urban_rural_code"]) == (NANHU, "111")
    assert gone["hukou_kind"] == "outside_jiaxing"
    assert gone["hukou_county"] is None
    assert gone["hukou_urban_rural_code"] is None

    # facts of the latest application; none for who never applied; hukou-place facts unknown
    assert head["education"] == "master"
    assert head["rural_origin"] is True
    assert head["employed_in_town_since"] == dt.date(2019, 4, 1)
    assert head["local_labour_contract"] is None  # the later application leaves it out
    assert member["education"] == "bachelor"
    assert spouse["education"] is None and spouse["rural_origin"] is None
    assert head["owner_consent"] is None and head["lost_registration"] is None

    # registrations and permits on ON: the register's win over the facts
    assert head["residence_registration"] is True
    assert (head["residence_registration_since"], head["residence_registration_county"]) == (
        dt.date(2021, 7, 1),
        NANHU,
    )
    assert head["permit_held"] is False  # the facts say held; the permit lapsed 2024-12-31
    assert (head["permit_county"], head["permit_issued_on"]) == (None, None)
    assert head["lives_in"] == NANHU
    assert member["permit_held"] is True  # the replacement; first issued 2023-06-01
    assert (member["permit_county"], member["permit_issued_on"]) == (NANHU, dt.date(2023, 6, 1))
    assert member["residence_registration"] is True
    # the address change does not break the registration: since the chain's start
    assert member["residence_registration_since"] == dt.date(2023, 5, 1)
    # no registration begun on ON: the facts' (the spouse never applied: unknown)
    assert spouse["permit_held"] is None and spouse["residence_registration"] is None
    assert (head["history_known"], member["history_known"], spouse["history_known"]) == (
        True,
        True,
        False,
    )
    assert (head["dwellings_known"], spouse["dwellings_known"]) == (True, False)

    # relations: the head and each of spouse, child, parent, both ways, and nothing else
    rels = {
        (r["person_id"], r["relative_id"], r["relation"], r["lives_with"])
        for r in tables["relations"].to_pylist()
    }
    h, s, c, m = ids["head"], ids["spouse"], ids["child"], ids["parent"]
    assert rels == {
        (h, s, "spouse", None),
        (s, h, "spouse", None),
        (h, c, "child", None),
        (c, h, "parent", None),
        (h, m, "parent", None),
        (m, h, "child", None),
    }
    assert tables["relations"].num_rows == 6

    # the head's dwellings, numbered by dwelling id
    dwellings = sorted(
        (d for d in tables["dwellings"].to_pylist() if d["person_id"] == h), key=lambda d: d["seq"]
    )
    assert [(d["seq"], d["tenure"], d["county"], d["urban_rural_code"]) for d in dwellings] == [
        (0, "rented_registered", XIUZHOU, "112"),
        (1, "owned", HAIYAN, "220"),
    ]
    assert dwellings[0]["dwelling_id"] < dwellings[1]["dwelling_id"]
    assert dwellings[1]["commercial_housing"] is False
    assert tables["dwellings"].num_rows == 2

    # residence periods: the registrations begun by ON
    periods = sorted(
        (p["person_id"], p["start"], p["end"], p["county"], p["evidence"])
        for p in tables["residence_periods"].to_pylist()
    )
    e, mem = "residence_registration", ids["member"]
    assert periods == sorted(
        [
            (h, dt.date(2019, 1, 1), dt.date(2021, 6, 30), XIUZHOU, e),
            (h, dt.date(2021, 7, 1), None, NANHU, e),
            (mem, dt.date(2023, 5, 1), dt.date(2024, 2, 1), NANHU, e),
            (mem, dt.date(2024, 2, 1), None, NANHU, e),
        ]
    )


def test_the_batch_on_the_register_is_the_engine(
    registry: Registry,  # noqa: F811
    engine: Engine,  # noqa: F811
    db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    ids = _build(registry, engine)
    tables = fetch_tables(db_url, ON)
    stages: list[str] = []
    report = run_registry(
        tmp_path / "out", ON, db_url, progress=lambda stage, _f: stages.append(stage)
    )
    got = (
        pq.read_table(tmp_path / "out" / batch.RESULTS_FILE),
        pq.read_table(tmp_path / "out" / batch.RELATIVES_FILE),
    )
    assert got[0].schema.equals(RESULTS) and got[1].schema.equals(RESULT_RELATIVES)
    expected = reference_results(tables, ON)
    assert_same(expected, got, tables)
    assert report["people"] == len(ids) and report["relatives"] == 6
    assert stages[-1] == "done"
    # the test can tell outcomes apart: not everyone gets the same answer
    assert len(set(expected[0].column("status").to_pylist())) > 1


def test_the_cli_runs_on_the_register(
    registry: Registry,  # noqa: F811
    engine: Engine,  # noqa: F811
    db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    ids = _build(registry, engine)
    out = tmp_path / "results"
    run = CliRunner().invoke(
        app,
        ["batch", "--from-registry", "--db", db_url, "--out", str(out), "--on", ON.isoformat()],
        env={"COLUMNS": "200"},
    )
    assert run.exit_code == 0, run.output
    results = pq.read_table(out / batch.RESULTS_FILE)
    assert sorted(results.column("person_id").to_pylist()) == sorted(ids.values())
    assert set(results.column("decision_date").to_pylist()) == {ON}
    assert "§1.1 合法稳定住所落户" in run.output


def test_the_cli_refuses_a_missing_register(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    run = CliRunner().invoke(
        app, ["batch", "--from-registry", "--db", missing, "--out", str(tmp_path / "out")]
    )
    assert run.exit_code == 2
    assert "--db" in run.output
    assert not (tmp_path / "none.db").exists()
    no_out = CliRunner().invoke(app, ["batch", "--in", str(tmp_path)])
    assert no_out.exit_code == 2


def test_a_register_elsewhere_is_refused() -> None:
    with pytest.raises(ValueError, match="PostgreSQL 或 SQLite"):
        run_registry(Path("unused"), ON, "mysql://localhost/x")
