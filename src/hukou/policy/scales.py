"""Ordered scales of qualifications (CLAUSES.md, "Facts the rules turn on").

A rule that says "X or higher" compares positions on one of these ladders, so a
higher level can never do worse than a lower one.
"""

from __future__ import annotations

from enum import StrEnum


class Education(StrEnum):
    """学历."""

    below_secondary = "below_secondary"  # 初中及以下
    secondary_vocational = "secondary_vocational"  # 中职/技校
    high_school = "high_school"  # 高中
    junior_college = "junior_college"  # 大专
    bachelor = "bachelor"  # 本科
    master = "master"  # 硕士
    doctor = "doctor"  # 博士


class Title(StrEnum):
    """职称."""

    none = "none"  # 无
    junior = "junior"  # 初级
    intermediate = "intermediate"  # 中级
    deputy_senior = "deputy_senior"  # 副高级
    senior = "senior"  # 正高级


class Vocational(StrEnum):
    """国家职业资格等级."""

    none = "none"  # 无
    level5 = "level5"  # 五级/初级工
    level4 = "level4"  # 四级/中级工
    level3 = "level3"  # 三级/高级工
    technician = "technician"  # 二级/技师
    senior_technician = "senior_technician"  # 一级/高级技师


SCALES: dict[str, type[StrEnum]] = {
    "education": Education,
    "title": Title,
    "vocational": Vocational,
}

LABELS: dict[str, tuple[str, str]] = {
    "below_secondary": ("初中及以下", "below secondary"),
    "secondary_vocational": ("中职/技校", "secondary vocational"),
    "high_school": ("高中", "high school"),
    "junior_college": ("大专", "junior college"),
    "bachelor": ("本科", "bachelor"),
    "master": ("硕士", "master"),
    "doctor": ("博士", "doctor"),
    "none": ("无", "none"),
    "junior": ("初级", "junior"),
    "intermediate": ("中级", "intermediate"),
    "deputy_senior": ("副高级", "deputy senior"),
    "senior": ("正高级", "senior"),
    "level5": ("五级/初级工", "level 5"),
    "level4": ("四级/中级工", "level 4"),
    "level3": ("三级/高级工", "level 3"),
    "technician": ("二级/技师", "technician"),
    "senior_technician": ("一级/高级技师", "senior technician"),
}


_RANKS: dict[str, dict[str, int]] = {
    name: {member.value: i for i, member in enumerate(enum)} for name, enum in SCALES.items()
}


def rank(scale: str, level: str) -> int:
    """Position of ``level`` on ``scale`` (0 = lowest)."""
    try:
        return _RANKS[scale][str(level)]
    except KeyError:
        raise ValueError(f"{level!r} is not a level of {scale}") from None
