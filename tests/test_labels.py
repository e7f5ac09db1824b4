"""Explanations quote the parameters in force, not the numbers of the day they were written."""

from __future__ import annotations

import datetime as dt

import pytest

from hukou.engine.decide import decide
from hukou.engine.evaluate import Trace
from hukou.policy.expr import Condition, Exception_, fill_label, label_params, walk
from hukou.policy.facts import parse_case
from hukou.policy.params import load
from hukou.policy.rules import CHANNELS, PRIORITY_GROUPS, RELATIVE_ROUTES
from hukou.policy.rules.materials import MATERIALS, RELATIVE_MATERIALS

ON = dt.date(2024, 3, 1)
TENANT = {
    "decision_date": ON.isoformat(),
    "applicant": {
        "sex": "female",
        "birth_date": "1994-05-01",
        "dwellings": [
            {
                "tenure": "rented_registered",
                "commercial_housing": True,
                "address": {"county": "330411", "urban_rural_code": "111"},
            }
        ],
        "residence_history": [{"start": "2021-09-01", "county": "330411"}],
        "residence_permit": {"held": True, "county": "330411"},
    },
}


def _labels() -> list[str]:
    out = []
    roots = [c.rule for c in CHANNELS] + [r.rule for r in RELATIVE_ROUTES] + list(PRIORITY_GROUPS)
    for root in roots:
        for node in walk(root):
            if isinstance(node, Condition | Exception_):
                out += [node.zh, node.en]
    for items in (*MATERIALS.values(), *RELATIVE_MATERIALS.values()):
        out += [t for m in items for t in (m.zh, m.en)]
    return out


def test_every_quoted_parameter_exists() -> None:
    values = load().at(ON).values
    quoted = {p for label in _labels() for p in label_params(label)}
    assert quoted, "some labels quote parameters"
    assert quoted <= set(values), quoted - set(values)


def test_fill_label_formats_numbers_and_dates_and_marks_what_is_not_in_force() -> None:
    values = {"a.b": 3, "c.d": dt.date(2020, 8, 1)}
    assert fill_label("{a.b}年 自{c.d}", values) == "3年 自2020-08-01"
    assert fill_label("{x.y}年", values) == "?年"
    assert fill_label("no {braces here", values) == "no {braces here"


def _texts(t: Trace) -> list[str]:
    out = [t.zh, t.en]
    for c in t.children:
        out += _texts(c)
    return out


@pytest.mark.parametrize("generated", [True, False])
@pytest.mark.parametrize("years", [3, 2])
def test_a_reform_of_the_residence_years_shows_in_the_explanation(
    years: int, generated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hukou.engine import evaluate

    monkeypatch.setattr(evaluate, "GENERATED", generated)
    params = load().with_overrides({"s1_urban.continuous_residence_years": {ON: years}})
    d = decide(parse_case(TENANT), ON, params)
    texts = _texts(d.channels[0].explanation)
    assert f"在市本级或同一县（市）范围内已连续居住{years}年及以上" in texts
    assert f"{years} years' continuous residence within the city proper or the same county" in texts
    assert not any("{" in t for t in texts)
    # 2.5 years lived: eligible under 2 years, not under 3
    assert d.channels[0].status == ("eligible" if years == 2 else "not_eligible")
    if years == 2:  # and the materials ask for proof of the same number of years
        assert any(f"连续居住{years}年的证明" in m.zh for m in d.channels[0].materials)


def test_a_new_reform_never_gets_the_values_of_a_collected_one() -> None:
    # ids are reused once an object is garbage; the resolved-values cache must not be fooled
    for years in (2, 5, 2, 7, 1, 4):
        params = load().with_overrides({"s1_urban.continuous_residence_years": {ON: years}})
        assert params.at(ON)["s1_urban.continuous_residence_years"] == years
        del params
