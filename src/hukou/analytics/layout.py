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

from collections.abc import Iterable
from pathlib import Path

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
        ("residence_registration_since", pa.date32()),  # 居住登记起始日
        ("residence_registration_county", pa.string()),  # its county
        ("registered_poor", pa.bool_()),  # §5.1 建档立卡 (reported only)
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


# ---- checking a population before any work starts ------------------------------------


def _fits(actual: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a column stored as ``actual`` can be read as the layout's ``wanted``: the
    same kind of value (any integer width for an id, any string encoding, either date
    type); an all-NULL column fits anything."""
    if actual == wanted or pa.types.is_null(actual):
        return True
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_integer(wanted):
        return bool(pa.types.is_integer(actual))
    if pa.types.is_string(wanted):
        return bool(
            pa.types.is_string(actual)
            or pa.types.is_large_string(actual)
            or pa.types.is_string_view(actual)
        )
    if pa.types.is_date(wanted):
        return bool(pa.types.is_date(actual))
    if pa.types.is_boolean(wanted):
        return bool(pa.types.is_boolean(actual))
    return False


def check_table(path: Path, schema: pa.Schema) -> list[dict[str, str]]:
    """The problems of one Parquet file against ``schema``: missing, unreadable (not
    Parquet, truncated, corrupt footer), missing columns, columns of the wrong type —
    each naming the file and column. Only the file's footer is read."""
    import pyarrow.parquet as pq

    name = path.name
    if not path.exists():
        return [
            {
                "field": str(path),
                "zh": f"缺少人口数据表 {name}",
                "en": f"the population table {name} is missing",
                "code": "missing_table",
            }
        ]
    if not path.is_file():
        return [
            {
                "field": str(path),
                "zh": "不是文件",
                "en": "not a file",
                "code": "unreadable",
            }
        ]
    try:
        found = pq.read_schema(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [
            {
                "field": str(path),
                "zh": "无法读取：不是完整的 Parquet 文件（文件损坏或被截断）",
                "en": f"cannot be read: not a complete Parquet file (corrupt or truncated): "
                f"{reason}",
                "code": "unreadable",
            }
        ]
    problems = []
    for want in schema:
        idx = found.get_field_index(want.name)
        if idx < 0:
            problems.append(
                {
                    "field": f"{path}: {want.name}",
                    "zh": f"{name} 缺少列 {want.name}（{want.type}）",
                    "en": f"{name} has no column {want.name} ({want.type})",
                    "code": "missing_column",
                }
            )
        elif not _fits(found.field(idx).type, want.type):
            got = found.field(idx).type
            problems.append(
                {
                    "field": f"{path}: {want.name}",
                    "zh": f"{name} 的列 {want.name} 类型为 {got}，应为 {want.type}",
                    "en": f"{name}: column {want.name} is {got}, the layout says {want.type}",
                    "code": "wrong_type",
                }
            )
    return problems


def check_population(directory: Path, tables: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Every problem of the population in ``directory`` against the layout
    (docs/population-layout.md), for the tables named (default: all four); empty when
    it can be read. Each problem is ``{field, zh, en, code}``, naming the file and the
    column at fault."""
    if not directory.exists():
        return [
            {
                "field": str(directory),
                "zh": "人口数据目录不存在",
                "en": "the population directory does not exist",
                "code": "missing_directory",
            }
        ]
    if not directory.is_dir():
        return [
            {
                "field": str(directory),
                "zh": "不是目录",
                "en": "not a directory",
                "code": "not_a_directory",
            }
        ]
    problems: list[dict[str, str]] = []
    for name in tables if tables is not None else TABLES:
        problems += check_table(directory / f"{name}.parquet", TABLES[name])
    return problems


class LayoutError(ValueError):
    """A population that does not fit the layout; ``problems`` as ``check_population``'s."""

    def __init__(self, problems: list[dict[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['en']}" for p in problems))


def require_population(directory: Path, tables: Iterable[str] | None = None) -> None:
    """``check_population``, raising ``LayoutError`` when there is a problem."""
    problems = check_population(directory, tables)
    if problems:
        raise LayoutError(problems)


def find_corrupt(directory: Path, tables: Iterable[str] | None = None) -> list[dict[str, str]]:
    """The population's files whose *content* cannot be read (a damaged data page behind
    an intact footer, which ``check_population`` cannot see): each file is read through
    once, in batches. For the error path, after a query failed on the population."""
    import pyarrow.parquet as pq

    problems = []
    for name in tables if tables is not None else TABLES:
        path = directory / f"{name}.parquet"
        try:
            for _batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
                pass
        except (OSError, pa.ArrowException, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(
                {
                    "field": str(path),
                    "zh": f"文件内容已损坏，无法读取（{reason}）",
                    "en": f"the file's content is corrupt and cannot be read ({reason})",
                    "code": "corrupt",
                }
            )
    return problems
