"""Rule trees compiled once into Python closures, for the per-case engine.

"and" stops at a part that is false on every day, "or" at one true on every day:
what follows cannot change the result, its earliest date or the facts that
matter, and the explanation then shows the examination as an officer does it,
up to the condition that decides.

Walking the tree and dispatching on node types for every case is the slow part
of a per-case decision; here each node becomes a closure the first time it is
seen, with its children's closures captured. The semantics are those written in
``evaluate.py`` (which calls these): three-valued truth as sets of days, traces
for named conditions, facts recorded as they are read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hukou.policy import calendar
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
    fill_label_cached,
)

if TYPE_CHECKING:
    from hukou.engine.evaluate import Days, Evaluator

Env = dict[str, dict[str, Any]]
SetsFn = Callable[["Evaluator", Env], "tuple[Days, Days]"]
ValueFn = Callable[["Evaluator", Env], Any]

_BOOL: dict[int, tuple[Expr, SetsFn]] = {}
_VALUE: dict[int, tuple[Expr, ValueFn]] = {}

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def bool_fn(node: Expr) -> SetsFn:
    hit = _BOOL.get(id(node))
    if hit is None:
        hit = _BOOL[id(node)] = (node, _compile_bool(node))
    return hit[1]


def value_fn(node: Expr) -> ValueFn:
    hit = _VALUE.get(id(node))
    if hit is None:
        hit = _VALUE[id(node)] = (node, _compile_value(node))
    return hit[1]


def _compile_value(node: Expr) -> ValueFn:
    if isinstance(node, Fact):
        scope_name, name = node.scope, node.name

        def fact(ev: Evaluator, env: Env) -> Any:
            scope = env[scope_name]
            v = scope[name]
            stack = ev.stack
            if stack:
                stack[-1].facts[scope["__path__"] + "." + name] = v
            return v

        return fact
    if isinstance(node, Const):
        const = node.value
        return lambda ev, env: const
    if isinstance(node, Param):
        path = node.path
        if node.type == "level":
            return lambda ev, env: ev.params.ranks[path]
        return lambda ev, env: ev.params.values[path]
    if isinstance(node, AddYears):
        start_fn, years_fn = value_fn(node.date), value_fn(node.years)

        def add_years(ev: Evaluator, env: Env) -> Any:
            start = start_fn(ev, env)
            if start is None:
                return None
            years = years_fn(ev, env)
            if years is None:
                return None
            if start == dt.date.max:
                return start
            return calendar.add_years(start, years, ev.leap)

        return add_years
    if isinstance(node, Today):
        return lambda ev, env: ev.today
    if isinstance(node, FirstOf):
        return lambda ev, env: ev.choose(node, env)[0]
    raise TypeError(f"not a value: {node!r}")


def _compile_bool(node: Expr) -> SetsFn:
    from hukou.engine import evaluate as E

    ALL, EMPTY, TRUE, FALSE, UNKNOWN = E.ALL, E.EMPTY, E.TRUE, E.FALSE, E.UNKNOWN
    intersect, union = E.intersect, E.union

    if isinstance(node, Condition):
        return _compile_condition(node)
    if isinstance(node, And):
        parts = tuple(bool_fn(i) for i in node.items)

        def and_(ev: Evaluator, env: Env) -> tuple[Days, Days]:
            ts, fs = ALL, EMPTY
            for part in parts:
                a, b = part(ev, env)
                if b is ALL:  # false on every day: the rest cannot matter
                    return FALSE
                if a is not ALL:
                    ts = intersect(ts, a)
                if b:
                    fs = union(fs, b)
            return ts, fs

        return and_
    if isinstance(node, Or):
        parts = tuple(bool_fn(i) for i in node.items)

        def or_(ev: Evaluator, env: Env) -> tuple[Days, Days]:
            ts, fs = EMPTY, ALL
            for part in parts:
                a, b = part(ev, env)
                if a is ALL:  # true on every day: the rest cannot matter
                    return TRUE
                if a:
                    ts = union(ts, a)
                if b is not ALL:
                    fs = intersect(fs, b)
            return ts, fs

        return or_
    if isinstance(node, Not):
        inner = bool_fn(node.item)

        def not_(ev: Evaluator, env: Env) -> tuple[Days, Days]:
            a, b = inner(ev, env)
            return b, a

        return not_
    if isinstance(node, Compare):
        op = node.op
        if node.is_temporal:
            other_fn = value_fn(node.other)
            today_op = node.today_op
            temporal_sets = E.temporal_sets
            pos = E.POS

            def temporal(ev: Evaluator, env: Env) -> tuple[Days, Days]:
                other = other_fn(ev, env)
                if other is None:
                    return UNKNOWN
                return temporal_sets(today_op, pos if other == dt.date.max else other.toordinal())

            return temporal
        left_fn, right_fn, test = value_fn(node.left), value_fn(node.right), _OPS[op]

        def compare(ev: Evaluator, env: Env) -> tuple[Days, Days]:
            a = left_fn(ev, env)
            b = right_fn(ev, env)
            if a is None or b is None:
                return UNKNOWN
            return TRUE if test(a, b) else FALSE

        return compare
    if isinstance(node, IsIn):
        item_fn, values = value_fn(node.item), frozenset(node.values)

        def isin(ev: Evaluator, env: Env) -> tuple[Days, Days]:
            v = item_fn(ev, env)
            if v is None:
                return UNKNOWN
            return TRUE if v in values else FALSE

        return isin
    if isinstance(node, Fact | Param | Const):
        get = value_fn(node)

        def flag(ev: Evaluator, env: Env) -> tuple[Days, Days]:
            v = get(ev, env)
            if v is None:
                return UNKNOWN
            return TRUE if v else FALSE

        return flag
    if isinstance(node, Exists):
        return _compile_exists(node)
    if isinstance(node, Default):
        return _compile_default(node)
    raise TypeError(f"not a condition: {node!r}")


def _compile_exists(node: Exists) -> SetsFn:
    from hukou.engine import evaluate as E

    collection = value_fn(node.collection)
    where = bool_fn(node.where)
    item_scope = node.item_scope
    ALL, EMPTY, UNKNOWN = E.ALL, E.EMPTY, E.UNKNOWN
    intersect, union, Trace = E.intersect, E.union, E.Trace

    def exists(ev: Evaluator, env: Env) -> tuple[Days, Days]:
        items = collection(ev, env)
        if items is None:
            return UNKNOWN
        ts, fs = EMPTY, ALL
        stack = ev.stack
        for item in items:
            path = item["__path__"]
            trace = Trace("item", path, "", "", "")
            if stack:
                stack[-1].children.append(trace)
            stack.append(trace)
            inner = dict(env)
            inner[item_scope] = item
            a, b = trace.sets = where(ev, inner)
            stack.pop()
            if a:
                ts = union(ts, a)
            if b is not ALL:
                fs = intersect(fs, b)
        return ts, fs

    return exists


def _compile_default(node: Default) -> SetsFn:
    from hukou.engine import evaluate as E

    base = bool_fn(node.base)
    exceptions = []
    for exc in reversed(node.exceptions):
        exceptions.append((exc, bool_fn(exc.when)))
    intersect, union, Trace = E.intersect, E.union, E.Trace

    def default(ev: Evaluator, env: Env) -> tuple[Days, Days]:
        ts, fs = base(ev, env)
        stack = ev.stack
        for exc, when in exceptions:
            trace = Trace("exception", exc.key, exc.clause, *_labels(exc.zh, exc.en, ev))
            if stack:
                stack[-1].children.append(trace)
            stack.append(trace)
            a, b = trace.sets = when(ev, env)
            stack.pop()
            if exc.then:  # when ∨ rest
                ts, fs = union(a, ts), intersect(b, fs)
            else:  # ¬when ∧ rest
                ts, fs = intersect(b, ts), union(a, fs)
        return ts, fs

    return default


def _labels(zh: str, en: str, ev: Evaluator) -> tuple[str, str]:
    """Labels with the parameters they quote filled in (``{path}``)."""
    if "{" in zh or "{" in en:
        values, digest = ev.params.values, ev.params.digest
        return fill_label_cached(zh, values, digest), fill_label_cached(en, values, digest)
    return zh, en


def _compile_condition(node: Condition) -> SetsFn:
    from hukou.engine import evaluate as E

    inner = bool_fn(node.expr)
    free = E.free_scopes(node)
    nid = id(node)
    Trace = E.Trace
    k, clause, zh, en = node.key, node.clause, node.zh, node.en

    only = free[0] if len(free) == 1 else None

    def condition(ev: Evaluator, env: Env) -> tuple[Days, Days]:
        # memoised per binding of the scopes the condition reads
        key = (nid, id(env[only])) if only else (nid, *[id(env[s]) for s in free])
        stack = ev.stack
        hit = ev.memo.get(key)
        if hit is not None:
            if stack:
                stack[-1].children.append(hit[1])
            return hit[0]
        trace = Trace("condition", k, clause, *_labels(zh, en, ev))
        if stack:
            stack[-1].children.append(trace)
        stack.append(trace)
        sets = trace.sets = inner(ev, env)
        stack.pop()
        ev.memo[key] = (sets, trace)
        return sets

    return condition
