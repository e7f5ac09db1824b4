"""Materials to bring (申请材料), from the notice's own wording where it names them.

An item marked ``general`` is what any hukou move needs (ID card, hukou booklet)
and is not from the notice. ``when`` narrows an item to the cases it concerns;
it is evaluated like any rule, and an item whose ``when`` is still open is listed
as "if applicable".
"""

from __future__ import annotations

from dataclasses import dataclass

from hukou.policy.expr import Expr, Not
from hukou.policy.rules.s1_urban import qualifying_dwelling, rented_commercial_flat
from hukou.policy.rules.s2_talent import QUALIFIED
from hukou.policy.rules.s3_relatives import parent_age
from hukou.policy.rules.vocabulary import APPLICANT, RELATIVE


@dataclass(frozen=True)
class Material:
    zh: str
    en: str
    clause: str  # "general" for documents the notice does not name
    when: Expr | None = None


_ID = Material(
    "居民身份证、户口簿（或户籍证明）",
    "resident ID card and hukou booklet (or hukou certificate)",
    "general",
)
_RELATION = Material(
    "亲属关系证明（结婚证、出生医学证明等）",
    "proof of the family relation (marriage certificate, birth certificate, …)",
    "general",
)

_s2_1_parts = {c.key: c for c in QUALIFIED.expr.children()}  # type: ignore[attr-defined]

MATERIALS: dict[str, tuple[Material, ...]] = {
    "s1_1": (
        _ID,
        Material(
            "房屋权属证明（含房屋租赁登记备案证明）",
            "property certificate (or the registered-lease certificate)",
            "§1.1",
        ),
        Material(
            "《浙江省居住证》或居住登记凭证",
            "Zhejiang residence permit or residence-registration certificate",
            "§1.1",
        ),
        Material(
            "在市本级或同一县（市）连续居住{s1_urban.continuous_residence_years}年的证明（居住登记、居住证记录）",
            "proof of {s1_urban.continuous_residence_years} years' continuous residence in the area (registration or permit records)",
            "§1.2",
            # only for the dwelling §1.1 applies on: a rented commercial flat, while no
            # other dwelling qualifies (an owner renting a flat too needs no §1.2 proof)
            when=APPLICANT.any_dwelling(rented_commercial_flat)
            & Not(
                APPLICANT.any_dwelling(
                    lambda d: qualifying_dwelling(d) & Not(rented_commercial_flat(d))
                )
            ),
        ),
    ),
    "s2_1": (
        _ID,
        Material(
            "大专以上学历证书",
            "diploma of junior college or higher",
            "§2.1",
            when=_s2_1_parts["education_junior_college"],
        ),
        Material(
            "中级以上职称证书",
            "certificate of an intermediate or higher title",
            "§2.1",
            when=_s2_1_parts["title_intermediate"],
        ),
        Material(
            "技师以上国家职业资格证书",
            "national vocational qualification of technician or higher",
            "§2.1",
            when=_s2_1_parts["vocational_technician"],
        ),
    ),
    "s2_2": (
        _ID,
        Material(
            "中等职业学校（含技校）毕业证书",
            "secondary-vocational (technical school) diploma",
            "§2.2",
        ),
        Material(
            "与本市企事业单位签订的劳动（聘用）合同",
            "labour (employment) contract with a Jiaxing employer",
            "§2.2",
            when=APPLICANT.labour_contract,
        ),
        Material(
            "本地经商办企业的营业执照",
            "business licence of the local business",
            "§2.2",
            when=APPLICANT.local_business,
        ),
        Material(
            "居住地《浙江省居住证》", "Zhejiang residence permit issued where you live", "§2.2"
        ),
    ),
    "s3_1": (
        _ID,
        Material("父母与子女关系证明", "proof of the parent–child relation", "§3.1"),
        Material(
            "被投靠子女或本人的房屋权属证明",
            "property certificate of the child or of yourself",
            "§3.1",
        ),
        Material(
            "居住地《浙江省居住证》及与子女共同居住生活的证明（不受年龄限制时）",
            "residence permit where you live and proof of living with the child (no age limit)",
            "§3.2",
            when=Not(parent_age(APPLICANT)),
        ),
    ),
    "s3_3": (
        _ID,
        _RELATION,
        Material(
            "被投靠人硕士以上学历、副高以上职称或高级技师以上职业资格证书",
            "the relative's master's diploma, deputy-senior title or senior-technician certificate",
            "§3.3",
        ),
        Material(
            "户口登记地房主（单位、主管部门）同意投靠的书面意见",
            "written consent of the registration place's owner (unit, competent department)",
            "§3.3",
        ),
    ),
    "s4_4": (
        _ID,
        Material(
            "失去登记条件的证明（征收决定、征迁协议、产权转移登记、离婚证等）",
            "proof of losing the address (expropriation decision, demolition agreement, "
            "transfer of ownership, divorce certificate, …)",
            "§4.4",
        ),
        Material(
            "本人在本地无合法住所的书面说明（经核查）",
            "a written statement, checked by the station, that you have no lawful dwelling locally",
            "§4.4",
        ),
    ),
}

RELATIVE_MATERIALS: dict[str, tuple[Material, ...]] = {
    "accompany_s1_1": (
        _ID,
        _RELATION,
        Material("共同居住生活的证明", "proof of living with the applicant", "§1.1"),
    ),
    "s3_1": (
        _ID,
        Material("父母与子女关系证明", "proof of the parent–child relation", "§3.1"),
        Material(
            "被投靠子女（申请人）或本人的房屋权属证明",
            "property certificate of the child (the applicant) or of the parent",
            "§3.1",
        ),
        Material(
            "居住地《浙江省居住证》及与子女共同居住生活的证明（不受年龄限制时）",
            "residence permit where they live and proof of living with the child (no age limit)",
            "§3.2",
            when=Not(parent_age(RELATIVE)),
        ),
    ),
    "s3_3": (
        _ID,
        _RELATION,
        Material(
            "户口登记地房主（单位、主管部门）同意投靠的书面意见",
            "written consent of the registration place's owner",
            "§3.3",
        ),
    ),
}
