"""The audit trail (审计): every change to the register, chained under a secret key.

Writing and chaining are apart, so that concurrent transactions do not queue on
one lock through their commits:

1. a business transaction inserts its records **unsealed** (no chain position,
   no hash) — atomic with the change: who, when, what, before and after commit
   together with it, or not at all. Each carries the writer's **tag**: a random
   nonce and an HMAC (the audit key) over its content;
2. the **sealer** (``seal``), in a short transaction of its own under one lock
   (a PostgreSQL advisory lock; SQLite's write lock), takes the committed
   unsealed records whose tag verifies, in id order, and gives each its chain
   position ``seq``, the previous record's hash and its own: an HMAC-SHA256 with
   the audit key over its content and the previous hash. A row without a valid
   tag — inserted behind the service's back — is never sealed. The head row
   holds the last position and count, and, in ``last_hash``, an HMAC over them
   and the last record's hash. The service seals after every committed
   transaction (without waiting when another sealer is at work).

``verify`` never writes: it reads one snapshot, recomputes the chain with the
key and names every record altered, removed, inserted or moved, every row not
written by the service, and every record that stayed unsealed longer than
``UNSEALED_BOUND``. ``checkpoint`` gives the chain's position, count and last
MAC; kept off the database host, it lets ``verify`` tell a chain cut short, or
an older backup restored, from the chain it was taken of.

What this protects against — someone who can write the database but cannot read
the audit key (``registry.keys``, a file outside the database; a database
administrator on the database host):

* altering, deleting, inserting or moving a sealed record, and re-chaining the
  records after one (the MACs need the key);
* inserting a record, or a copy of a genuine one (the tag is unique), or altering
  one not sealed yet, for the sealer to absorb (the tag no longer fits);
* deleting the newest records and fixing the head to match (the head's MAC);
* with a checkpoint: a chain cut back to, or a backup restored from, before it
  was taken — even with a head saved from that time.

What it does not protect against:

* anyone who holds the audit key: a database administrator who can also read the
  key file (or the service's host, which reads it) can forge the whole chain. Keep
  the key file, and the checkpoints, off the database host and out of its backups;
* destruction: the trail is tamper-evident, not tamper-proof. Records can still be
  deleted; ``verify`` says so, it cannot bring them back;
* a record removed while still unsealed (seconds, normally; one left unsealed
  longer than ``UNSEALED_BOUND`` is reported), or all records unsealed by SQL and
  re-sealed by the service without the ones removed — the checkpoint catches the
  latter, since the chain's MACs change;
* without a checkpoint, the database rolled back as a whole (records and head)
  to an earlier state.

On PostgreSQL, ``roles.grant_service_role`` adds what the database itself can
enforce: a service role that cannot delete audit records or change their
content, and triggers refusing it for every role (the owner can drop them).

A chain sealed before the key (plain SHA-256, no tags) is not taken on trust —
anyone can compute its hashes, and the sealer would otherwise vouch for whatever
old-style chain it found. Such records can only begin the chain (the key came once,
and everything sealed since carries its MAC): ``verify`` names an old-style beginning,
for ``rekey`` — run once by the operator right after the upgrade, it re-seals them with
the key (``hukou audit rekey``) — and names an old-style record anywhere after a keyed
one as tampering, which ``rekey`` refuses to convert. A chain rewritten from position 1
as an old-style one is told only by a checkpoint.

A trail deleted whole (no record, no head) in a register that holds users,
applications or persons — each created through the service, which audits it — is
named too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from hukou.registry.errors import RegistryError
from hukou.registry.models import Application, AuditHead, AuditRecord, Person, User

GENESIS = "0" * 64
NONCE_HEX = 16  # a tag: 16 hex digits of nonce, then 48 of the MAC (fits String(64))
TAG_MAC_HEX = 48


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


def _utc(at: dt.datetime) -> dt.datetime:
    """A stored time read back: SQLite gives it naive, in UTC (``insert`` stores UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _body(items: list[Any]) -> bytes:
    return json.dumps(
        _canonical(items), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


def _mac(key: bytes, items: list[Any]) -> str:
    return hmac.new(key, _body(items), hashlib.sha256).hexdigest()


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


class Tagged(Content, Protocol):
    @property
    def tag(self) -> str | None: ...


def _content(rec: Content) -> list[Any]:
    return [
        rec.id,
        _utc(rec.at),
        rec.actor,
        rec.action,
        rec.entity,
        rec.entity_id,
        rec.before,
        rec.after,
    ]


def record_hash(rec: Content, prev_hash: str | None, key: bytes) -> str:
    """A record's link in the chain: HMAC-SHA256 (audit key) over its content and the
    previous record's hash. Without the key, nobody can compute it."""
    return _mac(key, ["hukou.audit.chain/1", *_content(rec), prev_hash])


def legacy_hash(rec: Content, prev_hash: str | None) -> str:
    """The unkeyed SHA-256 of chains sealed before the audit key (checked by ``rekey``,
    never written)."""
    return hashlib.sha256(_body([*_content(rec), prev_hash])).hexdigest()


def head_mac(key: bytes, last_id: int, count: int, last_hash: str) -> str:
    """What the head keeps in ``last_hash``: a MAC over the last position, the count and
    the last record's hash, so that the head cannot be moved back by hand."""
    return _mac(key, ["hukou.audit.head/1", last_id, count, last_hash])


def _tag_mac(key: bytes, nonce: str, entry: Mapping[str, Any]) -> str:
    items = [
        "hukou.audit.tag/1",
        _utc(entry["at"]),
        entry["actor"],
        entry["action"],
        entry["entity"],
        entry["entity_id"],
        entry["before"],
        entry["after"],
        nonce,
    ]
    return _mac(key, items)[:TAG_MAC_HEX]


def tag_ok(rec: Tagged, key: bytes) -> bool:
    """Whether a record's tag is the writer's: made with the audit key over this content."""
    tag = rec.tag
    if not tag or len(tag) != NONCE_HEX + TAG_MAC_HEX:
        return False
    nonce = tag[:NONCE_HEX]
    content = {
        "at": rec.at,
        "actor": rec.actor,
        "action": rec.action,
        "entity": rec.entity,
        "entity_id": rec.entity_id,
        "before": rec.before,
        "after": rec.after,
    }
    return hmac.compare_digest(tag[NONCE_HEX:], _tag_mac(key, nonce, content))


def number_digest(key: bytes, number: str) -> str:
    """A keyed digest of an ID number named in a request, for an audit record (never the
    number): equal numbers give equal digests, so an auditor can follow one number's trail."""
    mac = hmac.new(key, f"hukou-id-number:{number}".encode(), hashlib.sha256)
    return "#" + mac.hexdigest()[:16]


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The audited state of a row: the named columns, JSON-ready."""
    return {f: _canonical(getattr(obj, f)) for f in fields}


def insert(session: Session, entries: list[dict[str, Any]], key: bytes) -> None:
    """Insert audit records *unsealed*, inside the caller's transaction: who, what, before
    and after commit (or roll back) with the change itself. Each gets its tag (a nonce and
    the audit key's MAC over its content), which the sealer checks. No lock is taken;
    ``seal`` gives them their chain positions once committed."""
    if not entries:
        return
    rows = []
    for e in entries:
        at = e["at"]
        row = {
            # stored in UTC: SQLite keeps no offset, and the tag must match what is read back
            "at": at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC),
            "actor": e["actor"],
            "action": e["action"],
            "entity": e["entity"],
            "entity_id": str(e["entity_id"]),
            "before": _canonical(e["before"]),
            "after": _canonical(e["after"]),
        }
        nonce = secrets.token_hex(NONCE_HEX // 2)
        row["tag"] = nonce + _tag_mac(key, nonce, row)
        rows.append(row)
    session.execute(sa.insert(AuditRecord), rows)


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
    _LOG.c.tag,
)
_SEAL_ROW = (
    update(_LOG)
    .where(_LOG.c.id == sa.bindparam("rid"))
    .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev"), hash=sa.bindparam("digest"))
)


def _genuine_pending(session: Session, key: bytes, limit: int) -> list[Any]:
    """Up to ``limit`` unsealed records whose tag verifies, in id order. Rows without a valid
    tag are passed over (and stay unsealed, for ``verify`` to name), however many."""
    found: list[Any] = []
    after = 0
    while len(found) < limit:
        page = session.execute(
            select(*_CONTENT)
            .where(_LOG.c.seq.is_(None), _LOG.c.id > after)
            .order_by(_LOG.c.id)
            .limit(limit)
        ).all()
        found.extend(rec for rec in page if tag_ok(rec, key))
        if len(page) < limit:
            break
        after = page[-1].id
    return found[:limit]


def seal(session: Session, key: bytes, *, wait: bool = True, limit: int = SEAL_BATCH) -> int:
    """Chain the committed unsealed records written by the service (their tag verifies), in
    id order, after the chain's head: each gets its ``seq``, the previous record's hash and
    its own MAC. Run in a transaction of its own (after the business transaction
    committed); returns how many were sealed.

    With ``wait=False`` a sealer already at work is left to it (its next round, or the
    next request's, picks up what it did not see). Plain SQL rows, no ORM objects: this
    runs after every request."""
    if not _lock(session, wait):
        return 0
    pending = _genuine_pending(session, key, limit)
    if not pending:
        return 0
    head = session.execute(
        select(_HEAD.c.last_id, _HEAD.c.last_hash, _HEAD.c.count)
        .where(_HEAD.c.id == 1)
        .with_for_update()
    ).first()
    if head is None:
        seq, last_hash, count = 0, GENESIS, 0
    else:
        seq, head_hash, count = head  # (``head.count`` would be the tuple's method)
        # the head keeps a MAC, not the hash: the last record's own hash is the link (a
        # head from before the key kept the hash itself, which is the fallback)
        last_hash = (
            session.execute(select(_LOG.c.hash).where(_LOG.c.seq == seq)).scalar() or head_hash
        )
    rows: list[dict[str, Any]] = []
    for rec in pending:
        seq += 1
        digest = record_hash(rec, last_hash, key)
        rows.append({"rid": rec.id, "seq": seq, "prev": last_hash, "digest": digest})
        last_hash = digest
    session.connection().execute(_SEAL_ROW, rows)
    count += len(rows)
    values = {"last_id": seq, "last_hash": head_mac(key, seq, count, last_hash), "count": count}
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


@contextmanager
def reading(engine: sa.Engine) -> Iterator[Session]:
    """A session that cannot write and sees one snapshot: PostgreSQL's ``REPEATABLE READ,
    READ ONLY`` transaction; SQLite's ``query_only`` in one read transaction. Rolled back
    at the end. For ``verify`` and ``checkpoint``: checking the trail changes nothing."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            try:
                with Session(bind=conn) as session:
                    yield session
            finally:
                conn.rollback()
            return
        conn.exec_driver_sql("PRAGMA query_only = ON")
        try:
            conn.exec_driver_sql("BEGIN")  # one snapshot for every read below (WAL)
            with Session(bind=conn) as session:
                yield session
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA query_only = OFF")
            conn.rollback()


def _keyed(rec: AuditRecord, key: bytes) -> bool:
    return rec.hash is not None and hmac.compare_digest(
        record_hash(rec, rec.prev_hash, key), rec.hash
    )


def _pre_key(rec: AuditRecord) -> bool:
    """Sealed before the audit key: no tag, and the plain SHA-256 link."""
    return rec.tag is None and rec.hash is not None and legacy_hash(rec, rec.prev_hash) == rec.hash


@dataclass
class _Chain:
    """The sealed chain as ``verify`` found it (``_examine``)."""

    records: list[AuditRecord]
    head: AuditHead | None
    problems: list[Problem]  # everything found, in order, ``notice`` among them
    old_style: list[int]  # positions of the old-style records that begin the chain
    out_of_place: int  # old-style records anywhere else: rewritten without the key
    notice: Problem | None  # the old-style beginning, for ``rekey``


_AUDITED_TABLES = (User.__table__, Application.__table__, Person.__table__)


def _holds_data(session: Session) -> bool:
    """Whether the register has a user, an application or a person: each was created
    through the service, which audited it."""
    return any(
        session.execute(select(sa.literal(1)).select_from(table).limit(1)).first() is not None
        for table in _AUDITED_TABLES
    )


def _examine(session: Session, key: bytes) -> _Chain:
    records = list(
        session.execute(
            select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
        ).scalars()
    )
    problems: list[Problem] = []
    prev = GENESIS
    expected = 1
    old_style: list[int] = []
    out_of_place = 0
    beginning = True  # no record other than an old-style one seen yet
    for rec in records:
        seq = rec.seq
        assert seq is not None
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
        if _pre_key(rec):
            if beginning:
                old_style.append(seq)
            else:
                # the key came once, and everything sealed after it carries its MAC: an
                # old-style record after a keyed one was made by someone without the key
                out_of_place += 1
                problems.append(
                    Problem(
                        rec.id,
                        f"审计记录 {rec.id}（第 {seq} 条）位于以密钥封存的记录之后，却带有启用"
                        "审计密钥之前的散列：旧式记录只可能在链首，此条是未持密钥改写的（篡改）",
                        f"audit record {rec.id} (position {seq}) carries a hash from before "
                        "the audit key after records sealed with the key: old-style records "
                        "only ever begin the chain, so it was rewritten without the key "
                        "(tampering)",
                    )
                )
        else:
            beginning = False
            if not _keyed(rec, key):
                problems.append(
                    Problem(
                        rec.id,
                        f"审计记录 {rec.id} 内容被改动（或未持密钥重新计算）",
                        f"audit record {rec.id} was altered (or re-hashed without the audit key)",
                    )
                )
        prev = rec.hash or ""
        expected = seq + 1
    notice = None
    if old_style:
        notice = Problem(
            None,
            f"{len(old_style)} 条审计记录（第 {old_style[0]} 至 {old_style[-1]} 条之间）带有"
            "启用审计密钥之前的散列，无法校验：若本登记簿由此前的版本升级而来、尚未转换，请执行"
            "一次 hukou audit rekey；否则即是被人改写",
            f"{len(old_style)} audit record(s) (positions {old_style[0]}–{old_style[-1]}) "
            "carry a hash from before the audit key and cannot be verified: if this register "
            "was upgraded from such a version and not converted yet, run `hukou audit "
            "rekey` once; otherwise they were rewritten",
        )
        problems.append(notice)
    head = session.get(AuditHead, 1)
    if head is not None:
        mac_ok = hmac.compare_digest(head_mac(key, head.last_id, head.count, prev), head.last_hash)
        if records and len(old_style) == len(records) and head.last_hash == prev:
            # a head from before the key kept the last hash itself: acceptable only with a
            # chain from before the key (named above) — once a record is sealed with the
            # key, the head carries its MAC
            mac_ok = True
        if head.count != len(records) or head.last_id != expected - 1 or not mac_ok:
            problems.append(
                Problem(
                    head.last_id,
                    f"审计链末端不符：应有 {head.count} 条、末条为第 {head.last_id} 条"
                    "（末端记录被删除，或末端被改动）",
                    f"the chain's end does not match: {head.count} records expected, the last "
                    f"at position {head.last_id} (the newest records deleted, or the head "
                    "altered)",
                )
            )
    elif records:
        problems.append(Problem(None, "审计链末端记录缺失", "the audit head is missing"))
    elif _holds_data(session) and not any(tag_ok(rec, key) for rec in _unsealed(session)):
        # no head, no sealed record, none written and waiting for the sealer: nothing was
        # ever audited — yet every user, application and person was created through the
        # service, which audits it. The trail was deleted.
        problems.append(
            Problem(
                None,
                "审计链为空，但登记簿中已有数据",
                "the audit trail is empty though the register holds data",
            )
        )
    return _Chain(records, head, problems, old_style, out_of_place, notice)


def verify(session: Session, key: bytes) -> list[Problem]:
    """Recompute the sealed chain with the key, position by position; every record that
    does not fit is named: altered (or re-chained without the key), deleted (a missing
    position, or a head that does not match), or inserted or moved (a record that does not
    follow the one before it). Records still carrying the hash of before the audit key are
    not taken on trust (anyone can compute that hash): those that begin the chain are
    named, for ``rekey``; one after a record sealed with the key is tampering, and named
    as such (the key came once: nothing is sealed the old way after it). A head holding
    a plain hash instead of its MAC is accepted only with a chain entirely of old-style
    records. A trail with no record and no head in a register holding data was deleted,
    and is named too. Reads only."""
    return _examine(session, key).problems


def rekey(session: Session, key: bytes) -> int:
    """Convert a chain sealed before the audit key (plain SHA-256): once, by the operator,
    right after upgrading from such a version — before ``grant_service_role`` (its
    triggers refuse changes to sealed records). Returns how many records were re-sealed.

    Only one layout is converted: old-style records from position 1 on, then (if any)
    records sealed with the key since the upgrade, every link in place, and a head that
    matches — the old-style records re-sealed with the key, the keyed ones re-linked onto
    them, the head given its MAC. Anything else ``verify`` names (an old-style record
    after a keyed one, a record altered or missing, a head that does not match) is
    refused, naming why, and nothing is changed. Unsealed rows are not touched (seal them
    with the old version before upgrading).

    Never run it later because ``verify`` names records with an old hash: a chain rewritten
    from its beginning by someone without the key, passed off as an old one, would be
    re-sealed as genuine. A checkpoint taken before tells."""
    _lock(session, wait=True)
    session.get(AuditHead, 1, with_for_update=True)
    chain = _examine(session, key)
    if not chain.old_style and not chain.out_of_place:
        return 0
    other = [p for p in chain.problems if p is not chain.notice]
    if other:
        shown = other[:3]
        more_en = f"; … ({len(other) - 3} more)" if len(other) > 3 else ""
        more_zh = f"；……（另有 {len(other) - 3} 项）" if len(other) > 3 else ""
        raise RegistryError(
            "拒绝重新封存，未作任何更改：rekey 只转换从第 1 条起连续的旧式记录（及其后以密钥封存"
            "的记录、相符的末端），而本审计链另有问题——" + "；".join(p.zh for p in shown) + more_zh,
            "rekey refused, nothing was changed: it converts only old-style records from "
            "position 1 on (with the records sealed with the key after them and a head that "
            "matches), and this chain has other problems — "
            + "; ".join(p.en for p in shown)
            + more_en,
            "audit_log",
        )
    head = chain.head
    assert head is not None  # else "the audit head is missing" above
    prev = GENESIS
    changed = 0
    for rec in chain.records:
        digest = record_hash(rec, prev, key)
        if (prev, digest) != (rec.prev_hash, rec.hash):
            rec.prev_hash, rec.hash = prev, digest
            changed += 1
        prev = digest
    head.last_hash = head_mac(key, head.last_id, head.count, prev)
    session.flush()
    return changed


def _unsealed(session: Session) -> Iterator[AuditRecord]:
    return iter(
        session.execute(
            select(AuditRecord).where(AuditRecord.seq.is_(None)).order_by(AuditRecord.id)
        ).scalars()
    )


def foreign(session: Session, key: bytes) -> list[Problem]:
    """Unsealed rows without a valid writer's tag: inserted (or altered) by something other
    than the service. The sealer leaves them out of the chain; they are named here, every
    time, until someone removes them."""
    return [
        Problem(
            rec.id,
            f"审计记录 {rec.id} 不是本系统写入的（写入标记不符：在系统之外插入或改动），未予入链",
            f"audit record {rec.id} was not written by the service (its writer's tag does "
            "not fit: inserted or changed behind the service's back); it is kept out of the "
            "chain",
        )
        for rec in _unsealed(session)
        if not tag_ok(rec, key)
    ]


def overdue(
    session: Session, key: bytes, now: dt.datetime, bound: dt.timedelta = UNSEALED_BOUND
) -> list[Problem]:
    """Records written by the service and still unsealed ``bound`` after they were written:
    the sealer did not run (a process killed between its commit and its seal, say). Until
    sealed, a record could have been changed or removed without a trace."""
    problems = []
    minutes = int(bound.total_seconds() // 60)
    for rec in _unsealed(session):
        if _utc(rec.at) < now - bound and tag_ok(rec, key):
            problems.append(
                Problem(
                    rec.id,
                    f"审计记录 {rec.id} 写入 {minutes} 分钟后仍未入链（封存未运行？）",
                    f"audit record {rec.id} was still unsealed {minutes} minutes after it "
                    "was written (did the sealer run?)",
                )
            )
    return problems


# ---- checkpoints -------------------------------------------------------------------

CHECKPOINT_FIELDS = ("position", "count", "mac", "taken_at")


def checkpoint(session: Session, now: dt.datetime | None = None) -> dict[str, Any]:
    """Where the chain stands: its last position, its count and that record's MAC, and
    when. Kept outside the database host (``hukou audit checkpoint --out``), it lets
    ``verify_checkpoint`` tell a chain cut back, rewritten or restored from an older
    backup. Take it of a chain that verifies."""
    head = session.get(AuditHead, 1)
    position, count, mac = 0, 0, GENESIS
    if head is not None:
        position, count = head.last_id, head.count
        found = session.execute(
            select(AuditRecord.hash).where(AuditRecord.seq == position)
        ).scalar()
        mac = found or ""
    taken = now or dt.datetime.now(dt.UTC)
    return {
        "position": position,
        "count": count,
        "mac": mac,
        "taken_at": taken.astimezone(dt.UTC).isoformat(timespec="seconds"),
    }


class BadCheckpoint(RegistryError):
    """A checkpoint that cannot be read (not one ``checkpoint`` wrote)."""


def parse_checkpoint(data: Any) -> dict[str, Any]:
    """A checkpoint read back (from JSON), checked field by field."""
    ok = (
        isinstance(data, dict)
        and all(f in data for f in CHECKPOINT_FIELDS)
        and all(type(data[f]) is int and data[f] >= 0 for f in ("position", "count"))
        and isinstance(data["mac"], str)
        and len(data["mac"]) == 64
        and isinstance(data["taken_at"], str)
    )
    if not ok:
        raise BadCheckpoint(
            "检查点格式不对：应含 position、count、mac、taken_at",
            "not a checkpoint: position, count, mac and taken_at are expected",
            "checkpoint",
        )
    return {f: data[f] for f in CHECKPOINT_FIELDS}


def verify_checkpoint(session: Session, cp: Mapping[str, Any]) -> list[Problem]:
    """Compare the chain with a checkpoint taken earlier: the chain must reach at least as
    far (else it was cut back, or an older backup was restored), and the record at the
    checkpoint's position must still be there with the same MAC (else the chain was
    rewritten). Reads only."""
    cp = parse_checkpoint(dict(cp))
    position, count, mac, taken = cp["position"], cp["count"], cp["mac"], cp["taken_at"]
    head = session.get(AuditHead, 1)
    head_position, head_count = (head.last_id, head.count) if head is not None else (0, 0)
    chain_end = session.execute(select(sa.func.max(AuditRecord.seq))).scalar() or 0
    if head_position < position or head_count < count or chain_end < position:
        return [
            Problem(
                position,
                f"审计链比 {taken} 的检查点短（检查点：第 {position} 条、共 {count} 条；现在："
                f"末端第 {head_position} 条、共 {head_count} 条）：审计链被截短，或恢复了较旧的备份",
                f"the audit chain is shorter than at the checkpoint of {taken} (then: position "
                f"{position}, {count} records; now: position {head_position}, {head_count} "
                "records): the chain was cut back (truncated), or an older backup was restored",
            )
        ]
    if position == 0:
        return []
    found = session.execute(
        select(AuditRecord.id, AuditRecord.hash).where(AuditRecord.seq == position)
    ).first()
    if found is None or found.hash is None or not hmac.compare_digest(found.hash, mac):
        return [
            Problem(
                found.id if found is not None else position,
                f"审计链第 {position} 条与 {taken} 的检查点不符：该处及之前的记录被改写",
                f"the audit record at position {position} does not match the checkpoint of "
                f"{taken}: the chain up to there was rewritten",
            )
        ]
    return []
