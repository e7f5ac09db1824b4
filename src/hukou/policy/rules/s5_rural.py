"""五、完善农村转移人口政策配套 (§5.1–§5.3).

§5.3 各地不得以退出土地承包经营权、宅基地使用权、集体收益分配权等权利作为农民进城落户条件。

The land-rights facts (``Person.land_rights``) are recorded for reporting, and by
this clause no rule may read them: ``LAND_RIGHTS_FACTS`` lists them, and the
test-suite checks that no rule mentions any of them and that changing them never
changes a decision. §5.1 (small towns, registered-poor people) and §5.2 (persons
without hukou, overseas Chinese) are case types of the registry, not conditions.
"""

S5_3_TEXT = "各地不得以退出土地承包经营权、宅基地使用权、集体收益分配权等权利作为农民进城落户条件。"

LAND_RIGHTS_FACTS = ("land_rights", "contract_land", "homestead", "collective_income")

# (clause, key) of invariants that stand for a clause with no rule of its own.
INVARIANTS = (("§5.3", "land_rights_never_read"),)
