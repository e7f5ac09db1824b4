"""The audit trail's two halves: records written unsealed with the change, chained by the
sealer — on SQLite and PostgreSQL, under concurrent writers, across the 0002 migration and
the audit key (``hukou audit rekey``)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry import audit
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import alembic_config, make_engine, session_factory, upgrade
from hukou.registry.models import AuditRecord
from hukou.registry.service import Registry

from .conftest import NANHU
from .helpers import owner_case


def _rows(registry: Registry) -> list[AuditRecord]:
    return registry.read(
        lambda s: list(s.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars())
    )


def test_a_transaction_leaves_its_records_sealed(registry: Registry, officer: Actor) -> None:
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    rows = _rows(registry)
    assert rows and all(r.seq is not None and r.hash for r in rows)
    assert [r.seq for r in sorted(rows, key=lambda r: r.seq or 0)] == list(range(1, len(rows) + 1))


def test_the_change_and_its_unsealed_record_commit_together(
    registry: Registry, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer not running (a process killed between commit and seal) loses nothing:
    the who/what/before/after is there, unsealed, and the next sealer chains it."""
    monkeypatch.setattr(Registry, "seal_audit", lambda self, wait=True: 0)
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    rows = _rows(registry)
    created = [r for r in rows if r.action == "application.create"]
    assert len(created) == 1 and created[0].entity_id == str(app.id)
    assert created[0].seq is None and created[0].hash is None and created[0].prev_hash is None
    monkeypatch.undo()
    assert registry.seal_audit() == len([r for r in rows if r.seq is None])
    assert registry.verify_audit() == []
    assert all(r.seq is not None for r in _rows(registry))


def test_records_left_unsealed_beyond_the_bound_are_named(
    registry: Registry, officer: Actor, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Registry, "seal_audit", lambda self, wait=True: 0)
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())
    registry.act(officer, app.id, "submit")
    late = [r.id for r in _rows(registry) if r.seq is None]
    assert late
    monkeypatch.undo()
    # within the bound: not a word (and nothing sealed: verify only reads)
    assert registry.verify_audit(bound=dt.timedelta(days=1)) == []
    assert [r.id for r in _rows(registry) if r.seq is None] == late
    clock.advance(1)  # a day later the sealer has still not run
    problems = registry.verify_audit(bound=dt.timedelta(minutes=5))
    assert [p.record_id for p in problems] == late
    assert all("unsealed" in p.en and "未入链" in p.zh for p in problems)
    assert registry.verify_audit() == problems  # named until sealed
    assert registry.seal_audit() == len(late)
    assert registry.verify_audit() == []


@pytest.mark.parametrize("writers", [6])
def test_concurrent_writers_end_in_one_valid_chain(
    registry: Registry, officer: Actor, writers: int
) -> None:
    """Several threads write at once, each sealing after its commits (without waiting for a
    sealer at work); at the end everything is in one chain, every position once."""
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(w: int) -> None:
        try:
            start.wait()
            for i in range(5):
                app = registry.create_application(
                    officer, "s1_1", NANHU, owner_case(seq=w * 10 + i, with_spouse=False)
                )
                registry.act(officer, app.id, "submit")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    registry.seal_audit()
    rows = _rows(registry)
    assert len(rows) == 1 + writers * 5 * 2  # user.add, then create and submit each
    assert sorted(r.seq or 0 for r in rows) == list(range(1, len(rows) + 1))
    by_seq = sorted(rows, key=lambda r: r.seq or 0)
    prev = audit.GENESIS
    for r in by_seq:  # one chain: each record follows the one before it
        assert r.prev_hash == prev and audit.record_hash(r, prev, registry.keys.audit) == r.hash
        prev = r.hash or ""
    assert registry.verify_audit() == []


def test_moving_records_in_the_chain_is_found(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    with engine.begin() as conn:  # swap two positions
        conn.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 1"))
        conn.execute(text("UPDATE audit_log SET seq = 1 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = -1"))
    problems = registry.verify_audit()
    assert problems and any("does not follow" in p.en for p in problems), problems


def test_a_forged_sealed_record_is_found(
    registry: Registry, officer: Actor, engine: Engine
) -> None:
    """Inserting a record with a chain position of its own breaks the head or the link."""
    registry.create_application(officer, "s1_1", NANHU, owner_case())
    n = registry.read(lambda s: s.execute(select(func.max(AuditRecord.seq))).scalar_one())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, seq, "
                "prev_hash, hash) VALUES (9999, :at, 'mallory', 'x', 'x', '1', :seq, 'a', 'b')"
            ),
            {"at": dt.datetime(2025, 3, 1, tzinfo=dt.UTC), "seq": n + 1},
        )
    problems = registry.verify_audit()
    assert 9999 in [p.record_id for p in problems], problems


def test_a_busy_sealer_is_not_waited_for_on_postgresql(
    registry: Registry, officer: Actor, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    holder = make_engine(db_url)
    with holder.connect() as conn, conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK})
        # the request commits its change and returns; its records wait for the next sealer
        registry.create_application(officer, "s1_1", NANHU, owner_case())
        assert any(r.seq is None for r in _rows(registry))
    holder.dispose()
    assert registry.seal_audit() > 0
    assert registry.verify_audit() == []


def test_a_chain_written_before_0002_stays_valid(db_url: str, clock: FixedClock) -> None:
    """Records chained by 0001 (ids given by the head, plain SHA-256) keep their hashes; new
    records follow them, sealed with the audit key (on PostgreSQL, the id sequence is moved
    past them). Until one does, the old records are reported as not yet vouched for."""
    command.downgrade(alembic_config(db_url), "0001")
    engine = make_engine(db_url)
    try:
        old = sa.table(
            "audit_log",
            *(sa.column(c) for c in ("id", "at", "actor", "action", "entity", "entity_id")),
            sa.column("before", sa.JSON),
            sa.column("after", sa.JSON),
            sa.column("prev_hash"),
            sa.column("hash"),
        )
        prev = audit.GENESIS
        rows: list[dict[str, Any]] = []
        for i in (1, 2, 3):
            rec = AuditRecord(
                id=i,
                at=dt.datetime(2025, 2, i, 9, tzinfo=dt.UTC),
                actor="admin",
                action="user.add",
                entity="user",
                entity_id=str(i),
                before=None,
                after={"username": f"u{i}"},
            )
            rec.hash = audit.legacy_hash(rec, prev)
            rows.append(
                {
                    c: getattr(rec, c)
                    for c in ("id", "at", "actor", "action", "entity", "entity_id", "before")
                }
                | {"after": rec.after, "prev_hash": prev, "hash": rec.hash}
            )
            prev = rec.hash
        with engine.begin() as conn:
            conn.execute(old.insert(), rows)
            conn.execute(
                text("INSERT INTO audit_head (id, last_id, last_hash, count) VALUES (1, 3, :h, 3)"),
                {"h": prev},
            )
        upgrade(db_url)
        registry = Registry(session_factory(engine), clock)
        # not taken on trust (anyone can compute a plain hash), but named: the operator
        # converts them once, with the key (``hukou audit rekey``)
        [pending] = registry.verify_audit()
        assert pending.record_id is None and "positions 1–3" in pending.en
        registry.add_user(SYSTEM, "officer_x", "correct horse battery", "officer", NANHU)
        assert [p.en for p in registry.verify_audit()] == [pending.en]
        result = CliRunner().invoke(app, ["audit", "rekey", "--url", db_url])
        assert result.exit_code == 0 and "re-sealed 4 record(s)" in result.output, result.output
        assert registry.verify_audit() == []
        recs = _rows(registry)
        # the four re-sealed, then the rekey's own record (an administrator's command)
        assert [(r.id, r.seq) for r in recs] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
        assert recs[-1].action == "audit.rekey" and recs[-1].after["resealed"] == 4
        key = registry.keys.audit
        assert all(audit.record_hash(r, r.prev_hash, key) == r.hash for r in recs)
        with registry.factory() as s, s.begin():
            assert audit.rekey(s, key) == 0  # nothing left to convert
    finally:
        engine.dispose()
        upgrade(db_url)


def test_a_failing_sealer_does_not_fail_the_committed_request(
    registry: Registry, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def broken(*_a: Any, **_k: Any) -> int:
        raise OperationalError("SELECT 1", {}, Exception("connection lost"))

    monkeypatch.setattr(audit, "seal", broken)
    app = registry.create_application(officer, "s1_1", NANHU, owner_case())  # no exception
    assert app.id and any(r.seq is None for r in _rows(registry))
    with pytest.raises(OperationalError):  # an explicit seal says it failed
        registry.seal_audit()
    monkeypatch.undo()
    assert registry.verify_audit() == []


def test_a_background_sealer_seals_without_the_request_waiting(
    engine: Engine, clock: FixedClock, officer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two registers on one database, as two worker processes: each request only pokes its
    sealer thread; the threads chain everything, one chain, without an explicit seal."""
    import time

    workers = [Registry(session_factory(engine), clock, background_seal=True) for _ in range(2)]
    inline: list[int] = []
    real = Registry.seal_audit

    def counted(self: Registry, wait: bool = True) -> int:
        if not wait:
            inline.append(1)  # a request sealing in its own time: must not happen
        return real(self, wait)

    monkeypatch.setattr(Registry, "seal_audit", counted)
    try:
        threads = [
            threading.Thread(
                target=lambda r=r, w=w: [
                    r.create_application(
                        officer, "s1_1", NANHU, owner_case(seq=w * 10 + i, with_spouse=False)
                    )
                    for i in range(5)
                ]
            )
            for w, r in enumerate(workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        deadline = time.monotonic() + 30
        while any(r.seq is None for r in _rows(workers[0])) and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = _rows(workers[0])
        assert len(rows) == 1 + 2 * 5 and all(r.seq is not None for r in rows)
        assert inline == []
    finally:
        for r in workers:
            r.close()
    assert workers[0].verify_audit() == []
