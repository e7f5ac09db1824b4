"""The facts rules may read, as typed references (事实词汇).

``PersonFacts("applicant").birth_date`` is a ``Fact`` node; the engine supplies
its value from the case, the analytics layer a column. ``SOURCE`` maps each fact
to the field of the case model that answers it, so an open decision can ask
exactly for the missing fields.
"""

from __future__ import annotations

from collections.abc import Callable

from hukou.policy.expr import Exists, Expr, Fact, Param, Type

# fact name -> (type, zh, en, field of the case model that answers it)
PERSON_FACTS: dict[str, tuple[Type, str, str, str]] = {
    "sex": ("str", "性别", "sex", "sex"),
    "birth_date": ("date", "出生日期", "birth date", "birth_date"),
    "education": ("level", "学历", "education", "education"),
    "title": ("level", "职称", "professional title", "professional_title"),
    "vocational": ("level", "国家职业资格", "vocational qualification", "vocational_qualification"),
    "sv_graduate": (
        "bool",
        "中职（技校）毕业",
        "secondary-vocational graduate",
        "secondary_vocational_graduate",
    ),
    "sv_graduation_date": (
        "date",
        "中职毕业日期",
        "graduation date",
        "secondary_vocational_graduation_date",
    ),
    "labour_contract": (
        "bool",
        "本市劳动（聘用）合同",
        "labour contract with a Jiaxing employer",
        "local_labour_contract",
    ),
    "local_business": ("bool", "本地经商办企业", "runs a local business", "local_business"),
    "lives_in": ("str", "居住地", "county lived in", "lives_in"),
    "residence_registration": (
        "bool",
        "居住登记凭证",
        "residence registration",
        "residence_registration",
    ),
    # The day the registration starts: one starting on or after the decision date was
    # applied for (held from that day); an unstated date never holds it back.
    "registration_since": (
        "date",
        "居住登记起始日",
        "residence registration since",
        "residence_registration_since",
    ),
    "permit_held": (
        "bool",
        "持《浙江省居住证》",
        "holds a Zhejiang residence permit",
        "residence_permit.held",
    ),
    "permit_county": ("str", "居住证发证地", "permit's issuing county", "residence_permit.county"),
    # The day the permit was (or will be) issued; a permit whose issue date is on or after
    # the decision date is one applied for, held from that day (its earliest date). An
    # unstated date is long ago: ``permit_held`` alone says whether it is held now.
    "permit_since": ("date", "居住证领取日期", "permit issued on", "residence_permit.issued_on"),
    "hukou_kind": ("str", "现户口户别", "kind of current household", "hukou.kind"),
    "hukou_in_jiaxing": ("bool", "户口在嘉兴", "hukou in Jiaxing", "hukou.address.county"),
    "hukou_urban": (
        "bool",
        "户口在城区（城镇）",
        "hukou in an urban area",
        "hukou.address.urban_rural_code",
    ),
    "owner_consent": (
        "bool",
        "户口登记地房主（单位）同意",
        "registration owner's consent",
        "hukou.owner_consent",
    ),
    "department_consent": (
        "bool",
        "主管部门同意",
        "competent department's consent",
        "hukou.department_consent",
    ),
    "lost_registration": (
        "str",
        "失去登记条件原因",
        "reason the address was lost",
        "lost_registration",
    ),
    "rural_origin": ("bool", "农业转移人员", "rural migrant", "rural_origin"),
    "employed_in_town_since": (
        "date",
        "城镇就业居住起始日",
        "employed in towns since",
        "employed_in_town_since",
    ),
    "family_migrated_together": (
        "bool",
        "举家迁徙",
        "whole family moved",
        "family_migrated_together",
    ),
    "offer_relative_household": (
        "bool",
        "亲友家庭户同意接收",
        "a relative's household agrees",
        "registration_offers.relative_family_household",
    ),
    "offer_unit_collective": (
        "bool",
        "单位集体户同意接收",
        "employer's collective agrees",
        "registration_offers.unit_collective",
    ),
    "offer_talent_collective": (
        "bool",
        "人才服务机构集体户接收",
        "talent-service collective accepts",
        "registration_offers.talent_service_collective",
    ),
    "registered_poor": (
        "bool",
        "建档立卡农村贫困人员",
        "registered-poor rural person",
        "registered_poor",
    ),
    "dwellings": ("list", "住所", "dwellings", "dwellings"),
}

RELATIVE_FACTS: dict[str, tuple[Type, str, str, str]] = {
    "relation": ("str", "与申请人关系", "relation to the applicant", "relation"),
    "lives_with": (
        "bool",
        "与申请人共同居住生活",
        "lives with the applicant",
        "lives_with_applicant",
    ),
}

DWELLING_FACTS: dict[str, tuple[Type, str, str, str]] = {
    "tenure": ("str", "住所权属", "tenure", "tenure"),
    "commercial": ("bool", "商品住房", "commercial housing", "commercial_housing"),
    "in_jiaxing": ("bool", "住所在嘉兴", "in Jiaxing", "address.county"),
    "urban": ("bool", "住所在城区（城镇）", "in an urban area", "address.urban_rural_code"),
    "town": ("bool", "住所在建制镇", "in a designated town", "address.urban_rural_code"),
    # §5.1's 中心镇 / 小城市培育试点: no official code list ships, so the case says it
    "central_town": (
        "bool",
        "住所在中心镇（小城市培育试点）",
        "in a central town (small-city pilot)",
        "central_town",
    ),
    # Derived from the owner's hukou: the dwelling lies in the county (市本级 counted
    # as one) where the owner's hukou already is — a residence permit or registration,
    # which is for people living away from their hukou, cannot be had there (R2a).
    "hukou_here": (
        "bool",
        "住所与本人户口在同一县（市本级）",
        "in the county (or city proper) of the owner's hukou",
        "^hukou.address.county",
    ),
    # Derived from the owner's residence history (§1.2): the latest unbroken
    # stretch of residence within the dwelling's area (市本级 counted as one) that
    # began on or before the decision date; its end is 9999-12-31 while ongoing.
    "stretch_exists": ("bool", "在该区域有居住记录", "has lived in the area", "^residence_history"),
    "stretch_start": ("date", "连续居住起始日", "continuous residence since", "^residence_history"),
    "stretch_end": ("date", "连续居住截止日", "continuous residence until", "^residence_history"),
}


class _Scope:
    _table: dict[str, tuple[Type, str, str, str]]

    def __init__(self, scope: str):
        self.scope = scope
        self._cache: dict[str, Fact] = {}

    def __getattr__(self, name: str) -> Fact:
        if name.startswith("_") or name not in self._table:
            raise AttributeError(name)
        fact = self._cache.get(name)
        if fact is None:
            kind, zh, en, _src = self._table[name]
            fact = self._cache[name] = Fact(self.scope, name, kind, zh, en)
        return fact


class DwellingFacts(_Scope):
    _table = DWELLING_FACTS


class PersonFacts(_Scope):
    """Facts of one person; ``relative`` scopes add the relation to the applicant."""

    def __init__(self, scope: str, relative: bool = False):
        super().__init__(scope)
        self._table = {**PERSON_FACTS, **(RELATIVE_FACTS if relative else {})}

    def any_dwelling(self, where: Callable[[DwellingFacts], Expr]) -> Exists:
        """Some dwelling of this person satisfies ``where``."""
        item = f"{self.scope}.dwelling"
        return Exists(self.dwellings, item, where(DwellingFacts(item)))


APPLICANT = PersonFacts("applicant")
RELATIVE = PersonFacts("relative", relative=True)
RELATIVES = Fact("applicant", "relatives", "list", "亲属", "relatives")


def param(path: str, kind: Type = "int") -> Param:
    return Param(path, kind)
