"""The household register (户籍登记簿): SQLAlchemy 2 typed models.

History is never overwritten: a person leaves a household by closing their
membership (``end_date``, ``reason_out``), never by deleting it. Invariants the
law sets are database constraints, so they hold whatever writes to the tables:

* §1.2 一房一户 — at most one open household per dwelling (partial unique index);
* §4.1 — at most one public collective household per community or village;
* a person is in at most one household at a time (partial unique index).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("officer", "keeper", "analyst", "admin")
HOUSEHOLD_KINDS = (
    "family",  # 家庭户
    "unit_collective",  # 单位集体户
    "talent_service_collective",  # 公共就业和人才服务机构集体户
    "community_collective",  # 社区（村）公共集体户
)
TENURES = ("owned", "rented_registered", "rented_unregistered")
APPLICATION_KINDS = (
    "s1_1",
    "s2_1",
    "s2_2",
    "s3_1",
    "s3_3",
    "s4_4",
    "s5_2_no_hukou",  # 无户口人员登记户口
    "s5_2_overseas",  # 国内外身份信息不一致的华侨回国落户
)
APPLICATION_STATES = (
    "draft",
    "submitted",
    "under_review",
    "approved",
    "rejected",
    "registered",
    "withdrawn",
)
# an application is open until it is rejected, registered or withdrawn: one at a time per
# applicant's ID number, city-wide (``uq_applications_open_applicant``)
OPEN_APPLICATION_STATES = ("draft", "submitted", "under_review", "approved")
MOVE_OUT_STATES = (
    "requested",  # 书面申请已收
    "notified",  # 已通知当事人迁出
    "moved_out",  # 当事人自行迁出
    "public_notice",  # 拒不迁出或无法通知：告知或公示中
    "moved_ex_officio",  # 依职权迁至公共集体户
    "withdrawn",  # 申请人撤回
)
MOVE_IN_PERMIT_STATES = (
    "issued",  # 已签发，待使用
    "used",  # 已凭证落户
    "expired",  # 逾期未用
    "cancelled",  # 已注销（申请人放弃或签发有误）
)
NOTICE_STATES = (
    "pending",  # 已送达本市迁出地派出所，待确认
    "acknowledged",  # 迁出地派出所已确认
    "forwarded",  # 迁出地在本市外（省内），经省户籍系统告知
)
# what a station notice tells
NOTICE_KINDS = (
    "move_out",  # 户口迁出：他所登记迁入，本所户口已迁出（``to_household_id``）
    # 居住登记迁往他县，或户口落在同一区域（市本级）的另一区：他所结束本所居住登记（及居住证）
    "residence_moved_away",
)
# §4.3: why an officer registers someone somewhere other than the decision's place
PLACEMENT_REASONS = (
    "dwelling_not_in_register",  # 住所尚未录入登记簿，以等同住所代之
    "anchor_household_changed",  # 被投靠人户口已变动
    "consent_withdrawn",  # 接收户（单位）撤回同意
    "household_dissolved",  # 原定户已注销
    "authority_order",  # 法院判决或上级机关决定
    "data_correction",  # 更正登记错误
)
# 居住登记: where the person lives (国务院令第663号 art. 2, 9): a dwelling in the register, or
# housing an employer or a school provides (described by text)
RESIDENCE_HOUSING = ("dwelling", "employer", "school")
# why a residence registration ended
RESIDENCE_END_REASONS = (
    "address_change",  # 变更居住地址（同一县内，当日另立新登记）
    "moved_away",  # 迁往本市另一县（市、区）居住：新居住地派出所登记时结束
    "left",  # 离开居住地
    "settled",  # 户口迁入本县（市、区）：居住登记随落户结束
)
# 居住证 (国务院令第663号): an application and, once issued, the permit itself; lapse (逾期未签注，
# 使用功能中止) is computed by date from ``valid_until``, never stored
RESIDENCE_PERMIT_STATES = (
    "applied",  # 已受理
    "under_review",  # 审核中
    "issued",  # 已签发（有效或逾期未签注，按日期判断）
    "refused",  # 不予签发
    "withdrawn",  # 申请人撤回（或已在本县落户）
    "void",  # 挂失补领、换领后原证作废
    "cancelled",  # 注销：落户本县、离开居住地、签发有误
)
LIVE_RESIDENCE_PERMIT_STATES = ("applied", "under_review", "issued")
RESIDENCE_PERMIT_GROUNDS = ("employment", "dwelling", "study")  # 663 art. 2
RESIDENCE_PERMIT_CLOSE_REASONS = (
    "lost",  # 丢失补领 (art. 12)
    "damaged",  # 损坏换领 (art. 12)
    "settled",  # 户口迁入本县（市、区）
    "left",  # 离开居住地
    "moved_away",  # 迁往本市另一县（市、区）居住
    "issued_in_error",  # 签发有误
)
# a background job (the analyst's reform run): queued → running → done | failed; a job
# whose process died while it ran is ``interrupted`` (its heartbeat stopped)
JOB_STATES = ("queued", "running", "done", "failed", "interrupted")
JOB_KINDS = ("reform",)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


OPEN_APPLICATION_WHERE = f"{_in('state', OPEN_APPLICATION_STATES)} AND applicant_id_number <> ''"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class User(Base):
    """系统用户: an officer of a police station (county), a community keeper, an analyst, an admin."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    # officer: a county code (GB/T 2260); keeper: a community id; analyst/admin: none
    jurisdiction: Mapped[str | None] = mapped_column(String(32))
    # failures since the last successful login, across all addresses (the hard lock)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # hard lock after ``login.hard_lock_after`` failures, lifted by an admin
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class UserSession(Base):
    """登录会话: one login, in a browser (``page``) or as a bearer token (``api``).

    The token itself is never stored, only its SHA-256 (``id``): a copy of the database
    gives nobody a working session. A session ends at logout, when its user is disabled,
    locked or given a new password, when it has been idle too long, and at its absolute
    end; an ended session is kept (``ended_at``, ``end_reason``) for the record."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(32))


class LoginThrottle(Base):
    """登录限速: attempts counted per key — ``acct:<username>|<address>`` and
    ``addr:<address>`` — each reserved atomically *before* the password is checked, so
    concurrent guesses cannot pass the limit. Attempt ``n`` may start at ``next_at``."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Community(Base):
    """社区（村）: the unit that keeps one public collective household (§4.1)."""

    __tablename__ = "communities"
    __table_args__ = (
        UniqueConstraint("county", "township", "name", name="place"),
        CheckConstraint("kind IN ('community', 'village')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    county: Mapped[str] = mapped_column(String(6))
    township: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="community")
    urban_rural_code: Mapped[str] = mapped_column(String(3))


class Person(Base):
    """人员."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    memberships: Mapped[list[Membership]] = relationship(back_populates="person")


class Dwelling(Base):
    """住所: a dwelling in Jiaxing, with its address and tenure."""

    __tablename__ = "dwellings"
    __table_args__ = (CheckConstraint(_in("tenure", TENURES), name="tenure"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    county: Mapped[str] = mapped_column(String(6))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    address: Mapped[str] = mapped_column(String(255))
    urban_rural_code: Mapped[str] = mapped_column(String(3))
    tenure: Mapped[str] = mapped_column(String(24))
    commercial_housing: Mapped[bool] = mapped_column(default=True)
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    certificate_no: Mapped[str | None] = mapped_column(String(64))  # 不动产权证号 / 租赁备案号


class Household(Base):
    """户: a family household at a dwelling, or a collective household."""

    __tablename__ = "households"
    __table_args__ = (
        CheckConstraint(_in("kind", HOUSEHOLD_KINDS), name="kind"),
        CheckConstraint(
            "(kind = 'family') = (dwelling_id IS NOT NULL)", name="family_has_dwelling"
        ),
        CheckConstraint(
            "(kind = 'community_collective') = (community_id IS NOT NULL)",
            name="community_collective_has_community",
        ),
        # §1.2 一房一户: one open household per dwelling
        Index(
            "uq_households_open_dwelling",
            "dwelling_id",
            unique=True,
            sqlite_where=text("dissolved_on IS NULL AND dwelling_id IS NOT NULL"),
            postgresql_where=text("dissolved_on IS NULL AND dwelling_id IS NOT NULL"),
        ),
        # §4.1 one public collective household per community or village
        Index(
            "uq_households_open_community",
            "community_id",
            unique=True,
            sqlite_where=text("dissolved_on IS NULL AND community_id IS NOT NULL"),
            postgresql_where=text("dissolved_on IS NULL AND community_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # 户号
    kind: Mapped[str] = mapped_column(String(32))
    county: Mapped[str] = mapped_column(String(6))
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("dwellings.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    unit_name: Mapped[str | None] = mapped_column(String(128))  # 单位集体户的单位
    keeper_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    established_on: Mapped[dt.date] = mapped_column(Date)
    dissolved_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)

    members: Mapped[list[Membership]] = relationship(back_populates="household")

    __mapper_args__ = {"version_id_col": version}


class Membership(Base):
    """户籍成员记录: who was in which household, from when to when, and why."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        Index(
            "uq_memberships_open_person",
            "person_id",
            unique=True,
            sqlite_where=text("end_date IS NULL"),
            postgresql_where=text("end_date IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    relation_to_head: Mapped[str] = mapped_column(
        String(32)
    )  # 户主, 配偶, 子女, 父母, 集体户成员 …
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    reason_in: Mapped[str] = mapped_column(String(64))  # e.g. "§1.1 application HK-…"
    reason_out: Mapped[str | None] = mapped_column(String(64))

    person: Mapped[Person] = relationship(back_populates="memberships")
    household: Mapped[Household] = relationship(back_populates="members")


class ResidenceRegistration(Base):
    """居住登记: a person living in a Jiaxing county away from their hukou's place, at one
    address, from ``start_date`` to ``end_date`` (inclusive; NULL: still living there).

    History is never overwritten: a change of address ends the record (``address_change``)
    and opens a new one the same day (``previous_id``); moving to another county ends it
    (``moved_away``) when the new county's station registers the person. At most one open
    registration per person, city-wide (``uq_residence_registrations_open_person``), so no
    two counties hold the same person at once. §1.2's continuous residence is read from
    these records (``registry.permits``)."""

    __tablename__ = "residence_registrations"
    __table_args__ = (
        CheckConstraint(_in("housing", RESIDENCE_HOUSING), name="housing"),
        CheckConstraint(
            "(housing = 'dwelling') = (dwelling_id IS NOT NULL)", name="dwelling_housing"
        ),
        CheckConstraint("housing = 'dwelling' OR provider IS NOT NULL", name="provider"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        CheckConstraint("(end_date IS NULL) = (end_reason IS NULL)", name="end_reason"),
        CheckConstraint(
            f"end_reason IS NULL OR {_in('end_reason', RESIDENCE_END_REASONS)}",
            name="end_reason_known",
        ),
        Index(
            "uq_residence_registrations_open_person",
            "person_id",
            unique=True,
            sqlite_where=text("end_date IS NULL"),
            postgresql_where=text("end_date IS NULL"),
        ),
        Index("ix_residence_registrations_person_county", "person_id", "county"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    county: Mapped[str] = mapped_column(String(6), index=True)  # the station's jurisdiction
    housing: Mapped[str] = mapped_column(String(16))
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("dwellings.id"))
    address: Mapped[str] = mapped_column(String(255))  # the dwelling's, or the text given
    provider: Mapped[str | None] = mapped_column(String(128))  # the employer or school
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("residence_registrations.id"))
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ResidencePermit(Base):
    """居住证: the application (受理 → 审核 → 签发 or 不予签发) and, once issued, the permit
    with its number, issue date and the last day it is valid (``valid_until``, moved on a
    year by each yearly endorsement). A permit not endorsed by ``valid_until`` has lapsed
    (使用功能中止, art. 13): computed by date, not stored. A late endorsement restores it
    and restarts the count of residence years (``residence_since``). Loss or damage: the
    old row becomes ``void`` and a new one (``replaces_id``) carries a new number.

    At most one live application or permit per person, city-wide
    (``uq_residence_permits_live_person``)."""

    __tablename__ = "residence_permits"
    __table_args__ = (
        CheckConstraint(_in("state", RESIDENCE_PERMIT_STATES), name="state"),
        CheckConstraint(_in("ground", RESIDENCE_PERMIT_GROUNDS), name="ground"),
        CheckConstraint(
            "state NOT IN ('issued', 'void', 'cancelled') OR (number IS NOT NULL "
            "AND issued_on IS NOT NULL AND valid_until IS NOT NULL "
            "AND residence_since IS NOT NULL)",
            name="issued_has_number",
        ),
        CheckConstraint("valid_until IS NULL OR valid_until >= issued_on", name="dates"),
        # never closed (cancelled, void) before it was issued
        CheckConstraint(
            "closed_on IS NULL OR issued_on IS NULL OR closed_on >= issued_on",
            name="closed_after_issue",
        ),
        CheckConstraint(
            f"close_reason IS NULL OR {_in('close_reason', RESIDENCE_PERMIT_CLOSE_REASONS)}",
            name="close_reason",
        ),
        Index(
            "uq_residence_permits_live_person",
            "person_id",
            unique=True,
            sqlite_where=text(_in("state", LIVE_RESIDENCE_PERMIT_STATES)),
            postgresql_where=text(_in("state", LIVE_RESIDENCE_PERMIT_STATES)),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)  # 受理编号
    number: Mapped[str | None] = mapped_column(String(32), unique=True)  # 居住证号, at issue
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)  # the issuing station
    ground: Mapped[str] = mapped_column(String(16))  # employment / dwelling / study
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the ground's evidence
    state: Mapped[str] = mapped_column(String(16), default="applied")
    applied_on: Mapped[dt.date] = mapped_column(Date)
    reviewed_on: Mapped[dt.date | None] = mapped_column(Date)
    review_note: Mapped[str | None] = mapped_column(Text)  # the officer's finding
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the rules' decision
    rule_version: Mapped[str | None] = mapped_column(String(96))
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    reasons: Mapped[str | None] = mapped_column(Text)  # 不予签发的理由
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)  # last day before 签注 is due
    residence_since: Mapped[dt.date | None] = mapped_column(Date)  # 居住年限起算日
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(16))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("residence_permits.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ResidencePermitEndorsement(Base):
    """签注: one yearly endorsement of a residence permit — on time (in the window before
    the anniversary) or late (补办, after a lapse: the residence years count again from
    that day)."""

    __tablename__ = "residence_permit_endorsements"

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("residence_permits.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    endorsed_on: Mapped[dt.date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(default=False)
    valid_until: Mapped[dt.date] = mapped_column(Date)  # the new last day
    endorsed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Application(Base):
    """落户申请: the facts it was decided on, the decision and the rule version, kept for good."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(_in("kind", APPLICATION_KINDS), name="kind"),
        CheckConstraint(_in("state", APPLICATION_STATES), name="state"),
        # at most one open application per applicant's ID number, anywhere in the city (a
        # §5.2 applicant without a number yet has none to compare: '')
        Index(
            "uq_applications_open_applicant",
            "applicant_id_number",
            unique=True,
            sqlite_where=text(OPEN_APPLICATION_WHERE),
            postgresql_where=text(OPEN_APPLICATION_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)  # 受理编号
    kind: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    county: Mapped[str] = mapped_column(String(6), index=True)  # the station's jurisdiction
    applicant_id_number: Mapped[str] = mapped_column(String(18), index=True)
    applicant_name: Mapped[str] = mapped_column(String(64))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    rule_version: Mapped[str | None] = mapped_column(String(96))
    # relatives (by index in facts) approved to come along
    approved_relatives: Mapped[list[Any] | None] = mapped_column(JSON)
    target_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    reasons: Mapped[str | None] = mapped_column(Text)
    # identity checked against the register when taken: the differences found, shown to
    # the officer only (a self-service applicant is never told)
    identity_flags: Mapped[list[Any] | None] = mapped_column(JSON)
    # the residence facts typed that disagree with the register's (居住登记、居住证), each
    # ``{field, typed, register}``: the decision is made on the register's; NULL when the
    # register holds no residence registration of anyone the application names
    register_conflicts: Mapped[list[Any] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )
    version: Mapped[int] = mapped_column(Integer, default=1)

    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.id"
    )
    documents: Mapped[list[DocumentReceived]] = relationship(back_populates="application")

    __mapper_args__ = {"version_id_col": version}


class ApplicationEvent(Base):
    """One transition of an application, with who made it and why."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    note: Mapped[str | None] = mapped_column(Text)

    application: Mapped[Application] = relationship(back_populates="events")


class DocumentReceived(Base):
    """材料接收: a document received against the materials list."""

    __tablename__ = "documents_received"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    material: Mapped[str] = mapped_column(String(255))
    clause: Mapped[str] = mapped_column(String(16))
    received_on: Mapped[dt.date] = mapped_column(Date)
    received_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # 证件编号: e.g. the origin's 户口迁移证 number or the one-stop move's confirmation
    reference_no: Mapped[str | None] = mapped_column(String(64))

    application: Mapped[Application] = relationship(back_populates="documents")


class MaterialWaiver(Base):
    """材料免交: an officer's explicit waiver of one required material, with the reason.
    Approval needs every required material received or waived (``Registry.approve``)."""

    __tablename__ = "material_waivers"
    __table_args__ = (
        UniqueConstraint("application_id", "material"),
        CheckConstraint("length(reason) > 0", name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    material: Mapped[str] = mapped_column(String(255))
    clause: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    waived_on: Mapped[dt.date] = mapped_column(Date)
    waived_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Job(Base):
    """后台任务: long work done outside the request (the analyst's reform run), with its
    progress, kept with its result so that a restart loses no finished result. ``worker``
    names the process running it and ``heartbeat_at`` is renewed while it runs: a
    ``running`` job whose heartbeat stopped was interrupted (its process died)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        Index("ix_jobs_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # random, URL-safe
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)  # per cent
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"zh": …, "en": …}
    worker: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class MoveOutProcedure(Base):
    """§4.5 迁出原有户口: a householder's, owner's or tenant's request, to its end."""

    __tablename__ = "move_out_procedures"
    __table_args__ = (
        CheckConstraint(_in("state", MOVE_OUT_STATES), name="state"),
        CheckConstraint(
            "requester_role IN ('householder', 'owner', 'tenant')", name="requester_role"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwellings.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    requester_name: Mapped[str] = mapped_column(String(64))
    requester_role: Mapped[str] = mapped_column(String(16))
    property_proof: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(24), default="requested")
    requested_on: Mapped[dt.date] = mapped_column(Date)
    notified_on: Mapped[dt.date | None] = mapped_column(Date)
    notice_from: Mapped[dt.date | None] = mapped_column(Date)
    notice_until: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    target_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class MoveInPermit(Base):
    """准予迁入证明: issued by the receiving station when an approved application brings a
    hukou from outside Zhejiang; used at registration with the origin's 户口迁移证 (or the
    one-stop move's electronic confirmation), or it expires unused."""

    __tablename__ = "move_in_permits"
    __table_args__ = (
        CheckConstraint(_in("state", MOVE_IN_PERMIT_STATES), name="state"),
        CheckConstraint("valid_until >= issued_on", name="dates"),
        # one live permit per application
        Index(
            "uq_move_in_permits_live_application",
            "application_id",
            unique=True,
            sqlite_where=text("state IN ('issued', 'used')"),
            postgresql_where=text("state IN ('issued', 'used')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # 证明编号
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)  # the receiving station
    origin_county: Mapped[str] = mapped_column(String(6))  # 迁出地
    persons: Mapped[list[Any]] = mapped_column(JSON)  # case paths: "applicant", "relatives[0]"
    state: Mapped[str] = mapped_column(String(16), default="issued")
    issued_on: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)  # the last day it may be used
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class StationNotice(Base):
    """A station's notice to another, in the told station's queue (``pending`` until it
    acknowledges). ``kind``:

    * ``move_out`` (迁出通知): the receiving station registered a person whose hukou was in
      the told county (within Zhejiang, no 准迁证: the move is one step, and the sending side
      is told); ``to_household_id`` the household moved into, ``closed_membership_id`` the
      membership closed.
    * ``residence_moved_away``: the telling station registered as living there a person
      whose open residence registration was in the told county, which ended it
      (``moved_away``) with the county's live permit — or registered there the hukou of a
      person whose registration was in the told county of the same area (市本级: 南湖区,
      秀洲区), which ended it (``settled``); ``closed_registration_id`` the registration
      ended (its ``end_reason`` says which), ``moved_on`` the day it ended."""

    __tablename__ = "station_notices"
    __table_args__ = (
        CheckConstraint(_in("state", NOTICE_STATES), name="state"),
        CheckConstraint(_in("kind", NOTICE_KINDS), name="kind"),
        CheckConstraint(
            "(kind <> 'move_out' OR to_household_id IS NOT NULL) AND "
            "(kind <> 'residence_moved_away' OR closed_registration_id IS NOT NULL)",
            name="kind_refs",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), default="move_out", server_default="move_out")
    county: Mapped[str] = mapped_column(String(6), index=True)  # the station told (迁出地)
    from_county: Mapped[str] = mapped_column(String(6))  # the station telling (迁入地)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    closed_membership_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"))
    closed_registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("residence_registrations.id")
    )
    to_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    moved_on: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    acknowledged_on: Mapped[dt.date | None] = mapped_column(Date)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class AuditRecord(Base):
    """审计记录: who changed what, when, before and after — hash-chained.

    A business transaction inserts its records *unsealed* (``seq``, ``prev_hash`` and
    ``hash`` empty), atomically with the change they describe; the sealer
    (``audit.seal``) later gives each a chain position and its hash, in id order.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("uq_audit_log_seq", "seq", unique=True),
        Index(
            "ix_audit_log_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seq: Mapped[int | None] = mapped_column(Integer)  # chain position, given when sealed
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    # the writer's MAC over the content (audit key): a row inserted by anyone without the
    # key has none that fits, and is reported instead of sealed; unique, so a copy of a
    # genuine row cannot be inserted either
    tag: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's last sealed record, kept apart so that deleting the newest records shows
    too. ``last_id`` is the last chain position (``seq``)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
