"""residence registration and residence permits (居住登记、居住证, 国务院令第663号)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00

* ``residence_registrations`` — where a person lives in a county away from their hukou's
  place, from a start to an end date; at most one open registration per person
  (``uq_residence_registrations_open_person``);
* ``residence_permits`` — a permit application and, once issued, the permit (number, issue
  date, ``valid_until`` moved on by each yearly endorsement, the residence years' start); at
  most one live application or permit per person (``uq_residence_permits_live_person``);
* ``residence_permit_endorsements`` — each yearly endorsement (签注), on time or late.

``residence_records`` (records loaded from elsewhere, read by the analytics) is left as it
is. Nothing existing is changed, so the downgrade drops the three tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

HOUSING = "housing IN ('dwelling', 'employer', 'school')"
END_REASONS = "end_reason IN ('address_change', 'moved_away', 'left', 'settled')"
STATES = (
    "state IN ('applied', 'under_review', 'issued', 'refused', 'withdrawn', 'void', 'cancelled')"
)
LIVE = "state IN ('applied', 'under_review', 'issued')"
GROUNDS = "ground IN ('employment', 'dwelling', 'study')"
CLOSE_REASONS = (
    "close_reason IN ('lost', 'damaged', 'settled', 'left', 'moved_away', 'issued_in_error')"
)


def upgrade() -> None:
    op.create_table(
        "residence_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("housing", sa.String(length=16), nullable=False),
        sa.Column("dwelling_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("registered_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(HOUSING, name=op.f("ck_residence_registrations_housing")),
        sa.CheckConstraint(
            "(housing = 'dwelling') = (dwelling_id IS NOT NULL)",
            name=op.f("ck_residence_registrations_dwelling_housing"),
        ),
        sa.CheckConstraint(
            "housing = 'dwelling' OR provider IS NOT NULL",
            name=op.f("ck_residence_registrations_provider"),
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date",
            name=op.f("ck_residence_registrations_dates"),
        ),
        sa.CheckConstraint(
            "(end_date IS NULL) = (end_reason IS NULL)",
            name=op.f("ck_residence_registrations_end_reason"),
        ),
        sa.CheckConstraint(
            f"end_reason IS NULL OR {END_REASONS}",
            name=op.f("ck_residence_registrations_end_reason_known"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_residence_registrations_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["dwelling_id"],
            ["dwellings.id"],
            name=op.f("fk_residence_registrations_dwelling_id_dwellings"),
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["residence_registrations.id"],
            name=op.f("fk_residence_registrations_previous_id_residence_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["registered_by"],
            ["users.id"],
            name=op.f("fk_residence_registrations_registered_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence_registrations")),
    )
    op.create_index(
        op.f("ix_residence_registrations_county"), "residence_registrations", ["county"]
    )
    op.create_index(
        "ix_residence_registrations_person_county",
        "residence_registrations",
        ["person_id", "county"],
    )
    op.create_index(
        "uq_residence_registrations_open_person",
        "residence_registrations",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("end_date IS NULL"),
        postgresql_where=sa.text("end_date IS NULL"),
    )

    op.create_table(
        "residence_permits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=24), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("ground", sa.String(length=16), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("rule_version", sa.String(length=96), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("residence_since", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(STATES, name=op.f("ck_residence_permits_state")),
        sa.CheckConstraint(GROUNDS, name=op.f("ck_residence_permits_ground")),
        sa.CheckConstraint(
            "state NOT IN ('issued', 'void', 'cancelled') OR (number IS NOT NULL "
            "AND issued_on IS NOT NULL AND valid_until IS NOT NULL "
            "AND residence_since IS NOT NULL)",
            name=op.f("ck_residence_permits_issued_has_number"),
        ),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= issued_on",
            name=op.f("ck_residence_permits_dates"),
        ),
        sa.CheckConstraint(
            f"close_reason IS NULL OR {CLOSE_REASONS}",
            name=op.f("ck_residence_permits_close_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_residence_permits_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["residence_permits.id"],
            name=op.f("fk_residence_permits_replaces_id_residence_permits"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_residence_permits_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence_permits")),
        sa.UniqueConstraint("reference", name=op.f("uq_residence_permits_reference")),
        sa.UniqueConstraint("number", name=op.f("uq_residence_permits_number")),
    )
    op.create_index(op.f("ix_residence_permits_person_id"), "residence_permits", ["person_id"])
    op.create_index(op.f("ix_residence_permits_county"), "residence_permits", ["county"])
    op.create_index(
        "uq_residence_permits_live_person",
        "residence_permits",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )

    op.create_table(
        "residence_permit_endorsements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("permit_id", sa.Integer(), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("endorsed_on", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("endorsed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["permit_id"],
            ["residence_permits.id"],
            name=op.f("fk_residence_permit_endorsements_permit_id_residence_permits"),
        ),
        sa.ForeignKeyConstraint(
            ["endorsed_by"],
            ["users.id"],
            name=op.f("fk_residence_permit_endorsements_endorsed_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence_permit_endorsements")),
    )
    op.create_index(
        op.f("ix_residence_permit_endorsements_permit_id"),
        "residence_permit_endorsements",
        ["permit_id"],
    )
    op.create_index(
        op.f("ix_residence_permit_endorsements_county"),
        "residence_permit_endorsements",
        ["county"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_residence_permit_endorsements_county"), table_name="residence_permit_endorsements"
    )
    op.drop_index(
        op.f("ix_residence_permit_endorsements_permit_id"),
        table_name="residence_permit_endorsements",
    )
    op.drop_table("residence_permit_endorsements")
    op.drop_index("uq_residence_permits_live_person", table_name="residence_permits")
    op.drop_index(op.f("ix_residence_permits_county"), table_name="residence_permits")
    op.drop_index(op.f("ix_residence_permits_person_id"), table_name="residence_permits")
    op.drop_table("residence_permits")
    op.drop_index("uq_residence_registrations_open_person", table_name="residence_registrations")
    op.drop_index("ix_residence_registrations_person_county", table_name="residence_registrations")
    op.drop_index(op.f("ix_residence_registrations_county"), table_name="residence_registrations")
    op.drop_table("residence_registrations")
