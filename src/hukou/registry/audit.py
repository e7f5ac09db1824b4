"""The audit trail (审计): every change to the register, hash-chained.

Writing and chaining are apart, so that concurrent transactions do not queue on
one lock through their commits:

1. a business transaction inserts its records **unsealed** (no chain position,
   no hash) — atomic with the change: who, when, what, before and after commit
   together with it, or not at all;
2. the **sealer** (``seal``), in a short transaction of its own under one lock
   (a PostgreSQL advisory lock; SQLite's write lock), takes the committed
   unsealed records in id order and gives each its chain position ``seq``, the
   previous record's hash and its own hash (content + previous hash). A head row
   holds the last position, hash and count. The service seals after every
   committed transaction (without waiting when another sealer is at work);
   ``hukou audit verify`` seals whatever is left first.

``verify`` walks the chain by position and names every record altered, removed
or inserted behind the service's back, and every record that stayed unsealed
longer than ``UNSEALED_BOUND`` (until sealed, a record is protected by nothing
but the database's permissions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from hukou.registry.models import AuditHead, AuditRecord

GENESIS = "0" * 64


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


class Content(Protocol):
    """What a record's hash covers (an ``AuditRecord``, or a row of its columns)."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def entity(self) -> str: ...
    @property
    def entity_id(self) -> str: ...
    @property
    def before(self) -> dict[str, Any] | None: ...
    @property
    def after(self) -> dict[str, Any] | None: ...


def record_hash(rec: Content, prev_hash: str | None) -> str:
    at = rec.at if rec.at.tzinfo else rec.at.replace(tzinfo=dt.UTC)
    body = json.dumps(
        _canonical(
            [
                rec.id,
                at,
                rec.actor,
                rec.action,
                rec.entity,
                rec.entity_id,
                rec.before,
                rec.after,
                prev_hash,
            ]
        ),
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The audited state of a row: the named columns, JSON-ready."""
    return {f: _canonical(getattr(obj, f)) for f in fields}


def insert(session: Session, entries: list[dict[str, Any]]) -> None:
    """Insert audit records *unsealed*, inside the caller's transaction: who, what, before
    and after commit (or roll back) with the change itself. No lock is taken; ``seal``
    gives them their chain positions once committed."""
    if not entries:
        return
    session.execute(
        sa.insert(AuditRecord),
        [
            {
                "at": e["at"],
                "actor": e["actor"],
                "action": e["action"],
                "entity": e["entity"],
                "entity_id": str(e["entity_id"]),
                "before": _canonical(e["before"]),
                "after": _canonical(e["after"]),
            }
            for e in entries
        ],
    )


SEAL_LOCK = 0x68756B6F  # "huko": the PostgreSQL advisory lock key of the sealer


def _lock(session: Session, wait: bool) -> bool:
    """Take the sealer's lock for the rest of the transaction; False if busy and not waiting.

    PostgreSQL: a transaction-level advisory lock. SQLite: the database's write lock,
    taken by a first (empty) write, so every sealer reads the chain after the last one."""
    if session.get_bind().dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        got = session.execute(text(f"SELECT {fn}(:k)"), {"k": SEAL_LOCK}).scalar()
        return wait or bool(got)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count))
    return True


SEAL_BATCH = 5_000


_LOG: sa.Table = AuditRecord.__table__  # type: ignore[assignment]
_HEAD: sa.Table = AuditHead.__table__  # type: ignore[assignment]
_CONTENT = (
    _LOG.c.id,
    _LOG.c.at,
    _LOG.c.actor,
    _LOG.c.action,
    _LOG.c.entity,
    _LOG.c.entity_id,
    _LOG.c.before,
    _LOG.c.after,
)
_SEAL_ROW = (
    update(_LOG)
    .where(_LOG.c.id == sa.bindparam("rid"))
    .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev"), hash=sa.bindparam("digest"))
)


def seal(session: Session, *, wait: bool = True, limit: int = SEAL_BATCH) -> int:
    """Chain the committed unsealed records, in id order, after the chain's head: each gets
    its ``seq``, the previous record's hash and its own. Run in a transaction of its own
    (after the business transaction committed); returns how many were sealed.

    With ``wait=False`` a sealer already at work is left to it (its next round, or the
    next request's, picks up what it did not see). Plain SQL rows, no ORM objects: this
    runs after every request."""
    if not _lock(session, wait):
        return 0
    pending = session.execute(
        select(*_CONTENT).where(_LOG.c.seq.is_(None)).order_by(_LOG.c.id).limit(limit)
    ).all()
    if not pending:
        return 0
    head = session.execute(
        select(_HEAD.c.last_id, _HEAD.c.last_hash, _HEAD.c.count)
        .where(_HEAD.c.id == 1)
        .with_for_update()
    ).first()
    seq, last_hash, count = head if head is not None else (0, GENESIS, 0)
    rows: list[dict[str, Any]] = []
    for rec in pending:
        seq += 1
        digest = record_hash(rec, last_hash)
        rows.append({"rid": rec.id, "seq": seq, "prev": last_hash, "digest": digest})
        last_hash = digest
    session.connection().execute(_SEAL_ROW, rows)
    values = {"last_id": seq, "last_hash": last_hash, "count": count + len(rows)}
    if head is None:
        session.execute(sa.insert(_HEAD).values(id=1, **values))
    else:
        session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(**values))
    return len(rows)


@dataclass(frozen=True)
class Problem:
    record_id: int | None
    zh: str
    en: str


UNSEALED_BOUND = dt.timedelta(minutes=5)


def verify(session: Session) -> list[Problem]:
    """Recompute the sealed chain, position by position; every record that does not fit is
    named: altered, deleted (a missing position, or a head that does not match), or
    inserted or moved (a record that does not follow the one before it)."""
    problems: list[Problem] = []
    prev = GENESIS
    expected = 1
    count = 0
    for rec in session.execute(
        select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
    ).scalars():
        seq = rec.seq
        assert seq is not None
        count += 1
        if seq != expected:
            problems.append(
                Problem(
                    expected,
                    f"审计链第 {expected} 至 {seq - 1} 条记录缺失（被删除）",
                    f"audit records at chain positions {expected}–{seq - 1} are missing (deleted)",
                )
            )
        if rec.prev_hash != prev:
            problems.append(
                Problem(
                    rec.id,
                    f"审计记录 {rec.id}（第 {seq} 条）与前一条记录不衔接",
                    f"audit record {rec.id} (position {seq}) does not follow the record before it",
                )
            )
        if record_hash(rec, rec.prev_hash) != rec.hash:
            problems.append(
                Problem(
                    rec.id,
                    f"审计记录 {rec.id} 内容被改动",
                    f"audit record {rec.id} was altered",
                )
            )
        prev = rec.hash or ""
        expected = seq + 1
    head = session.get(AuditHead, 1)
    if head is not None:
        if head.count != count or head.last_id != expected - 1 or head.last_hash != prev:
            problems.append(
                Problem(
                    head.last_id,
                    f"审计链末端不符：应有 {head.count} 条、末条为第 {head.last_id} 条",
                    f"the chain's end does not match: {head.count} records expected, the last "
                    f"at position {head.last_id}",
                )
            )
    elif count:
        problems.append(Problem(None, "审计链末端记录缺失", "the audit head is missing"))
    return problems


def overdue(
    session: Session, now: dt.datetime, bound: dt.timedelta = UNSEALED_BOUND
) -> list[Problem]:
    """Records still unsealed ``bound`` after they were written: the sealer did not run
    (a process killed between its commit and its seal, say). Until sealed, a record could
    have been changed or removed without a trace."""
    problems = []
    for rec in session.execute(
        select(AuditRecord).where(AuditRecord.seq.is_(None)).order_by(AuditRecord.id)
    ).scalars():
        at = rec.at if rec.at.tzinfo else rec.at.replace(tzinfo=dt.UTC)
        if at < now - bound:
            minutes = int(bound.total_seconds() // 60)
            problems.append(
                Problem(
                    rec.id,
                    f"审计记录 {rec.id} 写入 {minutes} 分钟后仍未入链（封存未运行？）",
                    f"audit record {rec.id} was still unsealed {minutes} minutes after it "
                    "was written (did the sealer run?)",
                )
            )
    return problems
