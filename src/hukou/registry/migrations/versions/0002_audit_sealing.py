"""audit records are inserted unsealed and chained by the sealer

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00

Business transactions no longer take the chain's head lock: they insert their
audit records without a chain position, and ``audit.seal`` gives each one its
``seq``, ``prev_hash`` and ``hash``. Records chained before this revision were
chained in id order, so their position is their id and their hashes stay valid.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
    op.execute("UPDATE audit_log SET seq = id")
    op.create_index("uq_audit_log_seq", "audit_log", ["seq"], unique=True)
    op.create_index(
        "ix_audit_log_unsealed",
        "audit_log",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # ids used to be given by the chain's head, not by the column's sequence
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
            "COALESCE((SELECT max(id) FROM audit_log), 0) + 1, false)"
        )


def downgrade() -> None:
    unsealed = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE seq IS NULL"))
    if unsealed.scalar_one():
        raise RuntimeError("unsealed audit records: run `hukou audit verify` (it seals) first")
    op.drop_index("ix_audit_log_unsealed", table_name="audit_log")
    op.drop_index("uq_audit_log_seq", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("seq")
