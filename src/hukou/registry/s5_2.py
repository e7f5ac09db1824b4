"""§5.2 registrations: persons without hukou, and overseas Chinese whose records disagree.

§5.2 of the notice reads, in full: 进一步做好无户口人员登记户口查漏补缺和国内外身份信息
不一致的华侨回国落户工作. It sets a task and names two kinds of case; it lays down no
condition of its own. There is therefore no engine decision here: what a police station
checks before it registers such a person is

* **the materials** of the case's category, every one received and recorded
  (``documents_received``) before approval. The categories and their papers are those
  of 国务院办公厅《关于解决无户口人员登记户口问题的意见》（国办发〔2015〕96号）, the
  national rules that the task of §5.2 carries out; for overseas Chinese, the
  《华侨回国定居证》, the passport, the former domestic record and the proof that the
  two identities are one person;
* **no double hukou** (查漏补缺 fills gaps; it must not create a second hukou): nobody in
  the register with the same name, sex and birth date has an open membership; a restored
  ID number's holder has none either;
* the station's **investigation record** (调查核实), for every case.

Registering creates the person — with a new 公民身份号码 (GB 11643: the registering
county's code, the birth date, the first free sequence number of the right parity, the
check character), or the former number where it can be restored — and their membership,
in one transaction (``Registry.register``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from hukou.policy.facts import NAME_MAX, Note, Text, check_id_number, id_birth_date, id_sex
from hukou.registry.errors import Conflict, InvalidTransition, RegistryError
from hukou.registry.models import Membership, Person

KINDS = ("s5_2_no_hukou", "s5_2_overseas")
SCHEMA = "hukou.s5_2/1"


@dataclass(frozen=True)
class Material:
    key: str
    zh: str
    en: str


def _m(key: str, zh: str, en: str) -> Material:
    return Material(key, zh, en)


APPLICATION = _m(
    "written_application",
    "书面申请（本人或监护人）",
    "written application (by the person or guardian)",
)
INVESTIGATION = _m(
    "investigation_record",
    "派出所调查核实记录",
    "the police station's investigation record",
)
PARENT_BOOKLET = _m(
    "parent_hukou_booklet", "父亲或母亲的居民户口簿", "the hukou booklet of the father or mother"
)
BIRTH_CERT = _m("birth_medical_certificate", "《出生医学证明》", "medical birth certificate")
DNA = _m(
    "parentage_test",
    "具有资质的鉴定机构出具的亲子鉴定证明",
    "a parentage test by an accredited institution",
)

# 国办发〔2015〕96号, 二(一)–(八): the categories of persons without hukou and their papers
NO_HUKOU_CATEGORIES: dict[str, tuple[str, str, tuple[Material, ...]]] = {
    "outside_family_planning": (
        "不符合计划生育政策出生的",
        "born outside the family-planning rules",
        (BIRTH_CERT, PARENT_BOOKLET),
    ),
    "no_birth_certificate": (
        "未办理《出生医学证明》的",
        "born without a medical birth certificate",
        (DNA, PARENT_BOOKLET),
    ),
    "de_facto_adoption": (
        "未办理收养登记的事实收养",
        "adopted in fact, without an adoption registration",
        (
            _m(
                "adoption_proof",
                "收养登记证，或民政部门出具的事实收养证明（公证）",
                "the adoption registration, or the civil-affairs proof of the adoption",
            ),
            _m("adopter_hukou_booklet", "收养人的居民户口簿", "the adopter's hukou booklet"),
        ),
    ),
    "declared_missing_or_dead": (
        "被宣告失踪或者宣告死亡后户口被注销的",
        "hukou cancelled after being declared missing or dead",
        (
            _m(
                "court_revocation",
                "人民法院撤销宣告失踪（死亡）的判决书",
                "the court's judgment revoking the declaration",
            ),
        ),
    ),
    "cancelled_on_marriage": (
        "农村地区因婚嫁被注销原籍户口的",
        "rural hukou cancelled on marriage",
        (
            _m("marriage_certificate", "结婚证", "marriage certificate"),
            _m(
                "cancellation_proof",
                "原籍公安机关出具的户口注销证明",
                "the former station's proof that the hukou was cancelled",
            ),
        ),
    ),
    "migration_papers_lost_or_expired": (
        "户口迁移证件遗失或者超过有效期限造成无户口的",
        "migration papers lost or expired",
        (
            _m(
                "migration_papers",
                "迁出地公安机关补发或重新签发的户口迁移证件",
                "the migration papers re-issued by the station of departure",
            ),
        ),
    ),
    "foreign_parent_out_of_wedlock": (
        "我国公民与外国人、无国籍人非婚生育的",
        "born out of wedlock to a Chinese citizen and a foreigner or stateless person",
        (
            BIRTH_CERT,
            PARENT_BOOKLET,
            _m(
                "no_foreign_nationality",
                "未获得外国国籍的证明（或声明）",
                "proof (or declaration) that no foreign nationality was acquired",
            ),
        ),
    ),
    "other": (
        "其他原因造成无户口的",
        "without hukou for another reason",
        (
            _m(
                "identity_evidence",
                "能证明本人身份及户籍情况的材料",
                "evidence of the person's identity and hukou history",
            ),
        ),
    ),
}

OVERSEAS_MATERIALS = (
    APPLICATION,
    _m("settlement_certificate", "《华侨回国定居证》", "certificate of return for settlement"),
    _m("passport", "中华人民共和国护照", "PRC passport"),
    _m(
        "former_hukou_record",
        "原户籍地公安机关出具的原户籍证明或户口注销证明",
        "the former hukou record (or its cancellation) from the former station",
    ),
    _m(
        "identity_consistency_proof",
        "国内外身份信息系同一人的证明（公证书或驻外使领馆证明）",
        "proof that the identities at home and abroad are one person (notarised, or by a "
        "consulate)",
    ),
    INVESTIGATION,
)

# a name as every name of the register (``policy.facts.Text``): control characters and
# invisible formatting characters refused, NFC, then its length (persons.name)
Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
County = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Identity(_Facts):
    name: Name = Field(description="姓名 / name")
    sex: Literal["male", "female"] = Field(description="性别 / sex")
    birth_date: dt.date = Field(description="出生日期 / birth date")


class Guardian(_Facts):
    relation: Literal["father", "mother", "adopter", "spouse", "guardian"]
    id_number: str = Field(description="公民身份号码 / ID number")
    name: Name


class NoHukouFacts(_Facts):
    """无户口人员登记户口."""

    person: Identity
    category: Literal[
        "outside_family_planning",
        "no_birth_certificate",
        "de_facto_adoption",
        "declared_missing_or_dead",
        "cancelled_on_marriage",
        "migration_papers_lost_or_expired",
        "foreign_parent_out_of_wedlock",
        "other",
    ]
    former_id_number: str | None = Field(
        None, description="注销前的公民身份号码（恢复户口）/ the number before cancellation"
    )
    guardian: Guardian | None = None
    note: Note | None = Field(None, max_length=2000)


class FormerRecord(_Facts):
    """The domestic record, as it was before the person went abroad."""

    name: Name
    sex: Literal["male", "female"]
    birth_date: dt.date
    county: County = Field(description="原户籍地县级代码 / county of the former hukou")
    id_number: str | None = None


class OverseasFacts(_Facts):
    """国内外身份信息不一致的华侨回国落户: the identity of the passport and the settlement
    certificate (``person``) against the former domestic record."""

    person: Identity
    passport_no: str = Field(min_length=5, max_length=20, pattern=r"^[A-Z0-9]+$")
    settlement_certificate_no: Text = Field(min_length=4, max_length=32)
    former: FormerRecord
    note: Note | None = Field(None, max_length=2000)


def parse(kind: str, facts: dict[str, Any], today: dt.date) -> NoHukouFacts | OverseasFacts:
    """Check the facts of a §5.2 application; bad input names the field, in both languages."""
    model: type[NoHukouFacts] | type[OverseasFacts] = (
        NoHukouFacts if kind == "s5_2_no_hukou" else OverseasFacts
    )
    try:
        parsed = model.model_validate(facts)
    except ValidationError as err:
        e = err.errors()[0]
        field = ".".join(str(p) for p in e["loc"])
        raise RegistryError("输入无效", e["msg"], f"facts.{field}") from None
    if parsed.person.birth_date > today:
        raise RegistryError(
            "出生日期晚于今天", "the birth date is in the future", "facts.person.birth_date"
        )
    for field, number in _numbers(parsed):
        try:
            check_id_number(number)
        except ValueError as exc:
            zh, _, en = str(exc).partition(" / ")
            raise RegistryError(zh, en or zh, f"facts.{field}") from None
    if isinstance(parsed, NoHukouFacts):
        if parsed.former_id_number and not _fits(parsed.former_id_number, parsed.person):
            raise RegistryError(
                "原公民身份号码与出生日期、性别不符",
                "the former ID number does not match the birth date and sex",
                "facts.former_id_number",
            )
        if parsed.category == "declared_missing_or_dead" and not parsed.former_id_number:
            raise RegistryError(
                "恢复户口须提供注销前的公民身份号码",
                "restoring a cancelled hukou needs the number it had",
                "facts.former_id_number",
            )
    elif not discrepancies(parsed):
        raise RegistryError(
            "国内外身份信息一致，不属于本类申请（按一般华侨回国落户办理）",
            "the identities at home and abroad agree: not this kind of application",
            "facts.former",
        )
    return parsed


def _numbers(f: NoHukouFacts | OverseasFacts) -> list[tuple[str, str]]:
    out = []
    if isinstance(f, NoHukouFacts):
        if f.former_id_number:
            out.append(("former_id_number", f.former_id_number))
        if f.guardian:
            out.append(("guardian.id_number", f.guardian.id_number))
    elif f.former.id_number:
        out.append(("former.id_number", f.former.id_number))
    return out


def _fits(number: str, who: Identity) -> bool:
    n = check_id_number(number)
    return id_birth_date(n) == who.birth_date and id_sex(n).value == who.sex


def discrepancies(f: OverseasFacts) -> list[str]:
    """Which of name, sex and birth date differ between abroad and the former record."""
    return [
        k for k in ("name", "sex", "birth_date") if getattr(f.person, k) != getattr(f.former, k)
    ]


def materials(kind: str, facts: dict[str, Any]) -> tuple[Material, ...]:
    if kind == "s5_2_overseas":
        return OVERSEAS_MATERIALS
    _zh, _en, own = NO_HUKOU_CATEGORIES[facts["category"]]
    return (APPLICATION, *own, INVESTIGATION)


def applicant(kind: str, facts: dict[str, Any]) -> tuple[str, str]:
    """The (ID number, name) an application lists before registration: a number being
    restored, or none yet (a number is given at registration)."""
    number = facts.get("former_id_number") or (facts.get("former") or {}).get("id_number")
    return number or "", facts["person"]["name"]


def restorable(kind: str, facts: dict[str, Any]) -> str | None:
    """The former number, if the person keeps it: it must encode the birth date and sex now
    registered (GB 11643 puts both in the number); otherwise a new one is given and the
    former one stays with the closed record."""
    if kind == "s5_2_no_hukou":
        number = facts.get("former_id_number")
    else:
        number = (facts.get("former") or {}).get("id_number")
    if not number:
        return None
    who = Identity.model_validate(facts["person"])
    return check_id_number(number) if _fits(number, who) else None


def checks(s: Session, kind: str, facts: dict[str, Any], received: set[str]) -> dict[str, Any]:
    """What approval rests on; raises if a material is missing or a hukou exists already."""
    needed = materials(kind, facts)
    missing = [m for m in needed if m.key not in received]
    if missing:
        raise InvalidTransition(
            "材料不全：" + "、".join(m.zh for m in missing),
            "materials missing: " + "; ".join(m.en for m in missing),
            "materials",
        )
    person = Identity.model_validate(facts["person"])
    twin = s.execute(
        select(Person.id)
        .join(Membership)
        .where(
            Person.name == person.name,
            Person.sex == person.sex,
            Person.birth_date == person.birth_date,
            Membership.end_date.is_(None),
        )
    ).first()
    if twin is not None:
        raise Conflict(
            "登记簿中已有同姓名、性别、出生日期且有户口的人员：须先核查，防止重复户口",
            "someone with the same name, sex and birth date has a hukou in the register: "
            "check first, so that nobody gets two",
            "facts.person",
        )
    number = restorable(kind, facts)
    if number is not None:
        held = s.execute(
            select(Membership.id)
            .join(Person)
            .where(Person.id_number == number, Membership.end_date.is_(None))
        ).first()
        if held is not None:
            raise Conflict(
                "该公民身份号码仍有户口，不能恢复",
                "that ID number still has a hukou; it cannot be restored",
                "facts.former_id_number",
            )
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "clause": "§5.2",
        "kind": kind,
        "materials": [{"key": m.key, "zh": m.zh, "en": m.en, "received": True} for m in needed],
        "no_double_hukou": True,
        "id_number": "restored" if number else "new",
    }
    if kind == "s5_2_overseas":
        out["discrepancies"] = discrepancies(OverseasFacts.model_validate(facts))
    else:
        zh, en, _own = NO_HUKOU_CATEGORIES[facts["category"]]
        out["category"] = {"key": facts["category"], "zh": zh, "en": en}
    return out


def new_id_number(s: Session, county: str, birth: dt.date, sex: str) -> str:
    """公民身份号码 (GB 11643): the county's code, the birth date, the first free sequence
    number (odd for men, even for women) and the check character. Two registrations taking
    the same number at once collide on the unique index: one gets a conflict."""
    prefix = f"{county}{birth:%Y%m%d}"
    taken = {
        n[14:17]
        for n in s.execute(
            select(Person.id_number).where(Person.id_number.like(f"{prefix}%"))
        ).scalars()
    }
    start = 1 if sex == "male" else 2
    for seq in range(start, 1000, 2):
        if f"{seq:03d}" not in taken:
            body = f"{prefix}{seq:03d}"
            return body + ric.calc_check_digit(body + "0")
    raise RegistryError(
        "该出生日期的顺序码已用尽", "no sequence number is left for that birth date", "facts"
    )
