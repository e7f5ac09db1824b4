"""The register as a population (登记库即人口): the batch on the register's own tables.

``registry_tables(con, on)`` presents the household register (``registry.models``)
in the population layout (``layout.TABLES``) as lazy Ibis expressions over the
register's tables — written once, for the register's two databases (PostgreSQL and
the embedded SQLite) — so ``batch.evaluate`` decides every registered person
without a Parquet export. ``run_registry`` runs it: inside PostgreSQL, or, for
SQLite, by building the layout tables in SQLite and deciding them in an in-memory
DuckDB.

What the register holds, and where each layout column comes from:

``persons`` — one row per row of the register's ``persons``:

* ``person_id``, ``id_number``, ``name``, ``sex``, ``birth_date``: the person's row.
* the current hukou is the person's **open membership** (``end_date IS NULL``; the
  register allows one) and its household: ``hukou_county`` = the household's county;
  ``hukou_urban_rural_code``, ``hukou_township``, ``hukou_community`` = the household's
  dwelling's code and the dwelling's community (family households) or the community
  (community collective households); NULL (unknown) for unit and talent-service
  collectives, which the register keeps without an address. ``hukou_kind``:
  ``family`` households give ``own_family_household`` to the head (户主) and to the
  head's spouse, children and parents (配偶, 子女, 养子女, 父母) and
  ``relative_family_household`` to anyone else there (成员: registered into a
  relative's household); collective households give their own kind
  (``unit_collective``, ``talent_service_collective``, ``community_collective``). A
  person without an open membership in a Jiaxing household (moved out) is
  ``outside_jiaxing`` with the address unknown (NULL), or the household's county if
  the household lies outside Jiaxing.
* residence registrations and permits are the register's own
  (``residence_registrations``, ``residence_permits``: ``registry.permits``) **as of the
  decision date**, by the rules the per-case decision of an application reads them with
  (``registry.permits.register_residence_facts``). A person with a residence
  registration begun by the date is the register's: ``residence_registration`` is true
  when one covers the date (``start_date`` to ``end_date`` inclusive, NULL: open),
  ``residence_registration_since`` the start of its chain of address changes
  (``previous_id``) and ``_county`` its county — NULL when none covers it; ``lives_in``
  that county. ``permit_held`` is true when a permit is valid on the date (state
  ``issued``, issued by then, ``valid_until`` not passed — a lapsed, void or cancelled
  permit is not held), with its county and ``permit_issued_on`` the issue date of the
  first permit of its chain of replacements (``replaces_id``); false otherwise, county
  and date NULL. A person without a registration begun by the date falls back to their
  latest application's facts (below), else NULL.
* facts the register does not hold come from the person's **latest application**
  (highest id; any state; the per-case kinds only, not §5.2's, whose facts have
  another form) whose ``applicant_id_number`` is theirs — the ``facts`` JSON the
  application was taken on: ``applicant.education``, ``professional_title``,
  ``vocational_qualification``, ``secondary_vocational_graduate``,
  ``secondary_vocational_graduation_date``, ``local_labour_contract``,
  ``local_business``, ``lives_in``, ``residence_registration``,
  ``residence_permit.{held,county,issued_on}``, ``rural_origin``,
  ``employed_in_town_since``, ``family_migrated_together`` and
  ``registration_offers.*``. Strings are read as stored (the register validated them
  when it took the application); booleans from JSON ``true``/``false`` (and the
  strings pydantic reads as booleans); dates from ``YYYY-MM-DD`` strings; anything
  else, and a person who never applied, is NULL — unknown, so the rules say
  *undetermined* where it matters. Relatives' facts inside other people's
  applications are not used (they are matched by position, not by person).
* ``owner_consent``, ``department_consent`` and ``lost_registration`` are about the
  place the hukou is registered at; an application's statements about them describe
  the place *before* the application was registered, so they are NULL (unknown).
* ``dwellings_known`` is true when the person owns a dwelling in the register;
  ``history_known`` when they have a residence registration begun by the decision date.
  Without either the list is unknown, never "none": the register not holding a
  person's flat or residence does not show they have none.

``relations`` — between members of the same household, from the open memberships'
``relation_to_head``: the head and their spouse (配偶, ``spouse`` both ways), child
(子女 and 养子女: ``child``, the head is the child's ``parent``) and parent (父母:
``parent``, the head is the parent's ``child``). Both directions, as the layout
requires. Relations between two members who are not the head (the spouse and a
child) are not inferred: the register records only each one's relation to the head.
``lives_with`` is NULL: being registered at one address is not 共同居住生活.

``dwellings`` — the register's dwellings by ``owner_person_id`` (the person whose
dwelling it is: the owner, or the tenant of a rented flat, as ``tenure`` says):
``dwelling_id``, ``tenure``, ``commercial_housing``, ``county``,
``urban_rural_code``, and the township and community of the dwelling's community
(NULL without one); ``seq`` numbers each person's dwellings from 0 by dwelling id.

``residence_periods`` — every residence registration begun by the decision date, the
evidence of §1.2's continuous residence (``evidence = 'residence_registration'``; a
permit needs a registration, so the registrations are the whole of it). An address
change ends one and starts the next the same day: touching periods merge into one
stretch, in the engine and in the query alike.

Ibis 12's own JSON accessors compile to SQL that neither SQLite nor PostgreSQL
accepts (a ``->>`` chain, ``->> VARIADIC ARRAY[]``), so the facts are read with each
database's JSON function (``json_extract`` / ``json_extract_path_text``) declared as
Ibis built-ins: the one place the expressions know the backend.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import ibis  # type: ignore[import-untyped, unused-ignore]
import ibis.expr.datatypes as idt  # type: ignore[import-untyped, unused-ignore]
import ibis.expr.types as ir  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa

from hukou.analytics import batch
from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, TABLES
from hukou.analytics.population import REVERSE
from hukou.policy.params import ParameterSet
from hukou.policy.places import jiaxing_counties
from hukou.registry.db import database_url
from hukou.registry.models import APPLICATION_KINDS

# relation_to_head -> the member's relation to the head (layout vocabulary)
HEAD_RELATIONS = {"配偶": "spouse", "子女": "child", "养子女": "child", "父母": "parent"}
HEAD = "户主"
# the per-case application kinds (§5.2's facts have another form)
CASE_KINDS = tuple(k for k in APPLICATION_KINDS if not k.startswith("s5_2"))
# strings pydantic's lax mode reads as booleans
_TRUE = ("true", "1", "yes", "y", "on", "t")
_FALSE = ("false", "0", "no", "n", "off", "f")

# the facts read from the latest application: layout column -> JSON path
FACT_STRINGS: dict[str, tuple[str, ...]] = {
    "education": ("applicant", "education"),
    "professional_title": ("applicant", "professional_title"),
    "vocational_qualification": ("applicant", "vocational_qualification"),
}
FACT_BOOLS: dict[str, tuple[str, ...]] = {
    "secondary_vocational_graduate": ("applicant", "secondary_vocational_graduate"),
    "local_labour_contract": ("applicant", "local_labour_contract"),
    "local_business": ("applicant", "local_business"),
    "rural_origin": ("applicant", "rural_origin"),
    "registered_poor": ("applicant", "registered_poor"),
    "family_migrated_together": ("applicant", "family_migrated_together"),
    "offer_relative_family_household": (
        "applicant",
        "registration_offers",
        "relative_family_household",
    ),
    "offer_unit_collective": ("applicant", "registration_offers", "unit_collective"),
    "offer_talent_service_collective": (
        "applicant",
        "registration_offers",
        "talent_service_collective",
    ),
}
FACT_DATES: dict[str, tuple[str, ...]] = {
    "secondary_vocational_graduation_date": ("applicant", "secondary_vocational_graduation_date"),
    "employed_in_town_since": ("applicant", "employed_in_town_since"),
}
# used only when the register holds no residence registration of the person
FALLBACK: dict[str, tuple[str, ...]] = {
    "lives_in": ("applicant", "lives_in"),
    "residence_registration": ("applicant", "residence_registration"),
    "permit_held": ("applicant", "residence_permit", "held"),
    "permit_county": ("applicant", "residence_permit", "county"),
    "permit_issued_on": ("applicant", "residence_permit", "issued_on"),
    "residence_registration_since": ("applicant", "residence_registration_since"),
    "residence_registration_county": ("applicant", "residence_registration_county"),
}


# ---- reading the facts JSON ----------------------------------------------------------


@ibis.udf.scalar.builtin(name="json_extract_path_text")  # type: ignore[untyped-decorator, unused-ignore]
def _pg_text2(doc: idt.JSON, a: str, b: str) -> str:  # type: ignore[empty-body, unused-ignore]
    ...


@ibis.udf.scalar.builtin(name="json_extract_path_text")  # type: ignore[untyped-decorator, unused-ignore]
def _pg_text3(doc: idt.JSON, a: str, b: str, c: str) -> str:  # type: ignore[empty-body, unused-ignore]
    ...


@ibis.udf.scalar.builtin(name="json_extract")  # type: ignore[untyped-decorator, unused-ignore]
def _sqlite_extract(doc: idt.JSON, path: str) -> str:  # type: ignore[empty-body, unused-ignore]
    ...


@ibis.udf.scalar.builtin(name="json_type")  # type: ignore[untyped-decorator, unused-ignore]
def _sqlite_type(doc: idt.JSON, path: str) -> str:  # type: ignore[empty-body, unused-ignore]
    ...


def _json_text(backend: str, doc: Any, path: tuple[str, ...]) -> Any:
    """The scalar at ``path`` as text ('true'/'false' for booleans); NULL when absent,
    JSON null, or not a scalar."""
    if backend == "postgres":
        fn = {2: _pg_text2, 3: _pg_text3}[len(path)]
        return fn(doc, *path)
    if backend == "sqlite":
        where = "$." + ".".join(path)
        kind = _sqlite_type(doc, where)
        return ibis.cases(
            (kind.isin(("true", "false")), kind),
            (kind.isin(("text", "integer", "real")), _sqlite_extract(doc, where).cast("string")),
            else_=ibis.null("string"),
        )
    raise ValueError(
        f"登记库须为 PostgreSQL 或 SQLite / the register must be on PostgreSQL or SQLite, "
        f"not {backend}"
    )


def _as_bool(text: Any) -> Any:
    low = text.lower()
    return ibis.cases(
        (low.isin(_TRUE), ibis.literal(True)),
        (low.isin(_FALSE), ibis.literal(False)),
        else_=ibis.null("boolean"),
    )


def _as_date(text: Any) -> Any:
    iso = (text.length() == 10) & (text.substr(4, 1) == "-") & (text.substr(7, 1) == "-")
    return ibis.ifelse(iso, text, ibis.null("string")).cast("date")


# ---- the layout tables ---------------------------------------------------------------


def _conform(table: ir.Table, schema: pa.Schema) -> ir.Table:
    """Exactly the layout's columns, in its order, with its types."""
    types = ibis.Schema.from_pyarrow(schema)
    return table.select(*[table[name].cast(types[name]).name(name) for name in schema.names])


def registry_tables(con: Any, on: dt.date | None = None) -> dict[str, ir.Table]:
    """The register behind the Ibis connection ``con`` (PostgreSQL or SQLite) in the
    population layout, as of ``on`` (default today): ``{name: table}`` for each of
    ``layout.TABLES``, lazily. See the module docstring for every mapping."""
    on = on or dt.date.today()
    backend = con.name
    day = ibis.literal(on, type="date")
    null_str = ibis.null("string")

    persons = con.table("persons")
    households = con.table("households")
    memberships = con.table("memberships")
    dwellings = con.table("dwellings")
    communities = con.table("communities")
    registrations = con.table("residence_registrations")
    permits = con.table("residence_permits")
    applications = con.table("applications")

    comm = communities.select(
        c_id=communities.id,
        c_township=communities.township,
        c_name=communities.name,
        c_code=communities.urban_rural_code,
    )

    # -- the current hukou: the open membership, its household and the household's place
    dw = dwellings.select(
        d_id=dwellings.id,
        d_code=dwellings.urban_rural_code,
        d_community=dwellings.community_id,
    )
    hh = households.select(
        h_id=households.id,
        h_kind=households.kind,
        h_county=households.county,
        h_dwelling=households.dwelling_id,
        h_community=households.community_id,
    )
    place = hh.left_join(dw, hh.h_dwelling == dw.d_id)
    place = place.left_join(comm, ibis.coalesce(place.h_community, place.d_community) == comm.c_id)
    place = place.select(
        "h_id",
        "h_kind",
        "h_county",
        h_code=ibis.coalesce(place.d_code, place.c_code),
        h_township=place.c_township,
        h_commname=place.c_name,
    )
    open_m = memberships.filter(memberships.end_date.isnull()).select(
        m_person=memberships.person_id,
        m_household=memberships.household_id,
        m_relation=memberships.relation_to_head,
    )
    hukou = open_m.inner_join(place, open_m.m_household == place.h_id).select(
        "m_person", "m_relation", "h_kind", "h_county", "h_code", "h_township", "h_commname"
    )

    # -- the latest application's facts, per ID number
    apps = applications.filter(applications.kind.isin(CASE_KINDS))
    apps = apps.mutate(
        _rank=ibis.row_number().over(group_by=apps.applicant_id_number, order_by=ibis.desc(apps.id))
    )
    latest = apps.filter(apps._rank == 0)
    fact_cols: dict[str, Any] = {}
    for name, path in FACT_STRINGS.items():
        fact_cols[f"f_{name}"] = _json_text(backend, latest.facts, path)
    for name, path in FACT_BOOLS.items():
        fact_cols[f"f_{name}"] = _as_bool(_json_text(backend, latest.facts, path))
    for name, path in FACT_DATES.items():
        fact_cols[f"f_{name}"] = _as_date(_json_text(backend, latest.facts, path))
    fb = {name: _json_text(backend, latest.facts, path) for name, path in FALLBACK.items()}
    fact_cols["f_lives_in"] = fb["lives_in"]
    fact_cols["f_residence_registration"] = _as_bool(fb["residence_registration"])
    fact_cols["f_permit_held"] = _as_bool(fb["permit_held"])
    fact_cols["f_permit_county"] = fb["permit_county"]
    fact_cols["f_permit_issued_on"] = _as_date(fb["permit_issued_on"])
    fact_cols["f_residence_registration_since"] = _as_date(fb["residence_registration_since"])
    fact_cols["f_residence_registration_county"] = fb["residence_registration_county"]
    facts = latest.select(f_id_number=latest.applicant_id_number, **fact_cols)

    # -- residence registrations as of the decision date: each chain of address changes
    # (a registration without ``previous_id`` starts one; ordered by start and id, the
    # others continue the chain begun last) and its start
    begun = registrations.filter(registrations.start_date <= day)
    covers = begun.end_date.isnull() | (begun.end_date >= day)
    rg = begun.mutate(
        _covers=covers,
        _chain=ibis.ifelse(begun.previous_id.isnull(), 1, 0)
        .sum()
        .over(
            ibis.cumulative_window(group_by=begun.person_id, order_by=[begun.start_date, begun.id])
        ),
        _latest=ibis.row_number().over(
            group_by=begun.person_id,
            order_by=[
                ibis.desc(covers.cast("int32")),
                ibis.desc(begun.start_date),
                ibis.desc(begun.id),
            ],
        ),
    )
    rg = rg.mutate(
        _chain_start=rg.start_date.min().over(group_by=[rg.person_id, rg._chain]),
    )
    now = (rg._latest == 0) & rg._covers  # the registration covering the date
    reg_agg = rg.group_by(r_person=rg.person_id).aggregate(
        r_now=rg._covers.any(),
        r_since=rg._chain_start.max(where=now),
        r_county=rg.county.max(where=now),
    )

    # -- the permit valid on the date, and the first issue of its chain of replacements
    # (a permit without ``replaces_id`` starts one; ordered by id, a replacement follows
    # the permit it replaces)
    pc = permits.mutate(
        _chain=ibis.ifelse(permits.replaces_id.isnull(), 1, 0)
        .sum()
        .over(ibis.cumulative_window(group_by=permits.person_id, order_by=permits.id))
    )
    pc = pc.mutate(_first=pc.issued_on.min().over(group_by=[pc.person_id, pc._chain]))
    valid = pc.filter(
        (pc.state == "issued")
        & pc.issued_on.notnull()
        & (pc.issued_on <= day)
        & (pc.valid_until >= day)
    )
    held = valid.group_by(p_person=valid.person_id).aggregate(
        p_county=valid.county.max(),
        p_first=valid._first.min(),
    )

    # -- dwellings by owner
    owned = dwellings.filter(dwellings.owner_person_id.notnull())
    owned = owned.left_join(comm, owned.community_id == comm.c_id)
    dwell = owned.select(
        person_id=owned.owner_person_id,
        dwelling_id=owned.id,
        seq=ibis.row_number().over(group_by=owned.owner_person_id, order_by=owned.id),
        tenure=owned.tenure,
        commercial_housing=owned.commercial_housing,
        county=owned.county,
        urban_rural_code=owned.urban_rural_code,
        township=owned.c_township,
        community=owned.c_name,
    )
    owners = dwell.select(o_person=dwell.person_id).distinct()

    # -- persons
    p = persons.left_join(hukou, persons.id == hukou.m_person)
    p = p.left_join(facts, p.id_number == facts.f_id_number)
    p = p.left_join(reg_agg, p.id == reg_agg.r_person)
    p = p.left_join(held, p.id == held.p_person)
    p = p.left_join(owners, p.id == owners.o_person)

    in_jiaxing = p.h_county.isin(tuple(jiaxing_counties()))
    kind = ibis.cases(
        (p.m_person.isnull(), "outside_jiaxing"),
        (~in_jiaxing, "outside_jiaxing"),
        (
            (p.h_kind == "family") & p.m_relation.isin((HEAD, *HEAD_RELATIONS)),
            "own_family_household",
        ),
        (p.h_kind == "family", "relative_family_household"),
        else_=p.h_kind,
    )
    known = p.r_person.notnull()  # the register holds the person's residence
    person_table = p.select(
        person_id=p.id,
        id_number=p.id_number,
        name=p.name,
        sex=p.sex,
        birth_date=p.birth_date,
        education=p.f_education,
        professional_title=p.f_professional_title,
        vocational_qualification=p.f_vocational_qualification,
        secondary_vocational_graduate=p.f_secondary_vocational_graduate,
        secondary_vocational_graduation_date=p.f_secondary_vocational_graduation_date,
        local_labour_contract=p.f_local_labour_contract,
        local_business=p.f_local_business,
        lives_in=ibis.coalesce(p.r_county, p.f_lives_in),
        residence_registration=ibis.ifelse(known, p.r_now, p.f_residence_registration),
        permit_held=ibis.ifelse(known, p.p_person.notnull(), p.f_permit_held),
        permit_county=ibis.ifelse(known, p.p_county, p.f_permit_county),
        permit_issued_on=ibis.ifelse(known, p.p_first, p.f_permit_issued_on),
        hukou_kind=kind,
        hukou_county=p.h_county,
        hukou_urban_rural_code=p.h_code,
        hukou_township=p.h_township,
        hukou_community=p.h_commname,
        owner_consent=ibis.null("boolean"),
        department_consent=ibis.null("boolean"),
        lost_registration=null_str,
        rural_origin=p.f_rural_origin,
        employed_in_town_since=p.f_employed_in_town_since,
        family_migrated_together=p.f_family_migrated_together,
        offer_relative_family_household=p.f_offer_relative_family_household,
        offer_unit_collective=p.f_offer_unit_collective,
        offer_talent_service_collective=p.f_offer_talent_service_collective,
        dwellings_known=p.o_person.notnull(),
        history_known=known,
        residence_registration_since=ibis.ifelse(
            known, p.r_since, p.f_residence_registration_since
        ),
        residence_registration_county=ibis.ifelse(
            known, p.r_county, p.f_residence_registration_county
        ),
        registered_poor=p.f_registered_poor,
    )

    # -- relations: the head and their spouse, children and parents, both ways
    heads = open_m.filter(open_m.m_relation == HEAD).select(
        k_household=open_m.m_household, k_person=open_m.m_person
    )
    kin = open_m.filter(open_m.m_relation.isin(tuple(HEAD_RELATIONS)))
    pairs = kin.inner_join(heads, kin.m_household == heads.k_household)
    relation = pairs.m_relation.substitute(HEAD_RELATIONS)
    reverse = relation.substitute(REVERSE)
    from_head = pairs.select(
        person_id=pairs.k_person,
        relative_id=pairs.m_person,
        relation=relation,
        lives_with=ibis.null("boolean"),
    )
    to_head = pairs.select(
        person_id=pairs.m_person,
        relative_id=pairs.k_person,
        relation=reverse,
        lives_with=ibis.null("boolean"),
    )
    relations = from_head.union(to_head, distinct=False)

    # -- residence periods: the registrations begun by the date
    periods = begun.select(
        person_id=begun.person_id,
        start=begun.start_date,
        end=begun.end_date,
        county=begun.county,
        evidence=ibis.literal("residence_registration"),
    )

    out = {
        "persons": person_table,
        "relations": relations,
        "dwellings": dwell,
        "residence_periods": periods,
    }
    return {name: _conform(out[name], schema) for name, schema in TABLES.items()}


# ---- running it ----------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    for prefix in ("sqlite+pysqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            path = Path(url.removeprefix(prefix))
            if not path.is_file():
                raise FileNotFoundError(f"登记库文件不存在 / no register at {path}")
            return path
    raise ValueError(f"SQLite 登记库须为文件 / the SQLite register must be a file: {url}")


def _backend(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith(("postgresql", "postgres:")):
        return "postgres"
    raise ValueError(
        f"登记库须为 PostgreSQL 或 SQLite / the register must be on PostgreSQL or SQLite: {url}"
    )


def fetch_tables(url: str | None = None, on: dt.date | None = None) -> dict[str, pa.Table]:
    """The register at ``url`` (default ``HUKOU_DATABASE_URL``) as population tables in
    memory (``population.Tables``), as of ``on``."""
    url = url or database_url()
    if _backend(url) == "sqlite":
        con = ibis.sqlite.connect(str(_sqlite_path(url)))
    else:
        con = batch.postgres_connect(url)
    try:
        tables = registry_tables(con, on)
        return {name: tables[name].to_pyarrow().cast(schema) for name, schema in TABLES.items()}
    finally:
        con.disconnect()


def run_registry(
    out_dir: Path,
    on: dt.date | None = None,
    url: str | None = None,
    *,
    parameters: ParameterSet | None = None,
    progress: batch.Progress | None = None,
) -> dict[str, Any]:
    """Decide every person of the register at ``url`` (default ``HUKOU_DATABASE_URL``,
    else the embedded ``hukou.db``) on ``on`` (default today); write
    ``results.parquet`` and ``result_relatives.parquet`` to ``out_dir``.

    PostgreSQL: the whole query — the layout over the register, then the rules — runs
    in the database. SQLite: the layout tables are built in SQLite, fetched as Arrow
    and decided in an in-memory DuckDB. Returns the engine, date, row counts, seconds.
    """
    url = url or database_url()
    backend = _backend(url)
    on = on or dt.date.today()
    params = batch._parameters(on, parameters)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def step(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    step("registry", 0.0)
    if backend == "postgres":
        con = batch.postgres_connect(url)
    else:
        tables = fetch_tables(url, on)
        step("duckdb", 0.3)
        con = ibis.duckdb.connect()
        for name, table in tables.items():
            con.con.register(name, table)
    try:
        if backend == "postgres":
            layout = registry_tables(con, on)
        else:
            layout = {name: con.table(name) for name in TABLES}
        results, relatives = batch.evaluate(layout, on, params)
        step(batch.RESULTS_FILE, 0.4)
        people = batch._write_batches(
            con.to_pyarrow_batches(results), RESULTS, out_dir / batch.RESULTS_FILE
        )
        step(batch.RELATIVES_FILE, 0.8)
        pairs = batch._write_batches(
            con.to_pyarrow_batches(relatives), RESULT_RELATIVES, out_dir / batch.RELATIVES_FILE
        )
    finally:
        con.disconnect()
    step("done", 1.0)
    return {
        "engine": f"registry ({'PostgreSQL' if backend == 'postgres' else 'SQLite → DuckDB'})",
        "on": on,
        "people": people,
        "relatives": pairs,
        "seconds": time.perf_counter() - started,
    }
