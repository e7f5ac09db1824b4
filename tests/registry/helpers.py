"""Small builders for registry tests: valid ID numbers and case facts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stdnum.cn import ric

from hukou.registry.access import Actor
from hukou.registry.clock import FixedClock
from hukou.registry.models import ResidenceRegistration
from hukou.registry.service import Registry


def id_number(region: str, birth: str, seq: int, male: bool) -> str:
    """A valid 18-character ID number; ``birth`` as YYYYMMDD."""
    order = seq * 2 + (1 if male else 0)
    body = f"{region}{birth}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def owner_case(
    name: str = "李建国",
    with_spouse: bool = True,
    seq: int = 1,
    origin: str = "330106",
    county: str = "330402",
) -> dict[str, Any]:
    """An owner of an urban flat in ``county`` (default 南湖区), living there with a spouse:
    §1.1. His hukou is in ``origin`` (default 杭州市西湖区: a move within Zhejiang, no
    move-in permit)."""
    facts: dict[str, Any] = {
        "decision_date": "2025-03-01",
        "applicant": {
            "id_number": id_number("341221", "19880512", seq, True),
            "name": name,
            "residence_permit": {"held": True, "county": county},
            "lives_in": county,
            "dwellings": [
                {
                    "tenure": "owned",
                    "commercial_housing": True,
                    "address": {"county": county, "urban_rural_code": "111"},
                }
            ],
            "hukou": {"kind": "outside_jiaxing", "address": {"county": origin}},
        },
        "relatives": [],
    }
    if with_spouse:
        facts["relatives"].append(
            {
                "relation": "spouse",
                "id_number": id_number("341221", "19900823", seq, False),
                "name": "王芳",
                "lives_with_applicant": True,
            }
        )
    return facts


def reside_on(
    registry: Registry, actor: Actor, number: str, county: str, day: dt.date, **given: Any
) -> ResidenceRegistration:
    """A residence registration the station recorded on ``day`` (the register's clock set
    back to that day, then forward again), as a registration of long ago is made: a station
    dates one at most ``r663_register.registration_backdate_days`` back. A day after today
    is passed as it is (refused)."""
    clock = registry.clock
    assert isinstance(clock, FixedClock)
    today = clock.today()
    if day >= today:
        return registry.register_residence(actor, number, county, since=day, **given)
    clock.day = day
    try:
        return registry.register_residence(actor, number, county, since=day, **given)
    finally:
        clock.day = today
