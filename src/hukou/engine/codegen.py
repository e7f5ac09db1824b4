"""Rule trees compiled to straight-line Python source, for the per-case engine.

The same semantics as ``closures.py`` (which stays, as the reference path the
tests compare this one with), with less interpretation per case: each named
``Condition`` becomes one Python function whose body inlines every node below it
down to the next named condition — "and", "or", "not", comparisons, list
membership, fact reads and date arithmetic — so a case costs one call per named
condition instead of one per node.

Inside a body, a time-independent part (a comparison of facts, a flag, a code in
a list) is carried as a three-valued Python value (``None`` unknown, otherwise
its truthiness) rather than as a pair of day sets; parts that depend on the
decision date (``TODAY op date``, named conditions, ``exists``, defaults) are
carried as the pair ``(certainly true days, certainly false days)`` and combined
with the helpers of ``evaluate.py``. Both give exactly the sets, the traces and
the facts (in reading order) that the closures give: "and" stops at a part false
on every day, "or" at one true on every day, named conditions are memoised per
binding of their free scopes.

A condition's function takes the trace it hangs under (``None`` when nothing is
being explained) and its free scopes as arguments; facts are recorded into the
trace being built, which is known where the code is generated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hukou.engine import codecache
from hukou.engine.scopes import DERIVED_FACTS
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
    label_params,
    walk,
)

if TYPE_CHECKING:
    from hukou.engine.evaluate import Days, Evaluator, Trace

Env = dict[str, dict[str, Any]]
RootFn = Callable[["Evaluator", Env], "tuple[Days, Days]"]
CondFn = Callable[..., "tuple[Days, Days]"]
MissingFn = Callable[["Evaluator", Env, dict[str, None]], None]
ExplainFn = Callable[["Evaluator", Env], "Trace"]
ChooseFn = Callable[["Evaluator", Env], "tuple[str | None, Trace]"]
MaterialsFn = Callable[["Evaluator", Env], list[Any]]

# id(node) -> (node, compiled): the node is kept so that its id is never reused
_CONDITIONS: dict[int, tuple[Condition, CondFn]] = {}
_ROOTS: dict[int, tuple[Expr, RootFn]] = {}
_MISSING: dict[int, tuple[Expr, MissingFn]] = {}
EXPLAIN: dict[int, tuple[Condition, ExplainFn]] = {}
_QUIET: dict[int, tuple[Expr, RootFn]] = {}
_CHOOSE: dict[int, tuple[FirstOf, ChooseFn]] = {}
MATERIALS: dict[int, tuple[Any, MaterialsFn]] = {}

SOURCES: dict[str, str] = {}  # label -> generated source, for reading and debugging


def condition_fn(node: Condition) -> CondFn:
    """``f(ev, parent_trace_or_None, *free_scopes) -> sets`` (no memo lookup: callers do it)."""
    hit = _CONDITIONS.get(id(node))
    if hit is None:
        hit = _CONDITIONS[id(node)] = (node, _compile_condition(node))
    return hit[1]


def root_fn(node: Expr) -> RootFn:
    """``f(ev, env) -> sets`` for any boolean node, hung under ``ev.stack[-1]`` if any."""
    hit = _ROOTS.get(id(node))
    if hit is None:
        hit = _ROOTS[id(node)] = (node, _compile_root(node))
    return hit[1]


def quiet_fn(node: Expr) -> RootFn:
    """``f(ev, env) -> sets`` for any boolean node, adding to no trace (``quiet_sets``)."""
    hit = _QUIET.get(id(node))
    if hit is None:
        hit = _QUIET[id(node)] = (node, _compile_root(node, quiet=True))
    return hit[1]


def choose_fn(node: FirstOf) -> ChooseFn:
    """``f(ev, env) -> (value or None, trace)``: ``Evaluator.choose`` for ``node``."""
    hit = _CHOOSE.get(id(node))
    if hit is None:
        hit = _CHOOSE[id(node)] = (node, _compile_choose(node))
    return hit[1]


def materials_fn(items: tuple[Any, ...], make: type) -> MaterialsFn:
    """``f(ev, env) -> [make(zh, en, clause, if_applicable), …]``: the items (each with
    ``zh``, ``en``, ``clause`` and an optional ``when``) whose ``when`` is not false on
    the decision date, ``if_applicable`` when it is still open (``decide._materials``)."""
    hit = MATERIALS.get(id(items))
    if hit is None:
        hit = MATERIALS[id(items)] = (items, _compile_materials(items, make))
    return hit[1]


def explain_fn(node: Condition) -> ExplainFn:
    """``f(ev, env) -> trace``: ``Evaluator.explain`` for ``node``."""
    hit = EXPLAIN.get(id(node))
    if hit is None:
        hit = EXPLAIN[id(node)] = (node, _compile_explain(node))
    return hit[1]


def missing_fn(node: Expr) -> MissingFn:
    """``f(ev, env, out)``: ``Evaluator.missing`` for ``node``, adding to ``out``."""
    hit = _MISSING.get(id(node))
    if hit is None:
        hit = _MISSING[id(node)] = (node, _compile_missing(node))
    return hit[1]


# ---- code generation -----------------------------------------------------------


@dataclass
class _Ctx:
    """Where generated code stands: scope name -> local variable, the current trace."""

    scopes: dict[str, str]
    trace: str  # variable holding the trace facts and sub-traces go to
    facts: str  # variable holding that trace's ``facts`` dict
    maybe_none: bool  # True at a root: nothing may be being explained
    quiet: bool = False  # nothing is being explained: record no facts, build no traces
    items: dict[str, str] = field(default_factory=dict)  # scopes bound by "exists" here


@dataclass
class _Kleene:
    """A time-independent part: ``None`` unknown, else true iff truthy."""

    expr: str


@dataclass
class _Sets:
    """A part given as (days certainly true, days certainly false)."""

    ts: str
    fs: str


_Result = _Kleene | _Sets


_PLAIN = (bool, int, str)


@dataclass
class _Gen:
    lines: list[str] = field(default_factory=list)
    ns: dict[str, Any] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    counter: int = 0
    uses_memo: bool = False
    uses_memos: bool = False
    uses_params: bool = False
    uses_ranks: bool = False

    def tmp(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, ind: int, line: str) -> None:
        self.lines.append("    " * ind + line)

    def key(self, node: Expr) -> str:
        """A name for ``id(node)``, the node's memo key: bound in the namespace, not written
        into the source, so the source of a rule is the same in every process (and its
        compiled code can be cached on disk, ``codecache``)."""
        name = self.keys.get(id(node))
        if name is None:
            name = self.keys[id(node)] = f"_N{len(self.keys)}"
            self.ns[name] = id(node)
        return name

    def const(self, obj: Any) -> str:
        if type(obj) in _PLAIN:
            return repr(obj)
        name = self.names.get(id(obj))
        if name is None:
            name = self.names[id(obj)] = f"_K{len(self.names)}"
            self.ns[name] = obj
        return name

    # ---- day sets -----------------------------------------------------------
    def isect(self, ind: int, target: str, x: str, y: str) -> None:
        """``target = intersect(x, y)``, its fast paths inline (same results, same objects)."""
        self.emit(ind, f"if {x} is _ALL:")
        self.emit(ind + 1, f"{target} = {y}")
        self.emit(ind, f"elif {y} is _ALL:")
        self.emit(ind + 1, f"{target} = {x}")
        self.emit(ind, f"elif not {x} or not {y}:")
        self.emit(ind + 1, f"{target} = _EMPTY")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"{target} = _intersect({x}, {y})")

    def union(self, ind: int, target: str, x: str, y: str) -> None:
        """``target = union(x, y)``, its fast paths inline (same results, same objects)."""
        self.emit(ind, f"if not {x}:")
        self.emit(ind + 1, f"{target} = {y}")
        self.emit(ind, f"elif not {y}:")
        self.emit(ind + 1, f"{target} = {x}")
        self.emit(ind, f"elif {x} is _ALL or {y} is _ALL:")
        self.emit(ind + 1, f"{target} = _ALL")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"{target} = _union({x}, {y})")

    # ---- traces -------------------------------------------------------------
    def new_trace(self, ind: int, var: str, facts: str, *fields: str) -> None:
        """``var = Trace(*fields)`` without the call (``sets`` is set once known)."""
        self.emit(ind, f"{var} = _new(_Trace)")
        for name, value in zip(("kind", "key", "clause", "zh", "en"), fields, strict=True):
            self.emit(ind, f"{var}.{name} = {value}")
        self.emit(ind, f"{var}.facts = {facts} = {{}}")
        self.emit(ind, f"{var}.children = []")

    def hang(self, ctx: _Ctx, ind: int, trace: str) -> None:
        """Add ``trace`` to the children of the trace being built, if any."""
        if ctx.maybe_none:
            self.emit(ind, f"if {ctx.trace} is not None:")
            self.emit(ind + 1, f"{ctx.trace}.children.append({trace})")
        else:
            self.emit(ind, f"{ctx.trace}.children.append({trace})")

    # ---- values -------------------------------------------------------------
    def record(self, ctx: _Ctx, ind: int, scope: str, name: str, value: str) -> None:
        if ctx.quiet:
            return
        # fact keys "<scope path>.<name>" come from the scope's FactKeys (scopes.py),
        # bound to ``k_<scope variable>`` where the scope variable is bound
        line = f"{ctx.facts}[k_{scope}[{name!r}]] = {value}"
        if ctx.maybe_none:
            self.emit(ind, f"if {ctx.facts} is not None:")
            self.emit(ind + 1, line)
        else:
            self.emit(ind, line)

    def value(self, node: Expr, ctx: _Ctx, ind: int) -> tuple[str, bool]:
        """Emit code for a value; return (expression, may be None)."""
        if isinstance(node, Fact):
            scope = ctx.scopes[node.scope]
            v = self.tmp("v")
            self.emit(ind, f"{v} = {scope}[{node.name!r}]")
            self.record(ctx, ind, scope, node.name, v)
            return v, True
        if isinstance(node, Const):
            return self.const(node.value), node.value is None
        if isinstance(node, Param):
            v = self.tmp("p")
            if node.type == "level":
                self.uses_ranks = True
                self.emit(ind, f"{v} = _PR[{node.path!r}]")
            else:
                self.uses_params = True
                self.emit(ind, f"{v} = _PV[{node.path!r}]")
            return v, True
        if isinstance(node, Today):
            return "ev.today", False
        if isinstance(node, AddYears):
            start, start_none = self.value(node.date, ctx, ind)
            out = self.tmp("d")
            inner = ind
            if start_none:
                self.emit(ind, f"if {start} is None:")
                self.emit(ind + 1, f"{out} = None")
                self.emit(ind, "else:")
                inner = ind + 1
            years, years_none = self.value(node.years, ctx, inner)
            if years_none:
                self.emit(inner, f"if {years} is None:")
                self.emit(inner + 1, f"{out} = None")
                self.emit(inner, f"elif {start} == _DATE_MAX:")
            else:
                self.emit(inner, f"if {start} == _DATE_MAX:")
            self.emit(inner + 1, f"{out} = {start}")
            self.emit(inner, "else:")
            self.emit(inner + 1, f"{out} = _add_years({start}, {years}, ev.leap)")
            return out, True
        if isinstance(node, FirstOf):
            env = "{" + ", ".join(f"{k!r}: {v}" for k, v in ctx.scopes.items()) + "}"
            v = self.tmp("v")
            self.emit(ind, f"{v} = ev.choose({self.const(node)}, {env})[0]")
            return v, True
        raise TypeError(f"not a value: {node!r}")

    # ---- booleans -----------------------------------------------------------
    def sets_of(self, r: _Result, ind: int) -> _Sets:
        """A part as a pair of sets (the module's TRUE/FALSE/UNKNOWN for a three-valued one)."""
        if isinstance(r, _Sets):
            return r
        ts, fs = self.tmp("t"), self.tmp("f")
        self.emit(ind, f"if {r.expr} is None:")
        self.emit(ind + 1, f"{ts} = {fs} = _EMPTY")
        self.emit(ind, f"elif {r.expr}:")
        self.emit(ind + 1, f"{ts}, {fs} = _ALL, _EMPTY")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"{ts}, {fs} = _EMPTY, _ALL")
        return _Sets(ts, fs)

    def boolean(self, node: Expr, ctx: _Ctx, ind: int) -> _Result:
        if isinstance(node, Condition):
            return self.call(node, ctx, ind)
        if isinstance(node, And):
            return self.and_or(node.items, True, ctx, ind)
        if isinstance(node, Or):
            return self.and_or(node.items, False, ctx, ind)
        if isinstance(node, Not):
            r = self.boolean(node.item, ctx, ind)
            if isinstance(r, _Sets):
                return _Sets(r.fs, r.ts)
            k = self.tmp("k")
            self.emit(ind, f"{k} = None if {r.expr} is None else not {r.expr}")
            return _Kleene(k)
        if isinstance(node, Compare):
            if node.is_temporal:
                return self.temporal(node, ctx, ind)
            a, a_none = self.value(node.left, ctx, ind)
            b, b_none = self.value(node.right, ctx, ind)
            tests = [f"{x} is None" for x, none in ((a, a_none), (b, b_none)) if none]
            k = self.tmp("k")
            test = f"{a} {node.op} {b}"
            if tests:
                self.emit(ind, f"{k} = None if {' or '.join(tests)} else {test}")
            else:
                self.emit(ind, f"{k} = {test}")
            return _Kleene(k)
        if isinstance(node, IsIn):
            v, none = self.value(node.item, ctx, ind)
            values = self.const(frozenset(node.values))
            k = self.tmp("k")
            if none:
                self.emit(ind, f"{k} = None if {v} is None else {v} in {values}")
            else:
                self.emit(ind, f"{k} = {v} in {values}")
            return _Kleene(k)
        if isinstance(node, Fact | Param | Const):
            v, _ = self.value(node, ctx, ind)
            return _Kleene(v)
        if isinstance(node, Exists):
            return self.exists(node, ctx, ind)
        if isinstance(node, Default):
            return self.default(node, ctx, ind)
        raise TypeError(f"not a condition: {node!r}")

    def temporal(self, node: Compare, ctx: _Ctx, ind: int) -> _Sets:
        other, none = self.value(node.other, ctx, ind)
        op = node.today_op
        ts, fs = self.tmp("t"), self.tmp("f")
        at_max = "_ALL, _EMPTY" if op in ("<=", "<", "!=") else "_EMPTY, _ALL"
        if none:
            self.emit(ind, f"if {other} is None:")
            self.emit(ind + 1, f"{ts} = {fs} = _EMPTY")
            self.emit(ind, f"elif {other} == _DATE_MAX:")
        else:
            self.emit(ind, f"if {other} == _DATE_MAX:")
        self.emit(ind + 1, f"{ts}, {fs} = {at_max}")
        self.emit(ind, "else:")
        d = self.tmp("day")
        self.emit(ind + 1, f"{d} = {other}.toordinal()")
        # as evaluate.temporal_sets, for a day before POS
        pair = {
            ">=": f"(({d}, _POS),), ((_NEG, {d} - 1),)",
            ">": f"(({d} + 1, _POS),), ((_NEG, {d}),)",
            "<=": f"((_NEG, {d}),), (({d} + 1, _POS),)",
            "<": f"((_NEG, {d} - 1),), (({d}, _POS),)",
            "==": f"(({d}, {d}),), ((_NEG, {d} - 1), ({d} + 1, _POS))",
            "!=": f"((_NEG, {d} - 1), ({d} + 1, _POS)), (({d}, {d}),)",
        }[op]
        self.emit(ind + 1, f"{ts}, {fs} = {pair}")
        return _Sets(ts, fs)

    def and_or(self, items: tuple[Expr, ...], is_and: bool, ctx: _Ctx, ind: int) -> _Result:
        # Generate the parts into a scratch buffer first: whether the whole is
        # three-valued depends on whether every part is.
        saved = self.lines
        self.lines = []
        body: list[tuple[_Result, list[str]]] = []
        for item in items:
            r = self.boolean(item, ctx, ind + 1)
            body.append((r, self.lines))
            self.lines = []
        self.lines = saved
        if all(isinstance(r, _Kleene) for r, _ in body):
            k = self.tmp("k")
            self.emit(ind, f"{k} = True" if is_and else f"{k} = False")
            self.emit(ind, "while True:")
            for r, lines in body:
                assert isinstance(r, _Kleene)
                self.lines.extend(lines)
                self.emit(ind + 1, f"if {r.expr} is None:")
                self.emit(ind + 2, f"{k} = None")
                if is_and:  # stops at a false part
                    self.emit(ind + 1, f"elif not {r.expr}:")
                    self.emit(ind + 2, f"{k} = False")
                else:  # stops at a true part
                    self.emit(ind + 1, f"elif {r.expr}:")
                    self.emit(ind + 2, f"{k} = True")
                self.emit(ind + 2, "break")
            self.emit(ind + 1, "break")
            return _Kleene(k)
        ts, fs = self.tmp("t"), self.tmp("f")
        if is_and:
            self.emit(ind, f"{ts}, {fs} = _ALL, _EMPTY")
        else:
            self.emit(ind, f"{ts}, {fs} = _EMPTY, _ALL")
        self.emit(ind, "while True:")
        i = ind + 1
        for r, lines in body:
            self.lines.extend(lines)
            if isinstance(r, _Kleene):
                k = r.expr
                if is_and:
                    # unknown: intersect(ts, EMPTY) is EMPTY; false: FALSE, stop
                    self.emit(i, f"if {k} is None:")
                    self.emit(i + 1, f"{ts} = _EMPTY")
                    self.emit(i, f"elif not {k}:")
                    self.emit(i + 1, f"{ts}, {fs} = _EMPTY, _ALL")
                    self.emit(i + 1, "break")
                else:
                    # unknown: intersect(fs, EMPTY) is EMPTY; true: TRUE, stop
                    self.emit(i, f"if {k} is None:")
                    self.emit(i + 1, f"{fs} = _EMPTY")
                    self.emit(i, f"elif {k}:")
                    self.emit(i + 1, f"{ts}, {fs} = _ALL, _EMPTY")
                    self.emit(i + 1, "break")
                continue
            a, b = r.ts, r.fs
            if is_and:
                self.emit(i, f"if {b} is _ALL:")
                self.emit(i + 1, f"{ts}, {fs} = _EMPTY, _ALL")
                self.emit(i + 1, "break")
                self.emit(i, f"if {a} is not _ALL:")
                self.isect(i + 1, ts, ts, a)
                self.emit(i, f"if {b}:")
                self.union(i + 1, fs, fs, b)
            else:
                self.emit(i, f"if {a} is _ALL:")
                self.emit(i + 1, f"{ts}, {fs} = _ALL, _EMPTY")
                self.emit(i + 1, "break")
                self.emit(i, f"if {a}:")
                self.union(i + 1, ts, ts, a)
                self.emit(i, f"if {b} is not _ALL:")
                self.isect(i + 1, fs, fs, b)
        self.emit(i, "break")
        return _Sets(ts, fs)

    def call(self, node: Condition, ctx: _Ctx, ind: int) -> _Sets:
        """A named condition: memo lookup here, its function on a miss.

        A condition reading one scope is memoised in that scope's memo (``m_<scope
        variable>``, keyed by the node); one reading several in ``ev.memo``, keyed by
        the node and the scopes (as the closures do)."""
        from hukou.engine.evaluate import free_scopes

        fn = self.const(condition_fn(node))
        scopes = [ctx.scopes[s] for s in free_scopes(node)]
        args = [x for v in scopes for x in (v, f"m_{v}")]
        h, ts, fs = self.tmp("h"), self.tmp("t"), self.tmp("f")
        if len(scopes) == 1:
            self.emit(ind, f"{h} = m_{scopes[0]}.get({self.key(node)})")
        else:
            self.uses_memo = True
            self.emit(ind, f"{h} = _memo.get({_memo_key(self, node, scopes)})")
        self.emit(ind, f"if {h} is None:")
        parent = "None" if ctx.quiet else ctx.trace
        self.emit(ind + 1, f"{ts}, {fs} = {fn}(ev, {', '.join([parent, *args])})")
        self.emit(ind, "else:")
        if not ctx.quiet:
            self.hang(ctx, ind + 1, f"{h}[1]")
        self.emit(ind + 1, f"{ts}, {fs} = {h}[0]")
        return _Sets(ts, fs)

    def bind_memo(self, ind: int, var: str) -> None:
        """Bind ``m_<var>``: the evaluator's memo for the scope in ``var``."""
        self.uses_memos = True
        self.emit(ind, f"m_{var} = _memos.get(id({var}))")
        self.emit(ind, f"if m_{var} is None:")
        self.emit(ind + 1, f"m_{var} = _memos[id({var})] = {{}}")
        self.emit(ind + 1, f"ev.alive.append({var})  # its id stays its own")

    def exists(self, node: Exists, ctx: _Ctx, ind: int) -> _Sets:
        items, _ = self.value(node.collection, ctx, ind)
        ts, fs = self.tmp("t"), self.tmp("f")
        self.emit(ind, f"if {items} is None:")
        self.emit(ind + 1, f"{ts} = {fs} = _EMPTY")
        self.emit(ind, "else:")
        i = ind + 1
        self.emit(i, f"{ts}, {fs} = _EMPTY, _ALL")
        item, tr, tf = self.tmp("item"), self.tmp("tr"), self.tmp("tf")
        self.emit(i, f"for {item} in {items}:")
        i += 1
        if _has_condition(node.where):
            self.bind_memo(i, item)
        scopes = {**ctx.scopes, node.item_scope: item}
        if ctx.quiet:  # the item's trace would hang nowhere
            inner = _Ctx(scopes, "None", "None", False, True)
        else:
            self.emit(i, f"k_{item} = {item}['__keys__']")
            self.new_trace(i, tr, tf, "'item'", f"{item}['__path__']", "''", "''", "''")
            self.hang(ctx, i, tr)
            inner = _Ctx(scopes, tr, tf, False)
        r = self.boolean(node.where, inner, i)
        if isinstance(r, _Kleene):
            k = r.expr
            self.emit(i, f"if {k} is None:")
            if not ctx.quiet:
                self.emit(i + 1, f"{tr}.sets = _UNKNOWN")
            self.emit(i + 1, f"{fs} = _EMPTY")
            self.emit(i, f"elif {k}:")
            if not ctx.quiet:
                self.emit(i + 1, f"{tr}.sets = _TRUE")
            self.emit(i + 1, f"{ts}, {fs} = _ALL, _EMPTY")
            if not ctx.quiet:
                self.emit(i, "else:")
                self.emit(i + 1, f"{tr}.sets = _FALSE")
            return _Sets(ts, fs)
        a, b = r.ts, r.fs
        if not ctx.quiet:
            self.emit(i, f"{tr}.sets = ({a}, {b})")
        self.emit(i, f"if {a}:")
        self.union(i + 1, ts, ts, a)
        self.emit(i, f"if {b} is not _ALL:")
        self.isect(i + 1, fs, fs, b)
        return _Sets(ts, fs)

    def default(self, node: Default, ctx: _Ctx, ind: int) -> _Sets:
        base = self.sets_of(self.boolean(node.base, ctx, ind), ind)
        ts, fs = self.tmp("t"), self.tmp("f")
        self.emit(ind, f"{ts}, {fs} = {base.ts}, {base.fs}")
        for exc in reversed(node.exceptions):
            if ctx.quiet:  # the exception's trace would hang nowhere
                when = self.sets_of(self.boolean(exc.when, ctx, ind), ind)
                a, b = when.ts, when.fs
                if exc.then:
                    self.union(ind, ts, a, ts)
                    self.isect(ind, fs, b, fs)
                else:
                    self.isect(ind, ts, b, ts)
                    self.union(ind, fs, a, fs)
                continue
            tr, tf = self.tmp("tr"), self.tmp("tf")
            args = [repr(x) for x in ("exception", exc.key, exc.clause)]
            args += [_label_src(exc.zh), _label_src(exc.en)]
            self.new_trace(ind, tr, tf, *args)
            self.hang(ctx, ind, tr)
            inner = _Ctx(ctx.scopes, tr, tf, False)
            when = self.sets_of(self.boolean(exc.when, inner, ind), ind)
            a, b = when.ts, when.fs
            self.emit(ind, f"{tr}.sets = ({a}, {b})")
            if exc.then:  # when ∨ rest
                self.union(ind, ts, a, ts)
                self.isect(ind, fs, b, fs)
            else:  # ¬when ∧ rest
                self.isect(ind, ts, b, ts)
                self.union(ind, fs, a, fs)
        return _Sets(ts, fs)

    # ---- what is missing (as Evaluator._missing) -----------------------------
    def missing(self, node: Expr, ctx: _Ctx, ind: int) -> None:
        """Emit code adding to ``out`` the unknown facts under ``node``, known to be open."""
        if isinstance(node, Condition):
            self.missing(node.expr, ctx, ind)
        elif isinstance(node, And | Or):
            for item in node.items:
                self.if_open(item, ctx, ind)
        elif isinstance(node, Not):
            self.missing(node.item, ctx, ind)
        elif isinstance(node, Default):
            for part in (node.base, *(e.when for e in node.exceptions)):
                self.if_open(part, ctx, ind)
        elif isinstance(node, Exists):
            coll = node.collection
            owner = ctx.scopes[coll.scope]
            items = self.tmp("v")
            self.emit(ind, f"{items} = {owner}[{coll.name!r}]")
            self.emit(ind, f"if {items} is None:")
            self.emit(ind + 1, f"out[_source_of({owner}, {coll.name!r})] = None")
            env = "{**env" + "".join(f", {k!r}: {v}" for k, v in ctx.items.items()) + "}"
            self.emit(ind + 1, f"ev._missing_around_list({self.const(node)}, {env}, {owner}, out)")
            self.emit(ind, "else:")
            var = self.tmp("item")
            self.emit(ind + 1, f"for {var} in {items}:")
            if _has_condition(node.where):
                self.bind_memo(ind + 2, var)
            inner = _Ctx(
                {**ctx.scopes, node.item_scope: var},
                "None",
                "None",
                False,
                True,
                {**ctx.items, node.item_scope: var},
            )
            self.if_open(node.where, inner, ind + 2)
        else:
            for fact in _leaf_facts(node):
                scope = ctx.scopes.get(fact.scope)
                if scope is None:
                    self.emit(ind, f"raise KeyError({fact.scope!r})")
                    return
                self.emit(ind, f"if {scope}[{fact.name!r}] is None:")
                src = self.tmp("src")
                key = f"({scope}['__path__'], {scope}['__kind__'], {fact.name!r})"
                if fact.name in _MULTI_SOURCE:  # derived: the unknown inputs of this case
                    self.emit(
                        ind + 1, f"out.update(dict.fromkeys(_sources_of({scope}, {fact.name!r})))"
                    )
                    continue
                self.emit(ind + 1, f"{src} = _SOURCES.get({key})")
                self.emit(ind + 1, f"if {src} is None:")
                self.emit(ind + 2, f"{src} = _source({scope}, {fact.name!r})")
                self.emit(ind + 1, f"out[{src}] = None")

    def if_open(self, node: Expr, ctx: _Ctx, ind: int) -> None:
        r = self.boolean(node, ctx, ind)
        if isinstance(r, _Kleene):
            self.emit(ind, f"if {r.expr} is None:")
        else:
            t, f = r.ts, r.fs  # ALL holds every day, EMPTY none
            self.emit(
                ind,
                f"if {t} is not _ALL and {f} is not _ALL"
                f" and (not {t} and not {f} or _is_open({t}, {f}, ev.day)):",
            )
        n = len(self.lines)
        self.missing(node, ctx, ind + 1)
        if len(self.lines) == n:
            self.emit(ind + 1, "pass")

    # ---- functions ----------------------------------------------------------
    def prologue(self, ind: int) -> list[str]:
        out = []
        pad = "    " * ind
        if self.uses_memo:
            out.append(f"{pad}_memo = ev.memo")
        if self.uses_memos:
            out.append(f"{pad}_memos = ev.memos")
        if self.uses_params:
            out.append(f"{pad}_PV = ev.params.values")
        if self.uses_ranks:
            out.append(f"{pad}_PR = ev.params.ranks")
        return out


def _leaf_facts(node: Expr) -> list[Fact]:
    """The facts below a leaf, in the order ``Evaluator._missing_leaves`` visits them."""
    if isinstance(node, Fact):
        return [node]
    return [f for child in node.children() for f in _leaf_facts(child)]


# facts whose answering fields depend on what the case knows (``evaluate.sources_of``)
_MULTI_SOURCE = DERIVED_FACTS

# (scope path, scope kind, fact) -> the case field that answers it (``source_of``)
_SOURCES: dict[tuple[str, str, str], str] = {}


def _source(scope: dict[str, Any], name: str) -> str:
    from hukou.engine.evaluate import source_of

    src = _SOURCES[(scope["__path__"], scope["__kind__"], name)] = source_of(scope, name)
    if len(_SOURCES) > 65536:
        _SOURCES.clear()
    return src


def _is_open(ts: Days, fs: Days, day: int) -> bool:
    for lo, hi in ts:
        if lo <= day <= hi:
            return False
    for lo, hi in fs:
        if lo <= day <= hi:
            return False
    return True


def _label_src(text: str) -> str:
    """A label as source: a constant, or filled with the parameters in force (``ev``)."""
    if label_params(text):
        return f"_fill_label({text!r}, ev.params.values, ev.params.digest)"
    return repr(text)


def _namespace() -> dict[str, Any]:
    from hukou.engine import evaluate as E

    return {
        "_ALL": E.ALL,
        "_EMPTY": E.EMPTY,
        "_TRUE": E.TRUE,
        "_FALSE": E.FALSE,
        "_UNKNOWN": E.UNKNOWN,
        "_POS": E.POS,
        "_NEG": E.NEG,
        "_DATE_MAX": dt.date.max,
        "_intersect": E.intersect,
        "_union": E.union,
        "_Trace": E.Trace,
        "_new": object.__new__,
        "_add_years": calendar.add_years,
        "_source_of": E.source_of,
        "_source": _source,
        "_sources_of": E.sources_of,
        "_SOURCES": _SOURCES,
        "_is_open": _is_open,
        "_fill_label": fill_label_cached,
    }


def _finish(gen: _Gen, header: list[str], name: str, label: str, node: object) -> Any:
    src = "\n".join(header[:1] + gen.prologue(1) + header[1:] + gen.lines) + "\n"
    ns = _namespace()
    ns.update(gen.ns)
    exec(codecache.compiled(src, f"<rule {label}>"), ns)
    SOURCES[f"{label} @{id(node):x}"] = src
    return ns[name]


def _memo_key(gen: _Gen, node: Expr, scopes: list[str]) -> str:
    return "(" + ", ".join([gen.key(node)] + [f"id({v})" for v in scopes]) + ",)"


def _has_condition(node: Expr) -> bool:
    return any(isinstance(n, Condition) for n in walk(node))


def _bind(gen: _Gen, free: tuple[str, ...], keys: bool, memos: bool) -> list[str]:
    """Code binding ``s<i>`` to the free scopes from ``env`` (and their fact keys, memos)."""
    lines = _Gen()
    for i, scope in enumerate(free):
        lines.emit(1, f"s{i} = env[{scope!r}]")
        if keys:
            lines.emit(1, f"k_s{i} = s{i}['__keys__']")
        if memos:
            lines.bind_memo(1, f"s{i}")
    gen.uses_memos |= lines.uses_memos
    return lines.lines


def _compile_condition(node: Condition) -> CondFn:
    from hukou.engine.evaluate import free_scopes

    free = free_scopes(node)
    params = [f"s{i}" for i in range(len(free))]
    gen = _Gen()
    gen.counter = len(params)
    ctx = _Ctx(dict(zip(free, params, strict=True)), "trace", "tf", False)
    r = gen.sets_of(gen.boolean(node.expr, ctx, 1), 1)
    trace_args = [repr(x) for x in ("condition", node.key, node.clause)]
    trace_args += [_label_src(node.zh), _label_src(node.en)]
    head = _Gen()
    head.new_trace(1, "trace", "tf", *trace_args)
    head.emit(1, "if parent is not None:")
    head.emit(2, "parent.children.append(trace)")
    args = "".join(f", {p}, m_{p}" for p in params)
    header = [
        f"def cond(ev, parent{args}):",
        *[f"    k_{p} = {p}['__keys__']" for p in params],
        *head.lines,
    ]
    gen.emit(1, f"sets = trace.sets = ({r.ts}, {r.fs})")
    if len(params) == 1:
        gen.emit(1, f"m_s0[{gen.key(node)}] = (sets, trace)")
    else:
        gen.uses_memo = True
        gen.emit(1, f"_memo[{_memo_key(gen, node, params)}] = (sets, trace)")
    gen.emit(1, "return sets")
    fn: CondFn = _finish(gen, header, "cond", node.key, node)
    return fn


def _compile_root(node: Expr, quiet: bool = False) -> RootFn:
    from hukou.engine.evaluate import free_scopes

    free = free_scopes(node)
    params = [f"s{i}" for i in range(len(free))]
    gen = _Gen()
    gen.counter = len(params)
    if quiet:
        ctx = _Ctx(dict(zip(free, params, strict=True)), "None", "None", False, True)
        header = ["def root(ev, env):"]
    else:
        ctx = _Ctx(dict(zip(free, params, strict=True)), "parent", "tf", True)
        header = [
            "def root(ev, env):",
            "    stack = ev.stack",
            "    parent = stack[-1] if stack else None",
            "    tf = None if parent is None else parent.facts",
        ]
    header += _bind(gen, free, not quiet, _has_condition(node))
    r = gen.boolean(node, ctx, 1)
    if isinstance(r, _Kleene):  # as the closures give it: the module's constants
        gen.emit(1, f"return _UNKNOWN if {r.expr} is None else _TRUE if {r.expr} else _FALSE")
    else:
        gen.emit(1, f"return {r.ts}, {r.fs}")
    label = ("quiet " if quiet else "") + repr(node)[:60]
    fn: RootFn = _finish(gen, header, "root", label, node)
    return fn


def _compile_missing(node: Expr) -> MissingFn:
    from hukou.engine.evaluate import free_scopes

    free = free_scopes(node)
    params = [f"s{i}" for i in range(len(free))]
    gen = _Gen()
    gen.counter = len(params)
    ctx = _Ctx(dict(zip(free, params, strict=True)), "None", "None", False, True)
    gen.if_open(node, ctx, 1)
    header = ["def missing(ev, env, out):", *_bind(gen, free, False, _has_condition(node))]
    fn: MissingFn = _finish(gen, header, "missing", "missing " + repr(node)[:60], node)
    return fn


def _compile_explain(node: Condition) -> ExplainFn:
    from hukou.engine.evaluate import free_scopes

    free = free_scopes(node)
    params = [f"s{i}" for i in range(len(free))]
    gen = _Gen()
    gen.ns["_cond"] = condition_fn(node)
    args = "".join(f", {p}, m_{p}" for p in params)
    if len(params) == 1:
        lookup = [
            f"    hit = m_s0.get({gen.key(node)})",
            "    if hit is None:",
            f"        _cond(ev, None{args})",
            f"        hit = m_s0[{gen.key(node)}]",
        ]
    else:
        gen.uses_memo = True
        lookup = [
            f"    key = {_memo_key(gen, node, params)}",
            "    hit = _memo.get(key)",
            "    if hit is None:",
            f"        _cond(ev, None{args})",
            "        hit = _memo[key]",
        ]
    header = ["def explain(ev, env):", *_bind(gen, free, False, True), *lookup, "    return hit[1]"]
    fn: ExplainFn = _finish(gen, header, "explain", "explain " + node.key, node)
    return fn


def _compile_choose(node: FirstOf) -> ChooseFn:
    from hukou.engine.evaluate import free_scopes

    free = free_scopes(node)
    params = [f"s{i}" for i in range(len(free))]
    gen = _Gen()
    gen.counter = len(params)
    scopes = dict(zip(free, params, strict=True))
    gen.new_trace(
        1, "trace", "tf", *[repr(x) for x in ("condition", node.key, node.clause, "", "")]
    )
    gen.emit(1, "chosen = None")
    gen.emit(1, "open_before = False")
    gen.emit(1, "while True:")
    for option in node.options:
        opt, of = gen.tmp("opt"), gen.tmp("of")
        fields = [repr(x) for x in ("option", option.value, option.clause, option.zh, option.en)]
        gen.new_trace(2, opt, of, *fields)
        gen.emit(2, f"trace.children.append({opt})")
        r = gen.boolean(option.when, _Ctx(scopes, opt, of, False), 2)
        if isinstance(r, _Kleene):
            k = r.expr
            gen.emit(2, f"if {k} is None:")
            gen.emit(3, f"{opt}.sets = _UNKNOWN")
            gen.emit(3, "open_before = True")
            gen.emit(2, f"elif {k}:")
            gen.emit(3, f"{opt}.sets = _TRUE")
            gen.emit(3, f"chosen = None if open_before else {option.value!r}")
            gen.emit(3, "break")
            gen.emit(2, "else:")
            gen.emit(3, f"{opt}.sets = _FALSE")
            continue
        gen.emit(2, f"{opt}.sets = ({r.ts}, {r.fs})")
        gen.emit(2, f"v = _truth({opt}.sets, ev.day)")
        gen.emit(2, "if v is True:")
        gen.emit(3, f"chosen = None if open_before else {option.value!r}")
        gen.emit(3, "break")
        gen.emit(2, "if v is None:")
        gen.emit(3, "open_before = True")
    gen.emit(2, "break")
    gen.emit(1, "trace.sets = _UNKNOWN")
    gen.emit(1, "return chosen, trace")
    header = ["def choose(ev, env):", *_bind(gen, free, True, _has_condition(node))]
    from hukou.engine.evaluate import truth

    gen.ns["_truth"] = truth
    fn: ChooseFn = _finish(gen, header, "choose", "choose " + node.key, node)
    return fn


def _compile_materials(items: tuple[Any, ...], make: type) -> MaterialsFn:
    from hukou.engine.evaluate import free_scopes

    whens = [m.when for m in items if m.when is not None]
    free = tuple(sorted({s for w in whens for s in free_scopes(w)}))
    params = [f"s{i}" for i in range(len(free))]
    gen = _Gen()
    gen.counter = len(params)
    ctx = _Ctx(dict(zip(free, params, strict=True)), "None", "None", False, True)
    gen.ns["_make"] = make
    # a plain dataclass is filled in here rather than through its __init__ (same object)
    inline = (
        dataclasses.is_dataclass(make)
        and not hasattr(make, "__post_init__")
        and [f.name for f in dataclasses.fields(make)] == ["zh", "en", "clause", "if_applicable"]
        and all(f.init for f in dataclasses.fields(make))
        and "__slots__" not in vars(make)
    )

    def append(ind: int, m: Any, if_applicable: str) -> None:
        if not inline:
            zh, en = _label_src(m.zh), _label_src(m.en)
            gen.emit(ind, f"out.append(_make({zh}, {en}, {m.clause!r}, {if_applicable}))")
            return
        gen.emit(ind, "o = _new(_make)")
        gen.emit(ind, f"o.zh = {_label_src(m.zh)}")
        gen.emit(ind, f"o.en = {_label_src(m.en)}")
        gen.emit(ind, f"o.clause = {m.clause!r}")
        gen.emit(ind, f"o.if_applicable = {if_applicable}")
        gen.emit(ind, "out.append(o)")

    gen.emit(1, "out = []")
    for m in items:
        if m.when is None:
            append(1, m, "False")
            continue
        r = gen.boolean(m.when, ctx, 1)  # quiet: as ``Evaluator.quiet_sets``
        if isinstance(r, _Kleene):
            gen.emit(1, f"if {r.expr} is None or {r.expr}:")
            append(2, m, f"{r.expr} is None")
            continue
        # not false on the decision date: appended, "if applicable" unless true
        gen.emit(1, f"v = _truth(({r.ts}, {r.fs}), ev.day)")
        gen.emit(1, "if v is not False:")
        append(2, m, "v is None")
    gen.emit(1, "return out")
    header = ["def materials(ev, env):", *_bind(gen, free, False, any(map(_has_condition, whens)))]
    from hukou.engine.evaluate import truth

    gen.ns["_truth"] = truth
    fn: MaterialsFn = _finish(gen, header, "materials", "materials", make)
    return fn
