"""The two ways the engine runs a rule give the same decisions (差分测试).

Rules run as Python source generated per named condition (``engine/codegen.py``,
the default) or as the closures of ``engine/closures.py`` (the reference). On
generated cases both must give the same statuses, dates, missing facts, places,
materials and explanation trees — every trace with its kind, key, sets, facts (in
the order they were read) and children — and the same answers from each entry
point of the evaluator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hukou.engine import evaluate
from hukou.engine.decide import ChannelResult, Decision, decide
from hukou.engine.evaluate import Evaluator, Trace, free_scopes
from hukou.engine.report import decision_json
from hukou.engine.scopes import case_scopes
from hukou.policy.expr import Condition, Exception_, Expr, walk
from hukou.policy.params import load
from hukou.policy.rules import (
    CHANNELS,
    IN_FORCE,
    PRIORITY_GROUPS,
    REGISTRATION_PLACE,
    RELATIVE_ROUTES,
)
from hukou.policy.rules.materials import MATERIALS, RELATIVE_MATERIALS

from .strategies import cases, favourable_cases, parse

PATHS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

any_case = st.one_of(cases(partial=False), cases(), favourable_cases())


@contextmanager
def engine(generated: bool) -> Iterator[None]:
    saved = evaluate.GENERATED
    evaluate.GENERATED = generated
    try:
        yield
    finally:
        evaluate.GENERATED = saved


def tree(t: Trace, seen: dict[int, int] | None = None) -> dict[str, Any]:
    """A trace as plain data: every field, facts in reading order, children in order;
    and which traces are one and the same object (a memoised condition shared)."""
    seen = {} if seen is None else seen
    ref = seen.setdefault(id(t), len(seen))
    return {
        "ref": ref,
        "kind": t.kind,
        "key": t.key,
        "clause": t.clause,
        "zh": t.zh,
        "en": t.en,
        "sets": t.sets,
        "facts": list(t.facts.items()),
        "children": [tree(c, seen) for c in t.children],
    }


def result(r: ChannelResult, seen: dict[int, int]) -> dict[str, Any]:
    place = r.registration_place
    return {
        "key": r.key,
        "clause": r.clause,
        "status": r.status,
        "earliest": r.earliest_date,
        "until": r.eligible_until,
        "missing": r.missing_facts,
        "self_only": r.self_only,
        "place": None if place is None else vars(place),
        "materials": [vars(m) for m in r.materials],
        "explanation": tree(r.explanation, seen),
    }


def everything(d: Decision) -> dict[str, Any]:
    seen: dict[int, int] = {}
    return {
        "status": d.status,
        "in_force": d.in_force,
        "in_force_trace": tree(d.in_force_trace, seen),
        "channels": [result(c, seen) for c in d.channels],
        "relatives": [
            {
                **{k: v for k, v in vars(r).items() if k != "routes"},
                "routes": [result(x, seen) for x in r.routes],
            }
            for r in d.relatives
        ],
        "priority": [result(p, seen) for p in d.priority_groups],
        "missing": d.missing_facts,
        "earliest": d.earliest_date,
    }


@PATHS
@given(case=any_case)
def test_both_paths_decide_alike(case: dict[str, Any]) -> None:
    with engine(False):
        reference = decide(parse(case))
    with engine(True):
        generated = decide(parse(case))
    assert everything(generated) == everything(reference)
    assert decision_json(generated) == decision_json(reference)


@PATHS
@given(case=any_case, on=st.dates(dt.date(2020, 8, 1), dt.date(2031, 12, 31)))
def test_both_paths_decide_alike_on_any_date(case: dict[str, Any], on: dt.date) -> None:
    """Also on dates the case was not made for."""
    parsed = parse(case)
    if any(p.birth_date and p.birth_date > on for p in [parsed.applicant, *parsed.relatives]):
        on = max(p.birth_date or on for p in [parsed.applicant, *parsed.relatives])
    with engine(False):
        reference = decide(parsed, on)
    with engine(True):
        generated = decide(parsed, on)
    assert everything(generated) == everything(reference)


def _nodes() -> list[Expr]:
    """Every boolean node of the rules, parts of conditions included."""
    roots: list[Expr] = [IN_FORCE, *PRIORITY_GROUPS, *(o.when for o in REGISTRATION_PLACE.options)]
    roots += [c.rule for c in CHANNELS] + [r.rule for r in RELATIVE_ROUTES]
    roots += [
        m.when
        for ms in (*MATERIALS.values(), *RELATIVE_MATERIALS.values())
        for m in ms
        if m.when is not None
    ]
    out: dict[int, Expr] = {}
    for root in roots:
        for node in walk(root):
            if node.type == "bool" and not isinstance(node, Exception_):  # (not on its own)
                out.setdefault(id(node), node)
    return list(out.values())


NODES = _nodes()


def _evaluate_all(case: Any, on: dt.date, generated: bool, picks: list[int]) -> list[Any]:
    """Each entry point of the evaluator on the picked nodes, for the applicant and each
    relative: ``sets`` under a trace being built, ``quiet_sets``, ``missing``,
    ``explain`` and ``choose``."""
    resolved = load().at(on)
    applicant, relatives = case_scopes(case, resolved)
    envs = [{"applicant": applicant}] + [
        {"applicant": applicant, "relative": scope} for scope in relatives
    ]
    ev = Evaluator(resolved, on, generated=generated)
    seen: dict[int, int] = {}
    keep: list[Trace] = []  # alive to the end, so that no two traces share an id
    out: list[Any] = []
    for env in envs:
        for i in picks:
            node = NODES[i]
            if not set(free_scopes(node)) <= set(env):
                continue
            parent = Trace("condition", "parent", "", "", "")
            keep.append(parent)
            ev.stack.append(parent)
            sets = ev.sets(node, env)
            ev.stack.pop()
            out.append(("sets", i, sets, tree(parent, seen)))
            out.append(("quiet", i, ev.quiet_sets(node, env), ev.missing(node, env)))
            if isinstance(node, Condition):
                out.append(("explain", i, tree(ev.explain(node, env), seen)))
        chosen, trace = ev.choose(REGISTRATION_PLACE, env)
        keep.append(trace)
        out.append(("choose", chosen, tree(trace, seen)))
    return out


@PATHS
@given(
    case=any_case,
    picks=st.lists(st.integers(0, len(NODES) - 1), min_size=1, max_size=25),
)
def test_both_paths_evaluate_any_part_alike(case: dict[str, Any], picks: list[int]) -> None:
    parsed = parse(case)
    on = parsed.decision_date
    assert on is not None
    reference = _evaluate_all(parsed, on, False, picks)
    generated = _evaluate_all(parsed, on, True, picks)
    assert generated == reference
