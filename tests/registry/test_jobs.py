"""Background jobs in the register (the analyst's reform run), on SQLite and PostgreSQL:
progress, a result that survives a restart, a dead worker's job shown as interrupted."""

from __future__ import annotations

import datetime as dt
import os
import socket

import pytest
from sqlalchemy import Engine, select, update

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.clock import FixedClock
from hukou.registry.db import session_factory
from hukou.registry.errors import Conflict, Forbidden, NotFound, RegistryError
from hukou.registry.models import AuditRecord, Job
from hukou.registry.service import JOB_INTERRUPTED, Registry, this_worker


@pytest.fixture
def analyst(registry: Registry) -> Actor:
    uid = registry.add_user(SYSTEM, "analyst", "correct horse battery", "analyst")
    return Actor(uid, "analyst", "analyst", None)


def _actions(registry: Registry, job_id: str) -> list[str]:
    return registry.read(
        lambda s: list(
            s.execute(
                select(AuditRecord.action)
                .where(AuditRecord.entity == "job", AuditRecord.entity_id == job_id)
                .order_by(AuditRecord.id)
            ).scalars()
        )
    )


def _set(engine: Engine, job_id: str, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(**values))


def test_a_job_runs_reports_progress_and_its_result_survives_a_restart(
    registry: Registry, analyst: Actor, engine: Engine, clock: FixedClock
) -> None:
    job_id = registry.create_job(analyst, "reform", {"reform": {"name": "x"}, "k": 5})
    assert len(job_id) == 16
    job = registry.job(analyst, job_id)
    assert (job.state, job.progress, job.stage) == ("queued", 0, "queued")
    registry.job_progress(job_id, 5, "loading", state="running")
    registry.job_progress(job_id, 40, "evaluating")
    registry.job_progress(job_id, 30, "evaluating")  # never goes back
    job = registry.job(analyst, job_id)
    assert (job.state, job.progress, job.stage) == ("running", 40, "evaluating")
    assert job.started_at is not None
    registry.finish_job(job_id, result={"tables": {"a": 1}})
    # a restart: a new process opens the register
    again = Registry(session_factory(engine), clock)
    done = again.job(analyst, job_id)
    assert (done.state, done.progress, done.result) == ("done", 100, {"tables": {"a": 1}})
    assert _actions(registry, job_id) == [
        "job.create",
        "job.progress",
        "job.progress",
        "job.done",
    ]
    assert registry.verify_audit() == []


def test_a_failure_is_kept_with_its_reason(registry: Registry, analyst: Actor) -> None:
    job_id = registry.create_job(analyst, "reform", {})
    registry.job_progress(job_id, 5, "loading", state="running")
    registry.finish_job(job_id, error=("失败", "failed"))
    job = registry.job(analyst, job_id)
    assert job.state == "failed" and job.error == {"zh": "失败", "en": "failed"}
    with pytest.raises(Conflict) as err:  # finished: nobody reports on it any more
        registry.job_progress(job_id, 50, "evaluating")
    assert err.value.field == "job_id"


@pytest.mark.parametrize(
    "worker",
    [
        # this host, a process that no longer exists
        f"{socket.gethostname()[:30]}:{2**22 + 7}:00000000",
        # this very process id in an earlier run (a restarted container)
        f"{socket.gethostname()[:30]}:{os.getpid()}:00000000",
    ],
    ids=["gone_process", "this_pid_earlier"],  # stable across pytest-xdist workers
)
def test_a_dead_workers_job_reads_as_interrupted_not_running_forever(
    registry: Registry, analyst: Actor, engine: Engine, worker: str
) -> None:
    job_id = registry.create_job(analyst, "reform", {})
    registry.job_progress(job_id, 30, "evaluating", state="running")
    _set(engine, job_id, worker=worker)
    job = registry.job(analyst, job_id)
    assert job.state == "interrupted" and job.finished_at is not None
    assert job.error == {"zh": JOB_INTERRUPTED[0], "en": JOB_INTERRUPTED[1]}
    assert _actions(registry, job_id)[-1] == "job.interrupted"
    assert registry.verify_audit() == []


def test_a_stale_heartbeat_is_interrupted_at_start_up(
    registry: Registry, analyst: Actor, engine: Engine
) -> None:
    stale = registry.create_job(analyst, "reform", {})
    alive = registry.create_job(analyst, "reform", {})
    for job_id in (stale, alive):
        registry.job_progress(job_id, 20, "evaluating", state="running")
    # another host's worker, silent for two minutes
    _set(
        engine,
        stale,
        worker="elsewhere:1:abcd",
        heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2),
    )
    assert registry.interrupt_stale_jobs() == 1
    assert registry.job(analyst, stale).state == "interrupted"
    job = registry.job(analyst, alive)
    assert job.state == "running" and job.worker == this_worker()


def test_only_analysts_and_admins_and_unknown_ids(
    registry: Registry, analyst: Actor, officer: Actor
) -> None:
    with pytest.raises(Forbidden):
        registry.create_job(officer, "reform", {})
    job_id = registry.create_job(analyst, "reform", {})
    with pytest.raises(Forbidden):
        registry.job(officer, job_id)
    for bad in ("nope", "x" * 40, ""):
        with pytest.raises(NotFound) as err:
            registry.job(analyst, bad)
        assert err.value.field == "job_id"
    with pytest.raises(RegistryError) as bad_kind:
        registry.create_job(analyst, "batch", {})
    assert bad_kind.value.field == "kind"
    with pytest.raises(RegistryError) as bad_progress:
        registry.job_progress(job_id, 101, "evaluating")
    assert bad_progress.value.field == "progress"
    with pytest.raises(RegistryError) as neither:
        registry.finish_job(job_id)
    assert neither.value.field == "result"


def test_migration_0006_goes_down_and_up_again(db_url: str) -> None:
    """0006 (material waivers, jobs) downgrades to 0005 and upgrades back, on both
    databases; the tables come and go with it."""
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from hukou.registry.db import alembic_config, upgrade

    def tables() -> set[str]:
        engine = create_engine(db_url)
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    assert {"jobs", "material_waivers"} <= tables()
    command.downgrade(alembic_config(db_url), "0005")
    try:
        assert not {"jobs", "material_waivers"} & tables()
    finally:
        upgrade(db_url)
    assert {"jobs", "material_waivers"} <= tables()
