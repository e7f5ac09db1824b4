"""The per-case engine run person by person over a population (逐案参照计算).

Slow and obviously right: each person's case (``population.to_cases``) is decided
by ``engine.decide`` and flattened into the ``layout.RESULTS`` and
``layout.RESULT_RELATIVES`` rows. The compiled population queries must give the
same tables; the differential tests compare them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, ROUTE_KEYS
from hukou.analytics.population import Tables, to_cases
from hukou.engine.decide import Decision, decide
from hukou.policy.params import ParameterSet


def result_rows(
    pid: int, decision: Decision, relative_ids: list[int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One decision as a RESULTS row and its RESULT_RELATIVES rows."""
    best = decision.best
    place = best.registration_place if best is not None else None
    row: dict[str, Any] = {
        "person_id": pid,
        "decision_date": decision.decision_date,
        "status": decision.status,
        "best_channel": best.key if best else None,
        "earliest_date": decision.earliest_date,
        "place_kind": place.kind if place is not None else None,
    }
    for c in decision.channels:
        row[f"{c.key}_status"] = c.status
        row[f"{c.key}_earliest"] = c.earliest_date
        row[f"{c.key}_until"] = c.eligible_until
    relatives = []
    for rel in decision.relatives:
        r: dict[str, Any] = {
            "person_id": pid,
            "relative_id": relative_ids[rel.index],
            "relation": rel.relation,
            "status": rel.status,
            "earliest_date": rel.earliest_date,
        }
        routes = {route.key: route for route in rel.routes}
        for key in ROUTE_KEYS:
            r[f"{key}_status"] = routes[key].status
            r[f"{key}_earliest"] = routes[key].earliest_date
        relatives.append(r)
    return row, relatives


def reference_results(
    tables: Tables, on: dt.date, parameters: ParameterSet | None = None
) -> tuple[pa.Table, pa.Table]:
    """RESULTS and RESULT_RELATIVES for every person, by the per-case engine."""
    rows: list[dict[str, Any]] = []
    rel_rows: list[dict[str, Any]] = []
    for pid, case, relative_ids in to_cases(tables, on):
        # Kleene logic, as the compiled queries: the per-case split of open results on
        # unknown finite facts (engine/exact.py) is not compiled to SQL yet
        decision = decide(case, on, parameters, split=False)
        row, rels = result_rows(pid, decision, relative_ids)
        rows.append(row)
        rel_rows.extend(rels)
    return (
        pa.Table.from_pylist(rows, schema=RESULTS),
        pa.Table.from_pylist(rel_rows, schema=RESULT_RELATIVES),
    )
