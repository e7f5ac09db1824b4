"""A small synthetic Jiaxing for demonstrations (演示数据): users, communities with their
public collective households, dwellings, families, applications in every state and
a §4.5 procedure in its public notice. Everything goes through the register's own
operations, so it is checked and audited like real work. Names come from Faker's
zh_CN locale; ID numbers are valid (GB 11643 check character).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from hukou.policy.places import jiaxing_counties
from hukou.registry import demo_residence
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.errors import RegistryError
from hukou.registry.models import (
    Application,
    Community,
    Dwelling,
    Household,
    MoveInPermit,
    Person,
    User,
)
from hukou.registry.service import Registry

DEMO_PASSWORD = "jiaxing-demo-2026"  # printed by `make run`; demo databases only
ORIGINS = ("341221", "511621", "421381")  # migrants' home counties (outside Zhejiang)
WITHIN_ZHEJIANG = "330106"  # 杭州市西湖区: a move within the province
SETTLER_COUNTY = "330402"  # where the demo's lease holder settles (§6, demo_residence)


@dataclass
class DemoLogins:
    admin: str
    officers: dict[str, str]  # county -> username
    keeper: str
    analyst: str
    password: str = DEMO_PASSWORD


def _id(rng: random.Random, region: str, birth: dt.date, male: bool) -> str:
    order = rng.randrange(0, 499) * 2 + (1 if male else 0)
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def _birth(rng: random.Random, year_from: int, year_to: int) -> dt.date:
    start = dt.date(year_from, 1, 1).toordinal()
    return dt.date.fromordinal(rng.randrange(start, dt.date(year_to, 12, 31).toordinal()))


def _family(
    fake: Faker, rng: random.Random, county: str, today: dt.date, hukou_in: str | None = None
) -> dict[str, Any]:
    """A migrant owner of an urban flat, with a spouse and a child living with them (§1.1).
    Their hukou is in their home county (outside Zhejiang: a move-in permit), or in
    ``hukou_in`` when given (within Zhejiang: a move in one step)."""
    origin = rng.choice(ORIGINS)
    male = rng.random() < 0.5
    birth = _birth(rng, 1975, 1995)
    spouse_birth = _birth(rng, 1975, 1995)
    child_birth = _birth(rng, 2012, 2020)
    return {
        "decision_date": today.isoformat(),
        "applicant": {
            "id_number": _id(rng, origin, birth, male),
            "name": fake.name_male() if male else fake.name_female(),
            "education": rng.choice(["high_school", "junior_college", "bachelor"]),
            "residence_permit": {"held": True, "county": county},
            "lives_in": county,
            "dwellings": [
                {
                    "tenure": "owned",
                    "commercial_housing": True,
                    "address": {"county": county, "urban_rural_code": "111"},
                }
            ],
            "hukou": {"kind": "outside_jiaxing", "address": {"county": hukou_in or origin}},
            "rural_origin": True,
        },
        "relatives": [
            {
                "relation": "spouse",
                "id_number": _id(rng, origin, spouse_birth, not male),
                "name": fake.name_female() if male else fake.name_male(),
                "lives_with_applicant": True,
            },
            {
                "relation": "child",
                "id_number": _id(rng, origin, child_birth, rng.random() < 0.5),
                "name": fake.name(),
                "lives_with_applicant": True,
            },
        ],
    }


def _documents(registry: Registry, app_id: int) -> list[dict[str, str]]:
    """The origin's 户口迁移证 for each person the application's move-in permit covers (a
    paper certificate numbered as the demo likes); none for a move within Zhejiang."""

    def query(s: Session) -> list[Any]:
        persons = s.execute(
            select(MoveInPermit.persons).where(
                MoveInPermit.application_id == app_id, MoveInPermit.state == "issued"
            )
        ).scalar_one_or_none()
        return list(persons or [])

    return [
        {"person": who, "kind": "paper", "number": f"QY{app_id:06d}{i:02d}"}
        for i, who in enumerate(registry.read(query))
    ]


def _move_between_counties(
    registry: Registry,
    fake: Faker,
    officers: dict[str, str],
    registered: dict[str, dict[str, Any]],
    today: dt.date,
) -> None:
    """A move within Jiaxing: 南湖区's first registered applicant buys a flat in 秀洲区 and
    settles there. 秀洲区's station registers him in one step, which closes his membership in
    南湖区 and puts a notice in 南湖区's queue."""
    mover = dict(registered["330402"]["applicant"])
    code = "330411"
    officer = registry.login(officers[code], DEMO_PASSWORD)
    mover.update(
        residence_permit={"held": True, "county": code},
        lives_in=code,
        dwellings=[
            {
                "tenure": "owned",
                "commercial_housing": True,
                "address": {"county": code, "urban_rural_code": "111"},
            }
        ],
        hukou={"kind": "own_family_household", "address": {"county": "330402"}},
    )
    facts = {"decision_date": today.isoformat(), "applicant": mover, "relatives": []}
    app = registry.create_application(officer, "s1_1", code, facts)
    for step in ("submit", "review"):
        registry.act(officer, app.id, step)
    settle_materials(registry, officer, app.id)
    registry.approve(officer, app.id)
    dwelling = registry.add_dwelling(officer, code, fake.street_address(), "111", "owned")
    registry.register(officer, app.id, dwelling_id=dwelling)


def lease_holder_facts(holder: demo_residence.LeaseHolder, day: dt.date) -> dict[str, Any]:
    """The settlement application of the demo's lease holder as the officer takes it: who
    she is, her rented commercial flat (a registered lease, §1.2), her hukou at home, and
    that she holds a permit here — no dates: her permit, residence registration and §1.2
    residence history are the register's (``permits.settlement_facts``)."""
    return {
        "decision_date": day.isoformat(),
        "applicant": {
            "id_number": holder.id_number,
            "name": holder.name,
            "residence_permit": {"held": True, "county": holder.county},
            "lives_in": holder.county,
            "dwellings": [
                {
                    "tenure": "rented_registered",
                    "commercial_housing": True,
                    "address": {"county": holder.county, "urban_rural_code": "111"},
                }
            ],
            "hukou": {
                "kind": "outside_jiaxing",
                "address": {"county": demo_residence.LEASE_HOLDER_HUKOU},
            },
        },
        "relatives": [],
    }


def _settle_lease_holder(
    registry: Registry, officer: Actor, holder: demo_residence.LeaseHolder, today: dt.date
) -> int:
    """The end of the lease holder's path (``demo_residence.lease_holder``), each step on
    its day: three years after her residence registration on the registered lease, she
    applies to settle on it (§1.1 with §1.2); the case is decided on the register's permit
    and registration facts; approved (her move-in permit issued: her hukou is in Anhui),
    registered on the leased flat — which cancels her residence permit (``settled``) and
    ends her residence registration in the registration's transaction. The application's
    id."""
    r = demo_residence

    def on(days_ago: int) -> AbstractContextManager[None]:
        return r.on_day(registry, today - dt.timedelta(days=days_ago))

    with on(r.SETTLE_APPLIED):
        facts = lease_holder_facts(holder, today - dt.timedelta(days=r.SETTLE_APPLIED))
        app = registry.create_application(officer, "s1_1", holder.county, facts)
        registry.act(officer, app.id, "submit")
    with on(r.SETTLE_REVIEWED):
        registry.act(officer, app.id, "review")
    with on(r.SETTLE_APPROVED):
        settle_materials(registry, officer, app.id)
        registry.approve(officer, app.id)
    with on(r.SETTLE_REGISTERED):
        registry.register(
            officer,
            app.id,
            dwelling_id=holder.dwelling_id,
            migration_documents=_documents(registry, app.id),
        )
    return app.id


PERMIT_WAIVER = (
    "《浙江省居住证》或居住登记凭证",
    "已在居住证系统中核验，无须纸质凭证 / verified in the residence-permit system; no paper needed",
)


def settle_materials(
    registry: Registry,
    officer: Actor,
    app_id: int,
    *,
    waive: tuple[str, str] | None = None,
    only: int | None = None,
) -> None:
    """Receive the application's required materials (the first ``only`` of them, if given),
    waiving the one ``waive`` names (material, reason) instead of receiving it."""
    required = registry.materials(officer, app_id)["required"]
    for m in required[:only] if only is not None else required:
        if m["received"] or m["waived"]:
            continue
        if waive is not None and m["key"] == waive[0]:
            registry.waive_material(officer, app_id, m["key"], waive[1])
        else:
            registry.receive_document(officer, app_id, m["key"], m["clause"])


def _person_id(id_number: str) -> Callable[[Session], int]:
    def query(s: Session) -> int:
        return int(s.execute(select(Person.id).where(Person.id_number == id_number)).scalar_one())

    return query


def demo_users() -> dict[str, str]:
    """Every account the demo creates, username -> role; nothing else is the demo's."""
    users = {"admin": "admin", "analyst": "analyst", "keeper": "keeper"}
    users.update({f"officer_{code}": "officer" for code in sorted(jiaxing_counties())})
    return users


def _logins() -> DemoLogins:
    officers = {code: f"officer_{code}" for code in jiaxing_counties()}
    return DemoLogins("admin", officers, "keeper", "analyst")


def _usernames(registry: Registry) -> dict[str, str]:
    return registry.read(
        lambda s: {name: role for name, role in s.execute(select(User.username, User.role))}
    )


def loaded(registry: Registry) -> bool:
    """Whether the demo is already in the register: every demo account, with the demo's role.

    The keeper is created last, so a load that stopped half-way does not count as loaded.
    """
    present = _usernames(registry)
    return all(present.get(name) == role for name, role in demo_users().items())


def foreign_users(registry: Registry) -> list[str]:
    """Usernames in the register that the demo does not create (real accounts), sorted."""
    ours = demo_users()
    return sorted(name for name in _usernames(registry) if name not in ours)


# tables that hold the register's own work; the demo loads only where they are empty
_DATA: tuple[tuple[type[Any], str, str], ...] = (
    (Application, "申请", "applications"),
    (Person, "人员", "persons"),
    (Household, "户", "households"),
    (Dwelling, "住所", "dwellings"),
    (Community, "社区", "communities"),
)


def _existing_data(registry: Registry) -> list[tuple[str, str]]:
    def query(s: Session) -> list[tuple[str, str]]:
        return [
            (zh, en)
            for model, zh, en in _DATA
            if s.execute(select(model.id).limit(1)).first() is not None
        ]

    return registry.read(query)


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} … ({len(names)})"


def check(registry: Registry, force: bool = False) -> None:
    """Refuse (``RegistryError``, field "users") to load the demo into a real register.

    * A user already has one of the demo's usernames (say a real "admin"): always refused,
      even with ``force`` — the demo never overwrites, renames or borrows an existing
      account, so that no real account gets the published demo password and no demo work
      is audited under a real officer's name. Load the demo into a fresh database instead.
    * The register has users the demo does not create, or applications, persons,
      households, dwellings or communities: refused unless ``force`` — the demo adds ten
      accounts that share a published password.

    Call it only when the demo is not ``loaded``; ``load`` does.
    """
    present = _usernames(registry)
    clash = sorted(name for name in present if name in demo_users())
    if clash:
        names = _names(clash)
        raise RegistryError(
            f"登记库中已有与演示账号同名的用户（{names}）；演示数据不会覆盖现有账号，"
            "使用 --force 亦然。请在新的数据库中载入演示数据",
            f"the register already has users with the demo's usernames ({names}); the demo "
            "never overwrites an existing account, not even with --force. Load the "
            "demonstration data into a new database",
            "users",
        )
    if force:
        return
    foreign = foreign_users(registry)
    if foreign:
        names = _names(foreign)
        raise RegistryError(
            f"登记库中已有非演示用户（{names}），拒绝载入演示数据：演示账号使用公开的密码。"
            "确需载入请使用 --force",
            f"the register has users the demo did not create ({names}); refusing to load "
            "the demonstration data, whose accounts share a published password. Use "
            "--force to load it anyway",
            "users",
        )
    data = _existing_data(registry)
    if data:
        zh = "、".join(z for z, _ in data)
        en = ", ".join(e for _, e in data)
        raise RegistryError(
            f"登记库中已有数据（{zh}）而未载入演示数据，拒绝载入演示数据。确需载入请使用 --force",
            f"the register already holds data ({en}) and is not the demo; refusing to load "
            "the demonstration data. Use --force to load it anyway",
            "users",
        )


def load(registry: Registry, seed: int = 2020, force: bool = False) -> DemoLogins:
    """Fill an empty register with the demonstration data; returns the logins.

    Already loaded: nothing is written and the logins are returned. Otherwise ``check``
    runs first and nothing is written when it refuses: a register with real users or
    real data needs ``force=True``, and an existing account with a demo username is
    never overwritten (refused even with ``force``).
    """
    if loaded(registry):
        return _logins()
    check(registry, force)
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    today = registry.clock.today()
    officers: dict[str, str] = {}
    registry.add_user(SYSTEM, "admin", DEMO_PASSWORD, "admin")
    registry.add_user(SYSTEM, "analyst", DEMO_PASSWORD, "analyst")
    keeper_community: int | None = None
    moved_out: list[int] = []
    registered: dict[str, dict[str, Any]] = {}  # each county's first registered family
    actors: dict[str, Actor] = {}
    for code in jiaxing_counties():
        name = f"officer_{code}"
        uid = registry.add_user(SYSTEM, name, DEMO_PASSWORD, "officer", code)
        officers[code] = name
        officer = Actor(uid, name, "officer", code)
        actors[code] = officer
        community_ids = []
        for i in range(2):
            town = fake.street_name() + "街道"
            cid, _hid = registry.add_community(
                officer, code, town, f"{fake.last_name()}家{i}社区", "111"
            )
            community_ids.append(cid)
        if keeper_community is None:
            keeper_community = community_ids[0]
        # applications in every state, registered ones with their households
        states = [
            "registered",
            "registered",
            "approved",
            "under_review",
            "submitted",
            "draft",
            "rejected",
            "withdrawn",
        ]
        for n, state in enumerate(states):
            # the second registered family moves within Zhejiang (from Hangzhou): no permit
            facts = _family(fake, rng, code, today, WITHIN_ZHEJIANG if n == 1 else None)
            app = registry.create_application(officer, "s1_1", code, facts)
            if state == "draft":
                continue
            if state == "withdrawn":
                registry.act(
                    officer, app.id, "withdraw", note="申请人撤回 / withdrawn by the applicant"
                )
                continue
            registry.act(officer, app.id, "submit")
            if state == "submitted":
                continue
            registry.act(officer, app.id, "review")
            if state == "under_review":
                # part of the papers in: the officer's page shows what is still missing
                settle_materials(registry, officer, app.id, only=1)
                continue
            if state == "rejected":
                registry.reject(
                    officer,
                    app.id,
                    "房屋权属证明与登记不符 / the property certificate does not match the record",
                )
                continue
            # materials before approval: each received, or waived with the reason (the
            # approved one's residence permit is checked in the permit system instead)
            settle_materials(
                registry, officer, app.id, waive=PERMIT_WAIVER if state == "approved" else None
            )
            registry.approve(officer, app.id)
            if state == "approved":
                continue
            dwelling = registry.add_dwelling(
                officer,
                code,
                fake.street_address(),
                "111",
                "owned",
                community_id=rng.choice(community_ids),
            )
            household = registry.register(
                officer,
                app.id,
                dwelling_id=dwelling,
                migration_documents=_documents(registry, app.id),
            )
            if n == 0:
                registered[code] = facts
            if state == "registered" and not moved_out:
                # §4.5: the owner asks that the spouse's hukou leave the flat; refused
                person = registry.read(_person_id(facts["relatives"][0]["id_number"]))
                p = registry.request_move_out(
                    officer, dwelling, person, facts["applicant"]["name"], "owner", "不动产权证书"
                )
                registry.move_out_step(officer, p.id, "notify")
                registry.move_out_step(officer, p.id, "refused", note="拒不迁出 / refused")
                moved_out.append(household)
        if code == SETTLER_COUNTY:
            # §6: a migrant's whole path, from residence registration to settlement
            holder = demo_residence.lease_holder(registry, officer, today, community_ids[0])
            _settle_lease_holder(registry, officer, holder, today)
    _move_between_counties(registry, fake, officers, registered, today)
    # §6: residence registrations and permits in every state (their own seeded generators)
    demo_residence.load(registry, actors, today, seed + 663, SETTLER_COUNTY)
    assert keeper_community is not None
    registry.add_user(SYSTEM, "keeper", DEMO_PASSWORD, "keeper", str(keeper_community))
    return DemoLogins("admin", officers, "keeper", "analyst")
