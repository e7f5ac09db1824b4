"""The Parquet layout of a population (人口数据目录结构).

A population is a directory of five Parquet files. Each column mirrors one field
of the case model (``hukou.policy.facts``); a NULL is an unknown fact, exactly
as a field left out of a case is. Enumerations are stored as the case model's
strings ("owned", "community_collective", "bachelor" …); counties as GB/T 2260
six-digit codes; dates as ``date32``.

``persons``            one row per person; the flattened ``Person``.
``relations``          who is whose spouse, child or parent, both directions.
``dwellings``          each person's dwellings (``Person.dwellings``).
``residence_periods``  each person's residence history (``Person.residence_history``).
``results``            written by ``hukou batch``: one row per person (see RESULTS).

Whether a list is known at all (a case may leave ``dwellings`` or
``residence_history`` out) is the persons columns ``dwellings_known`` and
``history_known``; a known list may be empty. ``relations`` is always known:
a person with no rows there has no relatives in the case (as ``relatives: []``).

Person *p* as the applicant is the case ``{applicant: p, relatives: [r for each
row of relations with person_id = p]}``, with each relative's own row of persons,
dwellings and residence_periods — the mapping ``to_case`` writes out, and the
differential tests use.
"""

from __future__ import annotations

import pyarrow as pa

PERSONS = pa.schema(
    [
        ("person_id", pa.int64()),  # key
        ("id_number", pa.string()),  # GB 11643, with its check character
        ("name", pa.string()),
        ("sex", pa.string()),  # male | female (agrees with the ID number)
        ("birth_date", pa.date32()),  # from the ID number
        ("education", pa.string()),  # Education
        ("professional_title", pa.string()),  # Title
        ("vocational_qualification", pa.string()),  # Vocational
        ("secondary_vocational_graduate", pa.bool_()),
        ("secondary_vocational_graduation_date", pa.date32()),
        ("local_labour_contract", pa.bool_()),
        ("local_business", pa.bool_()),
        ("lives_in", pa.string()),  # county code
        ("residence_registration", pa.bool_()),
        ("permit_held", pa.bool_()),  # residence_permit.held
        ("permit_county", pa.string()),  # residence_permit.county
        ("permit_issued_on", pa.date32()),  # residence_permit.issued_on (§7)
        ("hukou_kind", pa.string()),  # HukouKind
        ("hukou_county", pa.string()),  # hukou.address.county
        ("hukou_urban_rural_code", pa.string()),  # hukou.address.urban_rural_code
        ("hukou_township", pa.string()),
        ("hukou_community", pa.string()),
        ("owner_consent", pa.bool_()),  # hukou.owner_consent
        ("department_consent", pa.bool_()),  # hukou.department_consent
        ("lost_registration", pa.string()),  # LossReason
        ("rural_origin", pa.bool_()),
        ("employed_in_town_since", pa.date32()),
        ("family_migrated_together", pa.bool_()),
        ("offer_relative_family_household", pa.bool_()),  # registration_offers.*
        ("offer_unit_collective", pa.bool_()),
        ("offer_talent_service_collective", pa.bool_()),
        ("dwellings_known", pa.bool_()),  # False: Person.dwellings is null
        ("history_known", pa.bool_()),  # False: Person.residence_history is null
    ]
)

RELATIONS = pa.schema(
    [
        ("person_id", pa.int64()),  # the applicant
        ("relative_id", pa.int64()),  # a row of persons
        ("relation", pa.string()),  # the relative's relation to person_id: spouse | child | parent
        ("lives_with", pa.bool_()),  # Relative.lives_with_applicant
    ]
)

DWELLINGS = pa.schema(
    [
        ("person_id", pa.int64()),  # whose dwellings list it is in
        ("dwelling_id", pa.int64()),  # the same flat may be listed by several people
        ("seq", pa.int32()),  # position in the person's list (0 = first)
        ("tenure", pa.string()),  # Tenure
        ("commercial_housing", pa.bool_()),
        ("county", pa.string()),  # address.county; NULL = address unknown
        ("urban_rural_code", pa.string()),  # address.urban_rural_code
        ("township", pa.string()),
        ("community", pa.string()),
    ]
)

RESIDENCE_PERIODS = pa.schema(
    [
        ("person_id", pa.int64()),
        ("start", pa.date32()),
        ("end", pa.date32()),  # NULL: ongoing
        ("county", pa.string()),
        ("evidence", pa.string()),  # Evidence
    ]
)

TABLES: dict[str, pa.Schema] = {
    "persons": PERSONS,
    "relations": RELATIONS,
    "dwellings": DWELLINGS,
    "residence_periods": RESIDENCE_PERIODS,
}

# What ``hukou batch`` writes. Statuses use the per-case engine's words
# (eligible | not_eligible | undetermined; overall also not_in_force); dates
# mean exactly what ChannelResult.earliest_date / eligible_until mean.
CHANNEL_KEYS: tuple[str, ...] = ("s1_1", "s2_1", "s2_2", "s3_1", "s3_3", "s4_4")
ROUTE_KEYS: tuple[str, ...] = ("accompany_s1_1", "s3_1", "s3_3")

RESULTS = pa.schema(
    [
        ("person_id", pa.int64()),
        ("decision_date", pa.date32()),
        ("status", pa.string()),  # Decision.status
        ("best_channel", pa.string()),  # Decision.best.key, NULL if none
        ("earliest_date", pa.date32()),  # Decision.earliest_date
        ("place_kind", pa.string()),  # registration place kind of the best channel
        *(
            field
            for k in CHANNEL_KEYS
            for field in (
                (f"{k}_status", pa.string()),
                (f"{k}_earliest", pa.date32()),
                (f"{k}_until", pa.date32()),
            )
        ),
    ]
)

# One row per (applicant, relative): RelativeResult and its routes.
RESULT_RELATIVES = pa.schema(
    [
        ("person_id", pa.int64()),
        ("relative_id", pa.int64()),
        ("relation", pa.string()),
        ("status", pa.string()),  # RelativeResult.status
        ("earliest_date", pa.date32()),
        *(
            field
            for k in ROUTE_KEYS
            for field in ((f"{k}_status", pa.string()), (f"{k}_earliest", pa.date32()))
        ),
    ]
)
