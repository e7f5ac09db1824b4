"""The guided self-check (自助测评): which question to ask next, and the case the answers make.

The answers are a flat mapping of form keys to strings (``"?"`` = "I don't know").
After every step the partial case is decided by the engine; the next step is the
first one, in a fixed order, holding a question whose case path is among the
decision's ``missing_facts`` — the facts whose answers can still change the outcome.
Only two steps are asked regardless: who you are (the ID number gives sex and birth
date) and which family members would come along (the engine asks about relatives
only once they are named).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hukou.engine.decide import Decision
from hukou.policy.facts import HukouKind, LossReason
from hukou.policy.scales import Education, Title, Vocational

UNKNOWN = "?"
# "somewhere outside Jiaxing": any county code outside the city does; the rules only ask
# whether a place is in Jiaxing (and in which of its areas)
ELSEWHERE = "330106"
URBAN_CODE = {"urban": "111", "rural": "220"}

Kind = Literal["text", "date", "select", "yesno", "county", "area", "count"]


@dataclass(frozen=True)
class Question:
    key: str  # form field name; relatives' questions hold ``{i}``
    kind: Kind
    paths: tuple[str, ...]  # the case fields it answers
    options: tuple[str, ...] = ()
    max_count: int = 0

    def at(self, i: int) -> Question:
        return Question(
            self.key.format(i=i),
            self.kind,
            tuple(p.format(i=i) for p in self.paths),
            self.options,
            self.max_count,
        )

    @property
    def label_key(self) -> str:
        """The catalogue key of its label (relatives share theirs)."""
        if self.key[:1] == "r" and self.key[1:2].isdigit():
            return "q.r." + self.key.split("_", 1)[1]
        return "q." + self.key


@dataclass(frozen=True)
class Step:
    id: str
    title: str  # catalogue key
    questions: tuple[Question, ...]
    always: bool = False  # asked whatever the decision says
    relative: int | None = None  # the relative it is about


@dataclass
class Shown:
    """A step as shown: only the questions still needed (or already answered, when revisited)."""

    step: Step
    questions: list[Question] = field(default_factory=list)


def _options(enum: Iterable[Any]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


YES_NO = ("yes", "no")

APPLICANT_STEPS: tuple[Step, ...] = (
    Step(
        "identity",
        "step.identity",
        (
            Question("id_number", "text", ("applicant.id_number",)),
            Question("birth_date", "date", ("applicant.birth_date",)),
            Question("sex", "select", ("applicant.sex",), ("male", "female")),
        ),
        always=True,
    ),
    Step(
        "hukou",
        "step.hukou",
        (
            Question("hukou_kind", "select", ("applicant.hukou.kind",), _options(HukouKind)),
            Question("hukou_county", "county", ("applicant.hukou.address.county",)),
            Question("hukou_area", "area", ("applicant.hukou.address.urban_rural_code",)),
        ),
    ),
    Step(
        "dwelling",
        "step.dwelling",
        (
            Question(
                "dw_tenure",
                "select",
                ("applicant.dwellings", "applicant.dwellings[0].tenure"),
                ("owned", "rented_registered", "rented_unregistered", "none"),
            ),
        ),
    ),
    Step(
        "dwelling_detail",
        "step.dwelling_detail",
        (
            Question("dw_county", "county", ("applicant.dwellings[0].address.county",)),
            Question("dw_area", "area", ("applicant.dwellings[0].address.urban_rural_code",)),
            Question("dw_commercial", "yesno", ("applicant.dwellings[0].commercial_housing",)),
        ),
    ),
    Step(
        "residence",
        "step.residence",
        (
            Question("lives_in", "county", ("applicant.lives_in",)),
            Question("res_since", "date", ("applicant.residence_history",)),
            Question("registration", "yesno", ("applicant.residence_registration",)),
            Question("permit_held", "yesno", ("applicant.residence_permit.held",)),
            Question("permit_county", "county", ("applicant.residence_permit.county",)),
        ),
    ),
    Step(
        "qualifications",
        "step.qualifications",
        (
            Question("education", "select", ("applicant.education",), _options(Education)),
            Question("title", "select", ("applicant.professional_title",), _options(Title)),
            Question(
                "vocational",
                "select",
                ("applicant.vocational_qualification",),
                _options(Vocational),
            ),
        ),
    ),
    Step(
        "vocational_school",
        "step.vocational_school",
        (
            Question("voc_grad", "yesno", ("applicant.secondary_vocational_graduate",)),
            Question("voc_grad_date", "date", ("applicant.secondary_vocational_graduation_date",)),
        ),
    ),
    Step(
        "work",
        "step.work",
        (
            Question("labour_contract", "yesno", ("applicant.local_labour_contract",)),
            Question("business", "yesno", ("applicant.local_business",)),
        ),
    ),
    Step(
        "family",
        "step.family",
        (
            Question("spouse", "yesno", ("relatives",)),
            Question("children", "count", ("relatives",), max_count=4),
            Question("parents", "count", ("relatives",), max_count=4),
        ),
        always=True,
    ),
)

RELATIVE_STEPS: tuple[Step, ...] = (
    Step(
        "rel{i}_basic",
        "step.relative_basic",
        (
            Question("r{i}_birth_date", "date", ("relatives[{i}].birth_date",)),
            Question("r{i}_sex", "select", ("relatives[{i}].sex",), ("male", "female")),
            Question("r{i}_lives_with", "yesno", ("relatives[{i}].lives_with_applicant",)),
        ),
    ),
    Step(
        "rel{i}_hukou",
        "step.relative_hukou",
        (
            Question(
                "r{i}_hukou_kind", "select", ("relatives[{i}].hukou.kind",), _options(HukouKind)
            ),
            Question("r{i}_hukou_county", "county", ("relatives[{i}].hukou.address.county",)),
            Question("r{i}_hukou_area", "area", ("relatives[{i}].hukou.address.urban_rural_code",)),
            Question("r{i}_owner_consent", "yesno", ("relatives[{i}].hukou.owner_consent",)),
        ),
    ),
    Step(
        "rel{i}_home",
        "step.relative_home",
        (
            Question(
                "r{i}_dw_tenure",
                "select",
                ("relatives[{i}].dwellings", "relatives[{i}].dwellings[0].tenure"),
                ("owned", "rented_registered", "rented_unregistered", "none"),
            ),
            Question("r{i}_dw_county", "county", ("relatives[{i}].dwellings[0].address.county",)),
            Question(
                "r{i}_dw_area", "area", ("relatives[{i}].dwellings[0].address.urban_rural_code",)
            ),
            Question(
                "r{i}_dw_commercial", "yesno", ("relatives[{i}].dwellings[0].commercial_housing",)
            ),
            Question("r{i}_lives_in", "county", ("relatives[{i}].lives_in",)),
            Question("r{i}_permit_held", "yesno", ("relatives[{i}].residence_permit.held",)),
            Question("r{i}_permit_county", "county", ("relatives[{i}].residence_permit.county",)),
            Question("r{i}_res_since", "date", ("relatives[{i}].residence_history",)),
        ),
    ),
    Step(
        "rel{i}_quals",
        "step.relative_quals",
        (
            Question(
                "r{i}_education", "select", ("relatives[{i}].education",), _options(Education)
            ),
            Question(
                "r{i}_title", "select", ("relatives[{i}].professional_title",), _options(Title)
            ),
            Question(
                "r{i}_vocational",
                "select",
                ("relatives[{i}].vocational_qualification",),
                _options(Vocational),
            ),
        ),
    ),
)

LATE_STEPS: tuple[Step, ...] = (
    Step(
        "lost",
        "step.lost",
        (
            Question(
                "lost_registration",
                "select",
                ("applicant.lost_registration",),
                _options(LossReason),
            ),
        ),
    ),
    Step(
        "offers",
        "step.offers",
        (
            Question(
                "offer_relative",
                "yesno",
                ("applicant.registration_offers.relative_family_household",),
            ),
            Question("offer_unit", "yesno", ("applicant.registration_offers.unit_collective",)),
            Question(
                "offer_talent",
                "yesno",
                ("applicant.registration_offers.talent_service_collective",),
            ),
        ),
    ),
)

RELATIONS_ORDER = ("spouse", "child", "parent")


def _count(answers: Mapping[str, str], key: str) -> int:
    value = answers.get(key, "0")
    return int(value) if value.isdigit() else 0


def family(answers: Mapping[str, str]) -> list[str]:
    """The relations of the relatives named in the family step, in order."""
    out = []
    if answers.get("spouse") == "yes":
        out.append("spouse")
    out += ["child"] * min(_count(answers, "children"), 4)
    out += ["parent"] * min(_count(answers, "parents"), 4)
    return out


def steps(answers: Mapping[str, str]) -> list[Step]:
    """Every step in the order they are asked, the relatives' ones expanded."""
    out = list(APPLICANT_STEPS)
    for i, relation in enumerate(family(answers)):
        for s in RELATIVE_STEPS:
            out.append(
                Step(
                    s.id.format(i=i),
                    s.title,
                    tuple(q.at(i) for q in s.questions),
                    relative=i,
                )
            )
        del relation
    out += LATE_STEPS
    return out


def step_by_id(answers: Mapping[str, str], step_id: str) -> Step | None:
    return next((s for s in steps(answers) if s.id == step_id), None)


def outcome_missing(d: Decision) -> list[str]:
    """The missing facts that can still change the outcome the self-check reports: which
    channel the applicant settles under (the first eligible one in the notice's order, so a
    channel after an eligible one no longer matters), and whether each relative may come.
    A subset of ``Decision.missing_facts``, in the engine's order."""
    out: dict[str, None] = {}
    for c in d.channels:
        out.update(dict.fromkeys(c.missing_facts))
        if c.status == "eligible":
            break
    for r in d.relatives:
        if r.status == "undetermined":
            for route in r.routes:
                out.update(dict.fromkeys(route.missing_facts))
    return list(out)


def _related(path: str, missing: str) -> bool:
    """A question's path answers a missing fact: the same, or one holds the other."""
    if path == missing:
        return True
    return path.startswith((missing + ".", missing + "[")) or missing.startswith(
        (path + ".", path + "[")
    )


def needed(q: Question, missing: Iterable[str]) -> bool:
    return any(_related(p, m) for p in q.paths for m in missing)


def next_step(answers: Mapping[str, str], missing: list[str]) -> Shown | None:
    """The first step with a question still unanswered whose answer can change the outcome."""
    for s in steps(answers):
        if s.always:  # answered once any of its questions is
            if not any(q.key in answers for q in s.questions):
                return Shown(s, list(s.questions))
            continue
        qs = [q for q in s.questions if q.key not in answers and needed(q, missing)]
        if qs:
            return Shown(s, qs)
    return None


def remaining(answers: Mapping[str, str], missing: list[str], skip: str | None = None) -> int:
    """How many steps are still to come, as things stand (``skip``: the step shown now)."""
    n = 0
    for s in steps(answers):
        if s.id == skip:
            continue
        if s.always:
            n += not any(q.key in answers for q in s.questions)
        else:
            n += any(q.key not in answers and needed(q, missing) for q in s.questions)
    return n


def revisit(answers: Mapping[str, str], step_id: str, missing: list[str]) -> Shown | None:
    """A step shown again (back, change an answer): its answered and its needed questions."""
    s = step_by_id(answers, step_id)
    if s is None:
        return None
    if s.always:
        return Shown(s, list(s.questions))
    qs = [q for q in s.questions if q.key in answers or needed(q, missing)]
    return Shown(s, qs or list(s.questions))


# ---- the case the answers make ------------------------------------------------------


def _get(answers: Mapping[str, str], key: str) -> str | None:
    value = answers.get(key)
    return None if value in (None, "", UNKNOWN) else value


def _bool(answers: Mapping[str, str], key: str) -> bool | None:
    value = _get(answers, key)
    return None if value is None else value == "yes"


def _county_of(answers: Mapping[str, str], key: str) -> str | None:
    value = _get(answers, key)
    if value == "elsewhere":
        return ELSEWHERE
    return value


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _hukou(answers: Mapping[str, str], p: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    _put(out, "kind", _get(answers, f"{p}hukou_kind"))
    county = _county_of(answers, f"{p}hukou_county")
    if county:
        address: dict[str, Any] = {"county": county}
        area = _get(answers, f"{p}hukou_area")
        if area in URBAN_CODE:
            address["urban_rural_code"] = URBAN_CODE[area]
        out["address"] = address
    _put(out, "owner_consent", _bool(answers, f"{p}owner_consent"))
    return out or None


def _dwellings(answers: Mapping[str, str], p: str) -> list[dict[str, Any]] | None:
    tenure = _get(answers, f"{p}dw_tenure")
    if tenure is None:
        return None
    if tenure == "none":
        return []
    d: dict[str, Any] = {"tenure": tenure}
    _put(d, "commercial_housing", _bool(answers, f"{p}dw_commercial"))
    county = _county_of(answers, f"{p}dw_county")
    if county:
        address: dict[str, Any] = {"county": county}
        area = _get(answers, f"{p}dw_area")
        if area in URBAN_CODE:
            address["urban_rural_code"] = URBAN_CODE[area]
        d["address"] = address
    return [d]


def _residence(answers: Mapping[str, str], p: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lives_in = _county_of(answers, f"{p}lives_in")
    _put(out, "lives_in", lives_in)
    _put(out, "residence_registration", _bool(answers, f"{p}registration"))
    permit: dict[str, Any] = {}
    _put(permit, "held", _bool(answers, f"{p}permit_held"))
    if permit.get("held"):
        _put(permit, "county", _county_of(answers, f"{p}permit_county"))
    if permit:
        out["residence_permit"] = permit
    since = _get(answers, f"{p}res_since")
    if answers.get(f"{p}lives_in") == "elsewhere":
        out["residence_history"] = []
    elif since and lives_in:
        evidence = "residence_permit" if permit.get("held") else "residence_registration"
        out["residence_history"] = [{"start": since, "county": lives_in, "evidence": evidence}]
    return out


def _quals(answers: Mapping[str, str], p: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "education", _get(answers, f"{p}education"))
    _put(out, "professional_title", _get(answers, f"{p}title"))
    _put(out, "vocational_qualification", _get(answers, f"{p}vocational"))
    return out


def build_case(answers: Mapping[str, str], today: dt.date) -> dict[str, Any]:
    """The case (the engine's input) the answers so far make; unknowns are left out."""
    a: dict[str, Any] = {}
    _put(a, "id_number", _get(answers, "id_number"))
    if "id_number" not in a:
        _put(a, "birth_date", _get(answers, "birth_date"))
        _put(a, "sex", _get(answers, "sex"))
    _put(a, "hukou", _hukou(answers, ""))
    _put(a, "dwellings", _dwellings(answers, ""))
    a.update(_residence(answers, ""))
    a.update(_quals(answers, ""))
    _put(a, "secondary_vocational_graduate", _bool(answers, "voc_grad"))
    if a.get("secondary_vocational_graduate"):
        _put(a, "secondary_vocational_graduation_date", _get(answers, "voc_grad_date"))
    _put(a, "local_labour_contract", _bool(answers, "labour_contract"))
    _put(a, "local_business", _bool(answers, "business"))
    _put(a, "lost_registration", _get(answers, "lost_registration"))
    offers: dict[str, Any] = {}
    _put(offers, "relative_family_household", _bool(answers, "offer_relative"))
    _put(offers, "unit_collective", _bool(answers, "offer_unit"))
    _put(offers, "talent_service_collective", _bool(answers, "offer_talent"))
    if offers:
        a["registration_offers"] = offers
    relatives = []
    for i, relation in enumerate(family(answers)):
        p = f"r{i}_"
        r: dict[str, Any] = {"relation": relation}
        _put(r, "birth_date", _get(answers, f"{p}birth_date"))
        _put(r, "sex", _get(answers, f"{p}sex"))
        _put(r, "lives_with_applicant", _bool(answers, f"{p}lives_with"))
        _put(r, "hukou", _hukou(answers, p))
        _put(r, "dwellings", _dwellings(answers, p))
        r.update(_residence(answers, p))
        r.update(_quals(answers, p))
        relatives.append(r)
    return {"decision_date": today.isoformat(), "applicant": a, "relatives": relatives}


def question_for(field_path: str, answers: Mapping[str, str]) -> Question | None:
    """The question whose answer a case field (an input error's) came from."""
    for s in steps(answers):
        for q in s.questions:
            if any(_related(p, field_path) for p in q.paths):
                return q
    return None
