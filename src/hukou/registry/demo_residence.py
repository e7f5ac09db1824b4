"""The demo's residence registrations and residence permits (§6, issue 16).

Migrants from Anhui, Sichuan and Hubei living in 南湖区 (and one who moved there from
秀洲区), with permits in every state: applied, under review, overdue (taken more than 15
days ago), issued and endorsed on time, due for endorsement, lapsed (not endorsed),
refused (the half year not reached), withdrawn, void with its replacement, cancelled
when the person left — and one migrant's whole path (``lease_holder``, then
``demo._settle_lease_holder``): residence registered on a registered lease, a permit
applied for, issued and endorsed each year, and after three years settlement on that
lease, decided on the register's facts; registering her hukou cancels the permit
(``settled``) in the registration's transaction.

Everything goes through the register's own operations. The past is replayed: each step
runs with the register's clock set back to its day (a ``FixedClock``), so issue dates,
validity, endorsements and lapses are the register's own computations; the clock is
restored after each step. The dates are fixed offsets from the day the demo is loaded and
the people come from the demo's seeded generators, so a load is the same every time but
for the random parts of numbers (references, permit numbers).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from faker import Faker
from stdnum.cn import ric

from hukou.registry.access import Actor
from hukou.registry.clock import Clock, FixedClock
from hukou.registry.models import ResidencePermit
from hukou.registry.service import Registry

ORIGINS = ("341221", "511621", "421381")
EMPLOYER = "嘉兴{}有限公司"
EMPLOYED = {"local_labour_contract": True}


def _id(rng: random.Random, birth: dt.date) -> str:
    male = rng.random() < 0.5
    order = rng.randrange(0, 499) * 2 + (1 if male else 0)
    body = f"{rng.choice(ORIGINS)}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


@contextlib.contextmanager
def on_day(registry: Registry, day: dt.date) -> Iterator[None]:
    """The register's clock set to ``day`` for the steps inside (the demo's replay)."""
    saved: Clock = registry.clock
    registry.clock = FixedClock(day)
    try:
        yield
    finally:
        registry.clock = saved


class Migrants:
    """The demo's migrants of one county: made, registered and taken through their steps."""

    def __init__(
        self, registry: Registry, officer: Actor, fake: Faker, rng: random.Random, today: dt.date
    ) -> None:
        self.registry = registry
        self.officer = officer
        self.county = officer.jurisdiction or ""
        self.fake = fake
        self.rng = rng
        self.today = today

    def day(self, days_ago: int) -> dt.date:
        return self.today - dt.timedelta(days=days_ago)

    def person(self) -> tuple[str, str]:
        birth = dt.date(self.rng.randrange(1975, 2003), self.rng.randrange(1, 13), 1)
        birth += dt.timedelta(days=self.rng.randrange(0, 28))
        return _id(self.rng, birth), self.fake.name()

    def reside(self, days_ago: int, number: str, name: str, officer: Actor | None = None) -> int:
        """Registered as living in the county (the officer's) from ``days_ago``: in the
        housing of an employer (the registration's id)."""
        officer = officer or self.officer
        with on_day(self.registry, self.day(days_ago)):
            reg = self.registry.register_residence(
                officer,
                number,
                officer.jurisdiction or "",
                name=name,
                housing="employer",
                address=f"{self.fake.street_name()}{self.rng.randrange(1, 99)}号职工宿舍",
                provider=EMPLOYER.format(self.fake.last_name()),
                since=self.day(days_ago),
            )
        return reg.id

    def step(self, days_ago: int, method: str, *args: Any, **kwargs: Any) -> Any:
        """One of the register's permit operations, as this county's officer, on that day."""
        with on_day(self.registry, self.day(days_ago)):
            return getattr(self.registry, method)(self.officer, *args, **kwargs)

    def permit(
        self,
        lived: int,
        applied: int,
        *,
        reviewed: int | None = None,
        issued: int | None = None,
        ground: str = "employment",
    ) -> ResidencePermit:
        """A migrant registered ``lived`` days ago, applying ``applied`` days ago; reviewed
        and issued on those days when given."""
        number, name = self.person()
        self.reside(lived, number, name)
        facts = EMPLOYED if ground == "employment" else None
        permit: ResidencePermit = self.step(
            applied, "apply_for_residence_permit", number, self.county, ground, facts=facts
        )
        if reviewed is not None:
            permit = self.step(reviewed, "review_residence_permit", permit.id, note="材料齐全")
        if issued is not None:
            permit = self.step(issued, "issue_residence_permit", permit.id)
        return permit


def _generators(seed: int) -> tuple[Faker, random.Random]:
    """Seeded generators of their own: the rest of the demo draws the same as without §6."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    return fake, random.Random(seed)


def load(
    registry: Registry,
    officers: dict[str, Actor],
    today: dt.date,
    seed: int,
    county: str = "330402",
) -> None:
    """The permits of ``county`` in every state, and registrations with their history."""
    fake, rng = _generators(seed)
    m = Migrants(registry, officers[county], fake, rng, today)
    m.permit(300, 0)  # applied today
    m.permit(400, 3, reviewed=2)  # under review
    m.permit(500, 30)  # applied a month ago: overdue (art. 9: 15 days)
    # issued 400 days ago, endorsed on time (in the month before the year was full), its
    # address changed since
    endorsed = m.permit(800, 402, reviewed=401, issued=400)
    m.step(40, "endorse_residence_permit", endorsed.id)
    reg = registry.residence_history(m.officer, _number(registry, endorsed))[-1]
    m.step(200, "change_residence_address", reg.id, housing="employer",
           address=f"{fake.street_name()}8号人才公寓", provider=EMPLOYER.format(fake.last_name()),
           on=m.day(200))  # fmt: skip
    m.permit(700, 353, reviewed=352, issued=350)  # its year full in two weeks: endorsement due
    m.permit(900, 502, reviewed=501, issued=500)  # not endorsed: lapsed
    # a late endorsement (补办): lapsed, then restored; the residence years count again
    late = m.permit(1000, 802, reviewed=801, issued=800)
    m.step(300, "endorse_residence_permit", late.id)
    refused = m.permit(100, 10, reviewed=9)  # the half year not reached: the rules say no
    m.step(8, "refuse_residence_permit", refused.id,
           "居住登记未满六个月（第二条），可于满六个月后再申领 / registered for less than six "
           "months (art. 2); apply again once six months are reached")  # fmt: skip
    withdrawn = m.permit(400, 20)
    m.step(19, "withdraw_residence_permit", withdrawn.id)
    lost = m.permit(700, 302, reviewed=301, issued=300)
    m.step(100, "replace_residence_permit", lost.id, "lost")  # void, and a new one issued
    left = m.permit(900, 602, reviewed=601, issued=600)
    m.step(60, "cancel_residence_permit", left.id, "left")  # the registration ends with it
    # moved between counties: registered in 秀洲区, then in 南湖区 (秀洲区's record ends)
    other = next(c for c in sorted(officers) if c != county)
    number, name = m.person()
    m.reside(600, number, name, officers[other])
    m.reside(150, number, name)


def _number(registry: Registry, permit: ResidencePermit) -> str:
    from hukou.registry.models import Person

    person = registry.read(lambda s: s.get(Person, permit.person_id))
    assert person is not None
    return person.id_number


# ---- the lease holder: a migrant's whole path (issue 16, "done when") -------------------

# 陈晓燕, born 1991-04-16 in 安徽省临泉县 (hukou there): named and numbered for the README,
# which shows her path — the officer looks her up by this number
LEASE_HOLDER_NAME = "陈晓燕"
LEASE_HOLDER_ID = "341221199104160029"
LEASE_HOLDER_HUKOU = "341221"
LEASE_ADDRESS = "中环南路1288弄12号301室"
LEASE_CERTIFICATE = "嘉房租备字330402-2023-001288"  # 房屋租赁登记备案号
# the days of her path, counted back from the day the demo is loaded
LEASE_SINCE = 1300  # the lease registered, and her residence registered on it
PERMIT_APPLIED, PERMIT_REVIEWED, PERMIT_ISSUED = 1110, 1109, 1108  # six months on
ENDORSE_BEFORE = 7  # each endorsement a week before the permit's year is full
SETTLE_APPLIED, SETTLE_REVIEWED, SETTLE_APPROVED, SETTLE_REGISTERED = 14, 12, 7, 2


@dataclass(frozen=True)
class LeaseHolder:
    """What the settlement part of the path needs: who, and where she lives."""

    id_number: str
    name: str
    county: str
    dwelling_id: int
    registration_id: int
    permit_id: int


def lease_holder(
    registry: Registry, officer: Actor, today: dt.date, community_id: int
) -> LeaseHolder:
    """The first part of 陈晓燕's path, replayed in the officer's county by the register's
    own steps, each on its day: her lease of a commercial flat registered with the housing
    authority (a dwelling of the register, ``rented_registered``) and her residence
    registered on it (``LEASE_SINCE`` days ago); half a year on, a permit applied for on
    the dwelling ground (the register gives the dwelling), reviewed by the rules and
    issued; endorsed on time each year since — three times. The settlement that ends the
    path is ``demo._settle_lease_holder``'s."""
    fake, rng = _generators(1663)
    m = Migrants(registry, officer, fake, rng, today)
    with on_day(registry, m.day(LEASE_SINCE)):
        dwelling = registry.add_dwelling(
            officer,
            m.county,
            LEASE_ADDRESS,
            "111",
            "rented_registered",
            commercial_housing=True,
            community_id=community_id,
            certificate_no=LEASE_CERTIFICATE,
        )
        reg = registry.register_residence(
            officer,
            LEASE_HOLDER_ID,
            m.county,
            name=LEASE_HOLDER_NAME,
            housing="dwelling",
            dwelling_id=dwelling,
            since=m.day(LEASE_SINCE),
        )
    permit: ResidencePermit = m.step(
        PERMIT_APPLIED, "apply_for_residence_permit", LEASE_HOLDER_ID, m.county, "dwelling"
    )
    m.step(PERMIT_REVIEWED, "review_residence_permit", permit.id,
           note="租赁备案证明、居住登记核验无误 / lease registration and residence checked")  # fmt: skip
    permit = m.step(PERMIT_ISSUED, "issue_residence_permit", permit.id)
    # 签注 (art. 10): a week before each full year, every year that has come round
    assert permit.valid_until is not None
    while (due := permit.valid_until - dt.timedelta(days=ENDORSE_BEFORE)) <= today:
        with on_day(registry, due):
            permit = registry.endorse_residence_permit(officer, permit.id)
        assert permit.valid_until is not None
    return LeaseHolder(LEASE_HOLDER_ID, LEASE_HOLDER_NAME, m.county, dwelling, reg.id, permit.id)
