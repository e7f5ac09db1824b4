"""Declarative test cases (声明式用例), OpenFisca style.

A YAML file holds a list of cases; each names the clauses it covers, gives the
facts (inline, or ``case_file`` relative to the YAML file), an optional decision
date ``on``, and what the decision must say. Only what ``expect`` names is
checked::

    - name: 自有住房落户 / an owner settles
      clauses: ["§1.1"]
      on: 2024-05-01
      case: {applicant: {...}, relatives: [...]}
      expect:
        status: eligible                      # overall
        channels: {s1_1: eligible, s2_1: undetermined}
        earliest: {s1_1: 2024-09-01}          # first day a failing channel passes
        until: {s2_2: 2031-06-30}             # last day a passing one still passes
        place: {s1_1: own_dwelling}           # §4.3 registration place kind
        relatives: {0: eligible}              # by index
        routes: {0.accompany_s1_1: eligible}  # one relative's route
        relative_earliest: {0.accompany_s1_1: 2024-09-01}
        missing: {s2_1: [applicant.education]}  # exactly these facts
        conditions: {s1_1.continuous_residence: false}  # any condition in a tree
        materials: {s1_1: ["§1.2"]}           # clauses of the listed materials include
        no_materials: {s1_1: ["§1.2"]}        # … and do not include
        materials_for: [s3_1]                 # the channels whose lists the decision shows
        notes_without: {0: ["§3.3"]}          # no note for relative 0 mentions these
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hukou.engine.decide import ChannelResult, Decision, decide
from hukou.engine.evaluate import find_node, truth
from hukou.engine.report import materials_channels
from hukou.policy.facts import parse_case
from hukou.policy.yamlfile import load_yaml

_VALUE = {True: "true", False: "false", None: "unknown"}


@dataclass(frozen=True)
class DeclaredCase:
    name: str
    clauses: tuple[str, ...]
    source: str  # file:index
    case: dict[str, Any]
    on: dt.date | None
    expect: dict[str, Any]


def load_cases(path: Path) -> Iterator[DeclaredCase]:
    items = load_yaml(path.read_text("utf-8")) or []
    for i, item in enumerate(items):
        if "case_file" in item:
            case = json.loads((path.parent / item["case_file"]).read_text("utf-8"))
        else:
            case = item["case"]
        # YAML 1.1 reads a bare ``on:`` key as the boolean true; accept both spellings
        on = item.get("on", item.get(True))
        if on is not None and not isinstance(on, dt.date):
            on = dt.date.fromisoformat(str(on))
        yield DeclaredCase(
            str(item["name"]),
            tuple(item.get("clauses", ())),
            f"{path.name}:{i}",
            _plain(case),
            on,
            item.get("expect") or {},
        )


def _plain(obj: Any) -> Any:
    """YAML dates to ISO strings, so the case is the JSON a user would send."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj


find = find_node


def _iso(d: Any) -> str | None:
    return None if d is None else str(d)


def check(decision: Decision, expect: dict[str, Any]) -> list[str]:
    """Every way ``decision`` differs from ``expect`` (empty when it matches)."""
    errors: list[str] = []
    day = decision.decision_date.toordinal()
    channels = {c.key: c for c in decision.channels}

    def route(ref: str) -> ChannelResult:
        idx, key = str(ref).split(".", 1)
        return {r.key: r for r in decision.relatives[int(idx)].routes}[key]

    def same(what: str, got: Any, want: Any) -> None:
        if got != want:
            errors.append(f"{what}: got {got!r}, expected {want!r}")

    if "status" in expect:
        same("status", decision.status, expect["status"])
    for key, want in (expect.get("channels") or {}).items():
        same(f"channel {key}", channels[key].status, want)
    for key, want in (expect.get("earliest") or {}).items():
        same(f"earliest {key}", _iso(channels[key].earliest_date), _iso(want))
    for key, want in (expect.get("until") or {}).items():
        same(f"until {key}", _iso(channels[key].eligible_until), _iso(want))
    for key, want in (expect.get("place") or {}).items():
        place = channels[key].registration_place
        same(f"place {key}", place.kind if place else None, want)
    for idx, want in (expect.get("relatives") or {}).items():
        same(f"relative {idx}", decision.relatives[int(idx)].status, want)
    for ref, want in (expect.get("routes") or {}).items():
        same(f"route {ref}", route(ref).status, want)
    for ref, want in (expect.get("relative_earliest") or {}).items():
        same(f"relative earliest {ref}", _iso(route(ref).earliest_date), _iso(want))
    for key, want in (expect.get("missing") or {}).items():
        got = channels[key].missing_facts if key in channels else route(key).missing_facts
        same(f"missing {key}", sorted(got), sorted(want))
    for ref, want in (expect.get("conditions") or {}).items():
        top, _, key = str(ref).partition(".")
        root = channels[top].explanation if top in channels else None
        node = find(root, key) if root else None
        if node is None:
            errors.append(f"condition {ref}: not found")
            continue
        same(f"condition {ref}", _VALUE[truth(node.sets, day)], str(want).lower())
    for key, want in (expect.get("materials") or {}).items():
        clauses = {m.clause for m in channels[key].materials}
        for clause in want:
            if clause not in clauses:
                errors.append(f"materials {key}: nothing from {clause} in {sorted(clauses)}")
    for key, unwanted in (expect.get("no_materials") or {}).items():
        clauses = {m.clause for m in channels[key].materials}
        for clause in unwanted:
            if clause in clauses:
                errors.append(f"materials {key}: {clause} listed, expected none")
    if "materials_for" in expect:
        same("materials for", _shown_lists(decision), list(expect["materials_for"] or []))
    for idx, unwanted in (expect.get("notes_without") or {}).items():
        for zh, en in decision.relatives[int(idx)].notes:
            for word in unwanted:
                if word in zh or word in en:
                    errors.append(f"relative {idx} note mentions {word}: {zh}")
    return errors


def _shown_lists(decision: Decision) -> list[str]:
    return [c.key for c in materials_channels(decision)]


def run(declared: DeclaredCase) -> tuple[Decision, list[str]]:
    decision = decide(parse_case(declared.case), on=declared.on)
    return decision, check(decision, declared.expect)
