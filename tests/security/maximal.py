"""The largest case the case model accepts (every list at its bound, every text at its
maximum length, in Chinese): what the request-body limit must let through."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from stdnum.cn import ric

from hukou.policy import facts as f

DECIDED_ON = dt.date(2025, 3, 1)
COUNTY = "330402"  # 南湖区


def id_number(birth: dt.date, seq: int, county: str = COUNTY) -> str:
    body = f"{county}{birth:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _text(n: int, char: str = "嘉") -> str:
    return char * n


def _person(birth: dt.date, seq: int) -> dict[str, Any]:
    address = {
        "county": COUNTY,
        "urban_rural_code": "111",
        "township": _text(f.PLACE_MAX, "街"),
        "community": _text(f.PLACE_MAX, "社"),
        "detail": _text(f.ADDRESS_MAX, "路"),
    }
    start = dt.date(2010, 1, 1)
    periods = [
        {
            "start": (start + dt.timedelta(days=60 * i)).isoformat(),
            "end": (start + dt.timedelta(days=60 * i + 59)).isoformat(),
            "county": COUNTY,
            "evidence": "residence_permit",
        }
        for i in range(f.MAX_RESIDENCE_PERIODS)
    ]
    return {
        "id_number": id_number(birth, seq),
        "name": _text(f.NAME_MAX, "名"),
        "education": "doctor",
        "professional_title": "senior",
        "vocational_qualification": "senior_technician",
        "secondary_vocational_graduate": False,
        "local_labour_contract": True,
        "local_business": True,
        "lives_in": COUNTY,
        "residence_registration": True,
        "residence_permit": {"held": True, "county": COUNTY, "issued_on": "2010-01-01"},
        "residence_history": periods,
        "dwellings": [
            {"tenure": "owned", "commercial_housing": True, "address": address}
            for _ in range(f.MAX_DWELLINGS)
        ],
        "hukou": {
            "kind": "relative_family_household",
            "address": address,
            "owner_consent": True,
            "department_consent": True,
        },
        "lost_registration": "none",
        "rural_origin": True,
        "employed_in_town_since": "2010-01-01",
        "family_migrated_together": True,
        "registration_offers": {
            "relative_family_household": True,
            "unit_collective": True,
            "talent_service_collective": True,
        },
        "land_rights": {"contract_land": True, "homestead": True, "collective_income": True},
    }


def maximal_case() -> dict[str, Any]:
    relations = ["spouse"] + ["parent"] * 4
    relations += ["child"] * (f.MAX_RELATIVES - len(relations))
    births = {"spouse": 1962, "parent": 1935, "child": 1985}
    relatives = []
    for i, relation in enumerate(relations):
        born = dt.date(births[relation] + i % 10, 1 + i % 12, 1 + i)
        relatives.append(
            {"relation": relation, "lives_with_applicant": True, **_person(born, 100 + i)}
        )
    return {
        "decision_date": DECIDED_ON.isoformat(),
        "applicant": _person(dt.date(1960, 5, 17), 11),
        "relatives": relatives,
    }


def encodings(case: dict[str, Any]) -> dict[str, bytes]:
    """The case as a client may send it: compact UTF-8, and JSON's defaults in most
    languages (every CJK character escaped as ``\\uXXXX``, six bytes), indented."""
    return {
        "utf-8, compact": json.dumps(case, ensure_ascii=False, separators=(",", ":")).encode(),
        "ascii-escaped, compact": json.dumps(case, separators=(",", ":")).encode(),
        "ascii-escaped, indent 2": json.dumps(case, indent=2).encode(),
    }
