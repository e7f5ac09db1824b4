"""sessions, login throttling, disabled/locked users, the audit writer's tag

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:20:00

* ``user_sessions`` — server-side sessions (the token's SHA-256 only), revocable;
* ``login_throttle`` — attempts per account-and-address and per address;
* ``users.locked_at`` (hard lock, lifted by an admin) and ``users.disabled_at`` replace
  the 15-minute ``locked_until`` that anyone could trigger;
* ``audit_log.tag`` — the writer's MAC over a record's content (audit key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_column("locked_until")
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("tag", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_audit_log_tag", ["tag"])
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttle"),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_index("ix_user_sessions_user", table_name="user_sessions")
    op.drop_table("user_sessions")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_tag", type_="unique")
        batch.drop_column("tag")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.drop_column("disabled_at")
        batch.drop_column("locked_at")
