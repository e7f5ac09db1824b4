"""二、降低人才落户门槛 — settling on qualifications (§2.1, §2.2). Self only (允许本人)."""

from __future__ import annotations

from hukou.policy.expr import TODAY, Condition, add_years, all_of, any_of
from hukou.policy.rules.s1_urban import JIAXING
from hukou.policy.rules.vocabulary import APPLICANT, PersonFacts, param

S2_1_TEXT = "具有大专以上学历、中级以上职称或取得技师以上国家职业资格证书的人员，允许本人申请落户。"
S2_2_TEXT = (
    "中等职业学校（含技校）毕业后15年内，与本市企事业单位签订劳动（聘用）合同或在本地经商办企业，"
    "并在居住地取得《浙江省居住证》的人员，允许本人申请落户。"
)


def permit_where_living(p: PersonFacts, clause: str) -> Condition:
    """在居住地取得（领取）《浙江省居住证》: a permit issued in the county the person lives in,
    in Jiaxing (R12)."""
    return Condition(
        "permit_where_living",
        clause,
        "在居住地（嘉兴）取得《浙江省居住证》",
        "holds a Zhejiang residence permit issued where they live, in Jiaxing",
        p.permit_held
        & (p.permit_county == p.lives_in)
        & p.lives_in.isin(JIAXING)
        & (TODAY >= p.permit_since),
    )


QUALIFIED = Condition(
    "s2_1",
    "§2.1",
    "大专以上学历、中级以上职称或技师以上国家职业资格",
    "junior college or higher, an intermediate title or higher, or technician or higher",
    any_of(
        Condition(
            "education_junior_college",
            "§2.1",
            "大专以上学历",
            "junior college or higher",
            APPLICANT.education >= param("s2_talent.min_education", "level"),
        ),
        Condition(
            "title_intermediate",
            "§2.1",
            "中级以上职称",
            "intermediate title or higher",
            APPLICANT.title >= param("s2_talent.min_title", "level"),
        ),
        Condition(
            "vocational_technician",
            "§2.1",
            "技师以上国家职业资格证书",
            "vocational qualification of technician or higher",
            APPLICANT.vocational >= param("s2_talent.min_vocational", "level"),
        ),
    ),
)

VOCATIONAL_GRADUATE = Condition(
    "s2_2",
    "§2.2",
    "中职（技校）毕业{s2_talent.vocational_graduate_window_years}年内，在本市就业或经商，并在居住地取得居住证",
    "within {s2_talent.vocational_graduate_window_years} years of secondary-vocational graduation, working or in business in Jiaxing, "
    "with a permit where they live",
    all_of(
        Condition(
            "within_graduation_window",
            "§2.2",
            "中等职业学校（含技校）毕业后{s2_talent.vocational_graduate_window_years}年内",
            "within {s2_talent.vocational_graduate_window_years} years of secondary-vocational graduation",
            APPLICANT.sv_graduate
            # "毕业后": the window opens on the graduation day ...
            & (TODAY >= APPLICANT.sv_graduation_date)
            # ... and closes after its 15th anniversary (R4).
            & (
                TODAY
                <= add_years(
                    APPLICANT.sv_graduation_date,
                    param("s2_talent.vocational_graduate_window_years"),
                )
            ),
        ),
        Condition(
            "local_work",
            "§2.2",
            "与本市企事业单位签订劳动（聘用）合同或在本地经商办企业",
            "a labour contract with a Jiaxing employer, or a local business",
            APPLICANT.labour_contract | APPLICANT.local_business,
        ),
        permit_where_living(APPLICANT, "§2.2"),
    ),
)
