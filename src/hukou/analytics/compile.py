"""Rule trees compiled to Ibis expressions over a population (规则编译为查询).

The per-case engine evaluates a rule to the sets of days on which it is certainly
true and certainly false (``engine/evaluate.py``). A query cannot hold sets of
days per person, but it does not need to: in every rule, time enters only as
``TODAY op date``, so a rule's truth can change only on the days those
comparisons flip. Evaluating the rule, three-valued, at the decision date and
every later flip day (the *candidate days*) gives exactly what a decision
reports:

* the status: the value on the decision date (Kleene logic, SQL NULL = unknown);
* the earliest date: the first candidate day after the decision date on which
  the rule is true (between two candidates nothing changes);
* the last day a passing rule holds: the day before the first later candidate
  on which it is no longer true.

The status is computed with one row per binding (no candidate days). The dates
need no candidate days either where the days a rule is certainly true form one
interval ``[first, end)``, its *span* (``Compiler.span``): a comparison
``TODAY >= X`` is a ray, Kleene "and" intersects and "or" joins the certainly-true
days, and a list joins its items'. ``Compiler.shape`` proves, from the rule's form,
when that stays one interval — rays of one direction joined, any number intersected
— and for a list of intervals (two flats, each qualifying for a while) the query
checks it per binding from the decision date on. Then the earliest date is
``first`` and the last day ``end`` less one. Every channel and route of the notice
has a span; only the bindings whose list of intervals has a gap, and rules of any
other form, are expanded to their candidate days, one rule at a time
(``decide_rules``). Two exact prunings keep the joins small: items of a list
on which the row-only parts of the list rule's top-level "and" are certainly false
are dropped before joining (they count as no item), and a list that reads only the
applicant is aggregated once per applicant, not once per (applicant, relative).

The compiler is written once over the node types of ``policy/expr.py``:

* a *frame* is an Ibis table with one row per binding of the scopes a rule reads
  (the applicant; an applicant and a relative; plus, inside ``Exists``, a list
  item), its facts in columns ``<scope>__<fact>``, and optionally a column ``t``
  (the day ``TODAY`` stands for) — the candidate days, one row each;
* ``Exists`` becomes an aggregate over the item table joined to the frame, kept
  three-valued (true if some item is certainly true; false if the list is known
  and every item false; else NULL; an unknown list is NULL);
* facts come from the population tables (``layout``): the persons row, the
  relatives by ``relations``, the dwellings, and the §1.2 stretch derived from the
  residence periods with window functions (gaps and islands per person and area,
  市本级 one area, the gap tolerance a parameter);
* parameters become literals of the ``ResolvedParameters``; a parameter not in
  force on the date (before §8) becomes NULL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import ibis  # type: ignore[import-untyped, unused-ignore]
import ibis.expr.types as ir  # type: ignore[import-untyped, unused-ignore]

from hukou.policy import places
from hukou.policy.expr import (
    AddYears,
    And,
    Compare,
    Condition,
    Const,
    Default,
    Exists,
    Expr,
    Fact,
    FirstOf,
    IsIn,
    Not,
    Or,
    Param,
    Today,
    Type,
    walk,
)
from hukou.policy.params import Parameter, ParameterSet, ResolvedParameters
from hukou.policy.rules.vocabulary import DWELLING_FACTS, PERSON_FACTS, RELATIVE_FACTS
from hukou.policy.scales import SCALES

ONGOING = dt.date(9999, 12, 31)  # the end of a stretch of residence that has not ended
SINCE_UNSTATED = dt.date(1900, 1, 1)  # engine.scopes.SINCE_UNSTATED
T = "t"  # the column holding the day TODAY stands for

_IBIS_TYPE: dict[Type, str] = {
    "bool": "boolean",
    "date": "date",
    "int": "int64",
    "level": "int64",
    "str": "string",
}


class CompileError(TypeError):
    """A rule uses a construct the population compiler does not support."""


# ---- parameters as session variables (DuckDB) ------------------------------------------


@dataclass(frozen=True)
class SymbolicParameters(ResolvedParameters):
    """Parameters resolved on a date that enter the SQL as DuckDB session variables
    (``getvariable('<prefix><path>')``), not as literals (参数作为会话变量).

    The compiled SQL is then the same for every parameter set of one rule version and
    date, so it is compiled once and kept (``sqlcache``); a new reform only sets the
    variables (``variables``) and runs it. DuckDB folds a variable into a constant when it
    binds the query, so the plan is the one the literals would give. The values here are
    the ones ``variables`` sets; nothing in the SQL depends on them."""

    prefix: str = "p_"

    @classmethod
    def of(cls, params: ResolvedParameters, prefix: str) -> SymbolicParameters:
        return cls(params.on, params.values, params.as_of, params.digest, params.ranks, prefix)


# one builtin per type: the argument is not called ``name`` (an Ibis operation's own)
@ibis.udf.scalar.builtin(name="getvariable")  # type: ignore[untyped-decorator, unused-ignore]
def _var_int(key: str) -> int: ...  # type: ignore[empty-body, unused-ignore]


@ibis.udf.scalar.builtin(name="getvariable")  # type: ignore[untyped-decorator, unused-ignore]
def _var_bool(key: str) -> bool: ...  # type: ignore[empty-body, unused-ignore]


@ibis.udf.scalar.builtin(name="getvariable")  # type: ignore[untyped-decorator, unused-ignore]
def _var_str(key: str) -> str: ...  # type: ignore[empty-body, unused-ignore]


@ibis.udf.scalar.builtin(name="getvariable")  # type: ignore[untyped-decorator, unused-ignore]
def _var_date(key: str) -> dt.date: ...  # type: ignore[empty-body, unused-ignore]


_VARIABLE = {"int": _var_int, "level": _var_int, "bool": _var_bool, "str": _var_str}
_SQL_TYPE = {"int": "BIGINT", "level": "BIGINT", "bool": "BOOLEAN", "str": "VARCHAR"}
_SQL_TYPE["date"] = "DATE"


def variable_name(prefix: str, path: str, level: bool = False) -> str:
    """The session variable holding parameter ``path`` (its rank when ``level``)."""
    return prefix + path.replace(".", "__") + ("__rank" if level else "")


def _variable(prefix: str, path: str, kind: Type) -> ir.Value:
    name = variable_name(prefix, path, kind == "level")
    if kind == "date":
        return _var_date(name)
    return _VARIABLE[kind](name)


def decision_day(params: ResolvedParameters) -> ir.Value:
    """The decision date in the SQL: a literal, or with ``SymbolicParameters`` the session
    variable ``<prefix>on`` (set by ``variables``), so one SQL serves every date too."""
    if isinstance(params, SymbolicParameters):
        return _var_date(params.prefix + "on")
    return ibis.literal(params.on, type="date")


def _sql_literal(value: Any, kind: str) -> str:
    sql_type = _SQL_TYPE[kind]
    if value is None:
        return f"CAST(NULL AS {sql_type})"
    if kind == "bool":
        return "TRUE" if value else "FALSE"
    if kind in ("int", "level"):
        return str(int(value))
    if kind == "date":
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def declared_signature(params: ParameterSet) -> str:
    """What SQL compiled with ``SymbolicParameters`` assumes of a parameter set: its
    parameters' paths, types and scales (their values are the session's variables)."""
    return repr(sorted((path, p.type, p.scale or "") for path, p in params.parameters.items()))


def variables(
    params: ResolvedParameters, declared: Mapping[str, Parameter], prefix: str
) -> list[str]:
    """The ``SET VARIABLE`` statements giving every ``declared`` parameter (those of the
    parameter set: a reform adds none) its value in ``params`` under ``prefix``, and a
    parameter on a scale also its rank: NULL where it is not in force on the date, as the
    literals would be. Every variable is set, so none is left from an earlier run."""
    out = [f"SET VARIABLE {prefix}on = {_sql_literal(params.on, 'date')}"]
    for path, spec in sorted(declared.items()):
        # a level's own value is its name on the scale; its rank is set below
        kind = spec.type if spec.type in ("int", "bool", "date") else "str"
        value = _sql_literal(params.values.get(path), kind)
        out.append(f"SET VARIABLE {variable_name(prefix, path)} = {value}")
        if spec.scale or spec.type == "level":
            rank = _sql_literal(params.ranks.get(path), "level")
            out.append(f"SET VARIABLE {variable_name(prefix, path, True)} = {rank}")
    return out


def prefix(scope: str) -> str:
    """Column prefix of a scope: ``applicant.dwelling`` -> ``applicant_dwelling__``."""
    return scope.replace(".", "_") + "__"


def column(scope: str, name: str) -> str:
    return prefix(scope) + name


def _null(kind: str) -> ir.Value:
    return ibis.null(kind)


def _lit(value: Any, kind: Type) -> ir.Value:
    if value is None:
        return _null(_IBIS_TYPE[kind])
    return ibis.literal(value, type=_IBIS_TYPE[kind])


def _cases(branches: Sequence[tuple[Any, Any]], else_: Any) -> ir.Value:
    return ibis.cases(branches[0], *branches[1:], else_=else_)


def _rank(col: ir.StringValue, scale: str) -> ir.Value:
    """A qualification as its position on the ladder (``scales.SCALES``)."""
    members = list(SCALES[scale])
    return _cases([(col == m.value, i) for i, m in enumerate(members)], _null("int64"))


def _urban(code: ir.StringValue) -> ir.Value:
    """1xx urban, 2xx rural — from the shipped urban–rural code table."""
    table = places.urban_rural_codes()
    urban = [c for c, u in table.items() if u.urban]
    rural = [c for c, u in table.items() if not u.urban]
    return _cases([(code.isin(urban), True), (code.isin(rural), False)], _null("boolean"))


def _town(code: ir.StringValue) -> ir.Value:
    """12x in a designated town (§5.1), other known codes not — as ``engine.scopes._town``."""
    table = places.urban_rural_codes()
    town = [c for c, u in table.items() if u.town]
    other = [c for c, u in table.items() if not u.town]
    return _cases([(code.isin(town), True), (code.isin(other), False)], _null("boolean"))


def area_of(county: ir.StringValue) -> ir.Value:
    """§1.2 residence area: 市本级 (南湖区 + 秀洲区) as one, any other county itself."""
    counties = places.jiaxing_counties()
    branches = [(county == c.code, c.area) for c in counties.values() if c.area != c.code]
    return _cases(branches, county) if branches else county


def _days(n: int | ir.IntegerValue) -> ir.Value:
    """An interval of ``n`` days: a literal, or a session variable's (``SymbolicParameters``)."""
    if isinstance(n, int):
        return ibis.interval(days=n)
    return n.as_interval("D")


def _jiaxing() -> list[str]:
    return list(places.jiaxing_counties())


# ---- facts from the population tables --------------------------------------------


def _day(on: dt.date | ir.Value) -> ir.Value:
    """The decision date as an SQL value: a literal, or a session variable's."""
    return ibis.literal(on, type="date") if isinstance(on, dt.date) else on


def person_facts(persons: ir.Table, on: dt.date | ir.Value) -> ir.Table:
    """``id`` and every person fact of the vocabulary, as ``engine.scopes`` derives it."""
    p = persons
    applied = p.permit_issued_on >= _day(on)  # not yet issued: applied for
    unstated = ibis.literal(SINCE_UNSTATED, type="date")
    county = p.hukou_county
    facts: dict[str, ir.Value] = {
        "id": p.person_id,
        "sex": p.sex,
        "birth_date": p.birth_date,
        "education": _rank(p.education, "education"),
        "title": _rank(p.professional_title, "title"),
        "vocational": _rank(p.vocational_qualification, "vocational"),
        # a graduation date implies graduation (facts.Person)
        "sv_graduate": p.secondary_vocational_graduate.fill_null(
            _cases([(p.secondary_vocational_graduation_date.notnull(), True)], _null("boolean"))
        ),
        "sv_graduation_date": p.secondary_vocational_graduation_date,
        "labour_contract": p.local_labour_contract,
        "local_business": p.local_business,
        "lives_in": p.lives_in,
        "residence_registration": _cases(
            [
                (p.residence_registration_since >= _day(on), True),
            ],
            p.residence_registration,
        ),
        "registration_since": p.residence_registration_since.fill_null(unstated),
        "permit_held": _cases([(applied, True)], p.permit_held),
        "permit_county": p.permit_county,
        "permit_since": p.permit_issued_on.fill_null(unstated),
        "hukou_kind": p.hukou_kind,
        "hukou_in_jiaxing": _cases(
            [
                (p.hukou_kind == "outside_jiaxing", False),
                (county.notnull(), county.isin(_jiaxing())),
            ],
            _null("boolean"),
        ),
        "hukou_urban": _cases(
            [(county.isnull(), _null("boolean"))], _urban(p.hukou_urban_rural_code)
        ),
        "owner_consent": p.owner_consent,
        "department_consent": p.department_consent,
        "lost_registration": p.lost_registration,
        "rural_origin": p.rural_origin,
        "employed_in_town_since": p.employed_in_town_since,
        "family_migrated_together": p.family_migrated_together,
        "offer_relative_household": p.offer_relative_family_household,
        "offer_unit_collective": p.offer_unit_collective,
        "offer_talent_collective": p.offer_talent_service_collective,
        "registered_poor": p.registered_poor,  # §5.1, reported only
        "dwellings_known": p.dwellings_known.fill_null(False),
        "history_known": p.history_known.fill_null(False),
    }
    missing = set(PERSON_FACTS) - set(facts) - {"dwellings"}
    if missing:  # a fact added to the vocabulary must be given a column here
        raise CompileError(f"no column for person facts {sorted(missing)}")
    return p.select(**facts)


def residence_stretches(
    periods: ir.Table,
    on: dt.date | ir.Value,
    gap_days: int | ir.IntegerValue,
    only: ir.Table | None = None,
) -> ir.Table:
    """§1.2 The latest unbroken stretch of residence per (person, area) begun by ``on``.

    Gaps and islands: periods in the same area, ordered by (start, end), start a
    new island when they begin more than ``gap_days`` days after the latest end
    so far (``engine.scopes.residence_stretch``); the latest island is the
    stretch. An open period ends on ``ONGOING``. ``only``: the (``person_id``, ``area``)
    pairs wanted; every period of such a pair is kept, so their stretches are unchanged.
    """
    h = periods.filter(periods.start <= _day(on))
    h = h.select(
        person_id=h.person_id,
        area=area_of(h.county),
        start=h.start,
        end=h.end.fill_null(ibis.literal(ONGOING, type="date")),
    )
    if only is not None:
        h = h.semi_join(only, [h.person_id == only.person_id, h.area == only.area])
    before = ibis.window(group_by=[h.person_id, h.area], order_by=[h.start, h.end], rows=(None, -1))
    latest_end = h.end.max().over(before)
    # subtract from the start rather than add to an end that may be ONGOING
    new = _cases(
        [(latest_end.isnull(), 1)],
        (h.start - _days(1 + gap_days) > latest_end).ifelse(1, 0),
    )
    h = h.mutate(new=new)
    upto = ibis.window(group_by=[h.person_id, h.area], order_by=[h.start, h.end], rows=(None, 0))
    h = h.mutate(island=h.new.sum().over(upto))
    h = h.mutate(last=h.island.max().over(ibis.window(group_by=[h.person_id, h.area])))
    h = h.filter(h.island == h.last)
    return h.group_by(["person_id", "area"]).aggregate(
        stretch_start=h.start.min(), stretch_end=h.end.max()
    )


def dwelling_facts(tables: dict[str, ir.Table], params: ResolvedParameters) -> ir.Table:
    """``owner``, ``id`` (position in the owner's list) and every dwelling fact."""
    d = tables["dwellings"]
    p = tables["persons"]
    # before §8 no parameter is in force, and nothing is judged: any value will do
    gap_path = "s1_urban.residence_gap_tolerance_days"
    gap: int | ir.IntegerValue = int(params.values.get(gap_path, 0))
    if isinstance(params, SymbolicParameters):
        gap = _variable(params.prefix, gap_path, "int").fill_null(0)
    d = d.mutate(d_area=area_of(d.county))
    # §1.2 reads the stretch only of a dwelling that may be a rented commercial flat
    # (``s1_urban.rented_commercial_flat``: tenure rented_registered, commercial housing);
    # where that is certainly false the exception's "and" is false whatever the stretch,
    # so the window runs over the periods of the other dwellings' (person, area) only
    read = (d.tenure.isnull() | (d.tenure == "rented_registered")) & d.commercial_housing.fill_null(
        True
    )
    d = d.mutate(d_read=read)
    wanted = d.filter(d.d_read).select(person_id=d.person_id, area=d.d_area).distinct()
    s = residence_stretches(tables["residence_periods"], decision_day(params), gap, wanted)
    s = s.rename(s_person="person_id", s_area="area")
    known = p.select(
        k_person=p.person_id,
        k_history=p.history_known.fill_null(False),
        k_hukou_kind=p.hukou_kind,
        k_hukou_area=area_of(p.hukou_county),
    )
    j = d.left_join(s, [d.person_id == s.s_person, d.d_area == s.s_area])
    j = j.left_join(known, j.person_id == known.k_person)
    # not derived where not read: unknown, not "no stretch"
    derived = j.k_history & j.county.notnull() & j.d_read
    no_date = _null("date")
    facts: dict[str, ir.Value] = {
        "owner": j.person_id,
        "id": j.seq,
        "tenure": j.tenure,
        "commercial": j.commercial_housing,
        "in_jiaxing": _cases([(j.county.isnull(), _null("boolean"))], j.county.isin(_jiaxing())),
        "urban": _cases([(j.county.isnull(), _null("boolean"))], _urban(j.urban_rural_code)),
        "town": _cases([(j.county.isnull(), _null("boolean"))], _town(j.urban_rural_code)),
        # §5.1 reporting only; the population layout has no such column (no list ships)
        "central_town": _null("boolean"),
        "hukou_here": _cases(
            [
                (j.county.isnull(), _null("boolean")),
                (j.k_hukou_kind == "outside_jiaxing", False),
                (j.k_hukou_area.notnull(), j.d_area == j.k_hukou_area),
            ],
            _null("boolean"),
        ),
        "stretch_exists": _cases([(derived, j.s_area.notnull())], _null("boolean")),
        "stretch_start": _cases([(derived, j.stretch_start)], no_date),
        "stretch_end": _cases([(derived, j.stretch_end)], no_date),
    }
    missing = set(DWELLING_FACTS) - set(facts)
    if missing:
        raise CompileError(f"no column for dwelling facts {sorted(missing)}")
    return j.select(**facts)


# what a relative's row always carries: its keys, and whether its own lists are known
RELATIVE_KEYS = ("id", "dwellings_known", "history_known")


def facts_read(rules: Iterable[Expr], scope: str) -> set[str]:
    """The facts of ``scope`` (``relative``, …) that ``rules`` read."""
    return {
        n.name for rule in rules for n in walk(rule) if isinstance(n, Fact) and n.scope == scope
    }


def relative_facts(
    relations: ir.Table, people: ir.Table, read: Iterable[str] | None = None
) -> ir.Table:
    """``owner`` (the applicant), ``id`` (the relative) and the relative's facts — only
    those in ``read`` (``facts_read``) when given: a relative's row is written out once
    per pair (``batch.run`` spills it), and the rules read about half its facts."""
    r = relations
    j = r.join(people, r.relative_id == people.id)
    cols: dict[str, ir.Value] = {
        "owner": j.person_id,
        "relation": j.relation,
        "lives_with": j.lives_with,
    }
    missing = set(RELATIVE_FACTS) - set(cols)
    if missing:
        raise CompileError(f"no column for relative facts {sorted(missing)}")
    wanted = None if read is None else {*read, *RELATIVE_KEYS}
    cols.update({name: j[name] for name in people.columns if wanted is None or name in wanted})
    return j.select(**cols)


def fact_tables(tables: dict[str, ir.Table], params: ResolvedParameters) -> dict[str, ir.Table]:
    """The facts the rules read, per scope kind: ``people``, ``dwellings``, ``relatives``."""
    people = person_facts(tables["persons"], decision_day(params))
    return {
        "people": people,
        "dwellings": dwelling_facts(tables, params),
        "relatives": relative_facts(tables["relations"], people),
    }


def prefixed(table: ir.Table, scope: str) -> ir.Table:
    return table.rename({column(scope, c): c for c in table.columns})


# ---- frames ----------------------------------------------------------------------


@dataclass
class Frame:
    """A table with one row per binding of ``scopes`` (and per candidate day if temporal)."""

    table: ir.Table
    scopes: tuple[str, ...]  # bound scopes, outermost first; each has an ``id`` column
    on: ir.Value  # the decision date, as an SQL value (``decision_day``)
    temporal: bool = False
    static: Frame | None = None  # the same bindings without candidate days (TODAY = on)
    exists: dict[int, str] = field(default_factory=dict)  # id(Exists node) -> column
    # id(Exists node) -> (column prefix, "hull" or "union", has an exactness column)
    spans: dict[int, tuple[str, str, bool]] = field(default_factory=dict)
    # id(node) -> column: parts of spans computed once (``Compiler.with_parts``)
    parts: dict[int, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [column(s, "id") for s in self.scopes]

    @property
    def keys(self) -> list[str]:
        return self.ids + ([T] if self.temporal else [])

    def today(self) -> ir.Value:
        if self.temporal:
            return self.table[T]
        return self.on


def _outer_exists(node: Expr, found: dict[int, Exists]) -> None:
    """The ``Exists`` nodes of ``node`` that are not inside another one."""
    if isinstance(node, Exists):
        found[id(node)] = node
        return
    if isinstance(node, FirstOf):
        for option in node.options:
            _outer_exists(option.when, found)
        return
    for child in node.children():
        _outer_exists(child, found)


def _row_only(node: Expr) -> bool:
    """Whether ``node`` reads only its own row (no list, no ordered choice)."""
    return not any(isinstance(n, Exists | FirstOf) for n in walk(node))


def _temporal_node(node: Expr, cache: dict[int, bool]) -> bool:
    hit = cache.get(id(node))
    if hit is None:
        hit = cache[id(node)] = any(isinstance(n, Compare) and n.is_temporal for n in walk(node))
    return hit


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

_counter = itertools.count()

FIRST_DAY = dt.date(1, 1, 1)  # before every date a rule compares with
_FIRST = ibis.literal(FIRST_DAY, type="date")
_END = ibis.literal(ONGOING, type="date")


# [first, end) and where that is exactly the set of days (None: everywhere)
Span = tuple[ir.Value, ir.Value, "ir.BooleanValue | None"]


class NotConvex(CompileError):
    """The days a rule is certainly true may not form one interval (``Compiler.shape``)."""


_NEGATED: dict[str, str] = {">=": "<", "<": ">=", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}
_ATOM_SHAPE: dict[str, str] = {">=": "U", ">": "U", "<": "D", "<=": "D", "==": "W", "!=": "X"}


def _meet(shapes: Sequence[str]) -> str:
    """The shape of an intersection."""
    if "X" in shapes:
        return "X"
    kinds = {s for s in shapes if s != "C"}
    if not kinds:
        return "C"
    return kinds.pop() if len(kinds) == 1 and "W" not in kinds else "W"


def _join(shapes: Sequence[str]) -> str:
    """The shape of a union, ``X`` when it may not be one interval."""
    kinds = [s for s in shapes if s != "C"]
    if not kinds:
        return "C"
    if "X" in kinds:
        return "X"
    if kinds == ["W"]:
        return "W"
    if "W" in kinds or len(set(kinds)) > 1:
        return "X"
    return kinds[0]


def _combine(parts: Sequence[Span], meet: bool) -> Span:
    """Intersection (``meet``) or hull of intervals ``[first, end)``; exact where every
    part is."""
    if len(parts) == 1:
        return parts[0]
    firsts = [p[0] for p in parts]
    ends = [p[1] for p in parts]
    flags = [p[2] for p in parts if p[2] is not None]
    exact = ibis.and_(*flags) if flags else None
    if meet:
        return ibis.greatest(*firsts), ibis.least(*ends), exact
    return ibis.least(*firsts), ibis.greatest(*ends), exact


class Compiler:
    """Compiles rule trees over the population ``tables`` on ``params.on``."""

    def __init__(
        self,
        tables: dict[str, ir.Table],
        params: ResolvedParameters,
        facts: dict[str, ir.Table] | None = None,
    ):
        """``facts``: the tables of ``fact_tables(tables, params)`` already computed (say,
        written out once by ``batch.run``); by default they are part of the query."""
        self.params = params
        self.on = params.on
        self.day = decision_day(params)  # the decision date in the SQL
        # parameters as session variables (``SymbolicParameters``) or as literals
        self.symbols = params.prefix if isinstance(params, SymbolicParameters) else None
        self.leap = str(params.values.get("readings.leap_day_anniversary", "feb28"))
        facts = facts or fact_tables(tables, params)
        self.people = facts["people"]
        self.dwellings = facts["dwellings"]
        self.relatives = facts["relatives"]
        self._temporal: dict[int, bool] = {}
        self._shapes: dict[tuple[int, bool], str] = {}
        # lists whose aggregate on the decision date also gives the least id of an item
        # certainly true then (``first_key``): §3.1's child a parent joins (R28)
        self.keyed: set[int] = set()

    # ---- frames ------------------------------------------------------------------
    def applicant_frame(self) -> Frame:
        """One row per person, as the applicant."""
        return Frame(prefixed(self.people, "applicant"), ("applicant",), self.day)

    def pair_frame(self) -> Frame:
        """One row per (applicant, relative) of ``relations``."""
        a = prefixed(self.people, "applicant")
        r = prefixed(self.relatives, "relative")
        table = a.join(r, a.applicant__id == r.relative__owner).drop("relative__owner")
        return Frame(table, ("applicant", "relative"), self.day)

    def _items(self, node: Exists, frame: Frame) -> tuple[ir.Table, ir.Value]:
        """The item table of a list fact (prefixed by the item scope) and whether the
        list is known, as a column of ``frame``."""
        coll = node.collection
        if coll.scope not in frame.scopes:
            raise CompileError(f"{coll!r}: scope {coll.scope} is not bound")
        if coll.name == "dwellings":
            items = self.dwellings
            known: ir.Value = frame.table[column(coll.scope, "dwellings_known")]
        elif coll.name == "relatives" and coll.scope == "applicant":
            items = self.relatives
            known = ibis.literal(True)  # relations is always known (layout)
        else:
            raise CompileError(f"unsupported list fact {coll!r}")
        return prefixed(items, node.item_scope), known

    def item_frame(self, node: Exists, frame: Frame) -> Frame:
        items, _known = self._items(node, frame)
        owner = frame.table[column(node.collection.scope, "id")]
        table = frame.table.join(items, owner == items[column(node.item_scope, "owner")])
        table = table.drop(column(node.item_scope, "owner"))
        static = None
        if frame.temporal:
            assert frame.static is not None
            static = self.item_frame(node, frame.static)
        return Frame(table, (*frame.scopes, node.item_scope), self.day, frame.temporal, static)

    def is_temporal(self, node: Expr) -> bool:
        return _temporal_node(node, self._temporal)

    # ---- candidate days ----------------------------------------------------------
    def candidates(
        self, rules: Iterable[Expr], frame: Frame, *, later_only: bool = False
    ) -> ir.Table | None:
        """(ids of ``frame``, t): the decision date and every later day on which a
        temporal comparison of ``rules`` flips. Between two of them nothing changes, so
        the day after the decision date is not needed unless something flips on it.

        ``later_only``: without the decision date (its value is then computed on the
        static frame, one row per binding); a binding with no later flip has no row.
        ``None`` when no comparison can flip at all (``later_only`` only)."""
        assert not frame.temporal
        ids = frame.ids
        on = self.day
        # flips gathered per list context (the frame itself, its dwellings, its relatives…)
        contexts: dict[tuple[str, ...], tuple[Frame, list[ir.Value]]] = {(): (frame, [])}
        seen: set[tuple[int, tuple[str, ...]]] = set()
        for rule in rules:
            self._flips(rule, frame, (), contexts, seen)
        parts = []
        for ctx, flips in contexts.values():
            later = [_cases([(f > on, f)], _null("date")) for f in flips]
            days = later if later_only or ctx is not frame else [on, *later]
            if not days:
                continue
            if later_only:
                # most bindings have no later flip: drop them before unnesting
                keep = ibis.or_(*[d.notnull() for d in days])
                part = ctx.table.filter(keep).select(*ids, t=ibis.array(days).unnest())
            else:
                part = ctx.table.select(*ids, t=ibis.array(days).unnest())
            parts.append(part)
        if not parts:
            return None
        out = ibis.union(parts[0], *parts[1:], distinct=False)
        # duplicates are harmless (only min/max are taken over the days): no DISTINCT
        return out.filter(out[T].notnull() & (out[T] < ibis.literal(ONGOING, type="date")))

    def _flips(
        self,
        node: Expr,
        frame: Frame,
        path: tuple[str, ...],
        contexts: dict[tuple[str, ...], tuple[Frame, list[ir.Value]]],
        seen: set[tuple[int, tuple[str, ...]]],
        guard: ir.BooleanValue | None = None,
    ) -> None:
        """Collect the flip days of the temporal comparisons below ``node``.

        ``guard`` is false where a flip cannot matter: the comparison sits in an "and"
        with a part that is false on every day (a man's flip at 55 under "female and
        55"), or in an "or" with a part true on every day. Only parts that read no list
        are used as guards, and only within one list context.
        """
        if not self.is_temporal(node):
            return
        if guard is None:
            if (id(node), path) in seen:
                return
            seen.add((id(node), path))
        if isinstance(node, Compare) and node.is_temporal:
            other = self.value(node.other, frame)
            days = []
            # ">= X" and "< X" flip on X; "> X" and "<= X" on the day after X
            if node.today_op in (">=", "<", "==", "!="):
                days.append(other)
            if node.today_op in (">", "<=", "==", "!="):
                safe = _cases([(other >= ibis.literal(ONGOING, type="date"), _null("date"))], other)
                days.append(safe + ibis.interval(days=1))
            for day in days:
                contexts[path][1].append(
                    day if guard is None else _cases([(guard, day)], _null("date"))
                )
            return
        if isinstance(node, Exists):
            inner = (*path, f"{node.collection!r}:{node.item_scope}")
            if inner not in contexts:
                contexts[inner] = (self.item_frame(node, frame), [])
            self._flips(node.where, contexts[inner][0], inner, contexts, seen)
            return
        if isinstance(node, FirstOf):
            for option in node.options:
                self._flips(option.when, frame, path, contexts, seen, guard)
            return
        if isinstance(node, And | Or):
            fixed = [i for i in node.items if not self.is_temporal(i) and _row_only(i)]
            for child in node.items:
                if not self.is_temporal(child):
                    continue
                g = guard
                for part in fixed:
                    value = self.boolean(part, frame)
                    # "and": not certainly false; "or": not certainly true
                    ok = (value if isinstance(node, And) else ~value).fill_null(True)
                    g = ok if g is None else g & ok
                self._flips(child, frame, path, contexts, seen, g)
            return
        for child in node.children():
            self._flips(child, frame, path, contexts, seen, guard)

    def expand(self, frame: Frame, rules: Sequence[Expr], *, later_only: bool = False) -> Frame:
        """``frame`` with one row per candidate day of ``rules`` (see ``candidates``)."""
        cands = self.candidates(rules, frame, later_only=later_only)
        if cands is None:  # nothing flips: no rows
            cands = self.candidates(rules, frame)
            assert cands is not None
            cands = cands.filter(ibis.literal(False))
        ids = frame.ids
        renamed = cands.rename({f"_c{i}": k for i, k in enumerate(ids)})
        preds = [frame.table[k] == renamed[f"_c{i}"] for i, k in enumerate(ids)]
        table = frame.table.join(renamed, preds).drop(*[f"_c{i}" for i in range(len(ids))])
        return Frame(table, frame.scopes, self.day, True, frame)

    # ---- exists: aggregates joined to the frame ------------------------------------
    def attach(self, rules: Iterable[Expr], frame: Frame) -> Frame:
        """``frame`` with a column for every ``Exists`` of ``rules`` (outside other lists).

        The lists over one collection are aggregated together: one join of the items,
        one ``GROUP BY``, one join back.
        """
        found: dict[int, Exists] = {}
        for rule in rules:
            _outer_exists(rule, found)
        groups: dict[tuple[str, str, bool], list[Exists]] = {}
        for node in found.values():
            if id(node) in frame.exists:
                continue
            # a list rule that does not depend on the day is evaluated once per binding
            temporal = frame.temporal and self.is_temporal(node.where)
            key = (repr(node.collection), node.item_scope, temporal)
            groups.setdefault(key, []).append(node)
        for (_coll, _scope, temporal), nodes in groups.items():
            frame = self._aggregate(nodes, frame, temporal)
        return frame

    def _aggregate(self, nodes: list[Exists], frame: Frame, temporal: bool) -> Frame:
        base = frame
        if frame.temporal and not temporal:
            assert frame.static is not None
            base = frame.static
        base = self._narrowest(nodes, base)
        items = self.item_frame(nodes[0], base)
        # on the decision date only, the days a list rule holds are also wanted when
        # they form one interval (``span``): pruning may then use only parts that do
        # not depend on the day
        spanned = [] if base.temporal else [n for n in nodes if self.spannable(n)]
        keep = [self.needed(n.where, items, static_only=bool(spanned)) for n in nodes]
        if all(k is not None for k in keep):
            # an item on which every list rule is certainly false counts as no item
            # (both give 0 below): drop it before the lists inside are joined
            items = replace(items, table=items.table.filter(ibis.or_(*keep)))
        inner = self.attach([n.where for n in nodes], items)
        keys = base.keys
        aggs: dict[str, ir.Value] = {}
        names: dict[int, str] = {}
        spans: dict[int, tuple[str, str, bool]] = {}
        if spanned:
            inner = self.with_parts([n.where for n in spanned], inner)
        table = inner.table
        for node in nodes:
            where = self.boolean(node.where, inner)
            # 2: some item certainly true; 1: none true, some unknown; 0: every item false
            name = names[id(node)] = f"_x{next(_counter)}"
            if id(node) in self.keyed and not base.temporal:
                table = table.mutate(**{f"{name}_w": truth_code(where)})
                code = table[f"{name}_w"]  # once in the SQL, read by both aggregates
                item = table[column(node.item_scope, "id")]
                aggs[f"{name}_key"] = _cases([(code == TRUE, item)], _null("int64")).min()
                aggs[name] = code.max()
                continue
            aggs[name] = truth_code(where).max()
        for node in spanned:
            name = names[id(node)]
            first, end, exact = self.span(node.where, replace(inner, table=table))
            # each item's interval once in the SQL, read by several aggregates
            table = table.mutate(**{f"{name}_f": first, f"{name}_e": end})
            first, end = table[f"{name}_f"], table[f"{name}_e"]
            if exact is not None:
                aggs[f"{name}_x"] = exact.cast("int32").min()
            if self.shape(node.where) != "W":
                # rays of one direction: their union is their hull
                spans[id(node)] = (name, "hull", exact is not None)
                aggs[f"{name}_first"] = first.min()
                aggs[f"{name}_end"] = end.max()
                continue
            # intervals: from the decision date on, those holding on it overlap, so
            # the union is one interval unless some start later beyond a gap; the
            # measures below tell (``_union_span``)
            on = self.day
            now = (first <= on) & (end > on)
            late = (first > on) & (first < end)
            aggs[f"{name}_on_end"] = _cases([(now, end)], _null("date")).max()
            aggs[f"{name}_late_n"] = late.cast("int32").sum()  # PostgreSQL: no boolean -> bigint
            aggs[f"{name}_late_first"] = _cases([(late, first)], _null("date")).min()
            aggs[f"{name}_late_end"] = _cases([(late, end)], _null("date")).max()
            spans[id(node)] = (name, "union", exact is not None)
        agg = table.group_by(keys).aggregate(**aggs)
        agg = agg.rename({f"_k{i}": k for i, k in enumerate(keys)})
        preds = [frame.table[k] == agg[f"_k{i}"] for i, k in enumerate(keys)]
        table = frame.table.left_join(agg, preds).drop(*[f"_k{i}" for i in range(len(keys))])
        return Frame(
            table,
            frame.scopes,
            frame.on,
            frame.temporal,
            frame.static,
            {**frame.exists, **names},
            {**frame.spans, **spans},
            frame.parts,  # a left join keeps every row and column
        )

    def first_key(self, node: Exists, frame: Frame) -> ir.Value:
        """The least id of an item of ``node`` certainly true on the decision date (NULL:
        none), on a static frame the list was attached to after ``keyed`` named it."""
        assert id(node) in self.keyed and not frame.temporal
        return frame.table[f"{frame.exists[id(node)]}_key"]

    def _narrowest(self, nodes: list[Exists], base: Frame) -> Frame:
        """The applicant frame instead of a (static) frame of the applicant and more
        scopes when the lists read only the applicant: the applicant's dwellings are
        then aggregated once per applicant, not once per relative."""
        if base.temporal or len(base.scopes) < 2 or base.scopes[0] != "applicant":
            return base
        outer = set(base.scopes[1:])
        for node in nodes:
            for n in walk(node):
                if isinstance(n, Fact) and n.scope in outer:
                    return base
                if isinstance(n, Exists) and n.collection.scope in outer:
                    return base
        return self.applicant_frame()

    def needed(
        self, where: Expr, frame: Frame, *, static_only: bool = False
    ) -> ir.BooleanValue | None:
        """Where ``where`` is not certainly false by the parts of its top-level "and" that
        read only the row of ``frame`` (``None``: no such part); ``static_only``: by the
        parts that do not depend on the day."""
        parts: list[Expr] = []

        def conjuncts(node: Expr) -> None:
            if isinstance(node, Condition):
                conjuncts(node.expr)
            elif isinstance(node, And):
                for item in node.items:
                    conjuncts(item)
            elif _row_only(node) and not (static_only and self.is_temporal(node)):
                parts.append(node)

        conjuncts(where)
        if not parts:
            return None
        out: ir.BooleanValue | None = None
        for part in parts:
            ok = self.boolean(part, frame).fill_null(True)
            out = ok if out is None else out & ok
        return out

    # ---- spans: the days a rule is certainly true, as one interval -------------------
    def shape(self, node: Expr, negated: bool = False) -> str:
        """The shape of the set of days on which ``node`` (or its negation) is certainly
        true, the same for every binding: ``C`` every day or none, ``U`` from a day on,
        ``D`` before a day, ``W`` an interval. Raises ``NotConvex`` when the set may be
        two intervals or more (a ``W`` in an "or", a list of ``W``, a negated list…)."""
        key = (id(node), negated)
        hit = self._shapes.get(key)
        if hit is None:
            hit = self._shapes[key] = self._shape(node, negated)
        if hit == "X":
            raise NotConvex(repr(node))
        return hit

    def _shape(self, node: Expr, negated: bool) -> str:
        try:
            if not self.is_temporal(node):
                return "C"
            if isinstance(node, Condition):
                return self.shape(node.expr, negated)
            if isinstance(node, Not):
                return self.shape(node.item, not negated)
            if isinstance(node, Compare) and node.is_temporal:
                op = _NEGATED[node.today_op] if negated else node.today_op
                return _ATOM_SHAPE[op]
            if isinstance(node, And | Or):
                parts = [self.shape(i, negated) for i in node.items]
                return _meet(parts) if isinstance(node, And) != negated else _join(parts)
            if isinstance(node, Exists):
                if negated:  # "no item": an intersection over the items, not handled
                    return "X"
                # rays of one direction join into one; intervals may not, and the
                # span then says per binding where they do (``_exists_span``)
                return self.shape(node.where)
            if isinstance(node, Default):
                # Kleene fold of engine.closures: ``when or out`` / ``not when and out``,
                # negated by De Morgan
                out = self.shape(node.base, negated)
                for exc in reversed(node.exceptions):
                    when = self.shape(exc.when, negated == exc.then)
                    grow = exc.then != negated
                    out = _join([when, out]) if grow else _meet([when, out])
                return out
        except NotConvex:
            return "X"
        return "X"  # FirstOf and anything else that depends on the day

    def spannable(self, node: Expr) -> bool:
        """Whether ``node`` depends on the day and its true days form one interval."""
        if not self.is_temporal(node):
            return False
        try:
            self.shape(node)
        except NotConvex:
            return False
        return True

    def with_parts(self, nodes: Iterable[Expr], frame: Frame) -> Frame:
        """``frame`` with a column for each part a span of ``nodes`` reads twice: each
        largest part that does not depend on the day, and the date each ``TODAY``
        comparison compares with. The SQL then holds each part once."""
        found: dict[int, Expr] = {}

        def visit(node: Expr) -> None:
            if not self.is_temporal(node):
                found[id(node)] = node
            elif isinstance(node, Compare) and node.is_temporal:
                found[id(node.other)] = node.other
            elif isinstance(node, Exists):
                return  # its span is the aggregate's, already columns
            elif isinstance(node, Default):
                visit(node.base)
                for exc in node.exceptions:
                    visit(exc.when)
            else:
                for child in node.children():
                    visit(child)

        for node in nodes:
            visit(node)
        cols: dict[str, ir.Value] = {}
        parts: dict[int, str] = {}
        for key, node in found.items():
            if key in frame.parts:
                continue
            name = parts[key] = f"_p{next(_counter)}"
            if node.type == "bool":
                cols[name] = self.boolean(node, frame)  # three-valued: negated as well
            else:
                cols[name] = self.value(node, frame)
        if not cols:
            return frame
        return replace(frame, table=frame.table.mutate(**cols), parts={**frame.parts, **parts})

    def span(self, node: Expr, frame: Frame, negated: bool = False) -> Span:
        """The days ``node`` (or its negation) is certainly true, from the decision date
        on, on a static frame: ``[first, end)``, empty when ``first >= end``, and
        ``exact``: where the interval is the set (``None``: everywhere). Days run up to
        ``ONGOING`` (excluded), as the candidate days do.

        The sets compose without their unknowns: Kleene "and" is certainly true exactly
        where every part is, "or" where some part is. ``shape`` must have allowed it,
        so an "or" (a hull here) joins rays of one direction, or one interval with
        parts true every day or none; an empty part is (``ONGOING``, ``FIRST_DAY``) or
        a ray ending where its own direction ends, and neither widens a hull. A list of
        intervals is one interval where ``exact`` says so (``_aggregate``).
        """
        assert not frame.temporal
        if not self.is_temporal(node):
            value = self.boolean(node, frame)  # a shared part's column (``with_parts``)
            true = (~value if negated else value).fill_null(False)
            return true.ifelse(_FIRST, _END), true.ifelse(_END, _FIRST), None
        if isinstance(node, Condition):
            return self.span(node.expr, frame, negated)
        if isinstance(node, Not):
            return self.span(node.item, frame, not negated)
        if isinstance(node, Compare) and node.is_temporal:
            return self._atom(node, frame, negated)
        if isinstance(node, And | Or):
            parts = [self.span(i, frame, negated) for i in node.items]
            meet = isinstance(node, And) != negated
            return _combine(parts, meet)
        if isinstance(node, Exists):
            assert not negated
            return self._exists_span(node, frame)
        if isinstance(node, Default):
            out = self.span(node.base, frame, negated)
            for exc in reversed(node.exceptions):
                when = self.span(exc.when, frame, negated == exc.then)
                out = _combine([when, out], meet=exc.then == negated)
            return out
        raise CompileError(f"no span for {node!r}")

    def _exists_span(self, node: Exists, frame: Frame) -> Span:
        """A list's span from the measures ``_aggregate`` attached to ``frame``."""
        entry = frame.spans.get(id(node))
        if entry is None:
            raise CompileError(f"{node!r}: no span attached to the frame")
        name, kind, has_exact = entry
        t = frame.table
        exact: ir.BooleanValue | None = None
        if kind == "hull":
            # no item: empty
            first = t[f"{name}_first"].fill_null(_END)
            end = t[f"{name}_end"].fill_null(_FIRST)
        else:
            on = self.day
            on_end, late_first = t[f"{name}_on_end"], t[f"{name}_late_first"]
            late_n, late_end = t[f"{name}_late_n"].fill_null(0), t[f"{name}_late_end"]
            # items holding on the decision date reach to ``on_end``; at most one starts
            # later, where they end or before (else ``exact`` is false)
            first = _cases([(on_end.notnull(), on), (late_n >= 1, late_first)], _END)
            end = _cases(
                [
                    (on_end.notnull(), ibis.greatest(on_end, late_end.fill_null(_FIRST))),
                    (late_n >= 1, late_end),
                ],
                _FIRST,
            )
            exact = (late_n == 0) | ((late_n == 1) & (on_end.isnull() | (late_first <= on_end)))
        if has_exact:
            inner = t[f"{name}_x"].fill_null(1) == 1  # every item's own interval exact
            exact = inner if exact is None else exact & inner
        _items, known = self._items(node, frame)
        # an unknown list: never certainly true
        return known.ifelse(first, _END), known.ifelse(end, _FIRST), exact

    def _atom(self, node: Compare, frame: Frame, negated: bool) -> Span:
        op = _NEGATED[node.today_op] if negated else node.today_op
        other = self.value(node.other, frame)  # a shared part's column (``with_parts``)
        # the day after ``other``, kept below the end of time
        after = _cases([(other >= _END, _END)], other + ibis.interval(days=1))
        first: ir.Value
        end: ir.Value
        if op == ">=":
            first, end = other, _END
        elif op == ">":
            first, end = after, _END
        elif op == "<":
            first, end = _FIRST, other
        elif op == "<=":
            first, end = _FIRST, after
        elif op == "==":
            first, end = other, after
        else:
            raise NotConvex(repr(node))
        # an unknown date: never certainly true
        return first.fill_null(_END), end.fill_null(_FIRST), None

    # ---- expressions -----------------------------------------------------------------
    def value(self, node: Expr, frame: Frame) -> ir.Value:
        part = frame.parts.get(id(node))
        if part is not None:  # computed once already (``with_parts``)
            return frame.table[part]
        if isinstance(node, Fact):
            if node.scope not in frame.scopes:
                raise CompileError(f"{node!r}: scope {node.scope} is not bound")
            return frame.table[column(node.scope, node.name)]
        if isinstance(node, Const):
            return _lit(node.value, node.type)
        if isinstance(node, Param):
            if self.symbols is not None:
                return _variable(self.symbols, node.path, node.type)
            if node.type == "level":
                return _lit(self.params.ranks.get(node.path), "level")
            # not in force on the date (before §8): unknown, as the engine's "not in force"
            return _lit(self.params.values.get(node.path), node.type)
        if isinstance(node, Today):
            return frame.today()
        if isinstance(node, AddYears):
            return self._add_years(node, frame)
        if isinstance(node, FirstOf):
            return self._first_of(node, frame)
        return self.boolean(node, frame)

    def _add_years(self, node: AddYears, frame: Frame) -> ir.Value:
        if not isinstance(node.years, Param | Const):
            raise CompileError(f"{node!r}: years must be a parameter or a constant")
        start = self.value(node.date, frame)
        leap_reading = "readings.leap_day_anniversary"
        if self.symbols is not None and isinstance(node.years, Param):
            # NULL years (not in force) give NULL, as the literal path below
            shifted = start + self.value(node.years, frame).as_interval("Y")
            mar1: ir.BooleanValue | None = _variable(self.symbols, leap_reading, "str") == "mar1"
        else:
            raw = (
                self.params.values.get(node.years.path)
                if isinstance(node.years, Param)
                else node.years.value
            )
            if raw is None:
                return _null("date")
            shifted = start + ibis.interval(years=int(raw))
            if self.symbols is not None:
                mar1 = _variable(self.symbols, leap_reading, "str") == "mar1"
            else:
                mar1 = ibis.literal(True) if self.leap == "mar1" else None
        if mar1 is not None:  # 29 February in a common year: 1 March (reading R8)
            leap = (start.month() == 2) & (start.day() == 29) & (shifted.day() == 28)
            if self.symbols is not None:
                leap = leap & mar1.fill_null(False)
            shifted = _cases([(leap, shifted + ibis.interval(days=1))], shifted)
        # Civil Code art. 202: the engines clamp 29 February to 28 February themselves;
        # an open end stays open
        return _cases([(start >= ibis.literal(ONGOING, type="date"), start)], shifted)

    def _first_of(self, node: FirstOf, frame: Frame) -> ir.Value:
        """§4.3-style ordered choice: the first option that holds; NULL (open) when an
        option before it is unknown, or none holds."""
        branches: list[tuple[Any, Any]] = []
        for option in node.options:
            when = self.boolean(option.when, frame)
            branches.append((when, option.value))
            branches.append((when.isnull(), _null("string")))
        return _cases(branches, _null("string"))

    def boolean(self, node: Expr, frame: Frame) -> ir.BooleanValue:
        out = self._boolean(node, frame)
        return cast(ir.BooleanValue, out)

    def _boolean(self, node: Expr, frame: Frame) -> ir.Value:
        part = frame.parts.get(id(node))
        if part is not None:  # computed once already (``with_parts``)
            return frame.table[part]
        if isinstance(node, Condition):
            return self._boolean(node.expr, frame)
        if isinstance(node, And):
            parts = [self._boolean(i, frame) for i in node.items]
            out = parts[0]
            for p in parts[1:]:
                out = out & p  # SQL AND is Kleene's
            return out
        if isinstance(node, Or):
            parts = [self._boolean(i, frame) for i in node.items]
            out = parts[0]
            for p in parts[1:]:
                out = out | p
            return out
        if isinstance(node, Not):
            return ~self._boolean(node.item, frame)
        if isinstance(node, Compare):
            if node.is_temporal:
                return _OPS[node.today_op](frame.today(), self.value(node.other, frame))
            return _OPS[node.op](self.value(node.left, frame), self.value(node.right, frame))
        if isinstance(node, IsIn):
            return self.value(node.item, frame).isin(list(node.values))
        if isinstance(node, Fact | Param | Const):
            if node.type != "bool":
                raise CompileError(f"{node!r} is not a condition")
            return self.value(node, frame)
        if isinstance(node, Exists):
            name = frame.exists.get(id(node))
            if name is None:
                raise CompileError(f"{node!r} was not attached to the frame")
            _items, known = self._items(node, frame)
            code = frame.table[name].fill_null(0)  # no items: an empty list
            return _cases(
                [
                    (~known, _null("boolean")),  # an unknown list is unknown
                    (code == 2, True),
                    (code == 1, _null("boolean")),
                ],
                False,
            )
        if isinstance(node, Default):
            # the first exception that applies decides, else the base (Kleene, as
            # engine.closures: exceptions folded from the last)
            out = self._boolean(node.base, frame)
            for exc in reversed(node.exceptions):
                when = self._boolean(exc.when, frame)
                out = (when | out) if exc.then else (~when & out)
            return out
        raise CompileError(f"not a condition: {node!r}")


# ---- results ---------------------------------------------------------------------

TRUE, UNKNOWN, FALSE = 2, 1, 0
STATUS = {TRUE: "eligible", FALSE: "not_eligible", UNKNOWN: "undetermined"}


def truth_code(value: ir.BooleanValue) -> ir.Value:
    """2 true, 1 unknown, 0 false — with ``value`` written once in the SQL, not twice as
    a ``CASE`` over it and its ``IS NULL`` would."""
    return (value.cast("int32") * (TRUE - FALSE) + FALSE).fill_null(UNKNOWN)


def status_of(code: ir.Value) -> ir.Value:
    return _cases([(code == k, v) for k, v in STATUS.items()], _null("string"))


def timelines(
    compiler: Compiler,
    frame: Frame,
    rules: dict[str, Expr],
    by: Sequence[str],
    *,
    now: bool = True,
) -> ir.Table:
    """Per binding (``by``): each rule's truth code on the decision date (unless not
    ``now``), the first later candidate day it is true, and the first later one it is
    not."""
    assert frame.temporal
    codes = {f"_v_{k}": truth_code(compiler.boolean(rule, frame)) for k, rule in rules.items()}
    table = frame.table.mutate(**codes)  # each rule once, read three times below
    t = table[T]
    on = frame.on
    later = t > on
    null = _null("date")
    aggs: dict[str, ir.Value] = {}
    for name in rules:
        code = table[f"_v_{name}"]
        if now:
            aggs[f"{name}__now"] = _cases([(t == on, code)], _null("int64")).max()
        aggs[f"{name}__true"] = _cases([(later & (code == TRUE), t)], null).min()
        aggs[f"{name}__not"] = _cases([(later & (code != TRUE), t)], null).min()
    return table.group_by(list(by)).aggregate(**aggs)


def decide_rules(
    compiler: Compiler,
    frame: Frame,
    rules: dict[str, Expr],
    extra: dict[str, Expr] | None = None,
    firsts: dict[str, Exists] | None = None,
) -> ir.Table:
    """Per binding of ``frame`` (static): ``<key>__now``, ``<key>__true`` and ``<key>__not``
    for each rule (see ``timelines``), the value on the decision date of each
    ``extra`` expression (a §4.3 choice, say), and for each list of ``firsts`` (named in
    ``compiler.keyed``, read by ``rules``) its ``first_key``.

    Every rule is evaluated once on the decision date, one row per binding: a rule
    with no ``TODAY`` in it is true on every day or on none, so it has no earliest date
    and no last day. A rule that does depend on the day has its dates read off its span
    in the same row (``Compiler.span``). Where it has none, or where a binding's list of
    intervals has a gap, the rule is evaluated on its own candidate days after the
    decision date only, for the bindings that have some (``Compiler.candidates``); a
    binding without one keeps no earliest date and no last day.
    """
    assert not frame.temporal
    ids = frame.ids
    exprs: list[Expr] = [*rules.values(), *(extra or {}).values()]
    base = compiler.attach(exprs, frame)
    null = _null("date")
    cols: dict[str, ir.Value] = {}
    temporal = {k: r for k, r in rules.items() if compiler.is_temporal(r)}
    spannable = {k: r for k, r in temporal.items() if compiler.spannable(r)}
    if spannable:  # the parts the status and the spans share, once
        base = compiler.with_parts(spannable.values(), base)
    for key, rule in rules.items():
        cols[f"{key}__now"] = truth_code(compiler.boolean(rule, base))
        if key not in temporal:
            cols[f"{key}__true"] = null
            cols[f"{key}__not"] = null
    for key, node in (extra or {}).items():
        cols[key] = compiler.value(node, base)
    for key, node in (firsts or {}).items():
        cols[key] = compiler.first_key(node, base)
    # a rule whose true days form one interval [first, end) has its dates read off it:
    # the earliest date is ``first`` when later than the decision date, and the first
    # later day it is no longer true is ``end`` (``span``)
    spans = {k: compiler.span(r, base) for k, r in spannable.items()}
    on = frame.on
    inexact: dict[str, str] = {}
    if spans:
        named: dict[str, ir.Value] = {}
        for key, (first, end, exact) in spans.items():
            named[f"_s_{key}_first"] = first
            named[f"_s_{key}_end"] = end
            if exact is not None:
                named[f"_s_{key}_exact"] = exact.fill_null(False)
                inexact[key] = f"_s_{key}_exact"
        # each interval once in the SQL, read several times below
        base = replace(base, table=base.table.mutate(**named))
        for key in spans:
            first, end = base.table[f"_s_{key}_first"], base.table[f"_s_{key}_end"]
            held = first < end
            cols[f"{key}__true"] = _cases([(held & (first > on), first)], null)
            cols[f"{key}__not"] = _cases(
                [(held & (first <= on) & (end > on) & (end < _END), end)], null
            )
        for flag in inexact.values():
            cols[flag] = base.table[flag]
    out = base.table.select(*ids, **cols)
    # where a list's intervals do not join into one, the candidate days decide (below)
    for key, flag in inexact.items():
        bad = out.filter(~out[flag]).select(*[out[k].name(f"_b{i}") for i, k in enumerate(ids)])
        preds = [frame.table[k] == bad[f"_b{i}"] for i, k in enumerate(ids)]
        few = replace(frame, table=frame.table.semi_join(bad, preds))
        agg = _timeline(compiler, few, key, temporal[key])
        preds = [out[k] == agg[f"_j{i}"] for i, k in enumerate(ids)]
        out = out.left_join(agg, preds)
        out = out.mutate(
            **{
                f"{key}__{end}": _cases(
                    [(out[flag], out[f"{key}__{end}"])], out[f"_t_{key}__{end}"]
                )
                for end in ("true", "not")
            }
        ).drop(flag, f"_t_{key}__true", f"_t_{key}__not", *[f"_j{i}" for i in range(len(ids))])
    # one expansion per other rule: a rule's candidate days are few, everyone's are not
    for key, rule in temporal.items():
        if key in spans:
            continue
        agg = _timeline(compiler, frame, key, rule)
        agg = agg.rename({f"{key}__{end}": f"_t_{key}__{end}" for end in ("true", "not")})
        preds = [out[k] == agg[f"_j{i}"] for i, k in enumerate(ids)]
        # a binding with no later candidate day has no row there
        out = out.left_join(agg, preds).drop(*[f"_j{i}" for i in range(len(ids))])
    return out


def _timeline(compiler: Compiler, frame: Frame, key: str, rule: Expr) -> ir.Table:
    """``timelines`` of one rule on its own candidate days after the decision date, for
    the bindings of ``frame`` that have some; ids renamed ``_j0``, ``_j1``…, dates
    ``_t_<key>__true`` and ``_t_<key>__not``."""
    ids = frame.ids
    expanded = compiler.expand(frame, [rule], later_only=True)
    expanded = compiler.attach([rule], expanded)
    agg = timelines(compiler, expanded, {key: rule}, ids, now=False)
    return agg.rename(
        {
            **{f"_j{i}": k for i, k in enumerate(ids)},
            **{f"_t_{key}__{end}": f"{key}__{end}" for end in ("true", "not")},
        }
    )


def dates_of(agg: ir.Table, name: str) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(truth code now, earliest date, last day it holds) as ``engine.decide._dates``."""
    now = agg[f"{name}__now"]
    earliest = _cases([(now != TRUE, agg[f"{name}__true"])], _null("date"))
    until = _cases([(now == TRUE, agg[f"{name}__not"] - ibis.interval(days=1))], _null("date"))
    return now, earliest, until


__all__ = [
    "ONGOING",
    "CompileError",
    "Compiler",
    "Frame",
    "SymbolicParameters",
    "area_of",
    "dates_of",
    "decide_rules",
    "decision_day",
    "declared_signature",
    "dwelling_facts",
    "fact_tables",
    "facts_read",
    "person_facts",
    "relative_facts",
    "residence_stretches",
    "status_of",
    "timelines",
    "truth_code",
    "variable_name",
    "variables",
]
