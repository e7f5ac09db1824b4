"""Per-case evaluation of rule trees: three-valued, over time, explained.

Every boolean node evaluates not to one truth value but to two sets of dates:
the days on which it is certainly true and those on which it is certainly false
(facts held as they are). On any other day it is unknown. From these sets come,
in one pass, the value on the decision date (Kleene logic), the earliest date a
failing condition would pass, and the date a passing one stops passing (a child
turning 18, the §2.2 window closing).

Sets are tuples of disjoint, sorted, inclusive ``(first, last)`` day ordinals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.engine import codegen
from hukou.engine.closures import bool_fn, value_fn
from hukou.policy.expr import (
    And,
    Condition,
    Default,
    Exists,
    Expr,
    Fact,
    FirstOf,
    Not,
    Or,
    walk,
)
from hukou.policy.params import ResolvedParameters
from hukou.policy.rules.vocabulary import DWELLING_FACTS, PERSON_FACTS, RELATIVE_FACTS

Days = tuple[tuple[int, int], ...]
NEG = -(10**7)
POS = 10**7
ALL: Days = ((NEG, POS),)
EMPTY: Days = ()
TRUE = (ALL, EMPTY)
FALSE = (EMPTY, ALL)
UNKNOWN = (EMPTY, EMPTY)


def intersect(a: Days, b: Days) -> Days:
    if a is ALL:
        return b
    if b is ALL:
        return a
    if not a or not b:
        return EMPTY
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def union(a: Days, b: Days) -> Days:
    if not a:
        return b
    if not b:
        return a
    if a is ALL or b is ALL:
        return ALL
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(a + b):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    if merged[0][0] <= NEG and merged[0][1] >= POS:
        return ALL  # kept identical, so "true on every day" is a cheap test
    return tuple(merged)


def contains(days: Days, day: int) -> bool:
    for lo, hi in days:
        if lo <= day <= hi:
            return True
    return False


def first_from(days: Days, day: int) -> int | None:
    """The first day in ``days`` on or after ``day``."""
    for lo, hi in days:
        if hi >= day:
            return max(lo, day)
    return None


def last_of_run(days: Days, day: int) -> int | None:
    """The last day of the run in ``days`` that contains ``day``."""
    for lo, hi in days:
        if lo <= day <= hi:
            return hi
    return None


def _at_or_after(day: int) -> Days:
    return ((day, POS),)


def _at_or_before(day: int) -> Days:
    return ((NEG, day),)


def temporal_sets(op: str, day: int) -> tuple[Days, Days]:
    """The days on which ``TODAY op day`` holds, and those on which it fails."""
    if day >= POS:  # an open end: "until ever"
        return (ALL, EMPTY) if op in ("<=", "<", "!=") else (EMPTY, ALL)
    if op == ">=":
        return _at_or_after(day), _at_or_before(day - 1)
    if op == ">":
        return _at_or_after(day + 1), _at_or_before(day)
    if op == "<=":
        return _at_or_before(day), _at_or_after(day + 1)
    if op == "<":
        return _at_or_before(day - 1), _at_or_after(day)
    if op == "==":
        return ((day, day),), ((NEG, day - 1), (day + 1, POS))
    return ((NEG, day - 1), (day + 1, POS)), ((day, day),)


def truth(sets: tuple[Days, Days], day: int) -> bool | None:
    if contains(sets[0], day):
        return True
    if contains(sets[1], day):
        return False
    return None


class Trace:
    """One explained node: a condition (or exception, or list item) and what it found."""

    __slots__ = ("children", "clause", "en", "facts", "key", "kind", "sets", "zh")

    def __init__(
        self,
        kind: str,  # "condition" | "exception" | "item" | "option"
        key: str,
        clause: str,
        zh: str,
        en: str,
        sets: tuple[Days, Days] = UNKNOWN,
    ) -> None:
        self.kind = kind
        self.key = key
        self.clause = clause
        self.zh = zh
        self.en = en
        self.sets = sets
        self.facts: dict[str, Any] = {}
        self.children: list[Trace] = []

    def __repr__(self) -> str:
        return f"Trace({self.kind} {self.clause} {self.key})"


_SOURCES: dict[str, dict[str, tuple[Any, str, str, str]]] = {
    "person": PERSON_FACTS,
    "relative": {**PERSON_FACTS, **RELATIVE_FACTS},
    "dwelling": DWELLING_FACTS,
}


def register_kind(kind: str, facts: dict[str, tuple[Any, str, str, str]]) -> None:
    """Add a kind of scope (another rule set's facts, e.g. the permit rules') whose facts
    name the fields of the case model that answer them."""
    known = _SOURCES.setdefault(kind, facts)
    if known is not facts and known != facts:
        raise ValueError(f"scope kind {kind!r} is already registered with other facts")


def fact_table(kind: str) -> dict[str, tuple[Any, str, str, str]]:
    """The facts of a kind of scope: name -> (type, zh, en, field that answers it)."""
    return _SOURCES.get(kind, {})


def source_of(scope: dict[str, Any], name: str) -> str:
    """The field of the case model that answers fact ``name`` in ``scope``."""
    if name == "relatives":
        return "relatives"
    src = _SOURCES[scope["__kind__"]][name][3]
    if src.startswith("^"):
        return f"{scope['__owner__']}.{src[1:]}"
    return f"{scope['__path__']}.{src}"


def sources_of(scope: dict[str, Any], name: str) -> tuple[str, ...]:
    """The fields of the case model that answer fact ``name`` in ``scope``: one, but a
    fact derived from several (a dwelling's ``hukou_here`` from its own county and the
    owner's hukou) names those of its inputs that are unknown (``scopes.__sources__``)."""
    over = scope.get("__sources__")
    if over is not None:
        found = over.get(name)
        if found is not None:
            return found  # type: ignore[no-any-return]
    return (source_of(scope, name),)


GENERATED = True
"""Run rules as generated source (``codegen.py``); False: as closures (``closures.py``)."""


class Evaluator:
    """Evaluates rule trees for one case on one date with one set of parameters.

    Rule nodes run as Python source generated once per named condition
    (``codegen.py``), or as the closures of ``closures.py`` (``generated=False``,
    the reference the tests compare with); named conditions are memoised per
    binding of the scopes they read, so a channel embedded in a relative's route
    is evaluated once per case.
    """

    def __init__(self, params: ResolvedParameters, today: dt.date, generated: bool | None = None):
        self.params = params
        self.today = today
        self.day = today.toordinal()
        self.leap = str(params.values.get("readings.leap_day_anniversary", "feb28"))
        self.stack: list[Trace] = []
        self.memo: dict[tuple[int, ...], tuple[tuple[Days, Days], Trace]] = {}
        # generated code: conditions reading one scope are memoised per scope, by node
        self.memos: dict[int, dict[int, tuple[tuple[Days, Days], Trace]]] = {}
        self.alive: list[dict[str, Any]] = []  # the scopes ``memos`` is keyed by (by id)
        self.generated = GENERATED if generated is None else generated
        # split open results on their unknown finite facts (``exact.py``); False: Kleene only
        self.split = True
        self.bool_fn = codegen.root_fn if self.generated else bool_fn
        # id(env) -> (env, the scopes of the case it reaches): ``exact.env_scopes``
        self.env_scopes: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    def fresh(self) -> Evaluator:
        """A new evaluator for the same parameters, date and code path (memos empty)."""
        return Evaluator(self.params, self.today, self.generated)

    def value(self, node: Expr, env: dict[str, dict[str, Any]]) -> Any:
        return value_fn(node)(self, env)

    def sets(self, node: Expr, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        return self.bool_fn(node)(self, env)

    def quiet_sets(self, node: Expr, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        """``sets`` without adding to the trace being built."""
        if self.generated:
            return codegen.quiet_fn(node)(self, env)
        saved, self.stack = self.stack, []
        try:
            return self.bool_fn(node)(self, env)
        finally:
            self.stack = saved

    # ---- entry points -------------------------------------------------------
    def explain(self, node: Condition, env: dict[str, dict[str, Any]]) -> Trace:
        """Evaluate a named condition and return its explanation tree."""
        if self.generated:
            hit = codegen.EXPLAIN.get(id(node))
            return (codegen.explain_fn(node) if hit is None else hit[1])(self, env)
        self.quiet_sets(node, env)
        return self.memo[(id(node), *[id(env[s]) for s in free_scopes(node)])][1]

    def choose(self, node: FirstOf, env: dict[str, dict[str, Any]]) -> tuple[str | None, Trace]:
        """§4.3-style ordered choice on the decision date: (value or None if open, trace)."""
        if self.generated:
            return codegen.choose_fn(node)(self, env)
        trace = Trace("condition", node.key, node.clause, "", "")
        saved, self.stack = self.stack, [trace]
        chosen: str | None = None
        open_before = False
        for option in node.options:
            opt = Trace("option", option.value, option.clause, option.zh, option.en)
            trace.children.append(opt)
            self.stack.append(opt)
            opt.sets = self.sets(option.when, env)
            self.stack.pop()
            v = truth(opt.sets, self.day)
            if v is True:
                chosen = None if open_before else option.value
                break
            if v is None:
                open_before = True
        self.stack = saved
        return chosen, trace

    # ---- what is missing ----------------------------------------------------
    def missing(self, node: Expr, env: dict[str, dict[str, Any]]) -> list[str]:
        """Unknown facts on whose answers an open result on the decision date still hangs.

        Walks only through sub-expressions that are themselves open: a part
        already true or false cannot be changed by facts below it, so the list
        is complete (answer all of them and the result is determined) and holds
        nothing that cannot matter that way.
        """
        out: dict[str, None] = {}
        saved, self.stack = self.stack, []
        try:
            if self.generated:
                codegen.missing_fn(node)(self, env, out)
            elif self._open(node, env):
                self._missing(node, env, out)
        finally:
            self.stack = saved
        return list(out)

    def _open(self, node: Expr, env: dict[str, dict[str, Any]]) -> bool:
        ts, fs = self.bool_fn(node)(self, env)
        self.stack.clear()  # nothing is being explained here
        day = self.day
        for lo, hi in ts:
            if lo <= day <= hi:
                return False
        return all(not (lo <= day <= hi) for lo, hi in fs)

    def _missing(self, node: Expr, env: dict[str, dict[str, Any]], out: dict[str, None]) -> None:
        """``node`` is open on the decision date: descend into its open parts."""
        if isinstance(node, Condition):
            self._missing(node.expr, env, out)
        elif isinstance(node, And | Or):
            for item in node.items:
                if self._open(item, env):
                    self._missing(item, env, out)
        elif isinstance(node, Not):
            self._missing(node.item, env, out)
        elif isinstance(node, Default):
            for part in (node.base, *(e.when for e in node.exceptions)):
                if self._open(part, env):
                    self._missing(part, env, out)
        elif isinstance(node, Exists):
            items = self.value(node.collection, env)
            if items is None:
                coll = node.collection
                owner = env[coll.scope]
                out[source_of(owner, coll.name)] = None
                self._missing_around_list(node, env, owner, out)
                return
            for item in items:
                inner = {**env, node.item_scope: item}
                if self._open(node.where, inner):
                    self._missing(node.where, inner, out)
        else:
            self._missing_leaves(node, env, out)

    def _missing_around_list(
        self,
        node: Exists,
        env: dict[str, dict[str, Any]],
        owner: dict[str, Any],
        out: dict[str, None],
    ) -> None:
        """An unknown list: also ask now for the facts its items' rule reads from
        outside the items (the owner's residence history for §1.2, the owner's hukou
        for R2a, the applicant's own facts), so that answering the list does not raise
        new questions beyond the items themselves. Only those that matter: the rule is
        explored for an item whose every fact is unknown, and a part already decided
        without the item (a registration held makes the permit moot) is not entered."""
        if node.collection.name != "dwellings":
            for fact in walk(node.where):
                if not isinstance(fact, Fact) or fact.scope == node.item_scope:
                    continue
                if fact.scope in env and env[fact.scope].get(fact.name, 0) is None:
                    out.update(dict.fromkeys(sources_of(env[fact.scope], fact.name)))
            return
        path = f"{owner['__path__']}.dwellings[?]"
        item: dict[str, Any] = dict.fromkeys(DWELLING_FACTS)
        item.update(__path__=path, __owner__=owner["__path__"], __kind__="dwelling")
        item["__keys__"] = _unknown_item_keys(path)
        inner = {**env, node.item_scope: item}
        if not self._open(node.where, inner):
            return
        found: dict[str, None] = {}
        self._missing(node.where, inner, found)
        known = {
            # derived from the owner's facts once the item is known: asked only if unknown
            f"{owner['__path__']}.residence_history": owner.get("residence_history_known"),
            f"{owner['__path__']}.hukou.address.county": owner.get("hukou_in_jiaxing") is not None,
        }
        for name in found:
            if name.startswith(path) or known.get(name):
                continue
            out[name] = None

    def _missing_leaves(
        self, node: Expr, env: dict[str, dict[str, Any]], out: dict[str, None]
    ) -> None:
        if isinstance(node, Fact):
            scope = env[node.scope]
            if scope[node.name] is None:
                out.update(dict.fromkeys(sources_of(scope, node.name)))
            return
        for child in node.children():
            self._missing_leaves(child, env, out)


def _unknown_item_keys(path: str) -> Any:
    from hukou.engine.scopes import fact_keys  # scopes imports the case model: late

    return fact_keys(path)


def find_node(trace: Trace, key: str) -> Trace | None:
    """The first node of an explanation with ``key`` (depth first; list items aside)."""
    if trace.key == key and trace.kind != "item":
        return trace
    for child in trace.children:
        hit = find_node(child, key)
        if hit is not None:
            return hit
    return None


_FREE: dict[int, tuple[str, ...]] = {}


def free_scopes(node: Expr) -> tuple[str, ...]:
    """The scopes a rule reads that it does not bind itself (cached per node)."""
    hit = _FREE.get(id(node))
    if hit is None:
        found: set[str] = set()
        _free(node, frozenset(), found)
        hit = _FREE[id(node)] = tuple(sorted(found))
    return hit


def _free(node: Expr, bound: frozenset[str], found: set[str]) -> None:
    if isinstance(node, Fact):
        if node.scope not in bound:
            found.add(node.scope)
        return
    if isinstance(node, Exists):
        _free(node.collection, bound, found)
        _free(node.where, bound | {node.item_scope}, found)
        return
    if isinstance(node, FirstOf):
        for option in node.options:
            _free(option.when, bound, found)
        return
    for child in node.children():
        _free(child, bound, found)
