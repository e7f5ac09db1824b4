"""ID numbers for page tests."""

from __future__ import annotations

from sqlalchemy import select

from hukou.registry.models import Person
from hukou.registry.service import Registry

from ..registry.helpers import id_number


def unregistered_id(registry: Registry) -> str:
    """A valid number the register does not hold."""
    held = set(registry.read(lambda s: list(s.execute(select(Person.id_number)).scalars())))
    return next(
        n for seq in range(1, 400) if (n := id_number("341221", "19900315", seq, True)) not in held
    )
