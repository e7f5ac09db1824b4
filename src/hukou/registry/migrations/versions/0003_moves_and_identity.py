"""moves between counties and provinces; identity checks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:00:00

* ``move_in_permits`` — 准予迁入证明 for hukou coming from outside Zhejiang;
* ``station_notices`` — the notice a receiving station sends the sending one;
* ``applications.identity_flags`` — differences from the register found when taken;
* ``documents_received.reference_no`` — a document's number (户口迁移证 …).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("identity_flags", sa.JSON(), nullable=True))
    with op.batch_alter_table("documents_received") as batch:
        batch.add_column(sa.Column("reference_no", sa.String(length=64), nullable=True))
    op.create_table(
        "move_in_permits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("origin_county", sa.String(length=6), nullable=False),
        sa.Column("persons", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('issued', 'used', 'expired', 'cancelled')",
            name=op.f("ck_move_in_permits_state"),
        ),
        sa.CheckConstraint("valid_until >= issued_on", name=op.f("ck_move_in_permits_dates")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_move_in_permits_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_move_in_permits")),
        sa.UniqueConstraint("number", name=op.f("uq_move_in_permits_number")),
    )
    op.create_index(
        op.f("ix_move_in_permits_application_id"), "move_in_permits", ["application_id"]
    )
    op.create_index(op.f("ix_move_in_permits_county"), "move_in_permits", ["county"])
    op.create_index(
        "uq_move_in_permits_live_application",
        "move_in_permits",
        ["application_id"],
        unique=True,
        sqlite_where=sa.text("state IN ('issued', 'used')"),
        postgresql_where=sa.text("state IN ('issued', 'used')"),
    )
    op.create_table(
        "station_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("from_county", sa.String(length=6), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("closed_membership_id", sa.Integer(), nullable=True),
        sa.Column("to_household_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("moved_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'acknowledged', 'forwarded')",
            name=op.f("ck_station_notices_state"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_station_notices_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["closed_membership_id"],
            ["memberships.id"],
            name=op.f("fk_station_notices_closed_membership_id_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["to_household_id"],
            ["households.id"],
            name=op.f("fk_station_notices_to_household_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_station_notices_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_station_notices_acknowledged_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_notices")),
    )
    op.create_index(op.f("ix_station_notices_county"), "station_notices", ["county"])


def downgrade() -> None:
    op.drop_index(op.f("ix_station_notices_county"), table_name="station_notices")
    op.drop_table("station_notices")
    op.drop_index("uq_move_in_permits_live_application", table_name="move_in_permits")
    op.drop_index(op.f("ix_move_in_permits_county"), table_name="move_in_permits")
    op.drop_index(op.f("ix_move_in_permits_application_id"), table_name="move_in_permits")
    op.drop_table("move_in_permits")
    with op.batch_alter_table("documents_received") as batch:
        batch.drop_column("reference_no")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("identity_flags")
