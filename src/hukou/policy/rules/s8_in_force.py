"""§8 施行日期 — the rules apply from 2020-08-01.

本通知中相关户口迁移政策自2020年8月1日起施行，原有政策与本通知不一致的，以本通知为准。
"""

from hukou.policy.expr import TODAY, Condition
from hukou.policy.rules.vocabulary import param

IN_FORCE = Condition(
    "in_force",
    "§8",
    "本通知户口迁移政策自2020年8月1日起施行",
    "the notice's migration rules apply from 2020-08-01",
    TODAY >= param("s8_in_force.in_force_from", "date"),
)
