"""The residence-permit decision (居住证申领条件): 居住证暂行条例 art. 2 on one case.

The same engine as the notice's decision (``decide.py``): the rule tree of
``policy.permit`` evaluated three-valued over days, an open result split on its unknown
facts of finite domain (``exact.exact``), the earliest date when the half year is not yet
reached, the explanation, and the materials of art. 9. The parameters are the permit's
own set (``policy.permit.load_parameters``).

The facts only the permit rules read (``PERMIT_FACTS``) live in a scope of their own,
``permit``, of kind ``permit``; its paths are the applicant's (``applicant.lives_in``), so
a missing fact names the field of the case that answers it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import hukou
from hukou.engine import evaluate
from hukou.engine.cases import DeclaredCase
from hukou.engine.decide import ChannelResult, MaterialItem, RuleVersion, _materials, _result
from hukou.engine.evaluate import Evaluator, Trace, find_node, truth
from hukou.engine.report import trace_json
from hukou.engine.scopes import fact_keys, person_scope
from hukou.policy import places
from hukou.policy.facts import Case, field_label, parse_case
from hukou.policy.params import ParameterSet, ResolvedParameters
from hukou.policy.permit import (
    CLAUSE_TEXTS,
    ELIGIBLE,
    GROUNDS,
    IN_FORCE,
    MATERIALS,
    PARAMETER_FILE,
    PERMIT_FACTS,
    RULESET,
    add_months,
    load_parameters,
)
from hukou.privacy import mask_id, mask_name

# The evaluator names a missing fact by the fact table of its scope's kind
# (``evaluate.source_of``); the permit scope's kind is added to those tables here.
# (Wanted in evaluate.py: a public way to add a kind, see docs/permits.md.)
evaluate.register_kind("permit", PERMIT_FACTS)

SCHEMA = "hukou.permit-decision/1"

PermitStatus = Literal["eligible", "not_eligible", "undetermined", "not_in_force"]


@dataclass
class PermitDecision:
    """May the applicant apply for a residence permit on ``decision_date``, and if not
    yet, from when."""

    decision_date: dt.date
    rule_version: RuleVersion
    status: PermitStatus
    earliest_date: dt.date | None  # not eligible now: the first day it would be (the half year)
    eligible_until: dt.date | None  # eligible now: the last day it stays so (None: open-ended)
    grounds: list[str]  # keys of the grounds of art. 2 that hold on the decision date
    missing_facts: list[str]  # case fields whose answers the open result still hangs on
    explanation: Trace
    materials: list[MaterialItem]
    ground_results: list[ChannelResult]  # each ground on its own (employment, dwelling, study)
    in_force_trace: Trace
    case: Case
    exact: bool = True  # False: too many unknown facts to split on, the Kleene answer kept
    dates_exact: bool = True  # False: the dates alone decided it; earliest/until not known


def permit_scope(case: Case, params: ResolvedParameters) -> dict[str, Any]:
    """The facts of ``PERMIT_FACTS`` for the applicant (``None`` when unknown)."""
    a = case.applicant
    scope: dict[str, Any] = dict.fromkeys(PERMIT_FACTS)
    scope["__path__"] = "applicant"
    scope["__kind__"] = "permit"
    scope["__keys__"] = fact_keys("applicant")
    if a.lives_in is not None:
        scope["living_area"] = places.area_of(a.lives_in)
    hukou_ = a.hukou
    if hukou_ is not None:
        if hukou_.address is not None:
            scope["hukou_area"] = places.area_of(hukou_.address.county)
        elif hukou_.kind is not None and hukou_.kind.value == "outside_jiaxing":
            scope["hukou_area"] = "outside_jiaxing"  # away from any Jiaxing area
    county = a.residence_registration_county
    scope["registration_county_stated"] = county is not None
    if county is not None:
        scope["registration_area"] = places.area_of(county)
    since = a.residence_registration_since
    if since is not None:
        months = params.values[f"{PARAMETER_FILE}.residence_months"]
        scope["half_year_on"] = add_months(since, months)
    if a.continuous_study is not None:
        scope["studying"] = a.continuous_study
    return scope


def _not_in_force(when: dt.date, version: RuleVersion, case: Case) -> PermitDecision:
    never = ((), ((-(10**7), 10**7),))
    trace = Trace("condition", IN_FORCE.key, IN_FORCE.clause, IN_FORCE.zh, IN_FORCE.en, never)
    return PermitDecision(
        when, version, "not_in_force", None, None, [], [], trace, [], [], trace, case
    )


def decide_permit(
    case: Case,
    day: dt.date | None = None,
    parameters: ParameterSet | None = None,
    split: bool = True,
) -> PermitDecision:
    """Decide art. 2 for the applicant of ``case`` on ``day`` (default: the case's date).

    ``parameters``: the permit's parameter set (default: as enacted); ``split=False``:
    Kleene logic only, without splitting open results on their unknown finite facts.
    """
    when = day or case.decision_date or dt.date.today()
    if case.decision_date != when:
        case = case.model_copy(update={"decision_date": when})
    resolved = (parameters or load_parameters()).at(when)
    version = RuleVersion(RULESET, hukou.__version__, resolved.as_of, resolved.digest)
    if f"{PARAMETER_FILE}.in_force_from" not in resolved.values:
        return _not_in_force(when, version, case)
    ev = Evaluator(resolved, when)
    ev.split = split
    applicant = person_scope(case.applicant, "applicant", resolved)
    env = {"applicant": applicant, "permit": permit_scope(case, resolved)}
    force = ev.explain(IN_FORCE, env)
    if truth(force.sets, ev.day) is not True:
        return _not_in_force(when, version, case)

    trace = ev.explain(ELIGIBLE, env)
    result = _result(ev, ELIGIBLE, ELIGIBLE.zh, ELIGIBLE.en, trace, env, True, ELIGIBLE.key)
    grounds = [_result(ev, g, g.zh, g.en, ev.explain(g, env), env, True, g.key) for g in GROUNDS]
    materials = _materials(ev, MATERIALS, env) if result.status != "not_eligible" else []
    return PermitDecision(
        when,
        version,
        result.status,
        result.earliest_date,
        result.eligible_until,
        [g.key for g in grounds if g.status == "eligible"],
        result.missing_facts,
        result.explanation,
        materials,
        grounds,
        force,
        case,
        result.exact,
        result.dates_exact,
    )


# ---- the machine form ------------------------------------------------------------------


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def _clauses(t: Trace) -> Iterator[str]:
    yield t.clause
    for child in t.children:
        yield from _clauses(child)


def _missing(facts: list[str]) -> list[dict[str, str]]:
    return [{"zh": field_label(f, "zh"), "en": field_label(f, "en")} for f in facts]


def permit_json(d: PermitDecision) -> dict[str, Any]:
    """The decision as JSON (``hukou.permit-decision/1``, docs/permits.md)."""
    day = d.decision_date.toordinal()
    applicant = d.case.applicant
    cited = set(_clauses(d.in_force_trace)) | set(_clauses(d.explanation))
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
        "title": {"zh": ELIGIBLE.zh, "en": ELIGIBLE.en},
        "earliest_date": _iso(d.earliest_date),
        "eligible_until": _iso(d.eligible_until),
        "applicant": {
            "name": mask_name(applicant.name),
            "id_number": mask_id(applicant.id_number),
        },
        "grounds": d.grounds,
        "ground_results": [
            {
                "key": g.key,
                "clause": g.clause,
                "title": {"zh": g.zh, "en": g.en},
                "status": g.status,
                "missing_facts": g.missing_facts,
            }
            for g in d.ground_results
        ],
        "missing_facts": d.missing_facts,
        "missing_labels": _missing(d.missing_facts),
        "exact": d.exact,
        "dates_exact": d.dates_exact,
        "materials": [
            {"zh": m.zh, "en": m.en, "clause": m.clause, "if_applicable": m.if_applicable}
            for m in d.materials
        ],
        "in_force": trace_json(d.in_force_trace, day),
        "explanation": trace_json(d.explanation, day),
        "clause_texts": {k: v for k, v in CLAUSE_TEXTS.items() if k in cited},
    }


# ---- declarative cases (``policy/permit/*.cases.yaml``) ----------------------------------

_VALUE = {True: "true", False: "false", None: "unknown"}


def check_permit(d: PermitDecision, expect: dict[str, Any]) -> list[str]:
    """Every way ``d`` differs from ``expect`` (empty when it matches). Keys::

    status: eligible                       # eligible | not_eligible | undetermined | not_in_force
    earliest: 2024-07-01                   # the first day it would be eligible (null: never)
    until: null                            # the last day it stays eligible
    grounds: [stable_employment]           # exactly the grounds that hold
    missing: [applicant.lives_in]          # exactly these facts
    conditions: {away_from_hukou: false}   # any condition of the explanation
    materials: ["就业证明"]                 # words some listed material contains
    no_materials: ["就读证明"]              # … and no listed material contains
    """
    errors: list[str] = []
    day = d.decision_date.toordinal()

    def same(what: str, got: Any, want: Any) -> None:
        if got != want:
            errors.append(f"{what}: got {got!r}, expected {want!r}")

    def iso(value: Any) -> str | None:
        return None if value is None else str(value)

    if "status" in expect:
        same("status", d.status, expect["status"])
    if "earliest" in expect:
        same("earliest", iso(d.earliest_date), iso(expect["earliest"]))
    if "until" in expect:
        same("until", iso(d.eligible_until), iso(expect["until"]))
    if "grounds" in expect:
        same("grounds", sorted(d.grounds), sorted(expect["grounds"] or []))
    if "missing" in expect:
        same("missing", sorted(d.missing_facts), sorted(expect["missing"] or []))
    for key, want in (expect.get("conditions") or {}).items():
        node = find_node(d.explanation, str(key))
        if node is None:
            for g in d.ground_results:
                node = node or find_node(g.explanation, str(key))
        if node is None:
            errors.append(f"condition {key}: not found")
            continue
        same(f"condition {key}", _VALUE[truth(node.sets, day)], str(want).lower())
    listed = [m.zh for m in d.materials]
    for word in expect.get("materials") or []:
        if not any(word in m for m in listed):
            errors.append(f"materials: nothing with {word!r} in {listed}")
    for word in expect.get("no_materials") or []:
        if any(word in m for m in listed):
            errors.append(f"materials: {word!r} listed, expected none")
    return errors


def run_permit(declared: DeclaredCase) -> tuple[PermitDecision, list[str]]:
    decision = decide_permit(parse_case(declared.case), declared.on)
    return decision, check_permit(decision, declared.expect)


__all__ = [
    "SCHEMA",
    "PermitDecision",
    "PermitStatus",
    "check_permit",
    "decide_permit",
    "permit_json",
    "permit_scope",
    "run_permit",
]
