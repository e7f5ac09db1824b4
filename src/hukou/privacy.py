"""Masking of personal data (个人信息脱敏) for listings and logs.

Used by every layer: an ID number keeps its region code and check character
(``330402********123X``), a name its first character.
"""

from __future__ import annotations


def mask_id(number: str | None) -> str | None:
    if not number:
        return number
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)
