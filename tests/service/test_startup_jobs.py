"""A job a stopped process left ``running`` is marked interrupted when the service starts
(its lifespan: ``service.app.interrupt_stale_jobs``), before anyone reads it; a live
worker's job is left alone. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.models import AuditRecord, Job
from hukou.registry.service import JOB_INTERRUPTED, Registry, this_worker
from hukou.service.app import create_app

HOST = socket.gethostname()[:30]


def _dead_pid() -> int:
    """The id of a process of this host that has ended."""
    code = "import os; print(os.getpid())"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(done.stdout)


def _running(registry: Registry, engine: Engine, analyst: Actor, **values: object) -> str:
    job_id = registry.create_job(analyst, "reform", {})
    registry.job_progress(job_id, 30, "evaluating", state="running")
    if values:
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(**values))
    return job_id


def _states(registry: Registry) -> dict[str, str]:
    """Every job's state, read straight from the table (``Registry.job`` would mark it)."""
    return {
        i: state for i, state in registry.read(lambda s: s.execute(select(Job.id, Job.state)).all())
    }


def _interrupted_audits(registry: Registry) -> list[str]:
    return list(
        registry.read(
            lambda s: list(
                s.execute(
                    select(AuditRecord.entity_id).where(AuditRecord.action == "job.interrupted")
                ).scalars()
            )
        )
    )


def test_a_dead_workers_job_is_interrupted_when_the_service_starts(
    registry: Registry, engine: Engine
) -> None:
    uid = registry.add_user(SYSTEM, "analyst", "correct horse battery", "analyst")
    analyst = Actor(uid, "analyst", "analyst", None)
    # a process of this host that has ended, its heartbeat still fresh
    dead = _running(registry, engine, analyst, worker=f"{HOST}:{_dead_pid()}:0badc0de")
    # another host's worker, silent for two minutes
    silent = _running(
        registry,
        engine,
        analyst,
        worker="elsewhere:1:abcd",
        heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2),
    )
    live = _running(registry, engine, analyst)  # this process's own, beating
    # another live process of this host (the parent: a second worker of the service)
    sibling = _running(registry, engine, analyst, worker=f"{HOST}:{os.getppid()}:feedf00d")
    queued = registry.create_job(analyst, "reform", {})  # queued by this process
    app = create_app(registry)
    assert _states(registry)[dead] == "running"  # building the app does not start it
    with TestClient(app):  # the lifespan runs: the service has started
        states = _states(registry)
        assert states[dead] == states[silent] == "interrupted"
        assert states[live] == states[sibling] == "running"
        assert states[queued] == "queued"
    assert sorted(_interrupted_audits(registry)) == sorted([dead, silent])
    error = registry.read(lambda s: s.execute(select(Job.error).where(Job.id == dead)).scalar())
    assert error == {"zh": JOB_INTERRUPTED[0], "en": JOB_INTERRUPTED[1]}
    assert registry.job(analyst, live).worker == this_worker()
    # a second worker starting (or a restart of this one) changes nothing more
    with TestClient(create_app(registry)):
        assert _states(registry) == states
    assert len(_interrupted_audits(registry)) == 2
    assert registry.verify_audit() == []
