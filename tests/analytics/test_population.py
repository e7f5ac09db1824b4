"""A population and its cases: ``from_cases`` and ``to_cases`` are inverse (人口与个案互转)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, TABLES
from hukou.analytics.population import from_cases, load, save, to_cases
from hukou.analytics.reference import reference_results, result_rows
from hukou.engine.decide import decide
from hukou.policy.facts import Case

from ..strategies import cases, parse


def _pruned(value: Any) -> Any:
    """An object with no known fact is the same as none at all (``{}`` ≡ null)."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _comparable(case: Case) -> dict[str, Any]:
    """The facts a population keeps (land rights are never read, §5.3), history in order."""
    data = case.model_dump(mode="json", exclude_none=True)
    for person in [data.get("applicant", {}), *data.get("relatives", [])]:
        person.pop("land_rights", None)
        if "residence_history" in person:
            person["residence_history"].sort(key=lambda p: (p["start"], p["county"]))
    return _pruned(data)  # after dropping land rights, which may leave an empty object


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_relatives=3))
# land rights alone: the population drops them (§5.3), leaving a person with no facts
@example(
    case={"decision_date": "2020-08-01", "applicant": {"land_rights": {"contract_land": False}}}
)
def test_a_case_survives_the_round_trip(case: dict[str, Any]) -> None:
    parsed = parse(case)
    on = parsed.decision_date
    assert on is not None
    tables = from_cases([parsed], reverse=False)
    (pid, back, relative_ids), *others = list(to_cases(tables, on))
    assert pid == 1
    assert _comparable(back) == _comparable(parsed)
    assert relative_ids == list(range(2, 2 + len(parsed.relatives)))
    # the relatives are people of the population too, each deciding as an applicant
    assert len(others) == len(parsed.relatives)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(cases(max_relatives=2, on=dt.date(2024, 3, 1)), min_size=1, max_size=4))
def test_reference_results_are_the_engine_decisions(batch: list[dict[str, Any]]) -> None:
    parsed = [parse(c) for c in batch]
    on = dt.date(2024, 3, 1)
    tables = from_cases(parsed)
    results, relatives = reference_results(tables, on)
    assert results.schema == RESULTS and relatives.schema == RESULT_RELATIVES
    assert results.num_rows == tables["persons"].num_rows
    # applicants keep their own case: their rows are what deciding that case gives
    by_pid = {r["person_id"]: r for r in results.to_pylist()}
    pid = 1
    for case in parsed:
        ids = list(range(pid + 1, pid + 1 + len(case.relatives)))
        row, rels = result_rows(pid, decide(case, on), ids)
        assert by_pid[pid] == row
        mine = [r for r in relatives.to_pylist() if r["person_id"] == pid]
        assert mine == rels
        pid += 1 + len(case.relatives)


def test_reverse_relations_pair_up() -> None:
    case = parse(
        {
            "decision_date": "2024-03-01",
            "applicant": {"sex": "female", "birth_date": "1990-01-01"},
            "relatives": [
                {"relation": "child", "birth_date": "2015-01-01", "sex": "male"},
                {"relation": "parent", "birth_date": "1960-01-01", "sex": "male"},
            ],
        }
    )
    rel = from_cases([case])["relations"].to_pylist()
    pairs = {(r["person_id"], r["relative_id"], r["relation"]) for r in rel}
    assert pairs == {(1, 2, "child"), (2, 1, "parent"), (1, 3, "parent"), (3, 1, "child")}


def test_save_and_load_keep_the_layout(tmp_path: Any) -> None:
    case = parse({"decision_date": "2024-03-01", "applicant": {"birth_date": "1990-01-01"}})
    tables = from_cases([case])
    save(tables, tmp_path)
    back = load(tmp_path)
    for name, schema in TABLES.items():
        assert back[name].schema == schema
        assert back[name].to_pylist() == tables[name].to_pylist()
