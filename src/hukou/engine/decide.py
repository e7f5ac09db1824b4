"""The decision on one case (落户审查结论): every channel, every relative, where
the hukou goes, what to bring, and from which date — each step explained."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import hukou
from hukou.engine import codegen
from hukou.engine.evaluate import POS, Days, Evaluator, Trace, find_node, truth
from hukou.engine.exact import exact
from hukou.engine.scopes import case_scopes
from hukou.policy import places
from hukou.policy.expr import Condition, Exception_, Exists, Expr, fill_label_cached, walk
from hukou.policy.facts import Address, Case
from hukou.policy.params import ParameterSet, ResolvedParameters, load
from hukou.policy.rules import (
    ANCHOR_CONSENT,
    CHANNELS,
    IN_FORCE,
    PRIORITY_GROUPS,
    REGISTRATION_PLACE,
    RELATIVE_ROUTES,
    REPORTING_FLAGS,
    RULESET,
    Channel,
    Material,
)
from hukou.policy.rules.s3_relatives import ANCHOR_HOUSEHOLDS

Status = Literal["eligible", "not_eligible", "undetermined"]
STATUS_OF: dict[bool | None, Status] = {
    True: "eligible",
    False: "not_eligible",
    None: "undetermined",
}
Overall = Literal["eligible", "not_eligible", "undetermined", "not_in_force"]


@dataclass(frozen=True)
class RuleVersion:
    ruleset: str
    code: str
    parameters_as_of: dt.date | None
    digest: str


@dataclass
class Place:
    """Where the hukou would be registered (§4.3)."""

    kind: str | None  # own_dwelling, relative_family_household, …; None while open
    clause: str
    zh: str
    en: str
    detail: str = ""  # which dwelling, whose household: a path into the case
    candidates: list[str] = field(default_factory=list)  # still possible while open
    where_zh: str = ""  # the address or household ``detail`` names, for people to read
    where_en: str = ""


@dataclass
class MaterialItem:
    zh: str
    en: str
    clause: str
    if_applicable: bool


@dataclass
class ChannelResult:
    key: str
    clause: str
    zh: str
    en: str
    status: Status
    earliest_date: dt.date | None  # when not eligible now: the first day it would be
    eligible_until: dt.date | None  # when eligible now: the last day it stays so
    missing_facts: list[str]
    explanation: Trace
    self_only: bool
    registration_place: Place | None = None
    materials: list[MaterialItem] = field(default_factory=list)
    # False when the open result was not split on its unknown finite facts because
    # there were too many (``exact.MAX_COMPLETIONS``): the Kleene answer is kept
    exact: bool = True
    # False when only splitting unknown dates decided the status and the earliest date
    # or last day could not be established for every date (``exact.py``): neither given
    dates_exact: bool = True


@dataclass
class RelativeResult:
    index: int
    relation: str
    name: str | None
    id_number: str | None
    status: Status
    routes: list[ChannelResult]
    earliest_date: dt.date | None
    notes: list[tuple[str, str]] = field(default_factory=list)
    anchor_of: list[str] = field(default_factory=list)  # applicant channels that join this relative


@dataclass
class Decision:
    decision_date: dt.date
    rule_version: RuleVersion
    in_force: bool
    status: Overall
    channels: list[ChannelResult]
    relatives: list[RelativeResult]
    priority_groups: list[ChannelResult]
    in_force_trace: Trace
    case: Case
    reporting_flags: list[ChannelResult] = field(default_factory=list)  # §5.1, for §7 counts

    @property
    def best(self) -> ChannelResult | None:
        """The first eligible channel in the notice's order."""
        return next((c for c in self.channels if c.status == "eligible"), None)

    @property
    def missing_facts(self) -> list[str]:
        out: dict[str, None] = {}
        for c in self.channels:
            out.update(dict.fromkeys(c.missing_facts))
        for r in self.relatives:
            for route in r.routes:
                out.update(dict.fromkeys(route.missing_facts))
        return list(out)

    @property
    def earliest_date(self) -> dt.date | None:
        dates = [c.earliest_date for c in self.channels if c.earliest_date]
        return min(dates) if dates else None


def day_to_date(day: int | None) -> dt.date | None:
    if day is None or day >= POS:
        return None
    return dt.date.fromordinal(day)


def _dates(sets: tuple[Days, Days], day: int) -> tuple[bool | None, dt.date | None, dt.date | None]:
    """(value on ``day``, earliest date it would be true if not now, last day it stays true)."""
    ts, fs = sets
    for lo, hi in ts:
        if lo <= day <= hi:  # true now: until the end of this run
            return True, None, None if hi >= POS else dt.date.fromordinal(hi)
    value: bool | None = None
    for lo, hi in fs:
        if lo <= day <= hi:
            value = False
            break
    after = day + 1
    for lo, hi in ts:
        if hi >= after:
            first = lo if lo > after else after
            return value, None if first >= POS else dt.date.fromordinal(first), None
    return value, None, None


def _result(
    ev: Evaluator,
    rule: Condition,
    zh: str,
    en: str,
    trace: Trace,
    env: dict[str, dict[str, Any]],
    self_only: bool,
    key: str,
) -> ChannelResult:
    sets = trace.sets
    missing: list[str] = []
    is_exact = dates_exact = True
    if truth(sets, ev.day) is None:
        if ev.split:
            # open under Kleene logic: split on the unknown finite facts, then dates
            found = exact(ev, rule, env, sets)
            sets, missing, is_exact = found.sets, found.missing, found.exact
            dates_exact = found.dates_exact
        else:
            missing = ev.missing(rule, env)
    value, earliest, until = (
        _dates(sets, ev.day) if dates_exact else (truth(sets, ev.day), None, None)
    )
    return ChannelResult(
        key,
        rule.clause,
        zh,
        en,
        STATUS_OF[value],
        earliest,
        until,
        missing,
        trace,
        self_only,
        exact=is_exact,
        dates_exact=dates_exact,
    )


def _materials(
    ev: Evaluator, items: tuple[Material, ...], env: dict[str, dict[str, Any]]
) -> list[MaterialItem]:
    if ev.generated:
        return codegen.materials_fn(items, MaterialItem)(ev, env)
    out = []
    day = ev.day
    quiet_sets = ev.quiet_sets
    for m in items:
        applies: bool | None = True
        if m.when is not None:
            applies = truth(quiet_sets(m.when, env), day)
        if applies is not False:
            values, digest = ev.params.values, ev.params.digest
            zh = fill_label_cached(m.zh, values, digest)
            en = fill_label_cached(m.en, values, digest)
            out.append(MaterialItem(zh, en, m.clause, applies is None))
    return out


def _qualifying_item(trace: Trace, day: int) -> Trace | None:
    """The first list item (dwelling, relative) that made an ``exists`` true (depth
    first, in the order of the explanation); while the channel is open, the first item
    that is not certainly false."""
    return _item_where(trace, day, 0) or _item_where(trace, day, None)


def _item_where(trace: Trace, day: int, which: int | None) -> Trace | None:
    """The first item true on ``day`` (``which`` 0), or not false on it (None)."""
    pending = [iter(trace.children)]
    while pending:
        for child in pending[-1]:
            kind = child.kind
            if kind == "item":
                if which is None:
                    if not any(lo <= day <= hi for lo, hi in child.sets[1]):
                        return child
                    continue
                for lo, hi in child.sets[0]:
                    if lo <= day <= hi:
                        return child
                # the lists inside an item that does not hold made nothing true: a
                # minor son's own flat is not where his parent joins him
                continue
            elif child.key in _NO_ITEMS and kind in ("condition", "exception"):
                continue  # a rule with no "exists" in it: no item below
            if child.children:
                pending.append(iter(child.children))
                break
        else:
            pending.pop()
    return None


def _keys_without_items() -> frozenset[str]:
    """Keys of the named conditions and exceptions of the rules with no ``exists``
    anywhere below them: their explanations hold no list item. A key shared by a
    rule with one and a rule without is not among them."""
    with_items: set[str] = set()
    without: set[str] = set()
    roots: list[Expr] = [IN_FORCE, *(c.rule for c in CHANNELS), *(r.rule for r in RELATIVE_ROUTES)]
    roots += [*PRIORITY_GROUPS, *(o.when for o in REGISTRATION_PLACE.options), ANCHOR_CONSENT]
    roots += [*REPORTING_FLAGS]
    for root in roots:
        for node in walk(root):
            if isinstance(node, Condition | Exception_):
                has = any(isinstance(n, Exists) for n in walk(node))
                (with_items if has else without).add(node.key)
    return frozenset(without - with_items)


def _place(
    ev: Evaluator,
    channel: Channel,
    result: ChannelResult,
    case: Case,
    env: dict[str, dict[str, Any]],
    choices: dict[int, tuple[str | None, Trace]] | None = None,
    relatives: list[dict[str, Any]] | None = None,
) -> Place | None:
    if result.status == "not_eligible":
        return None
    if channel.placement == "own_dwelling":
        item = _qualifying_item(result.explanation, ev.day)
        return _with_where(
            Place(
                "own_dwelling",
                "§4.3",
                "本人城区（城镇）合法住所",
                "own lawful urban dwelling",
                detail=item.key if item else "",
            ),
            case,
        )
    if channel.placement == "anchor":
        item = _qualifying_item(result.explanation, ev.day)
        anchor = _with_where(
            Place(
                "anchor_household",
                channel.clause,
                "被投靠人户口登记处",
                "the registration place of the relative joined",
                detail=item.key if item else "",
            ),
            case,
        )
        m = _ITEM.match(anchor.detail)
        if channel.clause != "§3.1" or m is None or m.group(2) is None or relatives is None:
            return anchor
        # R28: into the child's collective household only with its holder's consent
        i = int(m.group(2))
        consent = truth(ev.explain(ANCHOR_CONSENT, {**env, "relative": relatives[i]}).sets, ev.day)
        if consent is True:
            return anchor
        child = case.relatives[i]
        address = child.hukou.address if child.hukou else None
        zh, en = _address_text(address)
        community = Place(
            "community_collective",
            "§4.3",
            "被投靠子女户口所在社区（村）公共集体户（未征得集体户同意，R28）",
            "the community public collective household where the child is registered "
            "(the collective household has not consented, R28)",
            detail=anchor.detail,
            where_zh=f"{zh} 公共集体户" if zh else "",
            where_en=f"public collective household, {en}" if en else "",
        )
        if consent is False:
            return community
        return Place(
            None,
            "§3.1",
            "待定：子女所在集体户是否同意",
            "open: whether the child's collective household consents",
            detail=anchor.detail,
            candidates=["anchor_household", "community_collective"],
        )
    if channel.placement == "community_collective":
        hukou = case.applicant.hukou
        address = hukou.address if hukou else None
        zh, en = _address_text(address)
        return Place(
            "community_collective",
            "§4.4",
            "现户口所在地社区（村）集体户",
            "the community (village) collective household where the hukou is now",
            detail=address.community or "" if address else "",
            where_zh=f"{zh} 公共集体户" if zh else "",
            where_en=f"public collective household, {en}" if en else "",
        )
    # the §4.3 choice is the same for every channel that uses it: made once per decision
    choice = None if choices is None else choices.get(id(env))
    if choice is None:
        choice = ev.choose(REGISTRATION_PLACE, env)
        if choices is not None:
            choices[id(env)] = choice
    chosen, trace = choice
    if chosen is not None:
        o = _OPTIONS[chosen]
        detail = ""
        if chosen == "own_dwelling":
            item = _qualifying_item(trace, ev.day)
            detail = item.key if item else ""
        return _with_where(Place(chosen, "§4.3", o.zh, o.en, detail=detail), case)
    candidates = []
    for opt in trace.children:
        v = truth(opt.sets, ev.day)
        if v is not False:
            candidates.append(opt.key)
        if v is True:
            break
    return Place(
        None, "§4.3", "待定：按§4.3顺序", "open: in the order of §4.3", candidates=candidates
    )


_RELATION_WORDS = {
    "spouse": ("配偶", "spouse"),
    "child": ("子女", "child"),
    "parent": ("父母", "parent"),
}
_ITEM = re.compile(r"^(applicant|relatives\[(\d+)\])(?:\.dwellings\[(\d+)\])?$")


@lru_cache(maxsize=4096)  # paths are few, the same in every case
def _item_path(detail: str) -> tuple[str | None, str | None] | None:
    """``_ITEM.match(detail)``'s groups 2 and 3 (relative, dwelling), or None."""
    m = _ITEM.match(detail)
    return None if m is None else (m.group(2), m.group(3))


def _address_text(a: Address | None) -> tuple[str, str]:
    """An address as people write it: 南湖区 建设街道 禾兴社区 … / the same in English order."""
    if a is None:
        return "", ""
    # a family's few addresses recur through its channels and routes
    return _address_words(a.county, a.township, a.community, a.detail)


@lru_cache(maxsize=4096)
def _address_words(
    county: str | None, township: str | None, community: str | None, detail: str | None
) -> tuple[str, str]:
    local = " ".join(p for p in (township, community, detail) if p)
    zh = " ".join(p for p in (county_label(county, "zh"), local) if p)
    en = ", ".join(p for p in (local, county_label(county, "en")) if p)
    return zh, en


def _with_where(place: Place, case: Case) -> Place:
    """Fill ``where_zh``/``where_en`` from the case path in ``detail``."""
    m = _item_path(place.detail)
    if m is None:
        return place
    relative, dwelling_index = m
    person = case.applicant if relative is None else case.relatives[int(relative)]
    if dwelling_index is not None:  # one of that person's dwellings
        dwellings = person.dwellings or []
        dwelling = dwellings[int(dwelling_index)]
        place.where_zh, place.where_en = _address_text(dwelling.address)
        return place
    # a relative joined: their hukou's registered address (§3.1, §3.3)
    relation = getattr(person, "relation", None)
    who_zh, who_en = _RELATION_WORDS.get(relation.value if relation else "", ("亲属", "relative"))
    zh, en = _address_text(person.hukou.address if person.hukou else None)
    place.where_zh = f"{who_zh}户口所在户" + (f"（{zh}）" if zh else "")
    place.where_en = f"the {who_en}'s household" + (f" ({en})" if en else "")
    return place


_OPTIONS = {o.value: o for o in REGISTRATION_PLACE.options}
_NO_ITEMS = _keys_without_items()


def rule_version(resolved: ResolvedParameters) -> RuleVersion:
    hit = _VERSIONS.get(id(resolved))
    if hit is None or hit[0] is not resolved:
        version = RuleVersion(RULESET, hukou.__version__, resolved.as_of, resolved.digest)
        if len(_VERSIONS) > 4096:
            _VERSIONS.clear()
        hit = _VERSIONS[id(resolved)] = (resolved, version)
    return hit[1]


# id(resolved parameters) -> (them, their version): a RuleVersion is frozen, so shared
_VERSIONS: dict[int, tuple[ResolvedParameters, RuleVersion]] = {}


def decide(
    case: Case,
    on: dt.date | None = None,
    parameters: ParameterSet | None = None,
    split: bool = True,
) -> Decision:
    """Decide every channel and every relative of ``case`` on ``on`` (default: the case's date).

    ``split=False``: plain Kleene logic, without splitting open results on their
    unknown finite facts (``engine/exact.py``) — what the compiled population
    queries compute.
    """
    when = on or case.decision_date or dt.date.today()
    if case.decision_date != when:
        case = case.model_copy(update={"decision_date": when})
    resolved = (parameters or load()).at(when)
    ev = Evaluator(resolved, when)
    ev.split = split
    applicant, relatives = case_scopes(case, resolved)
    env = {"applicant": applicant}
    version = rule_version(resolved)

    if "s8_in_force.in_force_from" not in resolved.values:
        in_force = False
        force_trace = Trace(
            "condition",
            IN_FORCE.key,
            IN_FORCE.clause,
            IN_FORCE.zh,
            IN_FORCE.en,
            sets=((), ((-(10**7), 10**7),)),
        )
    else:
        force_trace = ev.explain(IN_FORCE, env)
        in_force = truth(force_trace.sets, ev.day) is True
    if not in_force:
        return Decision(when, version, False, "not_in_force", [], [], [], force_trace, case)

    channels: list[ChannelResult] = []
    choices: dict[int, tuple[str | None, Trace]] = {}
    for ch in CHANNELS:
        trace = ev.explain(ch.rule, env)
        result = _result(ev, ch.rule, ch.zh, ch.en, trace, env, ch.self_only, ch.key)
        if result.status != "not_eligible":
            result.registration_place = _place(ev, ch, result, case, env, choices, relatives)
            result.materials = _materials(ev, ch.materials, env)
        channels.append(result)
    by_key = {c.key: c for c in channels}

    rel_results: list[RelativeResult] = []
    talent = by_key["s2_1"].status == "eligible" or by_key["s2_2"].status == "eligible"
    joins_child = by_key["s3_1"].status != "not_eligible"
    anchors = [
        (c.registration_place.detail, c.key)
        for c in channels
        if c.registration_place is not None
        and c.registration_place.kind == "anchor_household"
        and c.status == "eligible"
    ]
    explain = ev.explain
    for i, (rel, scope) in enumerate(zip(case.relatives, relatives, strict=True)):
        renv = {"applicant": applicant, "relative": scope}
        routes = []
        eligible = undetermined = False
        dates = []
        for route in RELATIVE_ROUTES:
            trace = explain(route.rule, renv)
            r = _result(ev, route.rule, route.zh, route.en, trace, renv, False, route.key)
            if r.status != "not_eligible":
                r.materials = _materials(ev, route.materials, renv)
                if r.status == "eligible":
                    eligible = True
                else:
                    undetermined = True
            if r.earliest_date:
                dates.append(r.earliest_date)
            routes.append(r)
        status: Status = (
            "eligible" if eligible else "undetermined" if undetermined else "not_eligible"
        )
        notes = []
        if talent and status != "eligible":
            notes.append(talent_note(by_key, routes, ev.day))
        if joins_child and rel.relation._value_ == "spouse" and status != "eligible":
            # §3.1 is each parent's own right: the case names no relation between the
            # spouse and the child, so the spouse is pointed to an application of their own
            notes.append(
                (
                    "配偶如同为该成年子女的父（母），可依§3.1另行申请投靠（年龄条件单独审查）",
                    "if the spouse is also the adult child's parent, they may apply under §3.1 "
                    "in their own name (their age is checked on its own)",
                )
            )
        anchor_of = []
        if anchors:
            path = f"relatives[{i}]"
            anchor_of = [key for detail, key in anchors if detail == path]
        if anchor_of:
            notes.append(
                (
                    "申请人投靠此亲属（被投靠人），户口迁入其户口登记处",
                    "the applicant joins this relative; the hukou moves to their registration place",
                )
            )
        rel_results.append(
            RelativeResult(
                i,
                rel.relation._value_,
                rel.name,
                rel.id_number,
                status,
                routes,
                min(dates) if dates else None,
                notes,
                anchor_of,
            )
        )

    priority = []
    for cond in PRIORITY_GROUPS:
        trace = ev.explain(cond, env)
        priority.append(_result_simple(ev, cond, trace, env))
    reporting = [_result_simple(ev, c, ev.explain(c, env), env) for c in REPORTING_FLAGS]

    statuses = [c.status for c in channels]
    overall: Overall = (
        "eligible"
        if "eligible" in statuses
        else "undetermined"
        if "undetermined" in statuses
        else "not_eligible"
    )
    return Decision(
        when,
        version,
        True,
        overall,
        channels,
        rel_results,
        priority,
        force_trace,
        case,
        reporting,
    )


def _result_simple(
    ev: Evaluator,
    cond: Condition,
    trace: Trace,
    env: dict[str, dict[str, Any]],
) -> ChannelResult:
    values, digest = ev.params.values, ev.params.digest
    key, clause = cond.key, cond.clause
    # a group's label may quote a parameter ({s4_registration.priority_town_years})
    zh, en = fill_label_cached(cond.zh, values, digest), fill_label_cached(cond.en, values, digest)
    sets = trace.sets
    is_exact = dates_exact = True
    if ev.split and truth(sets, ev.day) is None:
        found = exact(ev, cond, env, sets)
        sets, is_exact, dates_exact = found.sets, found.exact, found.dates_exact
    value, earliest, _until = _dates(sets, ev.day)
    if not dates_exact:
        earliest = None
    return ChannelResult(
        key,
        clause,
        zh,
        en,
        STATUS_OF[value],
        earliest,
        None,
        [],
        trace,
        True,
        exact=is_exact,
        dates_exact=dates_exact,
    )


def county_label(code: str | None, lang: str) -> str:
    return places.county_name(code, lang) if code else ""


# ---- the note for a talent's family (issue 13, E7): no advice that cannot apply ----------

_S3_3_HOUSEHOLDS = frozenset(ANCHOR_HOUSEHOLDS)


def talent_note(
    by_key: dict[str, ChannelResult], routes: list[ChannelResult], day: int
) -> tuple[str, str]:
    """§2.1/§2.2 settle the applicant alone; §3.3 is pointed to only while it could still
    apply once the applicant has settled: the relative's relation and the applicant's
    qualification are not ruled out, and the applicant may be registered in one of the
    households §3.3 names (not an own family household, R14)."""
    zh, en = "§2.1、§2.2 仅允许本人落户，家属不能随迁", "§2.1 and §2.2 settle the applicant alone"
    if _s3_3_may_apply(by_key, routes, day):
        return f"{zh}；本人落户后可看§3.3是否适用", f"{en}; once settled, see whether §3.3 applies"
    return zh, en


def _s3_3_may_apply(
    by_key: dict[str, ChannelResult], routes: list[ChannelResult], day: int
) -> bool:
    route = next((r for r in routes if r.key == "s3_3"), None)
    if route is not None:
        for key in ("joiner_relation", "anchor_talent"):
            node = find_node(route.explanation, key)
            if node is not None and truth(node.sets, day) is False:
                return False
    for key in ("s2_1", "s2_2"):
        c = by_key.get(key)
        if c is None or c.status != "eligible" or c.registration_place is None:
            continue
        place = c.registration_place
        kinds = [place.kind] if place.kind is not None else place.candidates
        if any(k in _S3_3_HOUSEHOLDS for k in kinds):
            return True
    return False
