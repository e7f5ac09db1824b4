"""The adversarial suite (issue 12): each test is an attack that worked on the old main."""

from ..registry.conftest import (  # noqa: F401
    NANHU,
    XIUZHOU,
    clock,
    db_url,
    engine,
    officer,
    other_officer,
    pg_url,
    registry,
)
