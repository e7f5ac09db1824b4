"""one open application per applicant's ID number

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00

* ``uq_applications_open_applicant`` — a partial unique index: at most one application
  per applicant's ID number that is not rejected, registered or withdrawn, anywhere in
  the city (a §5.2 applicant without a number yet, ``''``, is not compared). Two
  stations, or the self-service page, taking one at the same moment: one wins.

A register that already holds two open applications for one ID number is not changed
behind anyone's back: the upgrade stops, naming the applications (by row id, never by
ID number), and an officer withdraws or decides the extra ones first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = "state IN ('draft', 'submitted', 'under_review', 'approved') AND applicant_id_number <> ''"


def upgrade() -> None:
    doubles = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT id FROM applications WHERE {OPEN} AND applicant_id_number IN ("
                f"SELECT applicant_id_number FROM applications WHERE {OPEN} "
                "GROUP BY applicant_id_number HAVING COUNT(*) > 1) ORDER BY id"
            )
        )
        .scalars()
        .all()
    )
    if doubles:
        shown = ", ".join(str(i) for i in doubles[:50]) + (" …" if len(doubles) > 50 else "")
        raise RuntimeError(
            f"有 {len(doubles)} 件未办结的申请与同一身份证号码的另一件并存（申请编号 {shown}）："
            "请先撤回或办结多余的申请，再升级 / "
            f"{len(doubles)} open applications share an applicant's ID number with another "
            f"(application ids {shown}): withdraw or decide the extra ones, then upgrade"
        )
    op.create_index(
        "uq_applications_open_applicant",
        "applications",
        ["applicant_id_number"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_applications_open_applicant", table_name="applications")
