"""a permit is not closed before its issue; notices of a residence registration ended elsewhere

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00

* ``residence_permits``: ``ck_residence_permits_closed_after_issue`` — ``closed_on`` (the day
  a permit was cancelled or made void) is never before ``issued_on``. A register that
  already holds such a permit is not changed behind anyone's back: the upgrade stops, naming
  the permits (by row id).
* ``station_notices``: ``kind`` (``move_out``, every notice before this revision — the
  default — or ``residence_moved_away``: another county's residence registration ended the
  told county's, ``moved_away``, with its permit, or a hukou registered in the other county
  of the same area did, ``settled``), ``closed_registration_id`` (NULL, a
  ``residence_registrations`` row: the registration ended), and ``to_household_id`` may be
  NULL (a residence notice moves no hukou into a household); ``ck_station_notices_kind``
  and ``ck_station_notices_kind_refs`` (a ``move_out`` notice names the household moved
  into, a ``residence_moved_away`` one the registration ended).

The downgrade drops the check and the columns; the ``residence_moved_away`` notices are
deleted with them (the older schema cannot hold a notice without a household).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CLOSED_AFTER_ISSUE = "closed_on IS NULL OR issued_on IS NULL OR closed_on >= issued_on"
KINDS = "kind IN ('move_out', 'residence_moved_away')"
KIND_REFS = (
    "(kind <> 'move_out' OR to_household_id IS NOT NULL) AND "
    "(kind <> 'residence_moved_away' OR closed_registration_id IS NOT NULL)"
)


def upgrade() -> None:
    early = (
        op.get_bind()
        .execute(sa.text(f"SELECT id FROM residence_permits WHERE NOT ({CLOSED_AFTER_ISSUE})"))
        .scalars()
        .all()
    )
    if early:
        shown = ", ".join(str(i) for i in early[:50]) + (" …" if len(early) > 50 else "")
        raise RuntimeError(
            f"有 {len(early)} 张居住证的注销（作废）日期早于签发日期（编号 {shown}）："
            "请先更正，再升级 / "
            f"{len(early)} residence permits were closed before they were issued (ids {shown}): "
            "correct them, then upgrade"
        )
    with op.batch_alter_table("residence_permits", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_residence_permits_closed_after_issue"), CLOSED_AFTER_ISSUE
        )
    with op.batch_alter_table("station_notices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=24), server_default="move_out", nullable=False)
        )
        batch_op.add_column(sa.Column("closed_registration_id", sa.Integer(), nullable=True))
        batch_op.alter_column("to_household_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_station_notices_closed_registration_id_residence_registrations"),
            "residence_registrations",
            ["closed_registration_id"],
            ["id"],
        )
        batch_op.create_check_constraint(op.f("ck_station_notices_kind"), KINDS)
        batch_op.create_check_constraint(op.f("ck_station_notices_kind_refs"), KIND_REFS)


def downgrade() -> None:
    op.execute("DELETE FROM station_notices WHERE kind <> 'move_out'")
    with op.batch_alter_table("station_notices", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_station_notices_kind_refs"), type_="check")
        batch_op.drop_constraint(op.f("ck_station_notices_kind"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_station_notices_closed_registration_id_residence_registrations"),
            type_="foreignkey",
        )
        batch_op.alter_column("to_household_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("closed_registration_id")
        batch_op.drop_column("kind")
    with op.batch_alter_table("residence_permits", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_residence_permits_closed_after_issue"), type_="check")
