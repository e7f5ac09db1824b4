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
- The other unknown facts (dates, numbers, lists, county codes) are named when an
  open completion still hangs on them.

The number of completions is bounded by ``MAX_COMPLETIONS``; over it the Kleene
answer is kept and the result says it is not exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from hukou.engine.evaluate import (
    ALL,
    Days,
    Evaluator,
    intersect,
    source_of,
    truth,
)
from hukou.policy.expr import And, Condition, Default, Exists, Expr, Fact, Not, Or, walk
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


_FINITE: dict[int, dict[str, tuple[Any, ...]]] = {}


def _finite_facts(rule: Expr) -> dict[str, tuple[Any, ...]]:
    """The finite-domain facts a rule reads anywhere, by name (cached per rule)."""
    found = _FINITE.get(id(rule))
    if found is None:
        found = {}
        for f in walk(rule):
            if isinstance(f, Fact):
                dom = domain(f)
                if dom is not None:
                    found.setdefault(f.name, dom)
        _FINITE[id(rule)] = found
    return found


def _scopes(value: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The scopes of a case: the env's, and the items of their lists (relatives,
    dwellings …), a few levels down."""
    out: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "__kind__" in value:
            out.append(value)
        if depth < 3:
            for v in value.values():
                if isinstance(v, dict | list):
                    out += _scopes(v, depth + 1)
    elif isinstance(value, list) and depth < 3:
        for v in value:
            out += _scopes(v, depth + 1)
    return out


def finite_slots(rule: Expr, env: dict[str, dict[str, Any]], missing: list[str]) -> list[Slot]:
    """The unknown finite-domain facts among ``missing`` (the facts on the open paths of
    ``rule``, ``Evaluator.missing``, which the compiled rules compute fast), with their
    scopes: the same set ``open_finite_facts`` finds by walking, at a fraction of its cost
    (it re-evaluated every open sub-expression)."""
    wanted = set(missing)
    facts = _finite_facts(rule)
    out: dict[tuple[int, str], Slot] = {}
    seen: set[int] = set()
    for scope in _scopes(env):
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        for name, dom in facts.items():
            if name in scope and scope[name] is None:
                try:
                    src = source_of(scope, name)
                except KeyError:
                    continue
                if src in wanted:
                    out.setdefault((id(scope), name), (scope, name, dom))
    return list(out.values())


def _couple(slots: list[Slot]) -> list[tuple[dict[str, Any], Any]] | None:
    """Make a completion one the case model can produce: a household outside Jiaxing is
    not in Jiaxing (``scopes._hukou``). Returns the scopes whose ``hukou_in_jiaxing`` was
    overridden, with the value to restore; None for a completion to skip (the same as
    another one)."""
    split = {(id(scope), name) for scope, name, _dom in slots}
    saved: list[tuple[dict[str, Any], Any]] = []
    for scope, name, _dom in slots:
        if name != "hukou_kind" or scope[name] != "outside_jiaxing":
            continue
        if (id(scope), "hukou_in_jiaxing") in split:
            if scope["hukou_in_jiaxing"]:
                for s, v in saved:
                    s["hukou_in_jiaxing"] = v
                return None
        elif scope.get("hukou_in_jiaxing") is not False:
            saved.append((scope, scope.get("hukou_in_jiaxing")))
            scope["hukou_in_jiaxing"] = False
    return saved


def exact(
    ev: Evaluator,
    rule: Expr,
    env: dict[str, dict[str, Any]],
    kleene: tuple[Days, Days],
) -> Exact:
    """``rule``, open on the decision date under Kleene logic, split on its finite facts."""
    kleene_missing = ev.missing(rule, env)
    slots = finite_slots(rule, env, kleene_missing)
    if not slots:
        return Exact(kleene, kleene_missing, True)
    count = 1
    for _scope, _name, dom in slots:
        count *= len(dom)
    if count > MAX_COMPLETIONS:
        return Exact(kleene, kleene_missing, False)

    day = ev.day
    ts: Days = ALL
    fs: Days = ALL
    outcome: dict[tuple[Any, ...], bool | None] = {}
    others: dict[str, None] = {}  # non-finite facts an open completion hangs on
    names = [source_of(scope, name) for scope, name, _dom in slots]

    def fresh() -> Evaluator:
        return Evaluator(ev.params, ev.today, ev.generated)

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
                others.update(dict.fromkeys(sub.missing(rule, env)))
            for scope, v in saved:
                scope["hukou_in_jiaxing"] = v
        named: dict[str, None] = {}
        for i, (scope, name, dom) in enumerate(slots):
            if names[i] in named:
                continue
            both_open: list[tuple[Any, ...]] = []
            for combo, value in outcome.items():
                for v in dom:
                    if v == combo[i]:
                        continue
                    other = outcome.get((*combo[:i], v, *combo[i + 1 :]), value)
                    if other != value:
                        named[names[i]] = None
                        break
                    if value is None:
                        both_open.append(combo)
                if names[i] in named:
                    break
            else:
                # open either way: f may still matter together with an unknown date or list
                for combo in both_open:
                    for (s2, n2, _d), v in zip(slots, combo, strict=True):
                        s2[n2] = v
                    scope[name] = None
                    saved = _couple(slots) or []
                    hangs = names[i] in fresh().missing(rule, env)
                    for s2, v in saved:
                        s2["hukou_in_jiaxing"] = v
                    if hangs:
                        named[names[i]] = None
                        break
    finally:
        for scope, name, _dom in slots:
            scope[name] = None
    if not outcome:  # no consistent completion: keep what Kleene says
        return Exact(kleene, kleene_missing, True)
    if truth((ts, fs), day) is not None:
        return Exact((ts, fs), [], True)
    keep = {**named, **others}
    ordered = [m for m in kleene_missing if m in keep]
    ordered += [m for m in keep if m not in ordered]
    return Exact((ts, fs), ordered, True)
