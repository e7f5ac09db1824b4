"""Issue 12, item 4: a database administrator tampering with the audit trail.

The attacker can run any SQL but cannot read the audit key (a file outside the
database). Each attack below went unnoticed on the old main — a chain hashed without
a key, a ``verify`` that sealed whatever it found, no checkpoint — and is named now.
On SQLite and on PostgreSQL; the service's role and the triggers on PostgreSQL only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, delete, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hukou.cli import app
from hukou.registry import audit, roles
from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import make_engine, session_factory
from hukou.registry.models import AuditHead, AuditRecord
from hukou.registry.service import Registry

from .conftest import NANHU

runner = CliRunner()


# ---- the attacker's tools ----------------------------------------------------------


def _events(registry: Registry, n: int, start: int = 0) -> None:
    """``n`` audited events, each a transaction of its own (sealed after its commit)."""
    for i in range(start, start + n):
        registry.audit_event("clerk", "case.view", "application", i, {"i": i})


def _plain_hash(rec: AuditRecord, prev: str | None) -> str:
    """The old chain's hash: SHA-256 over the content and the previous hash, no key —
    anyone who can read the table can compute it."""
    at = rec.at if rec.at.tzinfo else rec.at.replace(tzinfo=dt.UTC)
    body = [
        rec.id,
        at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        rec.actor,
        rec.action,
        rec.entity,
        rec.entity_id,
        rec.before,
        rec.after,
        prev,
    ]
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _sealed(s: Session) -> list[AuditRecord]:
    return list(
        s.execute(
            select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
        ).scalars()
    )


def _rechain(engine: Engine, hasher: Any, strip_tags: bool = False) -> None:
    """Recompute every link and the head, as the old sealer did, with ``hasher``."""
    with Session(engine) as s, s.begin():
        prev = audit.GENESIS
        records = _sealed(s)
        for rec in records:
            if strip_tags:
                rec.tag = None
            rec.prev_hash = prev
            rec.hash = prev = hasher(rec, prev)
        head = s.get(AuditHead, 1)
        assert head is not None
        head.last_id, head.count, head.last_hash = records[-1].seq or 0, len(records), prev


def _dump(engine: Engine) -> list[Any]:
    """The audit tables exactly as stored: PostgreSQL's row text and row version
    (``xmin`` moves even when a row is rewritten with the same values); SQLite's raw
    column values, unconverted."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return [
                *conn.exec_driver_sql(
                    "SELECT xmin::text, a::text FROM audit_log a ORDER BY id"
                ).all(),
                *conn.exec_driver_sql(
                    "SELECT xmin::text, h::text FROM audit_head h ORDER BY id"
                ).all(),
            ]
        return [
            *conn.exec_driver_sql("SELECT * FROM audit_log ORDER BY id").all(),
            *conn.exec_driver_sql("SELECT * FROM audit_head ORDER BY id").all(),
        ]


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _problems(registry: Registry, **kw: Any) -> list[audit.Problem]:
    return registry.verify_audit(**kw)


def _take_checkpoint(tmp_path: Path, db_url: str, name: str = "cp.json") -> Path:
    out = tmp_path / name
    result = _cli("audit", "checkpoint", "--out", str(out), "--url", db_url)
    assert result.exit_code == 0, result.output
    return out


FOREIGN_ROW = (
    "INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after, tag) "
    "VALUES (:at, 'mallory', 'application.approve', 'application', '7', NULL, "
    ":after, :tag)"
)


# ---- D2: the newest record deleted, the head fixed by hand ---------------------------


def test_d2_deleting_the_newest_record_and_fixing_the_head_is_found(
    registry: Registry, engine: Engine, db_url: str
) -> None:
    _events(registry, 5)
    assert _cli("audit", "verify", "--url", db_url).exit_code == 0
    with engine.begin() as conn:
        n = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        conn.execute(text("DELETE FROM audit_log WHERE seq = :n"), {"n": n})
        conn.execute(
            text(
                "UPDATE audit_head SET last_id = :p, count = count - 1, "
                "last_hash = (SELECT hash FROM audit_log WHERE seq = :p)"
            ),
            {"p": n - 1},
        )
    result = _cli("audit", "verify", "--url", db_url)
    assert result.exit_code == 1, result.output
    assert "chain's end does not match" in result.output and "末端" in result.output


def test_d2_with_a_head_saved_beforehand_is_found_by_a_checkpoint(
    registry: Registry, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """The head's MAC stops a head made up by hand, not one saved earlier and put back:
    that is the database as it was, which only something kept outside can tell."""
    _events(registry, 3)
    with engine.connect() as conn:
        saved = conn.execute(text("SELECT last_id, last_hash, count FROM audit_head")).one()
    _events(registry, 2, start=3)  # the records the attacker wants gone
    cp = _take_checkpoint(tmp_path, db_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :p"), {"p": saved.last_id})
        conn.execute(
            text("UPDATE audit_head SET last_id = :i, last_hash = :h, count = :c"),
            {"i": saved.last_id, "h": saved.last_hash, "c": saved[2]},
        )
    assert _problems(registry) == []  # indistinguishable from the earlier state …
    result = _cli("audit", "verify", "--checkpoint", str(cp), "--url", db_url)
    assert result.exit_code == 1, result.output  # … but not from the checkpoint
    assert "truncated" in result.output and "older backup" in result.output
    assert "截短" in result.output and "备份" in result.output


# ---- D3: a row inserted unsealed, for the sealer to absorb ----------------------------


def test_d3_a_row_inserted_by_sql_is_never_sealed_and_is_named(
    registry: Registry, engine: Engine, db_url: str
) -> None:
    _events(registry, 3)
    with engine.begin() as conn:
        for tag in (None, secrets.token_hex(32)):  # no tag, a made-up tag
            conn.execute(
                text(FOREIGN_ROW),
                {"at": registry.clock.now(), "after": '{"state": "approved"}', "tag": tag},
            )
    before = _dump(engine)
    result = _cli("audit", "verify", "--url", db_url)
    assert result.exit_code == 1, result.output
    assert result.output.count("not written by the service") == 2
    assert "不是本系统写入的" in result.output
    assert _dump(engine) == before  # verify did not seal them (nor anything else)
    assert registry.seal_audit() == 0
    _events(registry, 1, start=3)  # the service goes on: its own record is sealed …
    rows = registry.read(
        lambda s: list(s.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars())
    )
    assert [r.actor for r in rows if r.seq is None] == ["mallory", "mallory"]  # … not those
    assert [p.record_id for p in _problems(registry)] == [r.id for r in rows if r.seq is None]


def test_d3_a_copy_of_a_genuine_row_is_refused(registry: Registry, engine: Engine) -> None:
    _events(registry, 2)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after, "
                "tag) SELECT at, actor, action, entity, entity_id, before, after, tag "
                "FROM audit_log WHERE seq = 2"
            )
        )


def test_d3_an_unsealed_record_altered_before_sealing_stays_out_of_the_chain(
    registry: Registry, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:  # (``undo`` would drop the test's key file too)
        m.setattr(Registry, "seal_audit", lambda self, wait=True: 0)
        _events(registry, 2)
    with engine.begin() as conn:
        conn.execute(text("""UPDATE audit_log SET after = '{"i": 99}' WHERE id = 2"""))
    assert registry.seal_audit() == 1  # record 1 only
    [problem] = _problems(registry)
    assert problem.record_id == 2 and "not written by the service" in problem.en


# ---- D5: a record changed and the chain after it recomputed ---------------------------


def _change_record(engine: Engine, seq: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("""UPDATE audit_log SET after = '{"i": "forged"}' WHERE seq = :s"""), {"s": seq}
        )


def test_d5_rechaining_after_a_changed_record_without_the_key_is_found(
    registry: Registry, engine: Engine, db_url: str
) -> None:
    _events(registry, 105)
    _change_record(engine, 100)
    _rechain(engine, _plain_hash)  # what verified on the old main
    result = _cli("audit", "verify", "--url", db_url)
    assert result.exit_code == 1, result.output
    problems = _problems(registry)
    altered = [p.record_id for p in problems if " was altered" in p.en]
    assert altered == list(range(1, 106))  # every record re-hashed without the key
    assert any("chain's end does not match" in p.en for p in problems)  # and the head


def test_d5_rechaining_with_a_guessed_key_is_found(registry: Registry, engine: Engine) -> None:
    _events(registry, 5)
    _change_record(engine, 3)
    guess = secrets.token_bytes(32)
    _rechain(engine, lambda rec, prev: audit.record_hash(rec, prev, guess))
    problems = _problems(registry)
    assert [p.record_id for p in problems if " was altered" in p.en] == [1, 2, 3, 4, 5]
    assert any("chain's end" in p.en for p in problems)


def test_d5_passing_the_chain_off_as_one_sealed_before_the_key_is_found(
    registry: Registry, engine: Engine
) -> None:
    """A chain from before the audit key (plain SHA-256, no tags) is not taken on trust,
    nor vouched for by the records the service seals after it: rewriting everything as
    such a chain is named, and stays named."""
    _events(registry, 4)
    _change_record(engine, 2)
    _rechain(engine, _plain_hash, strip_tags=True)
    [problem] = _problems(registry)
    assert "from before the audit key" in problem.en and "rekey" in problem.en
    _events(registry, 1, start=4)  # the service seals a record after them
    assert [p.en for p in _problems(registry)] == [problem.en]


# ---- D6: a keyed chain cut short, its new end passed off as an old-style record -------


def _cut_and_pass_off(engine: Engine, k: int) -> int:
    """Delete every record after position ``k``, alter record ``k``, strip its tag, give it
    the plain hash and point the head at it — all without the key. Returns its id."""
    with Session(engine) as s, s.begin():
        s.execute(delete(AuditRecord).where(AuditRecord.seq > k))
        rec = s.execute(select(AuditRecord).where(AuditRecord.seq == k)).scalar_one()
        rec.after = {"i": "forged"}
        rec.tag = None
        rec.hash = _plain_hash(rec, rec.prev_hash)
        head = s.get(AuditHead, 1)
        assert head is not None
        head.last_id, head.count, head.last_hash = k, k, rec.hash
        return rec.id


def test_d6_an_old_style_record_after_keyed_ones_is_named_as_tampering(
    registry: Registry, engine: Engine, db_url: str
) -> None:
    """Old-style records only ever begin a chain (they were sealed before the key, and
    everything after them with it): one after a keyed record was rewritten without the
    key. Neither it nor a head pointing at its plain hash is taken for an upgrade left
    half-done — and ``rekey`` refuses to vouch for it."""
    _events(registry, 6)
    forged = _cut_and_pass_off(engine, 4)
    problems = _problems(registry)
    tampered = [p for p in problems if "tampering" in p.en]
    assert [p.record_id for p in tampered] == [forged], problems
    assert "after records sealed with the key" in tampered[0].en and "篡改" in tampered[0].zh
    assert any("chain's end does not match" in p.en for p in problems)
    assert not any("rekey" in p.en for p in problems)  # not offered as an upgrade to convert

    before = _dump(engine)
    result = _cli("audit", "rekey", "--url", db_url)
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "拒绝" in result.output
    assert "after records sealed with the key" in result.output
    assert _dump(engine) == before  # nothing re-sealed
    assert _problems(registry) == problems


def test_d6_a_head_at_a_keyed_record_is_not_taken_for_an_old_style_head(
    registry: Registry, engine: Engine, db_url: str
) -> None:
    """A register upgraded and not converted yet: an old-style chain, keyed records after
    it. Deleting the newest records and pointing the head at the new last record's hash
    (a plain copy, not the head's MAC) is a truncation, not an old head."""
    _events(registry, 3)
    _rechain(engine, _plain_hash, strip_tags=True)  # the chain as sealed before the key
    _events(registry, 3, start=3)  # sealed with the key since the upgrade
    [pending] = _problems(registry)
    assert "rekey" in pending.en and "positions 1–3" in pending.en
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 6"))
        conn.execute(
            text(
                "UPDATE audit_head SET last_id = 5, count = 5, "
                "last_hash = (SELECT hash FROM audit_log WHERE seq = 5)"
            )
        )
    problems = _problems(registry)
    assert any("chain's end does not match" in p.en for p in problems), problems
    before = _dump(engine)
    result = _cli("audit", "rekey", "--url", db_url)
    assert result.exit_code == 2 and "chain's end does not match" in result.output, result.output
    assert _dump(engine) == before


def test_d6_rekey_converts_a_clean_old_style_prefix_only(
    registry: Registry, engine: Engine, db_url: str
) -> None:
    """The layout ``rekey`` is for — old-style records from position 1, keyed ones after
    them, the head matching — is converted, and verifies afterwards."""
    _events(registry, 3)
    _rechain(engine, _plain_hash, strip_tags=True)
    _events(registry, 2, start=3)
    result = _cli("audit", "rekey", "--url", db_url)
    assert result.exit_code == 0 and "re-sealed 5 record(s)" in result.output, result.output
    assert _problems(registry) == []


# ---- D7: the whole audit trail wiped ------------------------------------------------


def test_d7_a_wiped_audit_trail_is_found(
    registry: Registry, engine: Engine, db_url: str, officer: Actor
) -> None:
    from ..registry.helpers import owner_case

    registry.create_application(officer, "s1_1", NANHU, owner_case())
    assert _problems(registry) == []
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("DELETE FROM audit_head"))
    [problem] = _problems(registry)
    assert "the audit trail is empty though the register holds data" in problem.en
    assert "审计链为空" in problem.zh and problem.record_id is None
    result = _cli("audit", "verify", "--url", db_url)
    assert result.exit_code == 1 and "empty though the register holds data" in result.output


_ONE_ROW = {
    "users": "INSERT INTO users (username, password_hash, role, failed_logins, created_at) "
    "VALUES ('u', 'x', 'admin', 0, :at)",
    "persons": "INSERT INTO persons (id_number, name, sex, birth_date, created_at) "
    "VALUES ('330402198001010011', 'x', 'male', '1980-01-01', :at)",
    "applications": "INSERT INTO applications (reference, kind, state, county, "
    "applicant_id_number, applicant_name, facts, created_at, updated_at, version) "
    "VALUES ('r', 's1_1', 'draft', '330402', '330402198001010011', 'x', '{}', :at, :at, 1)",
}


@pytest.mark.parametrize("table", sorted(_ONE_ROW))
def test_d7_a_row_in_any_audited_table_makes_an_empty_trail_a_problem(
    registry: Registry, engine: Engine, clock: FixedClock, table: str
) -> None:
    """Every row of these tables was created through the service, which audits it: such
    a row with no audit trail at all means the trail was deleted."""
    with engine.begin() as conn:
        conn.execute(text(_ONE_ROW[table]), {"at": clock.now()})
    [problem] = _problems(registry)
    assert problem.en == "the audit trail is empty though the register holds data"
    assert problem.zh == "审计链为空，但登记簿中已有数据"


def test_d7_an_empty_register_with_an_empty_trail_verifies(registry: Registry) -> None:
    assert _problems(registry) == []
    registry.add_user(SYSTEM, "officer_x", "correct horse battery", "officer", NANHU)
    assert _problems(registry) == []


# ---- an older backup restored, a chain re-sealed: the checkpoint --------------------


def _audit_rows(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    log, head = AuditRecord.__table__, AuditHead.__table__
    with engine.connect() as conn:
        return (
            [dict(r._mapping) for r in conn.execute(sa.select(log).order_by(log.c.id))],
            [dict(r._mapping) for r in conn.execute(sa.select(head))],
        )


def _restore(engine: Engine, rows: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    log, head = AuditRecord.__table__, AuditHead.__table__
    with engine.begin() as conn:
        conn.execute(sa.delete(log))
        conn.execute(sa.delete(head))
        conn.execute(sa.insert(log), rows[0])
        conn.execute(sa.insert(head), rows[1])


def test_an_older_backup_restored_over_a_newer_database_is_found(
    registry: Registry, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    _events(registry, 4)
    backup = _audit_rows(engine)  # last week's backup
    _events(registry, 3, start=4)
    cp = _take_checkpoint(tmp_path, db_url)
    ok = _cli("audit", "verify", "--checkpoint", str(cp), "--url", db_url)
    assert ok.exit_code == 0 and "matches the checkpoint" in ok.output, ok.output
    _events(registry, 2, start=7)  # the chain moving on past the checkpoint is fine
    assert _cli("audit", "verify", "--checkpoint", str(cp), "--url", db_url).exit_code == 0

    _restore(engine, backup)
    assert _problems(registry) == []  # a genuine, older chain: nothing inside it tells
    result = _cli("audit", "verify", "--checkpoint", str(cp), "--url", db_url)
    assert result.exit_code == 1, result.output
    assert "truncated" in result.output and "older backup was restored" in result.output
    assert "截短" in result.output and "较旧的备份" in result.output


def test_a_chain_unsealed_and_resealed_without_a_record_is_found_by_the_checkpoint(
    registry: Registry, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """Unseal everything, delete a record, let the service seal again: every tag still
    fits, so the new chain verifies — but it is another chain than the checkpoint's."""
    _events(registry, 6)
    cp = json.loads(_take_checkpoint(tmp_path, db_url).read_text())
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = NULL, prev_hash = NULL, hash = NULL"))
        conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
        conn.execute(text("DELETE FROM audit_head"))
    _events(registry, 3, start=6)  # the service seals (and moves past the checkpoint)
    assert _problems(registry) == []
    [problem] = _problems(registry, checkpoint=cp)
    assert "rewritten" in problem.en and "改写" in problem.zh


def test_checkpoints_are_written_privately_and_never_over_a_file(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    _events(registry, 2)
    shown = _cli("audit", "checkpoint", "--url", db_url)
    assert shown.exit_code == 0, shown.output
    cp = json.loads(shown.output)
    assert set(cp) == {"position", "count", "mac", "taken_at"}
    assert cp["position"] == 2 and cp["count"] == 2 and len(cp["mac"]) == 64

    path = _take_checkpoint(tmp_path, db_url)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_bytes()
    _events(registry, 1, start=2)
    again = _cli("audit", "checkpoint", "--out", str(path), "--url", db_url)
    assert again.exit_code == 2 and "--force" in again.output
    assert path.read_bytes() == first
    forced = _cli("audit", "checkpoint", "--out", str(path), "--force", "--url", db_url)
    assert forced.exit_code == 0, forced.output
    assert json.loads(path.read_text())["position"] == 3
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    bad = tmp_path / "bad.json"
    bad.write_text('{"position": "x"}')
    refused = _cli("audit", "verify", "--checkpoint", str(bad), "--url", db_url)
    assert refused.exit_code == 2 and "not a checkpoint" in refused.output


def test_no_checkpoint_is_taken_of_a_chain_that_does_not_verify(
    registry: Registry, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    _events(registry, 3)
    _change_record(engine, 2)
    result = _cli("audit", "checkpoint", "--out", str(tmp_path / "cp.json"), "--url", db_url)
    assert result.exit_code == 1 and "no checkpoint taken" in result.output
    assert not (tmp_path / "cp.json").exists()


# ---- verify reads, and only reads ----------------------------------------------------


def test_verify_changes_nothing(
    registry: Registry,
    engine: Engine,
    db_url: str,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``verify`` (and ``checkpoint``) read one snapshot and write nothing: not even the
    records the service wrote and did not seal, which the old ``verify`` sealed first."""
    _events(registry, 3)
    with monkeypatch.context() as m:  # (``undo`` would drop the test's key file too)
        m.setattr(Registry, "seal_audit", lambda self, wait=True: 0)
        _events(registry, 2, start=3)  # written, not sealed (a sealer that did not run)
    with engine.begin() as conn:
        conn.execute(text(FOREIGN_ROW), {"at": clock.now(), "after": None, "tag": None})
    clock.advance(1)
    before = _dump(engine)
    problems = _problems(registry)
    assert len(problems) == 3  # one foreign row, two records unsealed too long
    result = _cli("audit", "verify", "--url", db_url)
    assert result.exit_code == 1, result.output
    assert _dump(engine) == before

    cp = _take_checkpoint(tmp_path, db_url)  # of the sealed chain, as it stands
    assert json.loads(cp.read_text())["position"] == 3
    assert _problems(registry, checkpoint=json.loads(cp.read_text())) == problems
    assert _cli("audit", "verify", "--checkpoint", str(cp), "--url", db_url).exit_code == 1
    assert _dump(engine) == before

    # the connections verify used are writable again for the service
    assert registry.seal_audit() == 2
    _events(registry, 1, start=5)
    assert [p.en for p in _problems(registry)] == [problems[0].en]


def test_verify_reads_in_a_transaction_that_cannot_write(
    registry: Registry, engine: Engine
) -> None:
    _events(registry, 2)
    with pytest.raises(DBAPIError), audit.reading(engine) as s:
        s.execute(text("UPDATE audit_log SET seq = NULL"))
    with pytest.raises(DBAPIError), audit.reading(engine) as s:
        s.execute(text("DELETE FROM audit_head"))
    assert _problems(registry) == []
    _events(registry, 1, start=2)  # and the connection it used writes again afterwards
    assert _problems(registry) == []


# ---- PostgreSQL: the service's role, and triggers for every role ---------------------


@pytest.fixture
def service_role(db_url: str, engine: Engine) -> Iterator[str]:
    if not db_url.startswith("postgresql"):
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"hukou_service_{secrets.token_hex(4)}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
    try:
        yield role
    finally:
        with engine.begin() as conn:
            for sql in roles.UNGUARD:
                conn.execute(text(sql))
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def _as_role(db_url: str, role: str) -> Engine:
    """An engine whose every connection has ``SET ROLE`` to ``role``."""
    svc = make_engine(db_url)

    @event.listens_for(svc, "connect")
    def _set_role(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f'SET ROLE "{role}"')
        dbapi_conn.commit()

    return svc


def _refused(engine: Engine, sql: str) -> str:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(sql))
    return str(caught.value.orig)


def test_the_service_role_can_write_and_seal_but_not_delete_or_rewrite(
    registry: Registry,
    engine: Engine,
    db_url: str,
    officer: Actor,
    service_role: str,
) -> None:
    from ..registry.helpers import owner_case

    shown = _cli("db", "grant-service-role", service_role, "--print", "--url", db_url)
    assert shown.exit_code == 0 and "GRANT UPDATE (seq, prev_hash, hash)" in shown.output
    granted = _cli("db", "grant-service-role", service_role, "--url", db_url)
    assert granted.exit_code == 0, granted.output
    assert _cli("db", "grant-service-role", "x; DROP TABLE users", "--url", db_url).exit_code == 2

    svc = _as_role(db_url, service_role)
    try:
        with svc.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == service_role
        service = Registry(session_factory(svc), registry.clock)
        app = service.create_application(officer, "s1_1", NANHU, owner_case())
        service.act(officer, app.id, "submit")
        rows = registry.read(lambda s: _sealed(s))
        assert rows and all(r.tag for r in rows)  # written and sealed by the role
        assert service.verify_audit() == []

        # the role: no DELETE, no content UPDATE, no TRUNCATE of the audit trail
        assert "permission denied" in _refused(svc, "DELETE FROM audit_log WHERE seq = 1")
        assert "permission denied" in _refused(svc, "UPDATE audit_log SET actor = 'x'")
        assert "permission denied" in _refused(svc, "UPDATE audit_log SET tag = NULL")
        assert "permission denied" in _refused(svc, "TRUNCATE audit_log")
        # the chain columns it may set, but not on a sealed record
        assert "cannot be changed" in _refused(svc, "UPDATE audit_log SET hash = 'x'")
        assert "moved back" in _refused(svc, "UPDATE audit_head SET last_id = last_id - 1")
        assert "permission denied" in _refused(svc, "DELETE FROM audit_head")
        # the business tables are its own
        with svc.begin() as conn:
            conn.execute(text("DELETE FROM login_throttle"))
    finally:
        svc.dispose()

    # the triggers hold for the owner too (who could drop them: hence the key)
    assert "cannot be deleted" in _refused(engine, "DELETE FROM audit_log WHERE seq = 1")
    assert "cannot be changed" in _refused(engine, "UPDATE audit_log SET actor = 'x'")
    with engine.connect() as conn, conn.begin():  # TRUNCATE is not affected
        conn.execute(text("TRUNCATE audit_log, audit_head"))
        conn.rollback()
    assert registry.verify_audit() == []


def test_the_service_role_cannot_insert_a_chain_position_to_jam_the_sealer(
    registry: Registry,
    engine: Engine,
    db_url: str,
    officer: Actor,
    service_role: str,
) -> None:
    """A row inserted with the next chain position would take it on the unique index, and
    every later seal would fail there — a row the triggers then keep the role from
    deleting. The role inserts the content and the tag only; the sealer gives the rest."""
    from ..registry.helpers import owner_case

    assert _cli("db", "grant-service-role", service_role, "--url", db_url).exit_code == 0
    svc = _as_role(db_url, service_role)
    try:
        service = Registry(session_factory(svc), registry.clock)
        app = service.create_application(officer, "s1_1", NANHU, owner_case())
        with engine.connect() as conn:
            n = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        for columns, values in [
            ("seq", str(n + 1)),
            ("prev_hash", "'x'"),
            ("hash", "'x'"),
            ("seq, prev_hash, hash", f"{n + 1}, 'x', 'x'"),
        ]:
            refused = _refused(
                svc,
                "INSERT INTO audit_log (at, actor, action, entity, entity_id, "
                f"{columns}) VALUES (now(), 'mallory', 'x', 'x', '1', {values})",
            )
            assert "permission denied" in refused, refused
        # the service's own records are still written, and sealed
        service.act(officer, app.id, "submit")
        rows = registry.read(lambda s: list(s.execute(select(AuditRecord)).scalars()))
        assert rows and all(r.seq is not None and r.tag for r in rows)
        assert service.verify_audit() == []
    finally:
        svc.dispose()
    # and no role, the owner included, inserts a record already sealed
    for columns, values in [("seq", str(n + 5)), ("prev_hash, hash", "'x', 'x'")]:
        refused = _refused(
            engine,
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, "
            f"{columns}) VALUES (now(), 'mallory', 'x', 'x', '1', {values})",
        )
        assert "cannot be inserted sealed" in refused, refused
    assert registry.verify_audit() == []


def test_grant_service_role_is_refused_on_sqlite(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's answer")
    result = _cli("db", "grant-service-role", "hukou_service", "--url", db_url)
    assert result.exit_code == 2 and "PostgreSQL" in result.output
