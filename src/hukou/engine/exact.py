"""Exact three-valued answers over finite-domain facts (case splitting, 分情形判定).

Kleene evaluation does not know that a fact has few possible values: with the sex
unknown, ``(male ∧ age ≥ 60) ∨ (female ∧ age ≥ 55)`` is unknown even at 62. Where
a rule is open on the decision date, the unknown facts of finite domain that its
open parts read (sex and other codes, qualification levels, yes/no facts) are
split on: the rule is evaluated once per combination of their values (a
*completion*), each time with Kleene logic for whatever else is unknown.

- The rule is true (false) on a day if it is true (false) on that day in every
  completion: the sets of days are intersected, so the decision, the earliest
  date and the last day all come from the same sets.
- A finite fact is named missing only if changing it alone, from some completion,
  changes the value on the decision date — or, where both values are still open
  because of an unknown date or list, if it lies on an open path of the rule with
  the other finite facts fixed (it may then matter together with that date).
- The other unknown facts (numbers, lists, county codes, dates derived from a list)
  are named when an open completion still hangs on them.

Unknown dates (a birth date, a graduation date …) by intervals (区间推理). Every
comparison a date takes part in (``TODAY ≥ birth + 60 years``, ``birth ≥ 1980-01-01``)
compares it, shifted by whole years, with something known on the decision date, so
it flips at one day; between consecutive flip days every comparison — and hence the
rule — keeps its value. One day from each such interval (its first) is a
representative, and the dates are split on their representatives like finite facts:
the status on the decision date and the missing facts are then exact for dates too
(the parent of 62 with no sex given, whose child's birth date is unknown, is asked
for the child's birth date only). The day sets of those completions hold only for the
decision date, so the earliest date and the last day still come from the split over
finite facts; where only the split over dates decides the status, the earliest date is
the first day on which every completion is true, verified by the same split on that
day, and the last day is not claimed (``dates_exact`` false).

The number of completions is bounded by ``MAX_COMPLETIONS``; over it the Kleene
answer is kept and the result says it is not exact.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from hukou.engine.evaluate import (
    ALL,
    Days,
    Evaluator,
    fact_table,
    first_from,
    intersect,
    source_of,
    sources_of,
    truth,
    union,
)
from hukou.engine.scopes import FactKeys
from hukou.policy import calendar
from hukou.policy.expr import (
    AddYears,
    And,
    Compare,
    Condition,
    Default,
    Exists,
    Expr,
    Fact,
    Not,
    Or,
    walk,
)
from hukou.policy.facts import HukouKind, LossReason, Relation, Sex, Tenure
from hukou.policy.scales import SCALES, rank

MAX_COMPLETIONS = 256
"""At most this many completions are evaluated for one open rule: 2**8, eight unknown
yes/no facts on its open paths (the sex and seven more; a household kind counts six).
A rule evaluates in tens of microseconds, so the worst case stays near 10 ms; beyond
it the Kleene answer is kept and flagged (``exact: false``)."""

# str facts with a closed set of codes; other str facts (counties) are not split on
_CODES: dict[str, tuple[str, ...]] = {
    "sex": tuple(m.value for m in Sex),
    "hukou_kind": tuple(m.value for m in HukouKind),
    "tenure": tuple(m.value for m in Tenure),
    "lost_registration": tuple(m.value for m in LossReason),
    "relation": tuple(m.value for m in Relation),
}
_LEVELS: dict[str, tuple[int, ...]] = {
    name: tuple(sorted({rank(scale, m) for m in SCALES[scale]}))
    for name, scale in (
        ("education", "education"),
        ("title", "title"),
        ("vocational", "vocational"),
    )
}


def domain(fact: Fact) -> tuple[Any, ...] | None:
    """The possible values of a fact of finite domain; None for any other."""
    if fact.type == "bool":
        return (True, False)
    if fact.type == "str":
        return _CODES.get(fact.name)
    if fact.type == "level":
        return _LEVELS.get(fact.name)
    return None


@dataclass
class Exact:
    sets: tuple[Days, Days]
    missing: list[str]
    exact: bool  # False: over the bound, the Kleene answer kept
    # False: the status was decided only by splitting unknown dates and the earliest date
    # or the last day could not be established for every completion (not given)
    dates_exact: bool = True


Slot = tuple[dict[str, Any], str, tuple[Any, ...]]  # (scope, fact name, its domain)


def _open(ev: Evaluator, node: Expr, env: dict[str, dict[str, Any]]) -> bool:
    return truth(ev.quiet_sets(node, env), ev.day) is None


def open_finite_facts(ev: Evaluator, node: Expr, env: dict[str, dict[str, Any]]) -> list[Slot]:
    """The unknown finite-domain facts read by the open parts of ``node`` (which is open)."""
    out: dict[tuple[int, str], Slot] = {}

    def leaf(fact: Fact, scope: dict[str, Any]) -> None:
        dom = domain(fact)
        if dom is not None and scope.get(fact.name, 0) is None:
            out.setdefault((id(scope), fact.name), (scope, fact.name, dom))

    def visit(n: Expr, e: dict[str, dict[str, Any]]) -> None:
        if isinstance(n, Condition):
            visit(n.expr, e)
        elif isinstance(n, And | Or):
            for item in n.items:
                if _open(ev, item, e):
                    visit(item, e)
        elif isinstance(n, Not):
            visit(n.item, e)
        elif isinstance(n, Default):
            for part in (n.base, *(x.when for x in n.exceptions)):
                if _open(ev, part, e):
                    visit(part, e)
        elif isinstance(n, Exists):
            items = ev.value(n.collection, e)
            if items is None:  # an unknown list: its items cannot be split on
                for f in walk(n.where):
                    if isinstance(f, Fact) and f.scope != n.item_scope and f.scope in e:
                        leaf(f, e[f.scope])
                return
            for item in items:
                inner = {**e, n.item_scope: item}
                if _open(ev, n.where, inner):
                    visit(n.where, inner)
        else:
            for f in walk(n):
                if isinstance(f, Fact):
                    leaf(f, e[f.scope])

    visit(node, env)
    return list(out.values())


# per rule, by id; the rule is kept with its entry so that its id cannot be reused
_FINITE: dict[int, tuple[Expr, dict[str, tuple[Any, ...]]]] = {}


def _finite_facts(rule: Expr) -> dict[str, tuple[Any, ...]]:
    """The finite-domain facts a rule reads anywhere, by name (cached per rule)."""
    hit = _FINITE.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1]
    found: dict[str, tuple[Any, ...]] = {}
    for f in walk(rule):
        if isinstance(f, Fact):
            dom = domain(f)
            if dom is not None:
                found.setdefault(f.name, dom)
    _FINITE[id(rule)] = (rule, found)
    return found


# how far down ``_scopes`` looks: env -> applicant -> relatives -> a relative -> their
# dwellings -> a dwelling (§3.1's child's property, read by the applicant's rule)
_DEPTH = 5


def _scopes(value: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The scopes of a case: the env's, and the items of their lists (relatives,
    dwellings …), down to the lists of the items of lists (``_DEPTH``)."""
    out: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "__kind__" in value:
            out.append(value)
        if depth < _DEPTH:
            for v in value.values():
                cls = v.__class__
                if cls in _NO_SCOPES:  # a fact's value, or a scope's fact keys: no scope in it
                    continue
                if isinstance(v, dict | list):
                    out += _scopes(v, depth + 1)
    elif isinstance(value, list) and depth < _DEPTH:
        for v in value:
            out += _scopes(v, depth + 1)
    return out


# classes of values that hold no scope (``_scopes`` need not look inside them)
_NO_SCOPES = frozenset({str, bool, int, float, type(None), dt.date, tuple, FactKeys})


def env_scopes(ev: Evaluator, env: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``_scopes(env)``, once per env for the evaluator's life (one decision): the scopes
    of a case and their lists keep their shape while it is decided (completions change
    only the values of facts). The env is kept with its entry, so its id is not reused."""
    hit = ev.env_scopes.get(id(env))
    if hit is None or hit[0] is not env:
        hit = ev.env_scopes[id(env)] = (env, _scopes(env))
    return hit[1]


def finite_slots(
    rule: Expr,
    env: dict[str, dict[str, Any]],
    missing: list[str],
    scopes: list[dict[str, Any]] | None = None,
    bound: int | None = None,
) -> list[Slot]:
    """The unknown finite-domain facts among ``missing`` (the facts on the open paths of
    ``rule``, ``Evaluator.missing``, which the compiled rules compute fast), with their
    scopes: the same set ``open_finite_facts`` finds by walking, at a fraction of its cost
    (it re-evaluated every open sub-expression). ``scopes``: ``_scopes(env)``, if known.
    ``bound``: stop as soon as the slots found have more completions than that (the
    caller then keeps the Kleene answer: the rest would not change it)."""
    if not missing:
        return []
    wanted = set(missing)
    facts = _finite_facts(rule)
    out: dict[tuple[int, str], Slot] = {}
    seen: set[int] = set()
    count = 1
    for scope in _scopes(env) if scopes is None else scopes:
        sid = id(scope)
        if sid in seen:
            continue
        seen.add(sid)
        for name, dom in facts.items():
            if scope.get(name, 0) is None:
                srcs = _sources(scope, name)
                if srcs is None:
                    continue
                if not wanted.isdisjoint(srcs) and (sid, name) not in out:
                    out[(sid, name)] = (scope, name, dom)
                    count *= len(dom)
                    if bound is not None and count > bound:
                        return list(out.values())
    return list(out.values())


# (scope path, kind, owner, fact) -> the fields answering it (``source_of``), None if none
_SOURCES: dict[tuple[Any, Any, Any, str], tuple[str, ...] | None] = {}
_UNSEEN = object()


def _sources(scope: dict[str, Any], name: str) -> tuple[str, ...] | None:
    """``sources_of(scope, name)``, None where it raises ``KeyError``; a fact's one source
    looked up once per scope path (paths and facts are few, the same in every case)."""
    over = scope.get("__sources__")
    if over is not None and over.get(name) is not None:
        return over[name]  # type: ignore[no-any-return]
    key = (scope.get("__path__"), scope.get("__kind__"), scope.get("__owner__"), name)
    hit = _SOURCES.get(key, _UNSEEN)
    if hit is _UNSEEN:
        try:
            hit = (source_of(scope, name),)
        except KeyError:
            hit = None
        if len(_SOURCES) > 65_536:
            _SOURCES.clear()
        _SOURCES[key] = hit
    return hit  # type: ignore[return-value]


Saved = list[tuple[dict[str, Any], str, Any]]  # (scope, fact, value to restore)


def _couple(slots: list[Slot]) -> Saved | None:
    """Make a completion one the case model can produce: a household outside Jiaxing is
    not in Jiaxing, nor in the county of any of its holder's dwellings (``scopes._hukou``,
    ``scopes._hukou_here``), and has no registered address in Jiaxing (``facts.Hukou``). Returns the facts overridden, with the values to restore;
    None for a completion to skip (it contradicts itself)."""
    split = {(id(scope), name) for scope, name, _dom in slots}
    saved: Saved = []
    for scope, name, _dom in slots:
        if name != "hukou_kind" or scope[name] != "outside_jiaxing":
            continue
        coupled = [(scope, "hukou_in_jiaxing")]
        coupled += [(d, "hukou_here") for d in scope.get("dwellings") or () if isinstance(d, dict)]
        for target, fact in coupled:
            if target.get(fact) is True:  # split so, or a Jiaxing address (refused by the model)
                _restore(saved)
                return None
            if (id(target), fact) not in split and target.get(fact) is None:
                saved.append((target, fact, None))
                target[fact] = False
    return saved


def _restore(saved: Saved) -> None:
    for scope, fact, v in saved:
        scope[fact] = v


# ---- unknown dates, by intervals --------------------------------------------------

DATE_LOW = dt.date(1900, 1, 1)
"""The earliest date a completion gives an unknown date (the case model's people live now)."""
DATE_HIGH = dt.date(2199, 12, 31)
"""The latest; a birth date is at most the decision date (``facts.parse_case``)."""

# fact name -> [(comparison, the fact is on its left, whole years it is shifted by)]
Reads = list[tuple[Compare, bool, Expr | None]]
# per rule, by id (the rule kept with its entry); None: a date read otherwise (not split)
_DATE_READS: dict[int, tuple[Expr, dict[str, Reads | None]]] = {}


def _shifted(node: Expr) -> tuple[Fact | None, Expr | None]:
    """``fact`` or ``add_years(fact, years)`` for a date fact read from the case."""
    if isinstance(node, Fact) and node.type == "date":
        return node, None
    if isinstance(node, AddYears) and isinstance(node.date, Fact):
        return node.date, node.years
    return None, None


def _date_reads(rule: Expr) -> dict[str, Reads | None]:
    """The comparisons each date fact of a rule takes part in (cached per rule); None for
    a date fact read any other way (shifted twice, compared with another unknown), whose
    flips this module cannot place: it is not split."""
    hit = _DATE_READS.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1]
    found: dict[str, Reads | None] = {}
    captured: dict[str, int] = {}  # occurrences of each date fact inside a comparison read
    for node in walk(rule):
        if isinstance(node, Compare) and node.left.type == "date":
            for side, on_left in ((node.left, True), (node.right, False)):
                fact, years = _shifted(side)
                if fact is not None:
                    captured[fact.name] = captured.get(fact.name, 0) + 1
                    reads = found.setdefault(fact.name, [])
                    if reads is not None:
                        reads.append((node, on_left, years))
    seen: dict[str, int] = {}
    for node in walk(rule):
        if isinstance(node, Fact) and node.type == "date":
            seen[node.name] = seen.get(node.name, 0) + 1
    for name, count in seen.items():
        if count != captured.get(name, 0):
            found[name] = None
    _DATE_READS[id(rule)] = (rule, found)
    return found


def _holds(op: str, a: dt.date, b: dt.date) -> bool:
    if op == ">=":
        return a >= b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    if op == "<":
        return a < b
    if op == "==":
        return a == b
    return a != b


def representatives(
    ev: Evaluator,
    name: str,
    reads: Reads,
    env: dict[str, dict[str, Any]],
    born_by: dt.date | None = None,
) -> tuple[dt.date, ...] | None:
    """One date from each interval on which every comparison reading the date fact
    ``name`` keeps its value on the decision date (the first day of each interval), or
    None if one of them compares it with something unknown. A birth date is at most
    ``born_by`` (default: the decision date)."""
    high = (born_by or ev.today) if name == "birth_date" else DATE_HIGH
    flips: set[dt.date] = set()
    one = dt.timedelta(days=1)
    for cmp, on_left, years_expr in reads:
        try:
            years = 0 if years_expr is None else int(ev.value(years_expr, env))
            if cmp.is_temporal:
                target, op, fact_left = ev.today, cmp.today_op, False
            else:
                target = ev.value(cmp.right if on_left else cmp.left, env)
                op, fact_left = cmp.op, on_left
        except (KeyError, TypeError, ValueError):
            return None
        if not isinstance(target, dt.date):
            return None

        def holds(
            d: dt.date,
            years: int = years,
            target: dt.date = target,
            op: str = op,
            fact_left: bool = fact_left,
        ) -> bool:
            x = calendar.add_years(d, years, ev.leap) if years else d
            return _holds(op, x, target) if fact_left else _holds(op, target, x)

        try:
            # the flip lies within a few days of the target moved back by the years (29 Feb)
            near = calendar.add_years(target, -years, ev.leap)
            window = [near + k * one for k in range(-3, 4)]
            before = holds(window[0] - one)
            for d in window:
                now = holds(d)
                if now != before:
                    flips.add(d)
                before = now
        except (OverflowError, ValueError):
            continue  # a target beyond the calendar: no flip within it
    return (DATE_LOW, *sorted(f for f in flips if DATE_LOW < f <= high))


def date_slots(
    ev: Evaluator,
    rule: Expr,
    env: dict[str, dict[str, Any]],
    missing: list[str],
    born_by: dt.date | None = None,
    scopes: list[dict[str, Any]] | None = None,
) -> list[Slot] | None:
    """The unknown dates among ``missing`` that the case states (not those derived from a
    list), each with its representatives; None if one of them cannot be split.
    ``scopes``: ``_scopes(env)``, if known."""
    reads = _date_reads(rule)
    if not reads:
        return []
    wanted = set(missing)
    out: dict[tuple[int, str], Slot] = {}
    seen: set[int] = set()
    for scope in _scopes(env) if scopes is None else scopes:
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        for name, its in reads.items():
            if name not in scope or scope[name] is not None:
                continue
            try:
                src = source_of(scope, name)
            except KeyError:
                continue
            if src not in wanted or _derived(scope, name):
                continue
            reps = None if its is None else representatives(ev, name, its, env, born_by)
            if reps is None:
                return None
            out.setdefault((id(scope), name), (scope, name, reps))
    return list(out.values())


def _derived(scope: dict[str, Any], name: str) -> bool:
    table = fact_table(scope["__kind__"])
    return name not in table or table[name][3].startswith("^")


@dataclass
class _Split:
    ts: Days
    fs: Days
    outcome: dict[tuple[Any, ...], bool | None]
    missing: list[str]  # named finite (or date) facts, then what open completions hang on


def _split(
    ev: Evaluator,
    rule: Expr,
    env: dict[str, dict[str, Any]],
    slots: list[Slot],
    kleene_missing: list[str],
) -> _Split:
    """Evaluate ``rule`` once per completion of ``slots`` (each still Kleene in the rest)."""
    day = ev.day
    ts: Days = ALL
    fs: Days = ALL
    outcome: dict[tuple[Any, ...], bool | None] = {}
    others: dict[str, None] = {}  # facts an open completion hangs on
    names = [sources_of(scope, name) for scope, name, _dom in slots]
    split = {src for srcs in names for src in srcs}

    fresh = ev.fresh

    try:
        for combo in itertools.product(*(dom for _s, _n, dom in slots)):
            for (scope, name, _dom), v in zip(slots, combo, strict=True):
                scope[name] = v
            saved = _couple(slots)
            if saved is None:
                continue
            sub = fresh()
            sets = sub.quiet_sets(rule, env)
            value = truth(sets, day)
            outcome[combo] = value
            ts = intersect(ts, sets[0])
            fs = intersect(fs, sets[1])
            if value is None:
                others.update(dict.fromkeys(m for m in sub.missing(rule, env) if m not in split))
            _restore(saved)
        named: dict[str, None] = {}
        for i, (scope, name, dom) in enumerate(slots):
            if all(src in named for src in names[i]):
                continue
            both_open: list[tuple[Any, ...]] = []
            for combo, value in outcome.items():
                for v in dom:
                    if v == combo[i]:
                        continue
                    other = outcome.get((*combo[:i], v, *combo[i + 1 :]), value)
                    if other != value:
                        named.update(dict.fromkeys(names[i]))
                        break
                    if value is None:
                        both_open.append(combo)
                if all(src in named for src in names[i]):
                    break
            else:
                # open either way: f may still matter together with an unknown list
                for combo in both_open:
                    for (s2, n2, _d), v in zip(slots, combo, strict=True):
                        s2[n2] = v
                    scope[name] = None
                    saved = _couple(slots) or []
                    hangs = set(names[i]) & set(fresh().missing(rule, env))
                    _restore(saved)
                    if hangs:
                        named.update(dict.fromkeys(names[i]))
                        break
    finally:
        for scope, name, _dom in slots:
            scope[name] = None
    keep = {**named, **others}
    ordered = [m for m in kleene_missing if m in keep]
    ordered += [m for m in keep if m not in ordered]
    return _Split(ts, fs, outcome, ordered)


def _count(slots: list[Slot]) -> int:
    count = 1
    for _scope, _name, dom in slots:
        count *= len(dom)
    return count


EARLIEST_TRIES = 3
"""Candidate earliest dates verified, at most, before the earliest date is left unknown."""


def exact(
    ev: Evaluator,
    rule: Expr,
    env: dict[str, dict[str, Any]],
    kleene: tuple[Days, Days],
    born_by: dt.date | None = None,
    find_earliest: bool = True,
) -> Exact:
    """``rule``, open on the decision date under Kleene logic, split on its finite facts
    and then, if still open, on its unknown dates too (a birth date at most ``born_by``,
    default the decision date)."""
    day = ev.day
    kleene_missing = ev.missing(rule, env)
    expr = getattr(rule, "expr", None)
    if rule.__class__ is Condition and expr.__class__ is Fact and expr.type == "bool":
        # one yes/no fact, unknown: each answer gives its own value, so the split would
        # keep the rule open on every day and name that fact, as Kleene logic does
        return Exact(kleene, kleene_missing, True)
    scopes = env_scopes(ev, env)
    slots = finite_slots(rule, env, kleene_missing, scopes, MAX_COMPLETIONS)
    sets, missing = kleene, kleene_missing
    if slots:
        if _count(slots) > MAX_COMPLETIONS:
            return Exact(kleene, kleene_missing, False)
        a = _split(ev, rule, env, slots, kleene_missing)
        if not a.outcome:  # no consistent completion: keep what Kleene says
            return Exact(kleene, kleene_missing, True)
        sets = (a.ts, a.fs)
        if truth(sets, day) is not None:
            return Exact(sets, [], True)
        missing = a.missing
    dates = date_slots(ev, rule, env, kleene_missing, born_by, scopes)
    if not dates:
        # an unknown date that cannot be split is named like a list (still exact for the
        # finite facts, as documented)
        return Exact(sets, missing, True)
    both = slots + dates
    if _count(both) > MAX_COMPLETIONS:
        return Exact(sets, missing, False)
    b = _split(ev, rule, env, both, kleene_missing)
    values = set(b.outcome.values())
    if not values or None in values or len(values) > 1:
        return Exact(sets, b.missing if values else missing, True)
    ts, fs = sets
    if values == {True}:
        # true today in every completion; the last day is not claimed (each completion's
        # days hold only for its own dates)
        return Exact((union(ts, ((day, day),)), fs), [], True, dates_exact=False)
    fs = union(fs, ((day, day),))
    if not find_earliest:  # only the status was asked for (``_true_on``)
        return Exact((ts, fs), [], True, dates_exact=False)
    # false today in every completion: the earliest date is the first later day on which
    # every completion is true — if that holds for every date, not just the representatives
    # (a day before the first of those is false for some representative: not earlier)
    first = first_from(b.ts, day + 1)
    for _try in range(EARLIEST_TRIES):
        if first is None:
            return Exact((ts, fs), [], True)  # no later day is true in every completion
        if _true_on(ev, rule, env, first, born_by or ev.today):
            return Exact((union(ts, ((first, first),)), fs), [], True)
        first = first_from(b.ts, first + 1)
    return Exact((ts, fs), [], True, dates_exact=False)


def _true_on(
    ev: Evaluator, rule: Expr, env: dict[str, dict[str, Any]], day: int, born_by: dt.date
) -> bool:
    """Whether ``rule`` is true on ``day`` for every completion (split as on a decision
    date; nobody born after ``born_by``, the decision date of the case)."""
    other = Evaluator(ev.params, dt.date.fromordinal(day), ev.generated)
    sets = other.quiet_sets(rule, env)
    if truth(sets, day) is None:
        sets = exact(other, rule, env, sets, born_by, find_earliest=False).sets
    return truth(sets, day) is True
