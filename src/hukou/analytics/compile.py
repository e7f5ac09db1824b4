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

The status is computed with one row per binding (no candidate days); only the
bindings with some flip day after the decision date are expanded, one rule at a
time (``decide_rules``). Two exact prunings keep the joins small: items of a list
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
from collections.abc import Callable, Iterable, Sequence
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
from hukou.policy.params import ResolvedParameters
from hukou.policy.rules.vocabulary import DWELLING_FACTS, PERSON_FACTS, RELATIVE_FACTS
from hukou.policy.scales import SCALES

ONGOING = dt.date(9999, 12, 31)  # the end of a stretch of residence that has not ended
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


def area_of(county: ir.StringValue) -> ir.Value:
    """§1.2 residence area: 市本级 (南湖区 + 秀洲区) as one, any other county itself."""
    counties = places.jiaxing_counties()
    branches = [(county == c.code, c.area) for c in counties.values() if c.area != c.code]
    return _cases(branches, county) if branches else county


def _jiaxing() -> list[str]:
    return list(places.jiaxing_counties())


# ---- facts from the population tables --------------------------------------------


def person_facts(persons: ir.Table) -> ir.Table:
    """``id`` and every person fact of the vocabulary, as ``engine.scopes`` derives it."""
    p = persons
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
        "residence_registration": p.residence_registration,
        "permit_held": p.permit_held,
        "permit_county": p.permit_county,
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
        "dwellings_known": p.dwellings_known.fill_null(False),
        "history_known": p.history_known.fill_null(False),
    }
    missing = set(PERSON_FACTS) - set(facts) - {"dwellings"}
    if missing:  # a fact added to the vocabulary must be given a column here
        raise CompileError(f"no column for person facts {sorted(missing)}")
    return p.select(**facts)


def residence_stretches(periods: ir.Table, on: dt.date, gap_days: int) -> ir.Table:
    """§1.2 The latest unbroken stretch of residence per (person, area) begun by ``on``.

    Gaps and islands: periods in the same area, ordered by (start, end), start a
    new island when they begin more than ``gap_days`` days after the latest end
    so far (``engine.scopes.residence_stretch``); the latest island is the
    stretch. An open period ends on ``ONGOING``.
    """
    h = periods.filter(periods.start <= ibis.literal(on, type="date"))
    h = h.select(
        person_id=h.person_id,
        area=area_of(h.county),
        start=h.start,
        end=h.end.fill_null(ibis.literal(ONGOING, type="date")),
    )
    before = ibis.window(group_by=[h.person_id, h.area], order_by=[h.start, h.end], rows=(None, -1))
    latest_end = h.end.max().over(before)
    # subtract from the start rather than add to an end that may be ONGOING
    new = _cases(
        [(latest_end.isnull(), 1)],
        (h.start - ibis.interval(days=1 + gap_days) > latest_end).ifelse(1, 0),
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
    gap = int(params.values.get("s1_urban.residence_gap_tolerance_days", 0))
    s = residence_stretches(tables["residence_periods"], params.on, gap)
    s = s.rename(s_person="person_id", s_area="area")
    known = p.select(k_person=p.person_id, k_history=p.history_known.fill_null(False))
    d = d.mutate(d_area=area_of(d.county))
    j = d.left_join(s, [d.person_id == s.s_person, d.d_area == s.s_area])
    j = j.left_join(known, j.person_id == known.k_person)
    derived = j.k_history & j.county.notnull()
    no_date = _null("date")
    facts: dict[str, ir.Value] = {
        "owner": j.person_id,
        "id": j.seq,
        "tenure": j.tenure,
        "commercial": j.commercial_housing,
        "in_jiaxing": _cases([(j.county.isnull(), _null("boolean"))], j.county.isin(_jiaxing())),
        "urban": _cases([(j.county.isnull(), _null("boolean"))], _urban(j.urban_rural_code)),
        "stretch_exists": _cases([(derived, j.s_area.notnull())], _null("boolean")),
        "stretch_start": _cases([(derived, j.stretch_start)], no_date),
        "stretch_end": _cases([(derived, j.stretch_end)], no_date),
    }
    missing = set(DWELLING_FACTS) - set(facts)
    if missing:
        raise CompileError(f"no column for dwelling facts {sorted(missing)}")
    return j.select(**facts)


def relative_facts(relations: ir.Table, people: ir.Table) -> ir.Table:
    """``owner`` (the applicant), ``id`` (the relative) and the relative's facts."""
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
    cols.update({name: j[name] for name in people.columns})
    return j.select(**cols)


def fact_tables(tables: dict[str, ir.Table], params: ResolvedParameters) -> dict[str, ir.Table]:
    """The facts the rules read, per scope kind: ``people``, ``dwellings``, ``relatives``."""
    people = person_facts(tables["persons"])
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
    on: dt.date
    temporal: bool = False
    static: Frame | None = None  # the same bindings without candidate days (TODAY = on)
    exists: dict[int, str] = field(default_factory=dict)  # id(Exists node) -> column

    @property
    def ids(self) -> list[str]:
        return [column(s, "id") for s in self.scopes]

    @property
    def keys(self) -> list[str]:
        return self.ids + ([T] if self.temporal else [])

    def today(self) -> ir.Value:
        if self.temporal:
            return self.table[T]
        return ibis.literal(self.on, type="date")


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
        self.leap = str(params.values.get("readings.leap_day_anniversary", "feb28"))
        facts = facts or fact_tables(tables, params)
        self.people = facts["people"]
        self.dwellings = facts["dwellings"]
        self.relatives = facts["relatives"]
        self._temporal: dict[int, bool] = {}

    # ---- frames ------------------------------------------------------------------
    def applicant_frame(self) -> Frame:
        """One row per person, as the applicant."""
        return Frame(prefixed(self.people, "applicant"), ("applicant",), self.on)

    def pair_frame(self) -> Frame:
        """One row per (applicant, relative) of ``relations``."""
        a = prefixed(self.people, "applicant")
        r = prefixed(self.relatives, "relative")
        table = a.join(r, a.applicant__id == r.relative__owner).drop("relative__owner")
        return Frame(table, ("applicant", "relative"), self.on)

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
        return Frame(table, (*frame.scopes, node.item_scope), self.on, frame.temporal, static)

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
        on = ibis.literal(self.on, type="date")
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
        return Frame(table, frame.scopes, self.on, True, frame)

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
        keep = [self._needed(n.where, items) for n in nodes]
        if all(k is not None for k in keep):
            # an item on which every list rule is certainly false counts as no item
            # (both give 0 below): drop it before the lists inside are joined
            items = replace(items, table=items.table.filter(ibis.or_(*keep)))
        inner = self.attach([n.where for n in nodes], items)
        keys = base.keys
        aggs: dict[str, ir.Value] = {}
        names: dict[int, str] = {}
        for node in nodes:
            where = self.boolean(node.where, inner)
            # 2: some item certainly true; 1: none true, some unknown; 0: every item false
            name = names[id(node)] = f"_x{next(_counter)}"
            aggs[name] = truth_code(where).max()
        agg = inner.table.group_by(keys).aggregate(**aggs)
        agg = agg.rename({f"_k{i}": k for i, k in enumerate(keys)})
        preds = [frame.table[k] == agg[f"_k{i}"] for i, k in enumerate(keys)]
        table = frame.table.left_join(agg, preds).drop(*[f"_k{i}" for i in range(len(keys))])
        return Frame(
            table, frame.scopes, self.on, frame.temporal, frame.static, {**frame.exists, **names}
        )

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

    def _needed(self, where: Expr, frame: Frame) -> ir.BooleanValue | None:
        """Where ``where`` is not certainly false by the parts of its top-level "and" that
        read only the row of ``frame`` (``None``: no such part)."""
        parts: list[Expr] = []

        def conjuncts(node: Expr) -> None:
            if isinstance(node, Condition):
                conjuncts(node.expr)
            elif isinstance(node, And):
                for item in node.items:
                    conjuncts(item)
            elif _row_only(node):
                parts.append(node)

        conjuncts(where)
        if not parts:
            return None
        out: ir.BooleanValue | None = None
        for part in parts:
            ok = self.boolean(part, frame).fill_null(True)
            out = ok if out is None else out & ok
        return out

    # ---- expressions -----------------------------------------------------------------
    def value(self, node: Expr, frame: Frame) -> ir.Value:
        if isinstance(node, Fact):
            if node.scope not in frame.scopes:
                raise CompileError(f"{node!r}: scope {node.scope} is not bound")
            return frame.table[column(node.scope, node.name)]
        if isinstance(node, Const):
            return _lit(node.value, node.type)
        if isinstance(node, Param):
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
        raw = (
            self.params.values.get(node.years.path)
            if isinstance(node.years, Param)
            else node.years.value
        )
        start = self.value(node.date, frame)
        if raw is None:
            return _null("date")
        shifted = start + ibis.interval(years=int(raw))
        if self.leap == "mar1":  # 29 February in a common year: 1 March (reading R8)
            leap = (start.month() == 2) & (start.day() == 29) & (shifted.day() == 28)
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
    on = ibis.literal(frame.on, type="date")
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
    compiler: Compiler, frame: Frame, rules: dict[str, Expr], extra: dict[str, Expr] | None = None
) -> ir.Table:
    """Per binding of ``frame`` (static): ``<key>__now``, ``<key>__true`` and ``<key>__not``
    for each rule (see ``timelines``), and the value on the decision date of each
    ``extra`` expression (a §4.3 choice, say).

    Every rule is evaluated once on the decision date, one row per binding: a rule
    with no ``TODAY`` in it is true on every day or on none, so it has no earliest date
    and no last day. A rule that does depend on the day is then evaluated on its own
    candidate days after the decision date only, and only for the bindings that have
    some (most have none: ``Compiler.candidates``); a binding without one keeps no
    earliest date and no last day.
    """
    assert not frame.temporal
    ids = frame.ids
    exprs: list[Expr] = [*rules.values(), *(extra or {}).values()]
    base = compiler.attach(exprs, frame)
    null = _null("date")
    cols: dict[str, ir.Value] = {}
    temporal = {k: r for k, r in rules.items() if compiler.is_temporal(r)}
    for key, rule in rules.items():
        cols[f"{key}__now"] = truth_code(compiler.boolean(rule, base))
        if key not in temporal:
            cols[f"{key}__true"] = null
            cols[f"{key}__not"] = null
    for key, node in (extra or {}).items():
        cols[key] = compiler.value(node, base)
    out = base.table.select(*ids, **cols)
    # one expansion per rule: a rule's candidate days are few, everyone's together are not
    for key, rule in temporal.items():
        group = {key: rule}
        expanded = compiler.expand(frame, list(group.values()), later_only=True)
        expanded = compiler.attach(group.values(), expanded)
        agg = timelines(compiler, expanded, group, ids, now=False)
        agg = agg.rename({f"_j{i}": k for i, k in enumerate(ids)})
        preds = [out[k] == agg[f"_j{i}"] for i, k in enumerate(ids)]
        # a binding with no later candidate day has no row there
        out = out.left_join(agg, preds).drop(*[f"_j{i}" for i in range(len(ids))])
    return out


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
    "area_of",
    "dates_of",
    "decide_rules",
    "dwelling_facts",
    "fact_tables",
    "person_facts",
    "relative_facts",
    "residence_stretches",
    "status_of",
    "timelines",
    "truth_code",
]
