"""居住证暂行条例（国务院令第663号）第二条 — who may apply for a residence permit (居住证).

A second rule set beside the notice's (``policy/rules``), in the same expression layer:
named conditions with clause ids of order 663 (``R663.2``: article 2), three-valued,
explained, with the earliest date on which the half year of residence is reached.

第二条 公民离开常住户口所在地，到其他城市居住半年以上，符合有合法稳定就业、合法稳定
住所、连续就读条件之一的，可以依照本条例的规定申领居住证。

The facts the notice's rules already read (where one lives, the residence registration,
the labour contract or local business, the dwellings, the hukou's Jiaxing flag) come from
``policy.rules.vocabulary``; what only this rule set reads is ``PERMIT_FACTS``, read from
the scope ``permit`` (kind ``permit``) that ``engine/permit.py`` derives from the case.
Readings (docs/permits.md): P1 away from the hukou's place by county, 市本级 as one; P2 the
half year counts from the residence registration in the area lived in; P3 a lease not
registered is a lawful dwelling too; P4 the dwelling anywhere in Jiaxing.
"""

from __future__ import annotations

import calendar
import datetime as dt

from hukou.policy.expr import TODAY, Condition, Exception_, Fact, Not, Type, any_of, unless
from hukou.policy.places import jiaxing_counties
from hukou.policy.rules.materials import Material
from hukou.policy.rules.vocabulary import APPLICANT, DwellingFacts, param

RULESET = "state-council-663"
PARAMETER_FILE = "r663_permit"

JIAXING = tuple(jiaxing_counties())

R663_2_TEXT = (
    "公民离开常住户口所在地，到其他城市居住半年以上，符合有合法稳定就业、合法稳定住所、"
    "连续就读条件之一的，可以依照本条例的规定申领居住证。"
)
R663_9_TEXT = (
    "申领居住证，应当向居住地公安派出所或者受公安机关委托的社区服务机构提交本人居民身份证、"
    "本人相片以及居住地住址、就业、就读等证明材料。"
    "居住地住址证明包括房屋租赁合同、房屋产权证明文件、购房合同或者房屋出租人、用人单位、"
    "就读学校出具的住宿证明等；就业证明包括工商营业执照、劳动合同、用人单位出具的劳动关系证明"
    "或者其他能够证明有合法稳定就业的材料等；就读证明包括学生证、就读学校出具的其他能够证明"
    "连续就读的材料等。"
)
R663_23_TEXT = "本条例自2016年1月1日起施行。本条例施行前各地已发放的居住证，在有效期内继续有效。"

CLAUSE_TEXTS: dict[str, str] = {
    "R663.2": R663_2_TEXT,
    "R663.9": R663_9_TEXT,
    "R663.23": R663_23_TEXT,
}

# ---- facts only this rule set reads ----------------------------------------------------
# name -> (type, zh, en, field of the case model that answers it), as in
# ``policy.rules.vocabulary``; the names differ from every person fact's (the engine's
# case splitting matches facts by name across scopes).
PERMIT_FACTS: dict[str, tuple[Type, str, str, str]] = {
    # 市本级 (南湖区 + 秀洲区) one area, each other county its own (``places.area_of``)
    "living_area": ("str", "居住地（县级，市本级为一地）", "area lived in", "lives_in"),
    # a hukou outside Jiaxing whose address is not given: "outside_jiaxing"
    "hukou_area": (
        "str",
        "常住户口所在地（县级，市本级为一地）",
        "area of the hukou",
        "hukou.address.county",
    ),
    "registration_county_stated": (
        "bool",
        "已说明居住登记地",
        "the registration's county is stated",
        "residence_registration_county",
    ),
    "registration_area": (
        "str",
        "居住登记地（县级，市本级为一地）",
        "area of the residence registration",
        "residence_registration_county",
    ),
    # the registration's start plus ``r663_permit.residence_months`` (Civil Code art. 202);
    # unknown while the start is not given
    "half_year_on": (
        "date",
        "居住登记满半年之日",
        "the registration is half a year old on",
        "residence_registration_since",
    ),
    "studying": ("bool", "连续就读", "studying continuously", "continuous_study"),
}


class PermitFacts:
    """Typed references to ``PERMIT_FACTS`` in scope ``permit``: ``PERMIT.living_area``."""

    def __init__(self, scope: str = "permit"):
        self._facts = {
            name: Fact(scope, name, kind, zh, en)
            for name, (kind, zh, en, _src) in PERMIT_FACTS.items()
        }

    def __getattr__(self, name: str) -> Fact:
        if name.startswith("_") or name not in self._facts:
            raise AttributeError(name)
        return self._facts[name]


PERMIT = PermitFacts()


def add_months(start: dt.date, months: int) -> dt.date:
    """``start`` moved by whole calendar months: the corresponding day, or the last day of
    the month when it has none (Civil Code art. 202: 2024-08-31 + 6 months = 2025-02-28)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


# ---- the conditions -------------------------------------------------------------------

IN_FORCE = Condition(
    "r663_in_force",
    "R663.23",
    "《居住证暂行条例》自2016年1月1日起施行",
    "the residence-permit regulation applies from 2016-01-01",
    TODAY >= param(f"{PARAMETER_FILE}.in_force_from", "date"),
)

LIVES_IN_JIAXING = Condition(
    "lives_in_jiaxing",
    "R663.9",
    "居住地在嘉兴（向居住地公安派出所申领）",
    "lives in Jiaxing (the permit is applied for where one lives)",
    APPLICANT.lives_in.isin(JIAXING),
)

AWAY_FROM_HUKOU = Condition(
    "away_from_hukou",
    "R663.2",
    "离开常住户口所在地（户口不在居住地所在县，市本级视为一地）",
    "lives away from the hukou's place (the hukou is not in the county lived in; the city "
    "proper counts as one)",
    any_of(
        # P1: by county, 市本级 as one (as R2a of the notice reads the same words)
        param(f"{PARAMETER_FILE}.away_by_county", "bool")
        & (PERMIT.hukou_area != PERMIT.living_area),
        # the other reading: by city — the hukou outside Jiaxing
        Not(param(f"{PARAMETER_FILE}.away_by_county", "bool")) & Not(APPLICANT.hukou_in_jiaxing),
    ),
)

REGISTERED_WHERE_LIVING = Condition(
    "registered_where_living",
    "R663.2",
    "在居住地（县级，市本级为一地）办理了居住登记",
    "holds a residence registration in the area lived in",
    APPLICANT.residence_registration
    & unless(
        PERMIT.registration_area == PERMIT.living_area,
        Exception_(
            "registration_county_not_stated",
            "R663.2",
            "未说明居住登记地的，视为在居住地登记（P2）",
            "a registration whose county is not stated is taken as made where one lives (P2)",
            when=Not(PERMIT.registration_county_stated),
            then=True,
        ),
    ),
)

HALF_YEAR = Condition(
    "resided_half_year",
    "R663.2",
    "到其他城市居住半年以上：居住登记满{r663_permit.residence_months}个月",
    "has lived there half a year or more: the residence registration is "
    "{r663_permit.residence_months} months old",
    TODAY >= PERMIT.half_year_on,
)

RESIDED = Condition(
    "resided",
    "R663.2",
    "在居住地居住半年以上（以居住登记计）",
    "half a year of residence where one lives (counted from the residence registration)",
    REGISTERED_WHERE_LIVING & HALF_YEAR,
)


def lawful_stable_dwelling(d: DwellingFacts) -> Condition:
    """合法稳定住所 for a permit: owned or rented, in Jiaxing (P3, P4). Neither urban nor a
    registered lease is asked, unlike §1.1's."""
    return Condition(
        "permit_dwelling",
        "R663.2",
        "在嘉兴自有或租赁的住房",
        "a dwelling in Jiaxing, owned or rented",
        d.in_jiaxing
        & any_of(
            d.tenure.isin(("owned", "rented_registered")),
            (d.tenure == "rented_unregistered")
            & param(f"{PARAMETER_FILE}.unregistered_lease_counts", "bool"),
        ),
    )


STABLE_EMPLOYMENT = Condition(
    "stable_employment",
    "R663.2",
    "有合法稳定就业（与本市用人单位签订劳动（聘用）合同，或在本地经商办企业）",
    "lawful stable employment (a labour contract with a Jiaxing employer, or a local business)",
    APPLICANT.labour_contract | APPLICANT.local_business,
)

STABLE_DWELLING = Condition(
    "stable_dwelling",
    "R663.2",
    "有合法稳定住所（在嘉兴自有或租赁的住房）",
    "a lawful stable dwelling (owned or rented, in Jiaxing)",
    APPLICANT.any_dwelling(lawful_stable_dwelling),
)

CONTINUOUS_STUDY = Condition(
    "continuous_study",
    "R663.2",
    "连续就读（在嘉兴的全日制学校取得学籍并就读）",
    "continuous study (enrolled full-time at a school in Jiaxing)",
    PERMIT.studying,
)

GROUNDS: tuple[Condition, ...] = (STABLE_EMPLOYMENT, STABLE_DWELLING, CONTINUOUS_STUDY)

ONE_GROUND = Condition(
    "one_ground",
    "R663.2",
    "符合有合法稳定就业、合法稳定住所、连续就读条件之一",
    "one of: lawful stable employment, a lawful stable dwelling, continuous study",
    any_of(*GROUNDS),
)

ELIGIBLE = Condition(
    "r663_2",
    "R663.2",
    "可以申领居住证",
    "may apply for a residence permit",
    LIVES_IN_JIAXING & AWAY_FROM_HUKOU & RESIDED & ONE_GROUND,
)

# 第九条: what to bring. An item whose ground is still open is listed "if applicable".
MATERIALS: tuple[Material, ...] = (
    Material("本人居民身份证", "resident ID card", "R663.9"),
    Material("本人相片", "a photograph", "R663.9"),
    Material(
        "居住地住址证明（房屋租赁合同、房屋产权证明文件、购房合同，或出租人、用人单位、"
        "就读学校出具的住宿证明）",
        "proof of the address lived at (lease, property certificate, purchase contract, or a "
        "letter of lodging from the landlord, employer or school)",
        "R663.9",
    ),
    Material(
        "就业证明（劳动合同、用人单位出具的劳动关系证明或营业执照）",
        "proof of employment (labour contract, the employer's letter, or the business licence)",
        "R663.9",
        when=STABLE_EMPLOYMENT,
    ),
    Material(
        "就读证明（学生证或就读学校出具的证明）",
        "proof of study (student card or the school's letter)",
        "R663.9",
        when=CONTINUOUS_STUDY,
    ),
)
