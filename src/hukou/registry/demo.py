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
from dataclasses import dataclass
from typing import Any

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from hukou.policy.places import jiaxing_counties
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.models import Person, User
from hukou.registry.service import Registry

DEMO_PASSWORD = "jiaxing-demo-2026"  # printed by `make run`; demo databases only
ORIGINS = ("341221", "511621", "421381")  # migrants' home counties


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


def _family(fake: Faker, rng: random.Random, county: str, today: dt.date) -> dict[str, Any]:
    """A migrant owner of an urban flat, with a spouse and a child living with them (§1.1)."""
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
            "hukou": {"kind": "outside_jiaxing"},
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


def _person_id(id_number: str) -> Callable[[Session], int]:
    def query(s: Session) -> int:
        return int(s.execute(select(Person.id).where(Person.id_number == id_number)).scalar_one())

    return query


def loaded(registry: Registry) -> bool:
    return registry.read(
        lambda s: s.execute(select(User.id).where(User.username == "admin")).first() is not None
    )


def load(registry: Registry, seed: int = 2020) -> DemoLogins:
    """Fill an empty register with the demonstration data; returns the logins."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    today = registry.clock.today()
    officers: dict[str, str] = {}
    registry.add_user(SYSTEM, "admin", DEMO_PASSWORD, "admin")
    registry.add_user(SYSTEM, "analyst", DEMO_PASSWORD, "analyst")
    keeper_community: int | None = None
    moved_out: list[int] = []
    for code in jiaxing_counties():
        name = f"officer_{code}"
        uid = registry.add_user(SYSTEM, name, DEMO_PASSWORD, "officer", code)
        officers[code] = name
        officer = Actor(uid, name, "officer", code)
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
        for state in states:
            facts = _family(fake, rng, code, today)
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
                continue
            if state == "rejected":
                registry.reject(
                    officer,
                    app.id,
                    "房屋权属证明与登记不符 / the property certificate does not match the record",
                )
                continue
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
            household = registry.register(officer, app.id, dwelling_id=dwelling)
            if state == "registered" and not moved_out:
                # §4.5: the owner asks that the spouse's hukou leave the flat; refused
                person = registry.read(_person_id(facts["relatives"][0]["id_number"]))
                p = registry.request_move_out(
                    officer, dwelling, person, facts["applicant"]["name"], "owner", "不动产权证书"
                )
                registry.move_out_step(officer, p.id, "notify")
                registry.move_out_step(officer, p.id, "refused", note="拒不迁出 / refused")
                moved_out.append(household)
    assert keeper_community is not None
    registry.add_user(SYSTEM, "keeper", DEMO_PASSWORD, "keeper", str(keeper_community))
    return DemoLogins("admin", officers, "keeper", "analyst")
