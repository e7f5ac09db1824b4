"""Exact answers over unknown dates, by intervals (issue 13; ``engine/exact.py``).

A grid of completions chosen independently of the engine — every whole-year threshold
the parameters hold, moved back from the decision date, the day before, of and after;
the date parameters likewise; one date a year — stands in for "every date". On
generated cases with one date (and perhaps one finite fact) hidden: a determined
status holds on every grid completion, an undetermined one has two grid completions
that disagree, each named fact changed alone changes the status, and a determined
earliest date is a day on which every grid completion is eligible.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hukou.engine.decide import decide
from hukou.engine.evaluate import Evaluator, truth
from hukou.engine.exact import exact, representatives
from hukou.engine.scopes import case_scopes
from hukou.policy.calendar import add_years
from hukou.policy.expr import TODAY, Condition, any_of
from hukou.policy.expr import add_years as shift
from hukou.policy.facts import InputError
from hukou.policy.params import load
from hukou.policy.rules.vocabulary import APPLICANT

from .strategies import cases, examples, parse
from .test_exact import E1, PERSON_FINITE, _get, _set

DATE_FIELDS = ("birth_date", "secondary_vocational_graduation_date", "employed_in_town_since")


def grid(day: dt.date) -> list[dt.date]:
    """Dates around every flip the rules can have on ``day``, and one a year."""
    values = load().at(day).values
    years = {v for v in values.values() if isinstance(v, int) and not isinstance(v, bool)}
    years = {y for y in years if 0 <= y <= 100} | {0}
    dates = {v for v in values.values() if isinstance(v, dt.date)}
    out: set[dt.date] = set()
    for y in years:
        for off in (-1, 0, 1):
            out.add(add_years(day, -y) + dt.timedelta(days=off))
    for d in dates:
        for off in (-1, 0, 1):
            out.add(d + dt.timedelta(days=off))
    out |= {dt.date(y, 7, 1) for y in range(1920, day.year + 8)}
    return sorted(d for d in out if dt.date(1900, 1, 1) <= d)


def _statuses(case: dict[str, Any], on: dt.date | None = None) -> dict[str, str] | None:
    try:
        d = decide(parse(case), on=on)
    except InputError:  # a completion the case model refuses (born after the decision)
        return None
    return {c.key: c.status for c in d.channels}


@st.composite
def date_hidden(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    case = draw(cases(partial=False, max_relatives=2))
    case = parse(case).model_dump(mode="json", exclude_none=True)
    day = dt.date.fromisoformat(case["decision_date"])
    people = [("applicant", case["applicant"])]
    people += [(f"relatives[{i}]", r) for i, r in enumerate(case["relatives"])]
    dated = [(root, f) for root, p in people for f in DATE_FIELDS if p.get(f) is not None]
    if not dated:
        root, field = "applicant", "birth_date"
    else:
        root, field = draw(st.sampled_from(dated))
    person = case["applicant"] if root == "applicant" else people[int(root[10:-1]) + 1][1]
    person.pop(field, None)
    person.pop("id_number", None)  # the ID number gives the birth date
    hidden: dict[str, list[Any]] = {f"{root}.{field}": [d.isoformat() for d in grid(day)]}
    finite = [k for k in PERSON_FINITE if _get(person, k) is not None]
    if finite and draw(st.booleans()):
        k = draw(st.sampled_from(finite))
        _set(person, k, None)
        hidden[f"{root}.{k}"] = list(PERSON_FINITE[k])
    return case, hidden


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(date_hidden())
def test_dates_split_is_sound_complete_and_minimal(
    generated: tuple[dict[str, Any], dict[str, list[Any]]],
) -> None:
    case, hidden = generated
    decision = decide(parse(case))
    names = list(hidden)
    completions: dict[tuple[Any, ...], dict[str, str]] = {}
    for combo in itertools.product(*hidden.values()):
        filled = copy.deepcopy(case)
        for path, v in zip(names, combo, strict=True):
            _set(filled, path, v)
        statuses = _statuses(filled)
        if statuses is not None:
            completions[combo] = statuses
    for c in decision.channels:
        seen = {s[c.key] for s in completions.values()}
        if c.status != "undetermined":
            assert seen <= {c.status}, (c.key, c.status, seen, names)
            assert c.missing_facts == []
            if c.status == "not_eligible" and c.earliest_date is not None:
                # every completion is eligible on the earliest date
                for combo in itertools.islice(completions, 0, None, 3):
                    filled = copy.deepcopy(case)
                    for path, v in zip(names, combo, strict=True):
                        _set(filled, path, v)
                    later = _statuses(filled, on=c.earliest_date)
                    assert later is None or later[c.key] == "eligible", (c.key, combo)
            continue
        assert c.exact
        assert len(seen) > 1, (c.key, seen, names, c.missing_facts)
        for i, fact in enumerate(names):
            matters = any(
                completions[combo][c.key] != completions[other][c.key]
                for combo in completions
                for v in hidden[fact]
                if (other := (*combo[:i], v, *combo[i + 1 :])) in completions
            )
            # minimality (a named hidden fact matters) and completeness (one that matters
            # is named)
            assert matters == (fact in c.missing_facts), (c.key, fact, c.missing_facts)


# ---- regression: the date no longer drags a finite fact along -----------------------


def test_unknown_birth_date_of_the_child_asks_only_for_it() -> None:
    """E1's parent of 62 with no sex given joins a child whose birth date is unknown: the
    sex cannot matter (62 meets 60 and 55), so only the child's birth date is asked for."""
    case = copy.deepcopy(E1)
    del case["relatives"][0]["birth_date"]
    s3_1 = {c.key: c for c in decide(parse(case)).channels}["s3_1"]
    assert s3_1.status == "undetermined"
    assert s3_1.missing_facts == ["relatives[0].birth_date"]


def test_unknown_own_birth_date_and_sex_both_matter() -> None:
    case = copy.deepcopy(E1)
    del case["applicant"]["birth_date"]
    s3_1 = {c.key: c for c in decide(parse(case)).channels}["s3_1"]
    assert s3_1.status == "undetermined"
    assert set(s3_1.missing_facts) == {"applicant.sex", "applicant.birth_date"}


# ---- the interval split on rules written for it --------------------------------------

DAY = dt.date(2024, 6, 1)
BIRTH = APPLICANT.birth_date


def _open(rule: Condition, case: dict[str, Any]) -> tuple[Evaluator, Any, Any]:
    resolved = load().at(DAY)
    ev = Evaluator(resolved, DAY)
    applicant, _relatives = case_scopes(parse(case), resolved)
    env = {"applicant": applicant}
    sets = ev.quiet_sets(rule, env)
    assert truth(sets, ev.day) is None  # Kleene leaves it open
    return ev, env, exact(ev, rule, env, sets)


def _case(**applicant: Any) -> dict[str, Any]:
    return {"decision_date": DAY.isoformat(), "applicant": {"dwellings": [], **applicant}}


MINOR_OR_ADULT_BUSINESS = Condition(
    "test_minor_or_adult",
    "§test",
    "未成年，或成年且经商",
    "a minor, or an adult running a business",
    any_of(
        TODAY < shift(BIRTH, 18),
        (TODAY >= shift(BIRTH, 18)) & APPLICANT.local_business,
    ),
)


def test_a_covering_disjunction_is_true_without_the_date() -> None:
    ev, _env, found = _open(MINOR_OR_ADULT_BUSINESS, _case(local_business=True))
    assert truth(found.sets, ev.day) is True
    assert found.missing == []
    assert found.exact
    assert not found.dates_exact  # the last day is not claimed


def test_both_the_date_and_the_fact_matter_when_they_do() -> None:
    ev, _env, found = _open(MINOR_OR_ADULT_BUSINESS, _case())
    assert truth(found.sets, ev.day) is None
    assert set(found.missing) == {"applicant.birth_date", "applicant.local_business"}


def test_a_contradiction_is_false_and_never_true() -> None:
    never = Condition(
        "test_never",
        "§test",
        "既满60又未满55",
        "60 or older and under 55",
        (TODAY >= shift(BIRTH, 60)) & (TODAY < shift(BIRTH, 55)),
    )
    ev, _env, found = _open(never, _case())
    assert truth(found.sets, ev.day) is False
    assert found.dates_exact
    assert not any(hi > ev.day for _lo, hi in found.sets[0])  # no later day


def test_the_earliest_date_is_verified_for_every_date() -> None:
    """Born on or before the decision date, nobody is born after it: false today whatever
    the birth date, true for everyone from 2025-01-01 on."""
    start = dt.date(2025, 1, 1)
    later = Condition(
        "test_later",
        "§test",
        "出生日期晚于今天，或2025年起",
        "born after today, or from 2025",
        any_of(TODAY < BIRTH, TODAY >= start),
    )
    ev, _env, found = _open(later, _case())
    assert truth(found.sets, ev.day) is False
    assert found.dates_exact
    first = min(lo for lo, hi in found.sets[0] if hi > ev.day)
    assert dt.date.fromordinal(max(first, ev.day + 1)) == start


def test_representatives_are_the_first_days_of_each_interval() -> None:
    """A parent's age on 2024-06-01: under 55, 55 to 59, 60 or older — flips on the birth
    dates 1969-06-02 (under 55 from that day) and 1964-06-02 (under 60)."""
    resolved = load().at(DAY)
    ev = Evaluator(resolved, DAY)
    sixty, fifty_five = TODAY >= shift(BIRTH, 60), TODAY >= shift(BIRTH, 55)
    reads = [(sixty, False, shift(BIRTH, 60).years), (fifty_five, False, shift(BIRTH, 55).years)]
    reps = representatives(ev, "birth_date", reads, {})
    assert reps == (dt.date(1900, 1, 1), dt.date(1964, 6, 2), dt.date(1969, 6, 2))
    # the engine's own evaluation agrees: the day before, of and after each flip
    case = _case()
    scope, _ = case_scopes(parse(case), resolved)

    def ages(birth: dt.date) -> tuple[bool | None, bool | None]:
        scope["birth_date"] = birth
        env = {"applicant": scope}
        fresh = Evaluator(resolved, DAY)
        return (
            truth(fresh.quiet_sets(sixty, env), ev.day),
            truth(fresh.quiet_sets(fifty_five, env), ev.day),
        )

    one = dt.timedelta(days=1)
    assert ages(dt.date(1964, 6, 1)) == (True, True)
    assert ages(dt.date(1964, 6, 2)) == ages(dt.date(1964, 6, 3)) == (False, True)
    assert ages(dt.date(1969, 6, 2) - one) == (False, True)
    assert ages(dt.date(1969, 6, 2)) == ages(dt.date(1969, 6, 3)) == (False, False)


def test_a_date_read_another_way_is_not_split() -> None:
    """A date shifted twice is not a comparison the split can place a flip for: it is
    left unknown (named) rather than split on representatives that may miss an interval."""
    twice = Condition(
        "test_twice",
        "§test",
        "未成年或成年",
        "a minor or an adult, the age reached through two shifts",
        any_of(
            TODAY < shift(shift(BIRTH, 10), 8),
            TODAY >= shift(BIRTH, 18),
        ),
    )
    ev, _env, found = _open(twice, _case())
    assert truth(found.sets, ev.day) is None
    assert found.missing == ["applicant.birth_date"]
