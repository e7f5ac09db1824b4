"""Facts of a case (案件事实): who applies, with which family, dwellings and papers.

Every field may be left out (``null``): an unknown fact. The engine then says
which unknown facts could still change the outcome, and nothing else. A list
given as ``[]`` means "none"; a list left out means "not known".

Sex and birth date come from the ID number (GB 11643-1999); a sex or birth date
given beside the number must agree with it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hukou.policy import places
from hukou.policy.regions import county_entry
from hukou.policy.scales import Education, Title, Vocational

__all__ = [
    "Address",
    "Case",
    "Dwelling",
    "Education",
    "Hukou",
    "HukouKind",
    "InputError",
    "LandRights",
    "LossReason",
    "Note",
    "Person",
    "Relation",
    "Relative",
    "ResidencePeriod",
    "ResidencePermit",
    "Sex",
    "Tenure",
    "Text",
    "Title",
    "Vocational",
    "bad_text",
    "clean_text",
    "parse_case",
]

# ---- bounds on input (issue 12) ------------------------------------------------------
# Each is what a real family or a real address reaches, with room to spare; anything
# beyond is refused (422 naming the field) before the engine or the register sees it.

# 与申请人关系 is spouse, child or parent: one spouse, up to four parents (one's own and,
# remarried or adoptive, step-parents) and the children — more than ten children is
# exceedingly rare. Twenty is about twice what the largest real family names (the
# self-check itself asks about at most nine: a spouse, four children, four parents).
MAX_RELATIVES = 20
# a period for each move between counties, or each yearly renewal of a residence permit:
# fifty is a move or a renewal a year over an adult life
MAX_RESIDENCE_PERIODS = 50
# dwellings owned or rented at once: a family with more than twenty homes is not asking
# where its hukou may go
MAX_DWELLINGS = 20
# 姓名: the register's column (persons.name); the longest names (minority names written
# out with their separators) stay well under forty characters
NAME_MAX = 64
ID_NUMBER_MAX = 32  # 18 characters, and room for stray spaces the check strips
PLACE_MAX = 64  # 乡镇（街道）, 社区（村）: the register's columns (communities.township, .name)
ADDRESS_MAX = 255  # 详细地址: the register's column (dwellings.address)
CODE_MAX = 3  # 城乡划分代码

# C0 and C1 control characters (NUL among them: PostgreSQL refuses it in text), lone
# surrogates (not text at all), the bidirectional overrides and isolates (they reorder
# what a name or an address shows) and the line and paragraph separators. Notes typed
# into a text area may keep tabs and line breaks.
_NEVER = r"\ud800-\udfff\u202a-\u202e\u2066-\u2069"
_BAD_LINE = re.compile(rf"[\x00-\x1f\x7f-\x9f{_NEVER}\u2028\u2029]")
_BAD_NOTE = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_NEVER}]")
CONTROL_MESSAGE = (
    "含有控制字符或不可见的格式字符 / contains a control character or an invisible formatting "
    "character"
)


def clean_text(value: str, max_length: int | None = None, *, multiline: bool = False) -> str:
    """Text as the register keeps it: NFC (one spelling for one name), and refused
    (``ValueError``, bilingual) if it holds a control character (NUL above all) or is
    longer than ``max_length`` characters once normalised."""
    if (_BAD_NOTE if multiline else _BAD_LINE).search(value):
        raise ValueError(CONTROL_MESSAGE)
    value = unicodedata.normalize("NFC", value)
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"过长（最多 {max_length} 个字符） / too long (at most {max_length})")
    return value


def _line(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value  # else: string_type


def _note(value: Any) -> Any:
    return clean_text(value, multiline=True) if isinstance(value, str) else value


# A one-line text field (a name, an address, a number): no control characters, NFC before
# its ``max_length`` (given beside it, ``Field(max_length=...)``) is checked.
Text = Annotated[str, BeforeValidator(_line)]
# The same for notes and reasons typed into a text area: tabs and line breaks kept.
Note = Annotated[str, BeforeValidator(_note)]


def bad_text(value: Any, path: str = "") -> str | None:
    """The path of the first string in a JSON-like value (keys included) holding a
    control character (line breaks and tabs aside), or None: the register's last check on
    facts it keeps as given."""
    for where, text in _strings(value, path):
        if _BAD_NOTE.search(text):
            return where or "(value)"
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            yield f"{path}.{key}" if path else key, key
            yield from _strings(v, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


class Sex(StrEnum):
    male = "male"  # 男
    female = "female"  # 女


class Tenure(StrEnum):
    """住所权属."""

    owned = "owned"  # 自有产权
    rented_registered = "rented_registered"  # 租赁且已登记备案
    rented_unregistered = "rented_unregistered"  # 租赁未登记备案


class HukouKind(StrEnum):
    """户口所在户的类别."""

    own_family_household = "own_family_household"  # 本人家庭户
    relative_family_household = "relative_family_household"  # 亲友家庭户
    unit_collective = "unit_collective"  # 单位集体户
    talent_service_collective = "talent_service_collective"  # 公共就业和人才服务机构集体户
    community_collective = "community_collective"  # 社区（村）公共集体户
    outside_jiaxing = "outside_jiaxing"  # 嘉兴市外


class Relation(StrEnum):
    """The relative's relation to the applicant (与申请人关系)."""

    spouse = "spouse"  # 配偶
    child = "child"  # 子女
    parent = "parent"  # 父母


class LossReason(StrEnum):
    """§4.4 失去现户口所在地址登记条件的原因."""

    none = "none"  # 未失去
    land_expropriation = "land_expropriation"  # 土地征收
    demolition = "demolition"  # 房屋征迁
    ownership_transfer = "ownership_transfer"  # 房屋产权转移
    divorce = "divorce"  # 离婚
    other = "other"  # 其他（“等原因”）


class Evidence(StrEnum):
    residence_registration = "residence_registration"  # 居住登记
    residence_permit = "residence_permit"  # 居住证
    other = "other"  # 其他证明


def _county(value: str | None) -> str | None:
    if value is None:
        return None
    if not places.is_known_county(value):
        raise ValueError(
            f"未知的县级行政区划代码 {value}（GB/T 2260） / unknown county code {value} (GB/T 2260)"
        )
    return value


County = Annotated[str, Field(pattern=r"^\d{6}$", description="GB/T 2260 县级代码 / county code")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Address(_Model):
    """地址: county (GB/T 2260) and the urban–rural classification code."""

    county: County = Field(description="县（市、区）代码 / county code")
    urban_rural_code: str | None = Field(
        None,
        max_length=CODE_MAX,
        description="城乡划分代码 / urban–rural code (1xx urban, 2xx rural)",
    )
    township: Text | None = Field(
        None,
        max_length=PLACE_MAX,
        description=f"乡镇（街道） / township or street (≤ {PLACE_MAX} characters)",
    )
    community: Text | None = Field(
        None,
        max_length=PLACE_MAX,
        description=f"社区（村） / community or village (≤ {PLACE_MAX} characters)",
    )
    detail: Text | None = Field(
        None,
        max_length=ADDRESS_MAX,
        description=f"详细地址 / street address (≤ {ADDRESS_MAX} characters)",
    )

    _check_county = field_validator("county")(lambda cls, v: _county(v))

    @field_validator("urban_rural_code")
    @classmethod
    def _known_code(cls, v: str | None) -> str | None:
        if v is not None and v not in places.urban_rural_codes():
            raise ValueError(f"未知的城乡划分代码 {v} / unknown urban–rural code {v}")
        return v


class Dwelling(_Model):
    """住所: a dwelling the person owns or rents."""

    tenure: Tenure | None = Field(None, description="权属 / tenure")
    commercial_housing: bool | None = Field(None, description="是否商品住房 / commercial housing")
    address: Address | None = Field(None, description="地址 / address")
    central_town: bool | None = Field(
        None,
        description=(
            "位于中心镇或小城市培育试点镇（按本地名单填写，§5.1，仅作统计） / in a central town "
            "or small-city pilot town (from the local list; §5.1, reported only)"
        ),
    )


class ResidencePeriod(_Model):
    """居住记录: a period of residence in one county, with its evidence."""

    start: dt.date = Field(description="起始日期 / start")
    end: dt.date | None = Field(None, description="结束日期（空=至今） / end (empty: ongoing)")
    county: County = Field(description="居住地县级代码 / county")
    evidence: Evidence = Field(Evidence.residence_registration, description="凭证 / evidence")

    _check_county = field_validator("county")(lambda cls, v: _county(v))

    @model_validator(mode="after")
    def _ordered(self) -> ResidencePeriod:
        if self.end is not None and self.end < self.start:
            raise ValueError("end::结束日期早于起始日期 / the period ends before it starts")
        return self


class ResidencePermit(_Model):
    """《浙江省居住证》."""

    held: bool | None = Field(None, description="是否持有有效居住证 / holds a valid permit")
    county: County | None = Field(None, description="发证地县级代码 / issuing county")
    issued_on: dt.date | None = Field(None, description="首次领取日期 / first issued")

    _check_county = field_validator("county")(lambda cls, v: _county(v))


class Hukou(_Model):
    """现户口: where the person's hukou is now registered, and in which kind of household."""

    kind: HukouKind | None = Field(None, description="户别 / kind of household")
    address: Address | None = Field(None, description="户口登记地址 / registered address")
    owner_consent: bool | None = Field(
        None,
        description="户口登记地房主（单位）同意投靠 / consent of the registration place's owner",
    )
    department_consent: bool | None = Field(
        None, description="主管部门同意 / consent of the competent department"
    )

    @model_validator(mode="after")
    def _kind_agrees_with_address(self) -> Hukou:
        # 嘉兴市外 with a registered address in a Jiaxing county contradicts itself; the rules
        # read either fact for the other (``scopes._hukou``), so the case is refused
        if (
            self.kind is HukouKind.outside_jiaxing
            and self.address is not None
            and places.in_jiaxing(self.address.county)
        ):
            raise ValueError(
                "kind::户别为“嘉兴市外”，但户口登记地址在嘉兴 / the kind of household is "
                "'outside Jiaxing' but the registered address is in Jiaxing"
            )
        return self


class LandRights(_Model):
    """§5.3 农村土地权利 — recorded, and by law never a condition of settling."""

    contract_land: bool | None = Field(None, description="土地承包经营权 / land-contract rights")
    homestead: bool | None = Field(None, description="宅基地使用权 / homestead rights")
    collective_income: bool | None = Field(
        None, description="集体收益分配权 / collective income rights"
    )


class RegistrationOffers(_Model):
    """§4.3 places that would take the person's hukou, besides their own dwelling."""

    relative_family_household: bool | None = Field(
        None,
        description="城区（城镇）亲友家庭户同意接收 / a relative's urban family household agrees",
    )
    unit_collective: bool | None = Field(
        None, description="单位集体户同意接收 / the employer's collective household agrees"
    )
    talent_service_collective: bool | None = Field(
        None, description="人才服务机构集体户接收 / the public talent-service collective accepts"
    )


class Person(_Model):
    """人员: the applicant, or a relative (same facts)."""

    id_number: Text | None = Field(
        None, max_length=ID_NUMBER_MAX, description="公民身份号码 / resident ID number"
    )
    name: Text | None = Field(
        None, max_length=NAME_MAX, description=f"姓名 / name (≤ {NAME_MAX} characters)"
    )
    sex: Sex | None = Field(None, description="性别 / sex")
    birth_date: dt.date | None = Field(None, description="出生日期 / birth date")
    education: Education | None = Field(None, description="学历 / education")
    professional_title: Title | None = Field(None, description="职称 / professional title")
    vocational_qualification: Vocational | None = Field(
        None, description="国家职业资格 / national vocational qualification"
    )
    secondary_vocational_graduate: bool | None = Field(
        None, description="中等职业学校（含技校）毕业 / secondary-vocational graduate"
    )
    secondary_vocational_graduation_date: dt.date | None = Field(
        None, description="中职毕业日期 / graduation date"
    )
    local_labour_contract: bool | None = Field(
        None,
        description="与本市企事业单位签订劳动（聘用）合同 / labour contract with a Jiaxing employer",
    )
    local_business: bool | None = Field(
        None, description="在本地经商办企业 / runs a local business"
    )
    continuous_study: bool | None = Field(
        None,
        description="连续就读（在嘉兴的全日制学校取得学籍并就读） / studying continuously "
        "(enrolled full-time at a school in Jiaxing)",
    )
    lives_in: County | None = Field(None, description="现居住地县级代码 / county lived in")
    residence_registration: bool | None = Field(
        None, description="持嘉兴居住登记凭证 / holds a Jiaxing residence registration"
    )
    residence_registration_since: dt.date | None = Field(
        None,
        description="居住登记起始日（晚于决定日的为已申报） / residence registration starts "
        "(a date after the decision date: applied for)",
    )
    residence_registration_county: County | None = Field(
        None, description="居住登记地县级代码 / county of the residence registration"
    )
    residence_permit: ResidencePermit | None = Field(None, description="《浙江省居住证》")
    residence_history: list[ResidencePeriod] | None = Field(
        None,
        max_length=MAX_RESIDENCE_PERIODS,
        description=f"居住记录 / residence history (≤ {MAX_RESIDENCE_PERIODS} periods)",
    )
    dwellings: list[Dwelling] | None = Field(
        None, max_length=MAX_DWELLINGS, description=f"住所 / dwellings (≤ {MAX_DWELLINGS})"
    )
    hukou: Hukou | None = Field(None, description="现户口 / current hukou")
    lost_registration: LossReason | None = Field(
        None, description="§4.4 失去登记条件的原因 / why the registration address was lost"
    )
    rural_origin: bool | None = Field(None, description="农业转移人员 / rural migrant")
    employed_in_town_since: dt.date | None = Field(
        None, description="在城镇就业居住起始日 / employed and living in towns since"
    )
    family_migrated_together: bool | None = Field(None, description="举家迁徙 / whole family moved")
    registration_offers: RegistrationOffers | None = Field(
        None, description="§4.3 可接收户口的地方 / places that would take the hukou"
    )
    land_rights: LandRights | None = Field(None, description="§5.3 土地权利 / land rights")
    registered_poor: bool | None = Field(
        None,
        description="§5.1 建档立卡农村贫困人员（仅作统计） / registered-poor rural person "
        "(reported, never a condition)",
    )

    _check_county = field_validator("lives_in", "residence_registration_county")(
        lambda cls, v: _county(v)
    )

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, v: str | None) -> str | None:
        return None if v is None else check_id_number(v)

    @model_validator(mode="after")
    def _agrees_with_id(self) -> Person:
        if self.id_number is not None:
            birth = id_birth_date(self.id_number)
            sex = id_sex(self.id_number)
            if self.birth_date is not None and self.birth_date != birth:
                raise ValueError(
                    f"birth_date::出生日期与身份证号码不符（号码为{birth}） / "
                    f"birth_date disagrees with the ID number ({birth})"
                )
            if self.sex is not None and self.sex != sex:
                raise ValueError(
                    f"sex::性别与身份证号码不符 / sex disagrees with the ID number ({sex.value})"
                )
            object.__setattr__(self, "birth_date", birth)
            object.__setattr__(self, "sex", sex)
        born = self.birth_date
        # the clock is read only for a birth date after a day already known to be past
        if born is not None and born > _past_day() and born > _today():
            raise ValueError("birth_date::出生日期在未来 / birth_date is in the future")
        if (
            self.secondary_vocational_graduation_date is not None
            and self.secondary_vocational_graduate is None
        ):
            object.__setattr__(self, "secondary_vocational_graduate", True)
        county = self.residence_registration_county
        if county is not None and not places.in_jiaxing(county):
            raise ValueError(
                "residence_registration_county::居住登记凭证须为嘉兴的（外地的登记不算，请填否）"
                " / the residence registration must be Jiaxing's (one elsewhere does not "
                "count: answer no)"
            )
        return self


_SEEN_TODAY = [dt.date.today()]  # a day known not to lie in the future (time moves on)


def _past_day() -> dt.date:
    """A day on or before today: a birth date up to it needs no look at the clock."""
    return _SEEN_TODAY[0]


def _today() -> dt.date:
    today = _SEEN_TODAY[0] = dt.date.today()
    return today


class Relative(Person):
    """亲属: a relative of the applicant, with their relation and living arrangement."""

    relation: Relation = Field(description="与申请人关系 / relation to the applicant")
    lives_with_applicant: bool | None = Field(
        None, description="与申请人共同居住生活 / lives with the applicant"
    )


class Case(_Model):
    """案件: one applicant, their relatives, and the date of the decision."""

    decision_date: dt.date | None = Field(None, description="决定日期 / decision date")
    applicant: Person = Field(description="申请人 / applicant")
    relatives: list[Relative] = Field(
        default_factory=list,
        max_length=MAX_RELATIVES,
        description=f"亲属 / relatives (≤ {MAX_RELATIVES})",
    )


@lru_cache(maxsize=4096)
def _place_known(prefix: str, year: int) -> bool:
    """The address code existed at some time on or after the birth year.

    The code is the one in force when the number was first issued, which for
    people born before the 1980s is years after their birth: stdnum's own check
    (code valid *in the birth year*) would reject a 1965-born 330402 number,
    since 330402 dates from 1983.
    """
    entry = county_entry(prefix)
    if not entry:  # unknown, or only a province / city is known
        return False
    for county in entry.split(","):
        if not county.startswith("["):
            return True
        span = county[1:].split("]")[0]
        _start, end = span.split("-")
        if not end or int(end) >= year:
            return True
    return False


def id_birth_date(number: str) -> dt.date:
    """The birth date encoded in a checked 18-character ID number."""
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_sex(number: str) -> Sex:
    """GB 11643: the 17th character is odd for men, even for women."""
    return Sex.male if int(number[16]) % 2 else Sex.female


def check_id_number(value: str) -> str:
    """Validate a resident ID number (GB 11643-1999) with python-stdnum's pieces.

    The check character is stdnum's ISO 7064 MOD 11-2; the place check uses
    stdnum's GB/T 2260 table, cached per (code, year). Separators and spaces are
    not accepted: an ID number is 18 characters, the last a digit or X.
    """
    number = value.strip().upper()
    if len(number) != 18 or not number[:-1].isascii() or not number[:-1].isdigit():
        raise ValueError(
            "身份证号码须为18位数字（末位可为X） / an ID number has 18 digits (last may be X)"
        )
    from stdnum.cn import ric  # here: the package's import is felt in a command's start-up

    if number[-1] != ric.calc_check_digit(number):
        raise ValueError("身份证号码校验码错误 / the ID number's check character is wrong")
    try:
        birth = id_birth_date(number)
    except ValueError:
        raise ValueError(
            "身份证号码中的出生日期无效 / the ID number's birth date is invalid"
        ) from None
    if not _place_known(number[:6], birth.year):
        raise ValueError("身份证号码地址码无效 / the ID number's address code is unknown")
    return number


# Field labels for error messages: the zh/en description of each model field.
def _labels() -> dict[str, str]:
    out: dict[str, str] = {}
    for model in (
        Case,
        Person,
        Relative,
        Dwelling,
        Address,
        ResidencePeriod,
        ResidencePermit,
        Hukou,
        LandRights,
        RegistrationOffers,
    ):
        for name, field in model.model_fields.items():
            if field.description:  # a bound given in the description is not the label
                out.setdefault(name, field.description.split(" (≤")[0])
    return out


_LABELS = _labels()

_PYDANTIC_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("缺少必填项", "field required"),
    "extra_forbidden": ("不认识的字段", "unknown field"),
    "bool_type": ("须为 true 或 false", "must be true or false"),
    "bool_parsing": ("须为 true 或 false", "must be true or false"),
    "date_from_datetime_parsing": ("日期格式须为 YYYY-MM-DD", "date must be YYYY-MM-DD"),
    "date_parsing": ("日期格式须为 YYYY-MM-DD", "date must be YYYY-MM-DD"),
    "date_type": ("日期格式须为 YYYY-MM-DD", "date must be YYYY-MM-DD"),
    "string_type": ("须为文字", "must be a string"),
    "string_pattern_mismatch": ("格式不符", "wrong format"),
    "list_type": ("须为列表", "must be a list"),
    "model_type": ("须为对象", "must be an object"),
    "model_attributes_type": ("须为对象", "must be an object"),
    "dict_type": ("须为对象", "must be an object"),
    "enum": ("取值不在允许范围内", "not one of the allowed values"),
    "json_invalid": ("JSON 格式错误", "malformed JSON"),
    "json_type": ("JSON 格式错误", "malformed JSON"),
    "string_too_long": ("过长", "too long"),
    "too_long": ("条目过多", "too many items"),
}


class InputError(ValueError):
    """Bad input: each problem names the field, in Chinese and English."""

    def __init__(self, problems: list[dict[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p['field']}: {p['zh']} / {p['en']}" for p in problems))

    @classmethod
    def from_validation(cls, err: ValidationError) -> InputError:
        problems = []
        for e in err.errors():
            loc = (
                "".join(
                    f"[{part}]" if isinstance(part, int) else (f".{part}" if i else str(part))
                    for i, part in enumerate(e["loc"])
                )
                or "(case)"
            )
            msg = str(e["ctx"]["error"]) if e["type"] == "value_error" and "ctx" in e else ""
            if "::" in msg:  # a model-level check names the field it is about
                sub, _, msg = msg.partition("::")
                loc = f"{loc}.{sub}" if loc != "(case)" else sub
            field_name = loc.rsplit(".", 1)[-1].split("[")[0]
            label = _LABELS.get(field_name, "")
            if e["type"] == "value_error":
                zh, _, en = (msg or e["msg"]).partition(" / ")
            else:
                zh, en = _PYDANTIC_MESSAGES.get(e["type"], ("输入无效", e["msg"]))
                if e["type"] == "enum" and "ctx" in e:
                    zh += f"：{e['ctx'].get('expected', '')}"
                    en += f": {e['ctx'].get('expected', '')}"
                elif e["type"] in ("string_too_long", "too_long") and "ctx" in e:
                    zh += f"（最多 {e['ctx']['max_length']}）"
                    en += f" (at most {e['ctx']['max_length']})"
            code = "invalid_value" if e["type"] == "value_error" else e["type"]
            problems.append({"field": loc, "label": label, "zh": zh, "en": en or zh, "code": code})
        return cls(problems)


def parse_case(data: bytes | str | dict[str, Any], decision_date: dt.date | None = None) -> Case:
    """Parse and check a case; ``decision_date`` (e.g. ``--on``) overrides the case's own."""
    try:
        if isinstance(data, dict):
            case = Case.model_validate(data)
        else:
            case = Case.model_validate_json(data)
    except ValidationError as err:
        raise InputError.from_validation(err) from None
    if decision_date is not None and case.decision_date != decision_date:
        case = case.model_copy(update={"decision_date": decision_date})
    on = case.decision_date
    if on is not None:
        people: list[tuple[str, Person]] = [("applicant", case.applicant)]
        people += [(f"relatives[{i}]", r) for i, r in enumerate(case.relatives)]
        late = [
            {
                "field": f"{where}.birth_date",
                "label": _LABELS["birth_date"],
                "zh": f"出生日期晚于决定日期 {on}",
                "en": f"birth date is after the decision date {on}",
                "code": "after_decision_date",
            }
            for where, person in people
            if person.birth_date is not None and person.birth_date > on
        ]
        if late:
            raise InputError(late)
    return case


@lru_cache(maxsize=8192)  # a pure function of two short strings; reports call it often
def field_label(path: str, lang: str = "zh") -> str:
    """A person-readable name for a case field path, e.g.
    ``relatives[1].hukou.kind`` -> ``亲属2·现户口·户别`` (en: ``relative 2 · current hukou · kind of household``).
    """
    out = []
    for part in path.split("."):
        name, _, index = part.partition("[")
        if name == "applicant":
            out.append("申请人" if lang == "zh" else "applicant")
            continue
        if name == "relatives" and index:
            n = int(index.rstrip("]")) + 1
            out.append(f"亲属{n}" if lang == "zh" else f"relative {n}")
            continue
        label = _LABELS.get(name, name)
        zh, _, en = label.partition(" / ")
        text = zh if lang == "zh" else (en or zh)
        if index:
            n = int(index.rstrip("]")) + 1
            text = f"{text}{n}" if lang == "zh" else f"{text} {n}"
        out.append(text)
    return " · ".join(out) if lang == "en" else "·".join(out)
