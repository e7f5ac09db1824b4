"""The per-case fast paths (issue 15) give what the general code gives.

Each shortcut is compared with the code it stands in for: the split of a rule that is one
unknown yes/no fact, the cached sources of a fact, the walk for a case's scopes, the
evaluator made for a completion, the check character of an ID number and the clock read
only for birth dates that may lie in the future.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from hukou.engine import exact as X
from hukou.engine.decide import decide
from hukou.engine.evaluate import Evaluator, sources_of, truth
from hukou.engine.report import decision_json
from hukou.engine.scopes import case_scopes
from hukou.policy import facts as F
from hukou.policy.facts import InputError, parse_case
from hukou.policy.params import load
from hukou.policy.rules import REPORTING_FLAGS

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "bench" / "family4.json"


def _scopes_walked(value: Any, depth: int = 0) -> list[dict[str, Any]]:
    """``exact._scopes`` as it was: every dict and list looked into, as deep
    (``exact._DEPTH``)."""
    out: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "__kind__" in value:
            out.append(value)
        if depth < X._DEPTH:
            for v in value.values():
                if isinstance(v, dict | list):
                    out += _scopes_walked(v, depth + 1)
    elif isinstance(value, list) and depth < X._DEPTH:
        for v in value:
            out += _scopes_walked(v, depth + 1)
    return out


def _envs(path: Path, on: dt.date | None = None) -> tuple[Evaluator, list[dict[str, Any]]]:
    case = parse_case(path.read_bytes(), on)
    when = case.decision_date
    assert when is not None
    resolved = load().at(when)
    applicant, relatives = case_scopes(case, resolved)
    envs = [{"applicant": applicant}]
    envs += [{"applicant": applicant, "relative": r} for r in relatives]
    return Evaluator(resolved, when), envs


CASES = [*sorted((ROOT / "examples").glob("*.json")), FAMILY]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_the_scopes_are_those_every_dict_gives(path: Path) -> None:
    _ev, envs = _envs(path)
    for env in envs:
        assert [id(s) for s in X._scopes(env)] == [id(s) for s in _scopes_walked(env)]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_cached_sources_are_sources_of(path: Path) -> None:
    _ev, envs = _envs(path)
    for env in envs:
        for scope in X._scopes(env):
            for name in [k for k in scope if not k.startswith("__")] + ["no_such_fact"]:
                try:
                    expected: tuple[str, ...] | None = sources_of(scope, name)
                except KeyError:
                    expected = None
                assert X._sources(scope, name) == expected
                assert X._sources(scope, name) == expected  # and once cached


def test_a_fresh_evaluator_is_a_new_one() -> None:
    ev = _envs(FAMILY)[0]
    ev.split = False
    ev.memo[(1,)] = ((), ())
    new = ev.fresh()
    made = Evaluator(ev.params, ev.today, ev.generated)
    assert vars(new).keys() == vars(made).keys()
    for name, value in vars(made).items():
        assert getattr(new, name) == value, name
    assert new.memo is not ev.memo and new.split is True


def _general(ev: Evaluator, rule: Any, env: dict[str, Any]) -> X.Exact:
    """``exact`` without its shortcut for a rule that is one yes/no fact."""
    missing = ev.missing(rule, env)
    scopes = X.env_scopes(ev, env)
    slots = X.finite_slots(rule, env, missing, scopes, X.MAX_COMPLETIONS)
    a = X._split(ev, rule, env, slots, missing)
    sets = (a.ts, a.fs)
    assert truth(sets, ev.day) is None
    assert not X.date_slots(ev, rule, env, missing, None, scopes)
    return X.Exact(sets, a.missing, True)


@pytest.mark.parametrize("on", [dt.date(2021, 5, 1), dt.date(2025, 3, 1)])
def test_one_unknown_yes_no_fact_splits_as_kleene_says(on: dt.date) -> None:
    (flag,) = [c for c in REPORTING_FLAGS if c.key == "registered_poor"]
    ev, envs = _envs(FAMILY, on)
    env = envs[0]
    assert env["applicant"]["registered_poor"] is None
    kleene = ev.quiet_sets(flag, env)
    fast = X.exact(ev, flag, env, kleene)
    slow = _general(ev.fresh(), flag, env)
    assert fast.sets == slow.sets
    assert fast.missing == slow.missing == ["applicant.registered_poor"]
    assert (fast.exact, fast.dates_exact) == (slow.exact, slow.dates_exact) == (True, True)


def test_a_birth_date_in_the_future_is_refused_after_the_clock_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the day known to be past lags behind the clock: the clock is then read again
    monkeypatch.setattr(F, "_SEEN_TODAY", [dt.date(2000, 1, 1)])
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    case = {"applicant": {"birth_date": yesterday}}
    assert parse_case(case).applicant.birth_date == dt.date.fromisoformat(yesterday)
    with pytest.raises(InputError) as err:
        parse_case({"applicant": {"birth_date": tomorrow}})
    assert err.value.problems[0]["field"] == "applicant.birth_date"
    assert F._SEEN_TODAY[0] == dt.date.today()


def test_the_report_of_the_family_is_its_json() -> None:
    # the report is plain JSON data: a dict per node, built anew for every report
    data = FAMILY.read_bytes()
    d = decide(parse_case(data))
    one, two = decision_json(d), decision_json(d)
    assert orjson.dumps(one) == orjson.dumps(two)
    assert json.loads(orjson.dumps(one)) == one
    first = one["channels"][0]["explanation"]
    assert first is not two["channels"][0]["explanation"]
    facts = [n for n in _nodes(first) if n.get("facts")]
    assert facts
    trace_facts = {id(t.facts) for t in _traces(d.channels[0].explanation)}
    assert all(id(n["facts"]) not in trace_facts for n in facts)


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for c in node.get("children", []) for n in _nodes(c))]


def _traces(t: Any) -> list[Any]:
    return [t, *(x for c in t.children for x in _traces(c))]
