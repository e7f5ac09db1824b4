"""the register as the source of residence facts; ``residence_records`` retired

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:00:00

* ``applications.register_conflicts`` (JSON, NULL) — the residence facts an application
  typed that disagree with the register's own (居住登记、居住证: ``{field, typed,
  register}`` each); the decision is made on the register's. NULL for the applications
  taken before (and for those naming nobody the register holds a residence registration
  of): nothing was compared.
* ``residence_records`` is dropped: nothing wrote it (records "loaded from elsewhere"),
  and every reader — the §7 permit count, the batch on the register, the analyst page —
  reads ``residence_registrations``, ``residence_permits`` and
  ``residence_permit_endorsements`` now. The downgrade recreates it empty (what it held
  is not kept: no operation of the register ever wrote it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("register_conflicts", sa.JSON(), nullable=True))
    with op.batch_alter_table("residence_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residence_records_person_id"))
    op.drop_table("residence_records")


def downgrade() -> None:
    op.create_table(
        "residence_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('registration', 'permit')", name=op.f("ck_residence_records_kind")
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_residence_records_dates")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_residence_records_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence_records")),
    )
    with op.batch_alter_table("residence_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_residence_records_person_id"), ["person_id"], unique=False
        )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("register_conflicts")
