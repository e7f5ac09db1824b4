"""三、放宽亲属投靠政策 — joining a relative (§3.1, §3.2 as an exception, §3.3).

Each rule is written once over two roles — the person who joins (投靠人) and the
person joined (被投靠人) — and used in both directions: the applicant joining a
relative, and a relative joining the applicant ("may my parents come?").
"""

from __future__ import annotations

from hukou.policy.expr import (
    TODAY,
    Condition,
    Exception_,
    Exists,
    Expr,
    Not,
    add_years,
    all_of,
    any_of,
    unless,
)
from hukou.policy.rules.s1_urban import lawful_stable_dwelling, minor
from hukou.policy.rules.s2_talent import permit_where_living
from hukou.policy.rules.vocabulary import APPLICANT, RELATIVE, RELATIVES, PersonFacts, param

S3_1_TEXT = (
    "男性年满60周岁、女性年满55周岁，申报户口投靠城区（城镇）地区成年子女的，"
    "凭父母与子女关系证明、被投靠子女或本人的房屋权属证明等材料办理。"
)
S3_2_TEXT = (
    "与成年子女共同居住生活，并在居住地已领取《浙江省居住证》的父母，申报户口投靠不受年龄限制。"
)
S3_3_TEXT = (
    "具有硕士以上学历、副高以上职称或取得高级技师以上国家职业资格证书的，已落户在单位集体户、"
    "城区（城镇）家庭户籍亲友处、当地公共就业和人才服务机构集体户、社区集体户的人员，"
    "征得户口登记地房主（单位、主管部门）同意，其配偶、未成年子女、父母可投靠迁入当事人户口登记处。"
)

ANCHOR_HOUSEHOLDS = (
    "unit_collective",
    "relative_family_household",
    "talent_service_collective",
    "community_collective",
)


def has_lawful_urban_dwelling(p: PersonFacts) -> Exists:
    return p.any_dwelling(lambda d: lawful_stable_dwelling(d, "§3.1"))


def has_property_proof(p: PersonFacts) -> Exists:
    """§3.1 房屋权属证明 of an urban dwelling in Jiaxing: ownership. Unlike §1.1, §3.1 does not
    add "（含房屋租赁登记备案证明）", so a registered lease counts only under the other reading
    (R23)."""
    return p.any_dwelling(
        lambda d: Condition(
            "property_certificate",
            "§3.1",
            "在嘉兴城区（城镇）有房屋权属证明",
            "property proof of an urban dwelling in Jiaxing",
            d.in_jiaxing
            & d.urban
            & any_of(
                d.tenure == "owned",
                param("readings.lease_is_property_proof_for_s3_1", "bool")
                & (d.tenure == "rented_registered"),
            ),
        )
    )


def parent_age(parent: PersonFacts) -> Condition:
    """§3.1 男性年满60周岁、女性年满55周岁 (full years, reached on the birthday)."""
    return Condition(
        "parent_age",
        "§3.1",
        "男性年满{s3_relatives.parent_min_age_male}周岁、女性年满{s3_relatives.parent_min_age_female}周岁",
        "men {s3_relatives.parent_min_age_male} or older, women {s3_relatives.parent_min_age_female} or older",
        any_of(
            (parent.sex == "male")
            & (TODAY >= add_years(parent.birth_date, param("s3_relatives.parent_min_age_male"))),
            (parent.sex == "female")
            & (TODAY >= add_years(parent.birth_date, param("s3_relatives.parent_min_age_female"))),
        ),
    )


def parent_joins_adult_child(
    parent: PersonFacts, child: PersonFacts, is_parent: Expr, together: Expr
) -> Condition:
    """§3.1 with §3.2 as an exception to its age condition."""
    child_in_urban_jiaxing = any_of(
        child.hukou_in_jiaxing & child.hukou_urban,
        Not(param("readings.child_hukou_must_be_in_jiaxing_urban", "bool"))
        & has_lawful_urban_dwelling(child),
    )
    return Condition(
        "s3_1",
        "§3.1",
        "父母投靠城区（城镇）成年子女",
        "a parent joining an adult child in an urban area",
        all_of(
            Condition(
                "is_parent",
                "§3.1",
                "为被投靠人的父母",
                "is a parent of the person joined",
                is_parent,
            ),
            Condition(
                "child_adult",
                "§3.1",
                "被投靠子女已成年（年满{s3_relatives.adult_age}周岁）",
                "the child is an adult ({s3_relatives.adult_age}+)",
                TODAY >= add_years(child.birth_date, param("s3_relatives.adult_age")),
            ),
            Condition(
                "child_in_urban_jiaxing",
                "§3.1",
                "被投靠子女在嘉兴城区（城镇）落户",
                "the child's hukou is in an urban area of Jiaxing",
                child_in_urban_jiaxing,
            ),
            Condition(
                "property_proof",
                "§3.1",
                "被投靠子女或本人有城区（城镇）房屋权属证明",
                "the child or the parent has property proof of an urban dwelling",
                has_property_proof(child) | has_property_proof(parent),
            ),
            unless(
                parent_age(parent),
                Exception_(
                    "lives_with_child_with_permit",
                    "§3.2",
                    "与成年子女共同居住生活并在居住地已领取《浙江省居住证》的，不受年龄限制",
                    "living with the adult child and holding a permit where they live: no age limit",
                    when=together & permit_where_living(parent, "§3.2"),
                ),
            ),
        ),
    )


def talent_anchor(anchor: PersonFacts) -> Condition:
    return Condition(
        "anchor_talent",
        "§3.3",
        "被投靠人具有硕士以上学历、副高以上职称或高级技师以上国家职业资格",
        "the person joined has a master's or higher, a deputy-senior title or higher, "
        "or senior technician or higher",
        any_of(
            anchor.education >= param("s3_relatives.anchor_min_education", "level"),
            anchor.title >= param("s3_relatives.anchor_min_title", "level"),
            anchor.vocational >= param("s3_relatives.anchor_min_vocational", "level"),
        ),
    )


def joins_talent(
    joiner: PersonFacts, anchor: PersonFacts, is_spouse: Expr, is_parent: Expr, is_child: Expr
) -> Condition:
    """§3.3 spouse, minor child or parent joining a talent registered in one of four households."""
    household = anchor.hukou_kind
    return Condition(
        "s3_3",
        "§3.3",
        "配偶、未成年子女、父母投靠人才户口登记处",
        "a spouse, minor child or parent joining a talent at their registration place",
        # who joins first: it settles most pairs at once (as is_parent does in §3.1)
        all_of(
            Condition(
                "joiner_relation",
                "§3.3",
                "为其配偶、未成年子女或父母",
                "is their spouse, minor child or parent",
                any_of(is_spouse, is_parent, is_child & minor(joiner, "§3.3")),
            ),
            talent_anchor(anchor),
            Condition(
                "anchor_household",
                "§3.3",
                "被投靠人已落户在单位集体户、城区（城镇）亲友家庭户、人才服务机构集体户或社区集体户",
                "the person joined is registered in a unit collective, a relative's urban family "
                "household, the talent-service collective or a community collective",
                anchor.hukou_in_jiaxing
                & household.isin(ANCHOR_HOUSEHOLDS)
                # "城区（城镇）家庭户籍亲友处" and "社区集体户" (not a village's, R14)
                & (
                    household.isin(("unit_collective", "talent_service_collective"))
                    | anchor.hukou_urban
                ),
            ),
            Condition(
                "owner_consent",
                "§3.3",
                "征得户口登记地房主（单位、主管部门）同意",
                "the owner of the registration place (unit, competent department) consents",
                anchor.owner_consent
                & any_of(
                    household != "unit_collective",
                    param("readings.unit_consent_for_unit_collective", "bool"),
                    anchor.department_consent,
                ),
            ),
        ),
    )


COLLECTIVE_HOUSEHOLDS = ("unit_collective", "talent_service_collective", "community_collective")


def collective_consent(anchor: PersonFacts) -> Condition:
    """Reading R28: §3.1 names no household, but a collective household is not the child's
    own; as §3.3 says for joining one, the parent's hukou goes into it only "征得户口登记地
    房主（单位、主管部门）同意". True when the child's household is not a collective, or its
    holder consents; false sends the parent to the community public collective (§4.3's
    last place, §4.1)."""
    household = anchor.hukou_kind
    return Condition(
        "collective_consent",
        "§3.1",
        "被投靠子女户在集体户的，须征得户口登记地单位（主管部门）同意方可迁入该集体户",
        "where the child is registered in a collective household, its holder (unit, competent "
        "department) consents to the parent joining it",
        any_of(
            Not(param("readings.s3_1_collective_needs_consent", "bool")),
            Not(household.isin(COLLECTIVE_HOUSEHOLDS)),
            anchor.owner_consent
            & any_of(
                household != "unit_collective",
                param("readings.unit_consent_for_unit_collective", "bool"),
                anchor.department_consent,
            ),
        ),
    )


# The applicant joins one of their relatives.
JOIN_ADULT_CHILD = Condition(
    "s3_1_applicant",
    "§3.1",
    "投靠城区（城镇）成年子女",
    "joining an adult child",
    Exists(
        RELATIVES,
        "relative",
        parent_joins_adult_child(
            APPLICANT, RELATIVE, RELATIVE.relation == "child", RELATIVE.lives_with
        ),
    ),
)
JOIN_TALENT = Condition(
    "s3_3_applicant",
    "§3.3",
    "投靠具有硕士、副高或高级技师资格的亲属",
    "joining a talent relative",
    Exists(
        RELATIVES,
        "relative",
        joins_talent(
            APPLICANT,
            RELATIVE,
            is_spouse=RELATIVE.relation == "spouse",
            is_parent=RELATIVE.relation == "child",  # the applicant is their parent
            is_child=RELATIVE.relation == "parent",  # the applicant is their child
        ),
    ),
)

# A relative joins the applicant.
PARENT_JOINS_APPLICANT = parent_joins_adult_child(
    RELATIVE, APPLICANT, RELATIVE.relation == "parent", RELATIVE.lives_with
)
RELATIVE_JOINS_TALENT = joins_talent(
    RELATIVE,
    APPLICANT,
    is_spouse=RELATIVE.relation == "spouse",
    is_parent=RELATIVE.relation == "parent",
    is_child=RELATIVE.relation == "child",
)
