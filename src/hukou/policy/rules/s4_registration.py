"""四、全面设立社区（村）公共集体户 — priority groups (§4.2), where the hukou is
registered (§4.3) and attaching to the community collective household (§4.4).
§4.1 (one public collective household per community, with a keeper) and the
move-out procedure of §4.5 belong to the registry."""

from __future__ import annotations

from hukou.policy.expr import (
    TODAY,
    Condition,
    Const,
    Expr,
    FirstOf,
    Not,
    Option,
    add_years,
    all_of,
    any_of,
)
from hukou.policy.rules.s1_urban import lawful_stable_dwelling, qualifying_dwelling
from hukou.policy.rules.vocabulary import APPLICANT, DwellingFacts, param

S4_1_TEXT = (
    "进一步放宽企业单位集体户设立条件，全市各社区（村）全面设立社区（村）公共集体户，"
    "落实专人协助公安机关做好日常户口管理工作。"
)
S4_2_TEXT = "重点解决在城镇就业居住5年以上和举家迁徙的农业转移人员以及新生代农民工等群体落户问题。"
S4_3_TEXT = (
    "公安机关按照当事人城区（城镇）合法住所、城区（城镇）家庭户口亲友处、单位集体户、"
    "当地公共就业和人才服务机构集体户、社区（村）公共集体户先后顺序，办理落户登记手续。"
)
S4_4_TEXT = (
    "因土地征收、房屋征迁、房屋产权转移、离婚等原因，失去现户口所在地址登记条件的家庭户成员，"
    "在本地无合法住所的，可将户口挂靠至现户口所在地社区（村）集体户。"
)

# §4.2 重点群体 — reported with a decision, never a condition of it.
PRIORITY_GROUPS = (
    Condition(
        "rural_migrant_5_years",
        "§4.2",
        "在城镇就业居住{s4_registration.priority_town_years}年以上的农业转移人员",
        "rural migrant employed and living in towns {s4_registration.priority_town_years}+ years",
        APPLICANT.rural_origin
        & (
            TODAY
            >= add_years(
                APPLICANT.employed_in_town_since, param("s4_registration.priority_town_years")
            )
        ),
    ),
    Condition(
        "whole_family_migrated",
        "§4.2",
        "举家迁徙的农业转移人员",
        "rural migrant whose whole family moved",
        APPLICANT.rural_origin & APPLICANT.family_migrated_together,
    ),
    Condition(
        "new_generation_migrant",
        "§4.2",
        "新生代农民工",
        "new-generation migrant worker",
        APPLICANT.rural_origin
        & (APPLICANT.birth_date >= param("s4_registration.new_generation_born_from", "date")),
    ),
)


def _registration_dwelling() -> Condition:
    """Own lawful urban dwelling; a rented commercial flat also needs §1.2 (reading R7)."""
    return Condition(
        "own_dwelling_available",
        "§4.3",
        "本人城区（城镇）合法住所",
        "own lawful urban dwelling",
        APPLICANT.any_dwelling(
            lambda d: (
                qualifying_dwelling(d)
                | (
                    lawful_stable_dwelling(d)
                    & Not(param("readings.rented_flat_registration_needs_s1_2", "bool"))
                )
            )
        ),
    )


REGISTRATION_PLACE = FirstOf(
    "registration_place",
    "§4.3",
    (
        Option(
            "own_dwelling",
            "§4.3",
            "本人城区（城镇）合法住所",
            "own lawful urban dwelling",
            _registration_dwelling(),
        ),
        Option(
            "relative_family_household",
            "§4.3",
            "城区（城镇）家庭户口亲友处",
            "an urban family household of a relative or friend",
            APPLICANT.offer_relative_household,
        ),
        Option(
            "unit_collective",
            "§4.3",
            "单位集体户",
            "the employer's collective household",
            APPLICANT.offer_unit_collective,
        ),
        Option(
            "talent_service_collective",
            "§4.3",
            "当地公共就业和人才服务机构集体户",
            "the public employment and talent-service collective household",
            APPLICANT.offer_talent_collective,
        ),
        Option(
            "community_collective",
            "§4.3",
            "社区（村）公共集体户",
            "the community (village) public collective household",
            Condition(
                "community_collective_exists",
                "§4.1",
                "全市各社区（村）全面设立社区（村）公共集体户",
                "every community and village has a public collective household",
                Const(True, "bool"),
            ),
        ),
    ),
)


def local_lawful_dwelling(d: DwellingFacts) -> Expr:
    """§4.4 本地合法住所 — reading R27: a dwelling in Jiaxing at which the person could be
    registered now (one they own, or one §1.1/§1.2 accepts); a lease that does not yet
    qualify (a rented commercial flat before its 3 years) does not bar attaching. Under
    the other reading any owned or registered-lease dwelling in Jiaxing bars it."""
    any_lawful = d.in_jiaxing & d.tenure.isin(("owned", "rented_registered"))
    registrable = (d.in_jiaxing & (d.tenure == "owned")) | qualifying_dwelling(d)
    return any_of(
        param("readings.s4_4_registrable_dwelling_only", "bool") & registrable,
        Not(param("readings.s4_4_registrable_dwelling_only", "bool")) & any_lawful,
    )


ATTACH_TO_COMMUNITY = Condition(
    "s4_4",
    "§4.4",
    "失去登记条件的家庭户成员挂靠社区（村）集体户",
    "a family-household member who lost the registration address attaches to the community "
    "collective household",
    all_of(
        Condition(
            "family_household_member",
            "§4.4",
            "现为嘉兴家庭户成员",
            "now a member of a family household in Jiaxing",
            APPLICANT.hukou_in_jiaxing
            & APPLICANT.hukou_kind.isin(("own_family_household", "relative_family_household")),
        ),
        Condition(
            "lost_registration_address",
            "§4.4",
            "因土地征收、房屋征迁、房屋产权转移、离婚等原因失去现户口所在地址登记条件",
            "lost the right to be registered at the address (expropriation, demolition, "
            "transfer, divorce, …)",
            APPLICANT.lost_registration != "none",
        ),
        Condition(
            "no_local_dwelling",
            "§4.4",
            "在本地无合法住所",
            "no lawful dwelling locally",
            Not(APPLICANT.any_dwelling(local_lawful_dwelling)),
        ),
    ),
)
