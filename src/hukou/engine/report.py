"""The machine form of a decision (``hukou.decision/1``), documented in docs/decision-json.md.

Stable: fields are only ever added. Dates are ISO strings; every label comes in
``zh`` and ``en``; personal data is masked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hukou.engine.decide import ChannelResult, Decision, Place
from hukou.engine.evaluate import ALL, POS, Trace
from hukou.engine.scopes import LEVEL_FACTS, ONGOING, display_value
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


# a fact's value is shown as it is when it is text, a number that is no qualification
# level, or unknown; dates, lists and levels go through ``display_value``
_AS_IS = frozenset({str, float, type(None)})
_INTS = frozenset({bool, int})
_NOT_LEVEL: set[str] = set()  # fact paths whose name is no qualification level
_DATE = dt.date
_UNSEEN = object()  # a cache's "not yet looked up" (its values may be None)
_DATE_TEXT: dict[dt.date, str | None] = {}  # a date as a fact shows it
_LEVEL_TEXT: dict[tuple[str, int], Any] = {}  # (level fact, rank) -> the level's name


def _display(path: str, value: Any) -> Any:
    cls = value.__class__
    if cls is _DATE:  # as ``display_value`` shows a date, whatever the fact
        found = _DATE_TEXT.get(value, _UNSEEN)
        if found is _UNSEEN:
            if len(_DATE_TEXT) > 65_536:
                _DATE_TEXT.clear()
            found = _DATE_TEXT[value] = None if value == ONGOING else value.isoformat()
        return found
    if cls is list:
        return f"[{len(value)}]"
    leaf = _leaf(path)
    if leaf not in LEVEL_FACTS:
        if len(_NOT_LEVEL) < 65_536:
            _NOT_LEVEL.add(path)
        return display_value(leaf, value)
    if cls is int:  # a rank on its ladder: the level's name, looked up once
        found = _LEVEL_TEXT.get((leaf, value), _UNSEEN)
        if found is _UNSEEN:
            found = _LEVEL_TEXT[(leaf, value)] = display_value(leaf, value)
        return found
    return display_value(leaf, value)


_ISO: dict[int, str] = {}  # day ordinal -> ISO date (the same days recur in every report)


def _iso_day(day: int) -> str:
    found = _ISO.get(day)
    if found is None:
        if len(_ISO) > 65_536:
            _ISO.clear()
        found = _ISO[day] = dt.date.fromordinal(day).isoformat()
    return found


def _trace(
    t: Trace, day: int, cited: set[str], done: dict[Trace, dict[str, Any]]
) -> dict[str, Any]:
    """One explained node, and its subtree; the clauses met are added to ``cited`` on the
    way (one walk of the tree, not two). ``done``: the nodes already written in this report,
    by their trace (a channel embedded in a relative's route is one trace, shared by both
    trees: written once, its JSON shared too)."""
    found = done.get(t)
    if found is not None:
        return found
    return _node(t, day, cited, done)


def _node(t: Trace, day: int, cited: set[str], done: dict[Trace, dict[str, Any]]) -> dict[str, Any]:
    """``_trace`` for a node not yet written."""
    clause = t.clause
    cited.add(clause)
    yes, no = t.sets
    until = earliest = None
    value: bool | None
    if yes is ALL:  # true on every day (most nodes): no run ends, no date to give
        value = True
    elif no is ALL and not yes:  # false on every day: never true
        value = False
    else:
        value = None
        for lo, hi in yes:
            if lo <= day <= hi:  # true: until the end of this run
                value = True
                if hi < POS:
                    until = _iso_day(hi)
                break
        else:
            for lo, hi in no:
                if lo <= day <= hi:
                    value = False
                    break
            after = day + 1
            for lo, hi in yes:  # the first day true after the decision date
                if hi >= after:
                    if lo > after:
                        after = lo
                    if after < POS:
                        earliest = _iso_day(after)
                    break
    out: dict[str, Any] = {
        "kind": t.kind,
        "key": t.key,
        "clause": clause,
        "text": {"zh": t.zh, "en": t.en},
        "value": value,
    }
    if until is not None:
        out["until"] = until
    elif earliest is not None:
        out["earliest_date"] = earliest
    facts = t.facts
    if facts:
        shown = out["facts"] = facts.copy()  # most values are shown as they are
        for k, v in facts.items():
            cls = v.__class__
            if cls not in _AS_IS and (cls not in _INTS or k not in _NOT_LEVEL):
                shown[k] = _display(k, v)
    children = t.children
    if children:
        out["children"] = [done.get(c) or _node(c, day, cited, done) for c in children]
    done[t] = out
    return out


def trace_json(t: Trace, day: int) -> dict[str, Any]:
    return _trace(t, day, set(), {})


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


def channel_json(
    c: ChannelResult,
    day: int,
    cited: set[str] | None = None,
    done: dict[Trace, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    missing, materials = c.missing_facts, c.materials
    earliest, until, place = c.earliest_date, c.eligible_until, c.registration_place
    return {
        "key": c.key,
        "clause": c.clause,
        "title": {"zh": c.zh, "en": c.en},
        "clause_text": CLAUSE_TEXTS.get(c.clause, ""),
        "status": c.status,
        "earliest_date": None if earliest is None else earliest.isoformat(),
        "eligible_until": None if until is None else until.isoformat(),
        "self_only": c.self_only,
        "missing_facts": missing,
        "exact": c.exact,
        "dates_exact": c.dates_exact,
        "missing_labels": [
            {"zh": field_label(f, "zh"), "en": field_label(f, "en")} for f in missing
        ]
        if missing
        else [],
        "registration_place": None if place is None else place_json(place),
        "materials": [
            {"zh": m.zh, "en": m.en, "clause": m.clause, "if_applicable": m.if_applicable}
            for m in materials
        ]
        if materials
        else [],
        "explanation": _trace(
            c.explanation, day, set() if cited is None else cited, {} if done is None else done
        ),
    }


def materials_channels(d: Decision) -> list[ChannelResult]:
    """The channels whose materials the decision lists: the one that applies (the eligible
    channel it names), else every open one — each list then says which channel it is for."""
    best = d.best
    if best is not None:
        return [best]
    return [c for c in d.channels if c.status == "undetermined"]


_FLAG_VALUES = {"eligible": True, "not_eligible": False}  # a flag's status as its value


def decision_json(d: Decision) -> dict[str, Any]:
    """The whole report; the trees are walked once, collecting the clauses they cite."""
    day = d.decision_date.toordinal()
    best = d.best
    applicant = d.case.applicant
    cited: set[str] = set()
    done: dict[Trace, dict[str, Any]] = {}  # the nodes written, by trace: shared trees once
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
        "in_force": _trace(d.in_force_trace, day, cited, done),
        "applicant": {
            "name": mask_name(applicant.name),
            "id_number": mask_id(applicant.id_number),
            "sex": applicant.sex.value if applicant.sex else None,
            "birth_date": _iso(applicant.birth_date),
        },
        "best_channel": best.key if best else None,
        "registration_place": place_json(best.registration_place) if best else None,
        # whose materials to bring (``materials_channels``): the best channel, else each
        # open one (by its own list)
        "materials_for": [best.key]
        if best is not None
        else [c.key for c in d.channels if c.status == "undetermined"],
        "earliest_date": _iso(d.earliest_date),
        "missing_facts": d.missing_facts,
        "channels": [channel_json(c, day, cited, done) for c in d.channels],
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
                "routes": [channel_json(x, day, cited, done) for x in r.routes],
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
                "value": _FLAG_VALUES.get(f.status),
            }
            for f in d.reporting_flags
        ],
    }
    # the Chinese sentence of every clause cited in the trees, once
    out["clause_texts"] = {k: v for k, v in CLAUSE_TEXTS.items() if k in cited}
    return out
