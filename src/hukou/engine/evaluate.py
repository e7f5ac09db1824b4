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
from dataclasses import dataclass, field
from typing import Any

from hukou.policy import calendar
from hukou.policy.expr import (
    AddYears,
    And,
    Compare,
    Condition,
    Const,
    Default,
    Exception_,
    Exists,
    Expr,
    Fact,
    FirstOf,
    IsIn,
    Not,
    Or,
    Param,
    Today,
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


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def truth(sets: tuple[Days, Days], day: int) -> bool | None:
    if contains(sets[0], day):
        return True
    if contains(sets[1], day):
        return False
    return None


@dataclass(slots=True)
class Trace:
    """One explained node: a condition (or exception, or list item) and what it found."""

    kind: str  # "condition" | "exception" | "item" | "option"
    key: str
    clause: str
    zh: str
    en: str
    sets: tuple[Days, Days] = UNKNOWN
    facts: dict[str, Any] = field(default_factory=dict)
    children: list[Trace] = field(default_factory=list)
    scope: str = ""


_SOURCES = {
    "person": PERSON_FACTS,
    "relative": {**PERSON_FACTS, **RELATIVE_FACTS},
    "dwelling": DWELLING_FACTS,
}


def source_of(scope: dict[str, Any], name: str) -> str:
    """The field of the case model that answers fact ``name`` in ``scope``."""
    if name == "relatives":
        return "relatives"
    src = _SOURCES[scope["__kind__"]][name][3]
    if src.startswith("^"):
        return f"{scope['__owner__']}.{src[1:]}"
    return f"{scope['__path__']}.{src}"


class Evaluator:
    """Evaluates rule trees for one case on one date with one set of parameters."""

    def __init__(self, params: ResolvedParameters, today: dt.date):
        self.params = params
        self.today = today
        self.day = today.toordinal()
        self.leap = str(params.values.get("readings.leap_day_anniversary", "feb28"))
        self._stack: list[Trace] = []
        self._memo: dict[tuple[int, ...], tuple[tuple[Days, Days], Trace]] = {}

    # ---- values -------------------------------------------------------------
    def value(self, node: Expr, env: dict[str, dict[str, Any]]) -> Any:
        t = type(node)
        if t is Fact:
            scope = env[node.scope]  # type: ignore[attr-defined]
            v = scope[node.name]  # type: ignore[attr-defined]
            if self._stack:
                self._stack[-1].facts[f"{scope['__path__']}.{node.name}"] = v  # type: ignore[attr-defined]
            return v
        if t is Const:
            return node.value  # type: ignore[attr-defined]
        if t is Param:
            path = node.path  # type: ignore[attr-defined]
            if node.type == "level":
                return self.params.ranks[path]
            return self.params.values[path]
        if t is AddYears:
            start = self.value(node.date, env)  # type: ignore[attr-defined]
            years = self.value(node.years, env)  # type: ignore[attr-defined]
            if start is None or years is None:
                return None
            if start == dt.date.max:
                return start
            return calendar.add_years(start, years, self.leap)
        if t is Today:
            return self.today
        if t is FirstOf:
            return self.choose(node, env)[0]  # type: ignore[arg-type]
        raise TypeError(f"not a value: {node!r}")

    # ---- truth --------------------------------------------------------------
    def sets(self, node: Expr, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        t = type(node)
        if t is Condition:
            return self._condition(node, env)  # type: ignore[arg-type]
        if t is And:
            ts, fs = ALL, EMPTY
            for item in node.items:  # type: ignore[attr-defined]
                a, b = self.sets(item, env)
                ts, fs = intersect(ts, a), union(fs, b)
            return ts, fs
        if t is Or:
            ts, fs = EMPTY, ALL
            for item in node.items:  # type: ignore[attr-defined]
                a, b = self.sets(item, env)
                ts, fs = union(ts, a), intersect(fs, b)
            return ts, fs
        if t is Not:
            a, b = self.sets(node.item, env)  # type: ignore[attr-defined]
            return b, a
        if t is Compare:
            return self._compare(node, env)  # type: ignore[arg-type]
        if t is IsIn:
            v = self.value(node.item, env)  # type: ignore[attr-defined]
            if v is None:
                return UNKNOWN
            return TRUE if v in node.values else FALSE  # type: ignore[attr-defined]
        if t is Fact:
            v = self.value(node, env)
            return UNKNOWN if v is None else (TRUE if v else FALSE)
        if t is Param or t is Const:
            return TRUE if self.value(node, env) else FALSE
        if t is Exists:
            return self._exists(node, env)  # type: ignore[arg-type]
        if t is Default:
            return self._default(node, env)  # type: ignore[arg-type]
        raise TypeError(f"not a condition: {node!r}")

    def _compare(self, node: Compare, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        if node.is_temporal:
            other = self.value(node.other, env)
            if other is None:
                return UNKNOWN
            day = POS if other == dt.date.max else other.toordinal()
            return temporal_sets(node.today_op, day)
        a = self.value(node.left, env)
        b = self.value(node.right, env)
        if a is None or b is None:
            return UNKNOWN
        return TRUE if _COMPARE[node.op](a, b) else FALSE

    def _exists(self, node: Exists, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        items = self.value(node.collection, env)
        if items is None:
            return UNKNOWN
        ts, fs = EMPTY, ALL
        for item in items:
            trace = Trace("item", item["__path__"], "", "", "", scope=item["__path__"])
            self._push(trace)
            inner = {**env, node.item_scope: item}
            trace.sets = self.sets(node.where, inner)
            self._stack.pop()
            ts, fs = union(ts, trace.sets[0]), intersect(fs, trace.sets[1])
        return ts, fs

    def _default(self, node: Default, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        ts, fs = self.sets(node.base, env)
        for exc in reversed(node.exceptions):
            a, b = self._exception(exc, env)
            if exc.then:  # when ∨ rest
                ts, fs = union(a, ts), intersect(b, fs)
            else:  # ¬when ∧ rest
                ts, fs = intersect(b, ts), union(a, fs)
        return ts, fs

    def _exception(self, exc: Exception_, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        trace = Trace("exception", exc.key, exc.clause, exc.zh, exc.en)
        self._push(trace)
        trace.sets = self.sets(exc.when, env)
        self._stack.pop()
        return trace.sets

    def _memo_key(self, node: Expr, env: dict[str, dict[str, Any]]) -> tuple[int, ...]:
        return (id(node), *(id(env[s]) for s in free_scopes(node)))

    def _condition(self, node: Condition, env: dict[str, dict[str, Any]]) -> tuple[Days, Days]:
        key = self._memo_key(node, env)
        hit = self._memo.get(key)
        if hit is not None:
            if self._stack:
                self._stack[-1].children.append(hit[1])
            return hit[0]
        trace = Trace("condition", node.key, node.clause, node.zh, node.en, scope=_scope_path(env))
        self._push(trace)
        trace.sets = self.sets(node.expr, env)
        self._stack.pop()
        self._memo[key] = (trace.sets, trace)
        return trace.sets

    def _push(self, trace: Trace) -> None:
        if self._stack:
            self._stack[-1].children.append(trace)
        self._stack.append(trace)

    # ---- entry points -------------------------------------------------------
    def explain(self, node: Condition, env: dict[str, dict[str, Any]]) -> Trace:
        """Evaluate a named condition and return its explanation tree."""
        saved, self._stack = self._stack, []
        self._condition(node, env)
        self._stack = saved
        return self._memo[self._memo_key(node, env)][1]

    def choose(self, node: FirstOf, env: dict[str, dict[str, Any]]) -> tuple[str | None, Trace]:
        """§4.3-style ordered choice on the decision date: (value or None if open, trace)."""
        trace = Trace("condition", node.key, node.clause, "", "", scope=_scope_path(env))
        saved, self._stack = self._stack, [trace]
        chosen: str | None = None
        open_before = False
        for option in node.options:
            opt = Trace("option", option.value, option.clause, option.zh, option.en)
            self._push(opt)
            opt.sets = self.sets(option.when, env)
            self._stack.pop()
            v = truth(opt.sets, self.day)
            if v is True:
                chosen = None if open_before else option.value
                break
            if v is None:
                open_before = True
        self._stack = saved
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
        self._missing(node, env, out)
        return list(out)

    def _open(self, node: Expr, env: dict[str, dict[str, Any]]) -> bool:
        saved, self._stack = self._stack, []
        try:
            return truth(self.sets(node, env), self.day) is None
        finally:
            self._stack = saved

    def _missing(self, node: Expr, env: dict[str, dict[str, Any]], out: dict[str, None]) -> None:
        if not self._open(node, env):
            return
        t = type(node)
        if t is Condition:
            self._missing(node.expr, env, out)  # type: ignore[attr-defined]
        elif t in (And, Or):
            for item in node.items:  # type: ignore[attr-defined]
                self._missing(item, env, out)
        elif t is Not:
            self._missing(node.item, env, out)  # type: ignore[attr-defined]
        elif t is Default:
            self._missing(node.base, env, out)  # type: ignore[attr-defined]
            for exc in node.exceptions:  # type: ignore[attr-defined]
                self._missing(exc.when, env, out)
        elif t is Exists:
            items = self.value(node.collection, env)  # type: ignore[attr-defined]
            if items is None:
                coll = node.collection  # type: ignore[attr-defined]
                out[source_of(env[coll.scope], coll.name)] = None
                return
            for item in items:
                self._missing(node.where, {**env, node.item_scope: item}, out)  # type: ignore[attr-defined]
        else:
            self._missing_leaves(node, env, out)

    def _missing_leaves(
        self, node: Expr, env: dict[str, dict[str, Any]], out: dict[str, None]
    ) -> None:
        if isinstance(node, Fact):
            scope = env[node.scope]
            if scope[node.name] is None:
                out[source_of(scope, node.name)] = None
            return
        for child in node.children():
            self._missing_leaves(child, env, out)


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


def _scope_path(env: dict[str, dict[str, Any]]) -> str:
    # the innermost bound scope names where a condition was evaluated
    return next(reversed(env.values()))["__path__"] if env else ""
