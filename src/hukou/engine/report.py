"""The machine form of a decision (``hukou.decision/1``), documented in docs/decision-json.md.

Stable: fields are only ever added. Dates are ISO strings; every label comes in
``zh`` and ``en``; personal data is masked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.engine.decide import ChannelResult, Decision, Place, day_to_date
from hukou.engine.evaluate import POS, Trace, first_from, last_of_run, truth
from hukou.engine.scopes import display_value
from hukou.policy.facts import field_label
from hukou.policy.rules import CLAUSE_TEXTS
from hukou.privacy import mask_id, mask_name

SCHEMA = "hukou.decision/1"


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def trace_json(t: Trace, day: int) -> dict[str, Any]:
    value = truth(t.sets, day)
    out: dict[str, Any] = {
        "kind": t.kind,
        "key": t.key,
        "clause": t.clause,
        "text": {"zh": t.zh, "en": t.en},
        "value": value,
    }
    if value is True:
        end = last_of_run(t.sets[0], day)
        if end is not None and end < POS:
            out["until"] = _iso(day_to_date(end))
    else:
        nxt = first_from(t.sets[0], day + 1)
        if nxt is not None and nxt < POS:
            out["earliest_date"] = _iso(day_to_date(nxt))
    if t.facts:
        out["facts"] = {k: display_value(k.rsplit(".", 1)[-1], v) for k, v in t.facts.items()}
    if t.children:
        out["children"] = [trace_json(c, day) for c in t.children]
    return out


def _cited(d: Decision) -> set[str]:
    cited: set[str] = set()

    def visit(t: Trace) -> None:
        cited.add(t.clause)
        for child in t.children:
            visit(child)

    visit(d.in_force_trace)
    for c in d.channels:
        visit(c.explanation)
    for r in d.relatives:
        for route in r.routes:
            visit(route.explanation)
    return cited


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


def channel_json(c: ChannelResult, day: int) -> dict[str, Any]:
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
        "missing_labels": [
            {"zh": field_label(f, "zh"), "en": field_label(f, "en")} for f in c.missing_facts
        ],
        "registration_place": place_json(c.registration_place),
        "materials": [
            {"zh": m.zh, "en": m.en, "clause": m.clause, "if_applicable": m.if_applicable}
            for m in c.materials
        ],
        "explanation": trace_json(c.explanation, day),
    }


def decision_json(d: Decision) -> dict[str, Any]:
    day = d.decision_date.toordinal()
    best = d.best
    applicant = d.case.applicant
    return {
        "schema": SCHEMA,
        "decision_date": d.decision_date.isoformat(),
        "rule_version": {
            "ruleset": d.rule_version.ruleset,
            "code": d.rule_version.code,
            "parameters_as_of": _iso(d.rule_version.parameters_as_of),
            "digest": d.rule_version.digest,
        },
        "status": d.status,
        "in_force": trace_json(d.in_force_trace, day),
        "applicant": {
            "name": mask_name(applicant.name),
            "id_number": mask_id(applicant.id_number),
            "sex": applicant.sex.value if applicant.sex else None,
            "birth_date": _iso(applicant.birth_date),
        },
        "best_channel": best.key if best else None,
        "registration_place": place_json(best.registration_place) if best else None,
        "earliest_date": _iso(d.earliest_date),
        "missing_facts": d.missing_facts,
        "channels": [channel_json(c, day) for c in d.channels],
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
                "routes": [channel_json(x, day) for x in r.routes],
            }
            for r in d.relatives
        ],
        # the Chinese sentence of every clause cited in the trees, once
        "clause_texts": {k: v for k, v in CLAUSE_TEXTS.items() if k in _cited(d)},
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
    }
