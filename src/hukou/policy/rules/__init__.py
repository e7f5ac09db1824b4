"""The rules of 嘉政办发〔2020〕28号, one module per section of the notice.

``CHANNELS`` are the ways the applicant may settle; ``RELATIVE_ROUTES`` the ways
a relative may come with or join them. Each carries its clause id and the
clause's Chinese text, so a decision can quote what it applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hukou.policy.expr import Condition, FirstOf
from hukou.policy.rules import (
    s1_urban,
    s2_talent,
    s3_relatives,
    s4_registration,
    s5_rural,
    vocabulary,
)
from hukou.policy.rules.materials import MATERIALS, RELATIVE_MATERIALS, Material
from hukou.policy.rules.s8_in_force import IN_FORCE

RULESET = "jiaxing-2020-28"

Placement = Literal["own_dwelling", "first_of", "anchor", "community_collective", "applicant"]


@dataclass(frozen=True)
class Channel:
    """A way the applicant may settle (落户渠道)."""

    key: str
    clause: str
    zh: str
    en: str
    rule: Condition
    placement: Placement  # where the hukou goes (§4.3 for "first_of")
    self_only: bool
    materials: tuple[Material, ...]


@dataclass(frozen=True)
class RelativeRoute:
    """A way a relative may come with, or join, the applicant."""

    key: str
    clause: str
    zh: str
    en: str
    rule: Condition
    materials: tuple[Material, ...]


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "s1_1",
        "§1.1",
        "合法稳定住所落户",
        "settling on a lawful stable dwelling",
        s1_urban.SETTLE_ON_DWELLING,
        "own_dwelling",
        False,
        MATERIALS["s1_1"],
    ),
    Channel(
        "s2_1",
        "§2.1",
        "学历、职称、技能人才落户",
        "settling on education, title or skills",
        s2_talent.QUALIFIED,
        "first_of",
        True,
        MATERIALS["s2_1"],
    ),
    Channel(
        "s2_2",
        "§2.2",
        "中职（技校）毕业生落户",
        "secondary-vocational graduates",
        s2_talent.VOCATIONAL_GRADUATE,
        "first_of",
        True,
        MATERIALS["s2_2"],
    ),
    Channel(
        "s3_1",
        "§3.1",
        "父母投靠成年子女",
        "a parent joining an adult child",
        s3_relatives.JOIN_ADULT_CHILD,
        "anchor",
        False,
        MATERIALS["s3_1"],
    ),
    Channel(
        "s3_3",
        "§3.3",
        "投靠人才亲属",
        "joining a talent relative",
        s3_relatives.JOIN_TALENT,
        "anchor",
        False,
        MATERIALS["s3_3"],
    ),
    Channel(
        "s4_4",
        "§4.4",
        "挂靠社区（村）集体户",
        "attaching to the community collective household",
        s4_registration.ATTACH_TO_COMMUNITY,
        "community_collective",
        False,
        MATERIALS["s4_4"],
    ),
)

RELATIVE_ROUTES: tuple[RelativeRoute, ...] = (
    RelativeRoute(
        "accompany_s1_1",
        "§1.1",
        "随申请人落户",
        "comes along with the applicant",
        s1_urban.ACCOMPANY,
        RELATIVE_MATERIALS["accompany_s1_1"],
    ),
    RelativeRoute(
        "s3_1",
        "§3.1",
        "父母投靠申请人",
        "a parent joins the applicant",
        s3_relatives.PARENT_JOINS_APPLICANT,
        RELATIVE_MATERIALS["s3_1"],
    ),
    RelativeRoute(
        "s3_3",
        "§3.3",
        "投靠申请人（人才）",
        "joins the applicant (a talent)",
        s3_relatives.RELATIVE_JOINS_TALENT,
        RELATIVE_MATERIALS["s3_3"],
    ),
)

REGISTRATION_PLACE: FirstOf = s4_registration.REGISTRATION_PLACE
PRIORITY_GROUPS: tuple[Condition, ...] = s4_registration.PRIORITY_GROUPS
REPORTING_FLAGS: tuple[Condition, ...] = s5_rural.REPORTING_FLAGS
# §3.1 into a child's collective household (R28): decides the place, not eligibility
ANCHOR_CONSENT: Condition = s3_relatives.collective_consent(vocabulary.RELATIVE)

CLAUSE_TEXTS: dict[str, str] = {
    "§1.1": s1_urban.S1_1_TEXT,
    "§1.2": s1_urban.S1_2_TEXT,
    "§2.1": s2_talent.S2_1_TEXT,
    "§2.2": s2_talent.S2_2_TEXT,
    "§3.1": s3_relatives.S3_1_TEXT,
    "§3.2": s3_relatives.S3_2_TEXT,
    "§3.3": s3_relatives.S3_3_TEXT,
    "§4.1": s4_registration.S4_1_TEXT,
    "§4.2": s4_registration.S4_2_TEXT,
    "§4.3": s4_registration.S4_3_TEXT,
    "§4.4": s4_registration.S4_4_TEXT,
    "§5.1": s5_rural.S5_1_TEXT,
    "§5.3": s5_rural.S5_3_TEXT,
    "§8": "本通知中相关户口迁移政策自2020年8月1日起施行，原有政策与本通知不一致的，以本通知为准。",
}

__all__ = [
    "ANCHOR_CONSENT",
    "CHANNELS",
    "CLAUSE_TEXTS",
    "IN_FORCE",
    "PRIORITY_GROUPS",
    "REGISTRATION_PLACE",
    "RELATIVE_ROUTES",
    "REPORTING_FLAGS",
    "RULESET",
    "Channel",
    "Material",
    "RelativeRoute",
]
