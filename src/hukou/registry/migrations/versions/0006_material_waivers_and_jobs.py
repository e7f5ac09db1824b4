"""material waivers; background jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:30:00

* ``material_waivers`` — an officer's explicit waiver of one required material of an
  application, with the reason (one per material): approval needs every required
  material received or waived;
* ``jobs`` — background work (the analyst's reform run): its state, progress, the
  process running it and its heartbeat, its parameters and result, kept across restarts.

Applications approved before this revision are left as they are (their approval stands);
the rule holds for every approval from now on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JOB_STATES = "state IN ('queued', 'running', 'done', 'failed', 'interrupted')"


def upgrade() -> None:
    op.create_table(
        "material_waivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("material", sa.String(length=255), nullable=False),
        sa.Column("clause", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waived_on", sa.Date(), nullable=False),
        sa.Column("waived_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("length(reason) > 0", name=op.f("ck_material_waivers_reason")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_material_waivers_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["waived_by"], ["users.id"], name=op.f("fk_material_waivers_waived_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_waivers")),
        sa.UniqueConstraint(
            "application_id", "material", name=op.f("uq_material_waivers_application_id")
        ),
    )
    op.create_index(
        op.f("ix_material_waivers_application_id"), "material_waivers", ["application_id"]
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(JOB_STATES, name=op.f("ck_jobs_state")),
        sa.CheckConstraint("kind IN ('reform')", name=op.f("ck_jobs_kind")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_jobs_progress")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_jobs_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_material_waivers_application_id"), table_name="material_waivers")
    op.drop_table("material_waivers")
