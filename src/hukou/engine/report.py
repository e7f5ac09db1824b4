"""The machine form of a decision (``hukou.decision/1``), documented in docs/decision-json.md.

Stable: fields are only ever added. Dates are ISO strings; every label comes in
``zh`` and ``en``; personal data is masked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.engine.decide import ChannelResult, Decision, Place
from hukou.engine.evaluate import POS, Trace, contains, first_from, last_of_run
from hukou.engine.scopes import display_value
from hukou.policy.facts import field_label
from hukou.policy.rules import CLAUSE_TEXTS
from hukou.privacy import mask_id, mask_name

SCHEMA = "hukou.decision/1"


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


_LEAVES: dict[str, str] = {}  # a fact's source path -> its name (``a.b.name`` -> ``name``)


def _leaf(path: str) -> str:
    found = _LEAVES.get(path)
    if found is None:
        found = _LEAVES[path] = path.rsplit(".", 1)[-1]
        if len(_LEAVES) > 65_536:  # paths are few; a bound all the same
            _LEAVES.clear()
    return found


def _trace(t: Trace, day: int, cited: set[str]) -> dict[str, Any]:
    """One explained node, and its subtree; the clauses met are added to ``cited`` on the
    way (one walk of the tree, not two)."""
    cited.add(t.clause)
    yes = t.sets[0]
    value = True if contains(yes, day) else False if contains(t.sets[1], day) else None
    out: dict[str, Any] = {
        "kind": t.kind,
        "key": t.key,
        "clause": t.clause,
        "text": {"zh": t.zh, "en": t.en},
        "value": value,
    }
    if value is True:
        end = last_of_run(yes, day)
        if end is not None and end < POS:
            out["until"] = dt.date.fromordinal(end).isoformat()
    else:
        nxt = first_from(yes, day + 1)
        if nxt is not None and nxt < POS:
            out["earliest_date"] = dt.date.fromordinal(nxt).isoformat()
    if t.facts:
        out["facts"] = {k: display_value(_leaf(k), v) for k, v in t.facts.items()}
    if t.children:
        out["children"] = [_trace(c, day, cited) for c in t.children]
    return out


def trace_json(t: Trace, day: int) -> dict[str, Any]:
    return _trace(t, day, set())


def place_json(p: Place | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "kind": p.kind,
        "clause": p.clause,
        "zh": p.zh,
        "en": p.en,
        "detail": p.detail,
        "where": {"zh": p.where_zh, "en": p.where_en},
        "candidates": p.candidates,
    }


def channel_json(c: ChannelResult, day: int, cited: set[str] | None = None) -> dict[str, Any]:
    return {
        "key": c.key,
        "clause": c.clause,
        "title": {"zh": c.zh, "en": c.en},
        "clause_text": CLAUSE_TEXTS.get(c.clause, ""),
        "status": c.status,
        "earliest_date": _iso(c.earliest_date),
        "eligible_until": _iso(c.eligible_until),
        "self_only": c.self_only,
        "missing_facts": c.missing_facts,
        "exact": c.exact,
        "dates_exact": c.dates_exact,
        "missing_labels": [
            {"zh": field_label(f, "zh"), "en": field_label(f, "en")} for f in c.missing_facts
        ],
        "registration_place": place_json(c.registration_place),
        "materials": [
            {"zh": m.zh, "en": m.en, "clause": m.clause, "if_applicable": m.if_applicable}
            for m in c.materials
        ],
        "explanation": _trace(c.explanation, day, set() if cited is None else cited),
    }


def materials_channels(d: Decision) -> list[ChannelResult]:
    """The channels whose materials the decision lists: the one that applies (the eligible
    channel it names), else every open one — each list then says which channel it is for."""
    best = d.best
    if best is not None:
        return [best]
    return [c for c in d.channels if c.status == "undetermined"]


def decision_json(d: Decision) -> dict[str, Any]:
    """The whole report; the trees are walked once, collecting the clauses they cite."""
    day = d.decision_date.toordinal()
    best = d.best
    applicant = d.case.applicant
    cited: set[str] = set()
    out = {
        "schema": SCHEMA,
        "decision_date": d.decision_date.isoformat(),
        "rule_version": {
            "ruleset": d.rule_version.ruleset,
            "code": d.rule_version.code,
            "parameters_as_of": _iso(d.rule_version.parameters_as_of),
            "digest": d.rule_version.digest,
        },
        "status": d.status,
        "in_force": _trace(d.in_force_trace, day, cited),
        "applicant": {
            "name": mask_name(applicant.name),
            "id_number": mask_id(applicant.id_number),
            "sex": applicant.sex.value if applicant.sex else None,
            "birth_date": _iso(applicant.birth_date),
        },
        "best_channel": best.key if best else None,
        "registration_place": place_json(best.registration_place) if best else None,
        # whose materials to bring: the best channel, else each open one (by its own list)
        "materials_for": [c.key for c in materials_channels(d)],
        "earliest_date": _iso(d.earliest_date),
        "missing_facts": d.missing_facts,
        "channels": [channel_json(c, day, cited) for c in d.channels],
        "relatives": [
            {
                "index": r.index,
                "relation": r.relation,
                "name": mask_name(r.name),
                "id_number": mask_id(r.id_number),
                "status": r.status,
                "earliest_date": _iso(r.earliest_date),
                "notes": [{"zh": zh, "en": en} for zh, en in r.notes],
                "anchor_of": r.anchor_of,
                "routes": [channel_json(x, day, cited) for x in r.routes],
            }
            for r in d.relatives
        ],
        "clause_texts": {},
        "priority_groups": [
            {
                "key": p.key,
                "clause": p.clause,
                "zh": p.zh,
                "en": p.en,
                "status": p.status,
                "earliest_date": _iso(p.earliest_date),
            }
            for p in d.priority_groups
        ],
        # §5.1 reporting flags: counted in the §7 indicators, never a condition
        "reporting_flags": [
            {
                "key": f.key,
                "clause": f.clause,
                "zh": f.zh,
                "en": f.en,
                "value": {"eligible": True, "not_eligible": False}.get(f.status),
            }
            for f in d.reporting_flags
        ],
    }
    # the Chinese sentence of every clause cited in the trees, once
    out["clause_texts"] = {k: v for k, v in CLAUSE_TEXTS.items() if k in cited}
    return out
