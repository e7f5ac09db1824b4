"""The service's PostgreSQL role (服务账号): what it may do, and what no role may do.

The service should not connect as the owner of the tables. Its role (``hukou db
grant-service-role ROLE``, run by the owner; again after every ``hukou db upgrade``)
may read and write the business tables, but of the audit trail only:

* ``audit_log``: SELECT, INSERT of a record's content and tag only (a transaction's
  records, unsealed: not its id, which the sequence gives, nor a chain position — a row
  inserted with the next ``seq`` would jam every later seal on the unique index) and
  UPDATE of the chain columns ``seq``, ``prev_hash``, ``hash`` (the sealer) — no DELETE,
  no UPDATE of a record's content or tag, no TRUNCATE;
* ``audit_head``: SELECT, INSERT, UPDATE;
* the id sequences: USAGE (``nextval``), SELECT.

The same call installs triggers that hold for every role, the owner's too: no audit
record is inserted already sealed (with a ``seq``, ``prev_hash`` or ``hash``), a sealed
one is never updated or deleted, an unsealed one written by the service
(it has a tag) is never deleted, an unsealed one's content and tag never change, and
the chain's head is never deleted or moved back. TRUNCATE does not fire them. The owner
can drop the triggers (``UNGUARD``): they stop accidents and the service's role, not the
owner — against the owner stand the audit key and the checkpoints (``registry.audit``).

PostgreSQL only; SQLite has neither roles nor grants.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

from hukou.registry.errors import RegistryError
from hukou.registry.models import AuditHead, AuditRecord, Base

AUDIT_TABLES = (AuditRecord.__tablename__, AuditHead.__tablename__)
SEALER_COLUMNS = ("seq", "prev_hash", "hash")
_CONTENT_COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "tag")
# what the service's role may give an audit record it inserts: no id (the sequence's), no
# chain column (the sealer's, by UPDATE)
WRITER_COLUMNS = tuple(c for c in _CONTENT_COLUMNS if c != "id")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class BadRole(RegistryError):
    """A role name that is not a plain PostgreSQL identifier."""


def _quoted(name: str, field: str = "role") -> str:
    reserved = ("public", "none", "current_user", "session_user", "current_role")
    if not _NAME.fullmatch(name) or (field == "role" and name.lower() in reserved):
        raise BadRole(
            f"名称 {name!r} 不可用：字母或下划线开头，仅含字母、数字、下划线，至多 63 个字符",
            f"the name {name!r} cannot be used: a letter or underscore, then letters, "
            "digits and underscores, at most 63 characters",
            field,
        )
    return '"' + name + '"'


def business_tables() -> list[str]:
    """The register's tables other than the audit trail's, in dependency order."""
    return [t.name for t in Base.metadata.sorted_tables if t.name not in AUDIT_TABLES]


def grant_statements(role: str, schema: str = "public") -> list[str]:
    """The GRANTs (after REVOKEs, so that running them again gives exactly this) for the
    service's role ``role``."""
    who, schema = _quoted(role), _quoted(schema, "schema")
    log, head = AUDIT_TABLES
    everything = ", ".join([*business_tables(), *AUDIT_TABLES])
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
        f"REVOKE ALL ON {everything} FROM {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(business_tables())} TO {who}",
        f"GRANT SELECT ON {log} TO {who}",
        f"GRANT INSERT ({', '.join(WRITER_COLUMNS)}) ON {log} TO {who}",
        f"GRANT UPDATE ({', '.join(SEALER_COLUMNS)}) ON {log} TO {who}",
        f"GRANT SELECT, INSERT, UPDATE ON {head} TO {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
    ]


def _changed(columns: tuple[str, ...]) -> str:
    # json has no equality operator: compare the text
    return " OR ".join(
        f"NEW.{c}::text IS DISTINCT FROM OLD.{c}::text"
        if c in ("before", "after")
        else f"NEW.{c} IS DISTINCT FROM OLD.{c}"
        for c in columns
    )


GUARD = [
    f"""
CREATE OR REPLACE FUNCTION hukou_audit_log_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
            RAISE EXCEPTION '审计记录不可以已封存的形式插入 / an audit record cannot be inserted sealed'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.seq IS NOT NULL OR OLD.tag IS NOT NULL THEN
            RAISE EXCEPTION '审计记录 % 不可删除 / audit record % cannot be deleted', OLD.id, OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.seq IS NOT NULL THEN
        RAISE EXCEPTION '已封存的审计记录 % 不可更改 / sealed audit record % cannot be changed',
            OLD.id, OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF {_changed(_CONTENT_COLUMNS)} THEN
        RAISE EXCEPTION '审计记录 % 的内容不可更改 / the content of audit record % cannot be changed',
            OLD.id, OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$""",
    """
CREATE OR REPLACE FUNCTION hukou_audit_head_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id
            OR NEW.last_id < OLD.last_id OR NEW.count < OLD.count THEN
        RAISE EXCEPTION '审计链末端不可删除或回退 / the audit head cannot be removed or moved back'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$""",
    "DROP TRIGGER IF EXISTS audit_log_guard ON audit_log",
    "CREATE TRIGGER audit_log_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION hukou_audit_log_guard()",
    "DROP TRIGGER IF EXISTS audit_head_guard ON audit_head",
    "CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION hukou_audit_head_guard()",
]

UNGUARD = [
    "DROP TRIGGER IF EXISTS audit_log_guard ON audit_log",
    "DROP TRIGGER IF EXISTS audit_head_guard ON audit_head",
    "DROP FUNCTION IF EXISTS hukou_audit_log_guard()",
    "DROP FUNCTION IF EXISTS hukou_audit_head_guard()",
]


def service_role_statements(role: str, schema: str = "public") -> list[str]:
    """Everything ``grant_service_role`` runs: the triggers, then the grants."""
    return [*GUARD, *grant_statements(role, schema)]


def grant_service_role(conn: Connection, role: str, schema: str = "public") -> list[str]:
    """Run ``service_role_statements`` on ``conn`` (as the tables' owner, in the caller's
    transaction); returns them. PostgreSQL only."""
    if conn.dialect.name != "postgresql":
        raise RegistryError(
            "服务账号权限仅适用于 PostgreSQL（SQLite 没有角色）",
            "a service role is PostgreSQL's (SQLite has no roles)",
            "url",
        )
    statements = service_role_statements(role, schema)
    for sql in statements:
        conn.execute(text(sql))
    return statements
