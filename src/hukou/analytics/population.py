"""A population directory and the per-case view of it (人口数据与个案).

``load`` reads the Parquet files of ``layout``; ``to_cases`` turns each person into
the case the per-case engine decides (the person as applicant, their relations as
relatives); ``from_cases`` goes the other way, so tests can build populations from
generated cases. Both directions are exact for every fact the rules read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hukou.analytics.layout import TABLES
from hukou.policy.facts import Case, Person, parse_case

Tables = dict[str, pa.Table]

# the reverse of a relation: if R is P's child, P is R's parent
REVERSE = {"spouse": "spouse", "child": "parent", "parent": "child"}


def load(directory: Path) -> Tables:
    """Read the four population tables of ``directory`` (``<name>.parquet`` each)."""
    out: Tables = {}
    for name, schema in TABLES.items():
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"缺少人口数据表 / missing population table: {path}")
        out[name] = pq.read_table(path, schema=schema)
    return out


def save(tables: Tables, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in TABLES.items():
        pq.write_table(tables[name].cast(schema), directory / f"{name}.parquet")


def _group(table: pa.Table, key: str = "person_id") -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        out[row[key]].append(row)
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: v for k, v in d.items() if v is not None}
    return kept or None


def _person_dict(
    row: dict[str, Any],
    dwellings: list[dict[str, Any]],
    periods: list[dict[str, Any]],
) -> dict[str, Any]:
    hukou_address = None
    if row["hukou_county"] is not None:
        hukou_address = {
            "county": row["hukou_county"],
            "urban_rural_code": row["hukou_urban_rural_code"],
            "township": row["hukou_township"],
            "community": row["hukou_community"],
        }
    person: dict[str, Any] = {
        "id_number": row["id_number"],
        "name": row["name"],
        "sex": row["sex"],
        "birth_date": row["birth_date"],
        "education": row["education"],
        "professional_title": row["professional_title"],
        "vocational_qualification": row["vocational_qualification"],
        "secondary_vocational_graduate": row["secondary_vocational_graduate"],
        "secondary_vocational_graduation_date": row["secondary_vocational_graduation_date"],
        "local_labour_contract": row["local_labour_contract"],
        "local_business": row["local_business"],
        "lives_in": row["lives_in"],
        "residence_registration": row["residence_registration"],
        "residence_registration_since": row["residence_registration_since"],
        "residence_registration_county": row["residence_registration_county"],
        "registered_poor": row["registered_poor"],
        "residence_permit": _drop_none(
            {
                "held": row["permit_held"],
                "county": row["permit_county"],
                "issued_on": row["permit_issued_on"],
            }
        ),
        "hukou": _drop_none(
            {
                "kind": row["hukou_kind"],
                "address": hukou_address,
                "owner_consent": row["owner_consent"],
                "department_consent": row["department_consent"],
            }
        ),
        "lost_registration": row["lost_registration"],
        "rural_origin": row["rural_origin"],
        "employed_in_town_since": row["employed_in_town_since"],
        "family_migrated_together": row["family_migrated_together"],
        "registration_offers": _drop_none(
            {
                "relative_family_household": row["offer_relative_family_household"],
                "unit_collective": row["offer_unit_collective"],
                "talent_service_collective": row["offer_talent_service_collective"],
            }
        ),
    }
    if row["dwellings_known"]:
        person["dwellings"] = [
            {
                "tenure": d["tenure"],
                "commercial_housing": d["commercial_housing"],
                "address": None
                if d["county"] is None
                else {
                    "county": d["county"],
                    "urban_rural_code": d["urban_rural_code"],
                    "township": d["township"],
                    "community": d["community"],
                },
            }
            for d in sorted(dwellings, key=lambda d: d["seq"])
        ]
    if row["history_known"]:
        person["residence_history"] = [
            {"start": p["start"], "end": p["end"], "county": p["county"], "evidence": p["evidence"]}
            for p in sorted(periods, key=lambda p: (p["start"], p["county"]))
        ]
    return {k: v for k, v in person.items() if v is not None}


def to_cases(tables: Tables, on: dt.date) -> Iterator[tuple[int, Case, list[int]]]:
    """Each person as an applicant: ``(person_id, case, relative ids in case order)``.

    Relatives are the person's rows of ``relations``, ordered by ``relative_id``.
    """
    dwellings = _group(tables["dwellings"])
    periods = _group(tables["residence_periods"])
    relations = _group(tables["relations"])
    people = {r["person_id"]: r for r in tables["persons"].to_pylist()}

    def person(pid: int) -> dict[str, Any]:
        return _person_dict(people[pid], dwellings.get(pid, []), periods.get(pid, []))

    for pid in people:
        rels = sorted(relations.get(pid, []), key=lambda r: r["relative_id"])
        relatives = []
        for r in rels:
            rel = person(r["relative_id"])
            rel["relation"] = r["relation"]
            if r["lives_with"] is not None:
                rel["lives_with_applicant"] = r["lives_with"]
            relatives.append(rel)
        data = {"decision_date": on, "applicant": person(pid), "relatives": relatives}
        yield pid, parse_case(data, on), [r["relative_id"] for r in rels]


def _person_row(pid: int, p: Person) -> dict[str, Any]:
    permit = p.residence_permit
    hukou = p.hukou
    address = hukou.address if hukou else None
    offers = p.registration_offers

    def s(v: Any) -> Any:  # enums to their stored strings
        return None if v is None else getattr(v, "value", v)

    return {
        "person_id": pid,
        "id_number": p.id_number,
        "name": p.name,
        "sex": s(p.sex),
        "birth_date": p.birth_date,
        "education": s(p.education),
        "professional_title": s(p.professional_title),
        "vocational_qualification": s(p.vocational_qualification),
        "secondary_vocational_graduate": p.secondary_vocational_graduate,
        "secondary_vocational_graduation_date": p.secondary_vocational_graduation_date,
        "local_labour_contract": p.local_labour_contract,
        "local_business": p.local_business,
        "lives_in": p.lives_in,
        "residence_registration": p.residence_registration,
        "residence_registration_since": p.residence_registration_since,
        "residence_registration_county": p.residence_registration_county,
        "registered_poor": p.registered_poor,
        "permit_held": permit.held if permit else None,
        "permit_county": permit.county if permit else None,
        "permit_issued_on": permit.issued_on if permit else None,
        "hukou_kind": s(hukou.kind) if hukou else None,
        "hukou_county": address.county if address else None,
        "hukou_urban_rural_code": address.urban_rural_code if address else None,
        "hukou_township": address.township if address else None,
        "hukou_community": address.community if address else None,
        "owner_consent": hukou.owner_consent if hukou else None,
        "department_consent": hukou.department_consent if hukou else None,
        "lost_registration": s(p.lost_registration),
        "rural_origin": p.rural_origin,
        "employed_in_town_since": p.employed_in_town_since,
        "family_migrated_together": p.family_migrated_together,
        "offer_relative_family_household": offers.relative_family_household if offers else None,
        "offer_unit_collective": offers.unit_collective if offers else None,
        "offer_talent_service_collective": offers.talent_service_collective if offers else None,
        "dwellings_known": p.dwellings is not None,
        "history_known": p.residence_history is not None,
    }


def from_cases(cases: Iterable[Case], *, reverse: bool = True) -> Tables:
    """A population holding every applicant and relative of ``cases`` as persons.

    Person ids run in case order (applicant, then its relatives), so ``to_cases``
    gives each applicant back its relatives in the same order. With ``reverse``
    each relative also gets the applicant as a relative (the reverse relation),
    as in a real population; the applicants' own cases are unchanged by it.
    """
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    next_id = 1
    dwelling_id = 1

    def add(p: Person) -> int:
        nonlocal next_id, dwelling_id
        pid = next_id
        next_id += 1
        rows["persons"].append(_person_row(pid, p))
        for seq, d in enumerate(p.dwellings or []):
            a = d.address
            rows["dwellings"].append(
                {
                    "person_id": pid,
                    "dwelling_id": dwelling_id,
                    "seq": seq,
                    "tenure": None if d.tenure is None else d.tenure.value,
                    "commercial_housing": d.commercial_housing,
                    "county": a.county if a else None,
                    "urban_rural_code": a.urban_rural_code if a else None,
                    "township": a.township if a else None,
                    "community": a.community if a else None,
                }
            )
            dwelling_id += 1
        for period in p.residence_history or []:
            rows["residence_periods"].append(
                {
                    "person_id": pid,
                    "start": period.start,
                    "end": period.end,
                    "county": period.county,
                    "evidence": period.evidence.value,
                }
            )
        return pid

    for case in cases:
        aid = add(case.applicant)
        for rel in case.relatives:
            rid = add(rel)
            relation = rel.relation.value
            rows["relations"].append(
                {
                    "person_id": aid,
                    "relative_id": rid,
                    "relation": relation,
                    "lives_with": rel.lives_with_applicant,
                }
            )
            if reverse:
                rows["relations"].append(
                    {
                        "person_id": rid,
                        "relative_id": aid,
                        "relation": REVERSE[relation],
                        "lives_with": rel.lives_with_applicant,
                    }
                )
    return {
        name: pa.Table.from_pylist(rows[name], schema=schema) for name, schema in TABLES.items()
    }
