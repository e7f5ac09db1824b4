"""五、完善农村转移人口政策配套 (§5.1–§5.3).

§5.3 各地不得以退出土地承包经营权、宅基地使用权、集体收益分配权等权利作为农民进城落户条件。

The land-rights facts (``Person.land_rights``) are recorded for reporting, and by
this clause no rule may read them: ``LAND_RIGHTS_FACTS`` lists them, and the
test-suite checks that no rule mentions any of them and that changing them never
changes a decision. §5.2 (persons without hukou, overseas Chinese) are case types of
the registry, not conditions.

§5.1 encourages settling in small towns and settling registered-poor rural people:
it sets no condition, so its two groups are *reporting flags* (``REPORTING_FLAGS``),
computed with every decision and counted in the §7 indicators. A small town is a
建制镇: a dwelling whose urban–rural code is a town's (121 镇中心区, 122 镇乡结合区;
``policy/data/urban_rural_codes.yaml``). Jiaxing's list of 中心镇 and 小城市培育试点
is not part of the notice and no official code list of it is shipped: the case says
whether a dwelling lies in one (``Dwelling.central_town``, filled in from the local
list), and ``central_town_settlement`` flags a settlement on such a dwelling.
"""

from hukou.policy.expr import Condition
from hukou.policy.rules.s1_urban import qualifying_dwelling
from hukou.policy.rules.vocabulary import APPLICANT

REPORTING_FLAGS = (
    Condition(
        "small_town_settlement",
        "§5.1",
        "在小城镇（建制镇）合法住所落户",
        "settles on a dwelling in a small town (a designated town)",
        APPLICANT.any_dwelling(lambda d: qualifying_dwelling(d) & d.town),
    ),
    Condition(
        "central_town_settlement",
        "§5.1",
        "在中心镇（小城市培育试点）合法住所落户",
        "settles on a dwelling in a central town (a small-city pilot)",
        APPLICANT.any_dwelling(lambda d: qualifying_dwelling(d) & d.central_town),
    ),
    Condition(
        "registered_poor",
        "§5.1",
        "建档立卡农村贫困人员落户",
        "a registered-poor rural person (建档立卡) settles",
        APPLICANT.registered_poor,
    ),
)

S5_1_TEXT = (
    "加快推动小城市培育试点和中心镇建设，实施小城镇鼓励性落户政策，积极推进建档立卡农村贫困人员落户，"
    "促进农业转移人员就地就近市民化。"
)
S5_3_TEXT = "各地不得以退出土地承包经营权、宅基地使用权、集体收益分配权等权利作为农民进城落户条件。"

LAND_RIGHTS_FACTS = ("land_rights", "contract_land", "homestead", "collective_income")

# (clause, key) of invariants that stand for a clause with no rule of its own.
INVARIANTS = (("§5.3", "land_rights_never_read"),)
