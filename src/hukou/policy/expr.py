"""The small typed language the rules are written in (规则表达式).

Rules are *data*: a tree of immutable nodes built with Python operators, the way
SQLAlchemy or Ibis build queries. Nothing here evaluates anything — the engine
walks these trees per case (three-valued, with explanations and earliest dates)
and the analytics layer compiles the very same trees to SQL.

Types are checked when a node is built, so a rule that compares a date with a
number fails at import time, not in a decision.

Time enters a rule only through ``TODAY`` (the decision date) compared with a
time-independent expression; that restriction is what lets the engine answer
"from which date would this pass".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Type = Literal["bool", "date", "int", "str", "level", "list"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]

_FLIP: dict[CompareOp, CompareOp] = {
    "==": "==",
    "!=": "!=",
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
}


class RuleTypeError(TypeError):
    """A rule was built from parts of the wrong type."""


class Expr:
    """Base of every node. Operators build new nodes; they never evaluate."""

    __slots__ = ()
    type: Type

    def _cmp(self, op: CompareOp, other: object) -> Compare:
        return Compare(op, self, lift(other, self.type))

    def __eq__(self, other: object) -> Compare:  # type: ignore[override]
        return self._cmp("==", other)

    def __ne__(self, other: object) -> Compare:  # type: ignore[override]
        return self._cmp("!=", other)

    def __lt__(self, other: object) -> Compare:
        return self._cmp("<", other)

    def __le__(self, other: object) -> Compare:
        return self._cmp("<=", other)

    def __gt__(self, other: object) -> Compare:
        return self._cmp(">", other)

    def __ge__(self, other: object) -> Compare:
        return self._cmp(">=", other)

    def __hash__(self) -> int:
        return id(self)

    def __and__(self, other: Expr) -> And:
        return And((self, other))

    def __or__(self, other: Expr) -> Or:
        return Or((self, other))

    def __invert__(self) -> Not:
        return Not(self)

    def isin(self, values: Iterable[str]) -> IsIn:
        return IsIn(self, tuple(values))

    def children(self) -> Sequence[Expr]:
        return ()


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "date": (dt.date,),
    "int": (int,),
    "level": (int,),
    "str": (str,),
}


def lift(value: object, expected: Type) -> Expr:
    """Turn a Python constant into a typed ``Const``; pass expressions through.

    The constant must be of the type the other side expects: ``birth_date >= 18``
    is refused when the rule is built.
    """
    if isinstance(value, Expr):
        return value
    allowed = _PYTHON_TYPES.get(expected, ())
    ok = isinstance(value, allowed) and (expected == "bool" or not isinstance(value, bool))
    if not ok:
        raise RuleTypeError(f"expected a {expected} constant, got {value!r}")
    return Const(value, expected)


def _need(node: Expr, *types: Type) -> None:
    if node.type not in types:
        raise RuleTypeError(f"expected {' or '.join(types)}, got {node.type}: {node!r}")


@dataclass(frozen=True, eq=False, slots=True)
class Fact(Expr):
    """A fact of the case, read from one scope (``applicant``, ``relative``, a dwelling…)."""

    scope: str
    name: str
    type: Type
    zh: str
    en: str

    def __repr__(self) -> str:
        return f"{self.scope}.{self.name}"


@dataclass(frozen=True, eq=False, slots=True)
class Const(Expr):
    value: Any
    type: Type

    def __repr__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, eq=False, slots=True)
class Param(Expr):
    """A dated parameter (``policy/parameters/*.yaml``), resolved on the decision date."""

    path: str
    type: Type

    def __repr__(self) -> str:
        return f"param({self.path})"


@dataclass(frozen=True, eq=False, slots=True)
class Today(Expr):
    """The decision date (决定日期). Only ever compared with a time-independent date."""

    type: Type = "date"

    def __repr__(self) -> str:
        return "today"


TODAY = Today()


@dataclass(frozen=True, eq=False, slots=True)
class AddYears(Expr):
    """``date`` plus ``years`` calendar years (Civil Code art. 202 for 29 February)."""

    date: Expr
    years: Expr
    type: Type = "date"

    def __post_init__(self) -> None:
        _need(self.date, "date")
        _need(self.years, "int")
        if _mentions_today(self.date):
            raise RuleTypeError("TODAY may only be compared, not shifted")

    def children(self) -> Sequence[Expr]:
        return (self.date, self.years)

    def __repr__(self) -> str:
        return f"({self.date!r} + {self.years!r} years)"


def add_years(date: Expr, years: Expr | int) -> AddYears:
    return AddYears(date, lift(years, "int"))


@dataclass(frozen=True, eq=False, slots=True)
class Compare(Expr):
    op: CompareOp
    left: Expr
    right: Expr
    type: Type = "bool"

    def __post_init__(self) -> None:
        if self.left.type != self.right.type:
            raise RuleTypeError(f"cannot compare {self.left.type} with {self.right.type}")
        if self.left.type in ("bool", "list"):
            raise RuleTypeError(f"cannot compare values of type {self.left.type}")
        if self.op not in ("==", "!=") and self.left.type == "str":
            raise RuleTypeError("codes can only be tested for equality")
        if self.is_temporal and _mentions_today(self.other):
            raise RuleTypeError("TODAY must be compared with a time-independent date")

    @property
    def is_temporal(self) -> bool:
        """True for ``TODAY op date``: its truth changes with the decision date."""
        return isinstance(self.left, Today) or isinstance(self.right, Today)

    @property
    def today_op(self) -> CompareOp:
        """The operator read as ``TODAY op other``."""
        return self.op if isinstance(self.left, Today) else _FLIP[self.op]

    @property
    def other(self) -> Expr:
        return self.right if isinstance(self.left, Today) else self.left

    def children(self) -> Sequence[Expr]:
        return (self.left, self.right)

    def __repr__(self) -> str:
        return f"{self.left!r} {self.op} {self.right!r}"


@dataclass(frozen=True, eq=False, slots=True)
class IsIn(Expr):
    item: Expr
    values: tuple[str, ...]
    type: Type = "bool"

    def __post_init__(self) -> None:
        _need(self.item, "str")

    def children(self) -> Sequence[Expr]:
        return (self.item,)

    def __repr__(self) -> str:
        return f"{self.item!r} in {list(self.values)}"


def _flatten(kind: type[And] | type[Or], items: Iterable[Expr]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for item in items:
        _need(item, "bool")
        if type(item) is kind:
            out.extend(item.items)
        else:
            out.append(item)
    return tuple(out)


@dataclass(frozen=True, eq=False, slots=True)
class And(Expr):
    items: tuple[Expr, ...]
    type: Type = "bool"

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _flatten(And, self.items))

    def children(self) -> Sequence[Expr]:
        return self.items

    def __repr__(self) -> str:
        return "(" + " and ".join(map(repr, self.items)) + ")"


@dataclass(frozen=True, eq=False, slots=True)
class Or(Expr):
    items: tuple[Expr, ...]
    type: Type = "bool"

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _flatten(Or, self.items))

    def children(self) -> Sequence[Expr]:
        return self.items

    def __repr__(self) -> str:
        return "(" + " or ".join(map(repr, self.items)) + ")"


def all_of(*items: Expr) -> And:
    return And(items)


def any_of(*items: Expr) -> Or:
    return Or(items)


@dataclass(frozen=True, eq=False, slots=True)
class Not(Expr):
    item: Expr
    type: Type = "bool"

    def __post_init__(self) -> None:
        _need(self.item, "bool")

    def children(self) -> Sequence[Expr]:
        return (self.item,)

    def __repr__(self) -> str:
        return f"not {self.item!r}"


@dataclass(frozen=True, eq=False, slots=True)
class Exists(Expr):
    """True when ``where`` holds for some item of a list fact (Kleene "or" over items).

    Inside ``where``, facts of the item are read from scope ``item_scope``.
    An empty list is false; an unknown list is unknown.
    """

    collection: Fact
    item_scope: str
    where: Expr
    type: Type = "bool"

    def __post_init__(self) -> None:
        _need(self.collection, "list")
        _need(self.where, "bool")

    def children(self) -> Sequence[Expr]:
        return (self.where,)

    def __repr__(self) -> str:
        return f"exists {self.item_scope} in {self.collection!r}: {self.where!r}"


@dataclass(frozen=True, eq=False, slots=True)
class Condition(Expr):
    """A named legal condition: the unit a decision explains and cites.

    ``key`` is stable (used by tests, JSON and SQL column names); ``clause`` is the
    id in CLAUSES.md; ``zh``/``en`` say in one line what must hold.
    """

    key: str
    clause: str
    zh: str
    en: str
    expr: Expr
    type: Type = "bool"

    def __post_init__(self) -> None:
        _need(self.expr, "bool")

    def children(self) -> Sequence[Expr]:
        return (self.expr,)

    def __repr__(self) -> str:
        return f"[{self.clause} {self.key}]"


@dataclass(frozen=True, eq=False, slots=True)
class Exception_(Expr):
    """An exception to a default (Catala style): when ``when`` holds, the value is ``then``."""

    key: str
    clause: str
    zh: str
    en: str
    when: Expr
    then: bool = True
    type: Type = "bool"

    def __post_init__(self) -> None:
        _need(self.when, "bool")

    def children(self) -> Sequence[Expr]:
        return (self.when,)

    def __repr__(self) -> str:
        return f"[exception {self.clause} {self.key}]"


@dataclass(frozen=True, eq=False, slots=True)
class Default(Expr):
    """A default rule with exceptions: the first exception that applies decides,
    otherwise the base does. Unknown exception conditions stay unknown unless the
    base already gives the exception's value (Kleene)."""

    base: Expr
    exceptions: tuple[Exception_, ...]
    type: Type = "bool"

    def __post_init__(self) -> None:
        _need(self.base, "bool")

    def children(self) -> Sequence[Expr]:
        return (self.base, *self.exceptions)

    def __repr__(self) -> str:
        return f"default {self.base!r} unless {list(self.exceptions)!r}"


def unless(base: Expr, *exceptions: Exception_) -> Default:
    return Default(base, tuple(exceptions))


@dataclass(frozen=True, eq=False, slots=True)
class Option:
    """One alternative of a ``FirstOf``: its value, when it applies, and the clause."""

    value: str
    clause: str
    zh: str
    en: str
    when: Expr


@dataclass(frozen=True, eq=False, slots=True)
class FirstOf(Expr):
    """The value of the first option whose condition holds, in order (先后顺序).

    An option whose condition is unknown before the first that holds leaves the
    result open between them.
    """

    key: str
    clause: str
    options: tuple[Option, ...]
    type: Type = "str"

    def __post_init__(self) -> None:
        for option in self.options:
            _need(option.when, "bool")

    def children(self) -> Sequence[Expr]:
        return tuple(o.when for o in self.options)

    def __repr__(self) -> str:
        return f"[{self.clause} {self.key}: first of {[o.value for o in self.options]}]"


def _mentions_today(node: Expr) -> bool:
    if isinstance(node, Today):
        return True
    return any(_mentions_today(c) for c in node.children())


def walk(node: Expr) -> Iterable[Expr]:
    """Every node below ``node`` (depth first), ``node`` included."""
    yield node
    for child in node.children():
        yield from walk(child)


def facts_used(node: Expr) -> set[str]:
    """Names (``scope.name``) of the facts a rule reads."""
    return {repr(n) for n in walk(node) if isinstance(n, Fact)} | {
        repr(n.collection) for n in walk(node) if isinstance(n, Exists)
    }


def params_used(node: Expr) -> set[str]:
    return {n.path for n in walk(node) if isinstance(n, Param)}


# A label may quote a parameter as ``{s1_urban.continuous_residence_years}``, so an
# explanation says "2年" under a reform that lowers 3 years to 2 (the notice's own
# text, quoted separately, keeps its numbers).
LABEL_PARAM = re.compile(r"\{([a-z0-9_]+(?:\.[a-z0-9_]+)+)\}")


def label_params(text: str) -> list[str]:
    """The parameter paths a label quotes."""
    return LABEL_PARAM.findall(text)


def fill_label(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with each quoted parameter replaced by its value (``?`` if not in force)."""

    def one(m: re.Match[str]) -> str:
        v = values.get(m.group(1))
        if v is None:
            return "?"
        return v.isoformat() if isinstance(v, dt.date) else str(v)

    return LABEL_PARAM.sub(one, text)


_FILLED: dict[tuple[str, str], str] = {}


def fill_label_cached(text: str, values: Mapping[str, Any], digest: str) -> str:
    """``fill_label`` remembered per parameter digest: a label is filled once per set."""
    key = (text, digest)
    hit = _FILLED.get(key)
    if hit is None:
        if len(_FILLED) > 8192:
            _FILLED.clear()
        hit = _FILLED[key] = fill_label(text, values)
    return hit
