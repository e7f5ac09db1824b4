"""ID numbers for page tests."""

from __future__ import annotations

from sqlalchemy import select

from hukou.registry.models import Application, Person
from hukou.registry.service import Registry

from ..registry.helpers import id_number
from .scenarios import SCENARIOS


def unregistered_id(registry: Registry) -> str:
    """A valid number the register does not hold: no person has it, no application names
    it, and no page scenario applies with it (one open application per number: a test must
    not take another's)."""
    held = set(
        registry.read(
            lambda s: [
                *s.execute(select(Person.id_number)).scalars(),
                *s.execute(select(Application.applicant_id_number)).scalars(),
            ]
        )
    )
    held |= {str(answers.get("id_number")) for answers in SCENARIOS.values()}
    return next(
        n for seq in range(1, 400) if (n := id_number("341221", "19900315", seq, True)) not in held
    )
