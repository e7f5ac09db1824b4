"""一、全面放开城区、城镇落户限制 — settling on a lawful stable dwelling (§1.1, §1.2)."""

from __future__ import annotations

from hukou.policy.expr import (
    TODAY,
    Condition,
    Exception_,
    Expr,
    Not,
    add_years,
    all_of,
    any_of,
    unless,
)
from hukou.policy.places import jiaxing_counties
from hukou.policy.rules.vocabulary import APPLICANT, RELATIVE, DwellingFacts, PersonFacts, param

JIAXING = tuple(jiaxing_counties())  # the seven county-level codes, from policy/data

S1_1_TEXT = (
    "在城区（城镇）范围内有合法稳定住所的人员，凭房屋权属证明（含房屋租赁登记备案证明）、"
    "《浙江省居住证》或居住登记凭证等材料，允许本人及其共同居住生活的配偶、未成年子女、父母落户。"
)
S1_2_TEXT = (
    "当事人租赁城区（城镇）商品住房的，须在市本级或同一县（市）范围内已连续居住3年及以上，"
    "按“一房一户”原则及公安机关户籍迁移有关政策申请落户。"
)


def lawful_stable_dwelling(d: DwellingFacts, clause: str = "§1.1") -> Condition:
    """§1.1 合法稳定住所: in an urban area or town of Jiaxing, owned or on a registered lease."""
    return Condition(
        "lawful_stable_dwelling",
        clause,
        "在嘉兴城区（城镇）有合法稳定住所（自有产权，或租赁并登记备案）",
        "a lawful stable dwelling in an urban area or town of Jiaxing (owned, or a registered lease)",
        all_of(d.in_jiaxing, d.urban, d.tenure.isin(("owned", "rented_registered"))),
    )


def continuous_residence(d: DwellingFacts) -> Condition:
    """§1.2 连续居住3年: the unbroken stretch in the dwelling's area reaches its 3rd anniversary."""
    return Condition(
        "continuous_residence",
        "§1.2",
        "在市本级或同一县（市）范围内已连续居住{s1_urban.continuous_residence_years}年及以上",
        "{s1_urban.continuous_residence_years} years' continuous residence within the city proper or the same county",
        d.stretch_exists
        & (TODAY <= d.stretch_end)
        & (TODAY >= add_years(d.stretch_start, param("s1_urban.continuous_residence_years"))),
    )


def rented_commercial_flat(d: DwellingFacts) -> Expr:
    return (d.tenure == "rented_registered") & d.commercial


def qualifying_dwelling(d: DwellingFacts) -> Condition:
    """A dwelling §1.1 accepts, with §1.2 as an exception for rented commercial flats."""
    return Condition(
        "qualifying_dwelling",
        "§1.1",
        "可据以落户的住所",
        "a dwelling one may settle on",
        unless(
            lawful_stable_dwelling(d),
            Exception_(
                "rented_commercial_needs_residence",
                "§1.2",
                "租赁商品住房而未满连续居住年限的，不可据以落户",
                "a rented commercial flat does not qualify before the continuous-residence period",
                when=rented_commercial_flat(d) & Not(continuous_residence(d)),
                then=False,
            ),
        ),
    )


def residence_document(p: PersonFacts, d: DwellingFacts) -> Condition:
    """§1.1 凭《浙江省居住证》或居住登记凭证 (reading R2: a condition, not only a paper; the
    permit issued in Jiaxing, the registration being Jiaxing's), with the exception of
    reading R2a: a person whose hukou is already in the county (市本级 as one) of the
    dwelling ``d`` cannot hold either there, and settles on it on the other conditions."""
    return Condition(
        "residence_document",
        "§1.1",
        "持嘉兴发放的《浙江省居住证》或居住登记凭证",
        "holds a Zhejiang residence permit issued in Jiaxing, or a Jiaxing residence registration",
        unless(
            any_of(
                Not(param("readings.residence_permit_or_registration_required", "bool")),
                p.permit_held & p.permit_county.isin(JIAXING) & (TODAY >= p.permit_since),
                p.residence_registration & (TODAY >= p.registration_since),
            ),
            Exception_(
                "hukou_already_in_county",
                "§1.1",
                "户口已在住所所在县（市本级）的，无从办理居住证或居住登记，不以其为条件",
                "hukou already in the dwelling's county (or city proper): no permit or "
                "registration can be had there, so none is required",
                when=param("readings.permit_only_away_from_hukou", "bool") & d.hukou_here,
                then=True,
            ),
        ),
    )


def minor(p: PersonFacts, clause: str = "§1.1") -> Condition:
    return Condition(
        "minor",
        clause,
        "未成年（未满{s1_urban.minor_below_age}周岁）",
        "a minor (under {s1_urban.minor_below_age})",
        TODAY < add_years(p.birth_date, param("s1_urban.minor_below_age")),
    )


SETTLE_ON_DWELLING = Condition(
    "s1_1",
    "§1.1",
    "在城区（城镇）有合法稳定住所的人员落户",
    "settling on a lawful stable dwelling in an urban area or town",
    Condition(
        "has_qualifying_dwelling",
        "§1.1",
        "有可据以落户的城区（城镇）合法稳定住所，并持居住证或居住登记（户口已在当地的除外）",
        "has a lawful stable urban dwelling one may settle on, with a residence permit or "
        "registration (unless the hukou is already there)",
        APPLICANT.any_dwelling(
            lambda d: all_of(qualifying_dwelling(d), residence_document(APPLICANT, d))
        ),
    ),
)

ACCOMPANY = Condition(
    "accompany_s1_1",
    "§1.1",
    "随本人落户：共同居住生活的配偶、未成年子女、父母",
    "comes along: a spouse, minor child or parent who lives with the applicant",
    all_of(
        SETTLE_ON_DWELLING,
        any_of(
            (RELATIVE.relation == "spouse") & RELATIVE.lives_with,
            (RELATIVE.relation == "child") & minor(RELATIVE) & RELATIVE.lives_with,
            (RELATIVE.relation == "parent")
            & (
                RELATIVE.lives_with
                | Not(param("readings.parents_must_live_with_applicant", "bool"))
            ),
        ),
    ),
)
