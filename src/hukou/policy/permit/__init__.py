"""The residence-permit rules (居住证): a second rule set beside the notice's.

``r663`` carries 居住证暂行条例（国务院令第663号）第二条 as conditions of the expression
layer; its numbers are the dated parameters of ``parameters/r663_permit.yaml``, a
parameter set of its own (``load_parameters``): the notice's set (``policy.params.load``)
and its version digest stay as they are.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from hukou.policy.params import ParameterSet, _parse_file
from hukou.policy.permit.r663 import (
    CLAUSE_TEXTS,
    ELIGIBLE,
    GROUNDS,
    IN_FORCE,
    MATERIALS,
    PARAMETER_FILE,
    PERMIT,
    PERMIT_FACTS,
    RULESET,
    add_months,
)

__all__ = [
    "CLAUSE_TEXTS",
    "ELIGIBLE",
    "GROUNDS",
    "IN_FORCE",
    "MATERIALS",
    "PARAMETER_FILE",
    "PERMIT",
    "PERMIT_FACTS",
    "REGISTER_FILE",
    "RULESET",
    "add_months",
    "load_parameters",
]


REGISTER_FILE = "r663_register"
"""The register's periods for permits (issue within 15 days, yearly endorsement, its window)."""


@cache
def load_parameters() -> ParameterSet:
    """The parameters of order 663 as enacted: the rules' (``r663_permit.yaml``) and the
    register's (``r663_register.yaml``) — one set, one version digest, apart from the
    notice's."""
    folder = resources.files("hukou.policy") / "parameters"
    params = {}
    for name in (PARAMETER_FILE, REGISTER_FILE):
        params.update(_parse_file(name, (folder / f"{name}.yaml").read_text("utf-8")))
    return ParameterSet(params)
