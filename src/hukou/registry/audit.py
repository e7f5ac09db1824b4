"""The audit trail (审计): every change to the register, hash-chained.

Each record's hash covers its content and the previous record's hash; a
separate head row holds the last id, hash and count, updated in the same
transaction. ``verify`` recomputes the chain and names the first record that
was altered, removed or inserted behind the service's back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
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


def record_hash(rec: AuditRecord, prev_hash: str) -> str:
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


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    at: dt.datetime,
) -> AuditRecord:
    """Append one record to the chain, inside the caller's transaction."""
    return append(
        session,
        [
            {
                "actor": actor,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "before": before,
                "after": after,
                "at": at,
            }
        ],
    )[0]


def append(session: Session, entries: list[dict[str, Any]]) -> list[AuditRecord]:
    """Append records to the chain in one go: the head is locked once, for the rest of
    the caller's transaction (its commit)."""
    if not entries:
        return []
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS, count=0)
        session.add(head)
        session.flush()
    out = []
    last_id, last_hash = head.last_id, head.last_hash
    for e in entries:
        rec = AuditRecord(
            id=last_id + 1,
            at=e["at"],
            actor=e["actor"],
            action=e["action"],
            entity=e["entity"],
            entity_id=str(e["entity_id"]),
            before=_canonical(e["before"]),
            after=_canonical(e["after"]),
            prev_hash=last_hash,
            hash="",
        )
        rec.hash = record_hash(rec, last_hash)
        last_id, last_hash = rec.id, rec.hash
        out.append(rec)
    session.add_all(out)
    head.last_id, head.last_hash, head.count = last_id, last_hash, head.count + len(out)
    session.flush()
    return out


@dataclass(frozen=True)
class Problem:
    record_id: int | None
    zh: str
    en: str


def verify(session: Session) -> list[Problem]:
    """Recompute the chain; every record that does not fit is named."""
    problems: list[Problem] = []
    prev = GENESIS
    expected_id = 1
    count = 0
    for rec in session.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars():
        count += 1
        if rec.id != expected_id:
            problems.append(
                Problem(
                    expected_id,
                    f"审计记录 {expected_id} 至 {rec.id - 1} 缺失（被删除）",
                    f"audit records {expected_id}–{rec.id - 1} are missing (deleted)",
                )
            )
        if rec.prev_hash != prev:
            problems.append(
                Problem(
                    rec.id,
                    f"审计记录 {rec.id} 与前一条记录不衔接",
                    f"audit record {rec.id} does not follow the record before it",
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
        prev = rec.hash
        expected_id = rec.id + 1
    head = session.get(AuditHead, 1)
    if head is not None:
        if head.count != count or head.last_id != expected_id - 1 or head.last_hash != prev:
            problems.append(
                Problem(
                    head.last_id,
                    f"审计链末端不符：应有 {head.count} 条、末条 {head.last_id}",
                    f"the chain's end does not match: {head.count} records expected, the last being "
                    f"{head.last_id}",
                )
            )
    elif count:
        problems.append(Problem(None, "审计链末端记录缺失", "the audit head is missing"))
    return problems
