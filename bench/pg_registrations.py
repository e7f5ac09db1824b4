"""Registrations per second on PostgreSQL with concurrent clients.

    .venv/bin/python bench/pg_registrations.py [--clients 8] [--seconds 20] [--register 300]

Two figures, on a database created for the run and dropped after it:

* **whole flow** — each client process takes applications through every step on
  the register (create, submit, review, approve — the engine decides — and
  register into a community collective household), each step its own audited
  transaction, for ``--seconds``;
* **register step** — a registration is the register step of an approved
  application (办理落户登记): each client first prepares ``--register`` approved
  applications, then all clients register theirs at once; timed from the first
  client's start to the last client's end.

Audit records are sealed into the chain as the service does it (``--seal thread``:
a sealer thread per client process; ``--seal request``: after each commit), and
within the timed run; the run ends with ``verify_audit``, which must find the chain
intact.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import secrets
import time
from typing import Any

from sqlalchemy import Engine, create_engine, text

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry

SERVER = "postgresql+psycopg://127.0.0.1:5432"


def _case(worker: int, i: int) -> dict:  # type: ignore[type-arg]
    from stdnum.cn import ric

    k = worker * 20_000 + i  # a distinct ID number for every (worker, i)
    year, rest = 1950 + k // 336_000, k % 336_000
    month, day, seq = rest // 28_000 + 1, (rest // 1000) % 28 + 1, rest % 1000
    body = f"341221{year}{month:02d}{day:02d}{seq:03d}"
    number = body + ric.calc_check_digit(body + "0")
    return {
        "applicant": {
            "id_number": number,
            "name": f"测试{worker}-{i}",
            "residence_permit": {"held": True, "county": "330402"},
            "lives_in": "330402",
            "dwellings": [
                {
                    "tenure": "owned",
                    "commercial_housing": True,
                    "address": {"county": "330402", "urban_rural_code": "111"},
                }
            ],
            # within Zhejiang: registered in one step, no move-in permit
            "hukou": {"kind": "outside_jiaxing", "address": {"county": "330106"}},
        },
    }


def _flow(
    url: str,
    worker: int,
    seconds: float,
    actor: Actor,
    household: int,
    delay: int,
    seal_thread: bool,
    q: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Phase 1: whole applications, from taking them to registering, for a bounded time."""
    try:
        registry = Registry(session_factory(_engine(url, delay)), background_seal=seal_thread)
        done, i = 0, 0
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            app = registry.create_application(actor, "s1_1", "330402", _case(worker, i))
            i += 1
            registry.act(actor, app.id, "submit")
            registry.act(actor, app.id, "review")
            registry.approve(actor, app.id)
            registry.register(
                actor, app.id, household_id=household, placement_reason="data_correction"
            )
            done += 1
        registry.close()  # its records sealed, inside the timed run
        q.put(done)
    except BaseException as exc:
        q.put(f"client {worker}: {exc!r}")
        raise


def _register(
    url: str,
    worker: int,
    count: int,
    actor: Actor,
    household: int,
    delay: int,
    seal_thread: bool,
    ready: mp.Barrier,  # type: ignore[type-arg]
    q: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Phase 2: ``count`` approved applications are prepared, then — all clients at once,
    timed — registered (办理落户登记: the register step of an approved application)."""
    try:
        registry = Registry(session_factory(_engine(url, delay)), background_seal=seal_thread)
        approved = []
        for i in range(count):
            app = registry.create_application(actor, "s1_1", "330402", _case(worker + 100, i))
            registry.act(actor, app.id, "submit")
            registry.act(actor, app.id, "review")
            approved.append(registry.approve(actor, app.id).id)
        ready.wait(timeout=900)
        t0 = time.perf_counter()
        for app_id in approved:
            registry.register(
                actor, app_id, household_id=household, placement_reason="data_correction"
            )
        registry.close()  # its records sealed, inside the timed span
        q.put((t0, time.perf_counter(), len(approved)))
    except BaseException as exc:
        ready.abort()  # the others stop waiting
        q.put(f"client {worker}: {exc!r}")
        raise


def _engine(url: str, delay: int) -> Engine:
    if not delay:
        return make_engine(url, pool_size=2)
    options = f"-c commit_delay={delay} -c commit_siblings=1"
    return make_engine(url, pool_size=2, connect_args={"options": options})


def _results(q: mp.Queue, procs: list[mp.Process]) -> list[Any]:  # type: ignore[type-arg]
    out = []
    for _ in procs:
        item = q.get(timeout=1800)
        if isinstance(item, str):
            for p in procs:
                p.terminate()
            raise SystemExit(f"a client failed, the run does not count: {item}")
        out.append(item)
    for p in procs:
        p.join()
    return out


def _pg_settings(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', "
                "'synchronous_commit', 'wal_sync_method', 'commit_delay', 'full_page_writes', "
                "'shared_buffers', 'max_wal_size') ORDER BY name"
            )
        ).all()
    engine.dispose()
    return ", ".join(f"{n}={v}" for n, v in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20, help="whole-flow phase; 0 skips it")
    ap.add_argument(
        "--register", type=int, default=300, help="approved applications per client to register"
    )
    ap.add_argument("--server", default=SERVER)
    ap.add_argument(
        "--commit-delay-us",
        type=int,
        default=0,
        help="an experiment, never a production setting: each commit waits this long before "
        "its WAL flush (PostgreSQL's commit_delay, commit_siblings=1), as on a disk whose "
        "flush takes that long",
    )
    ap.add_argument(
        "--seal",
        choices=("thread", "request"),
        default="thread",
        help="audit sealing: by a thread of each client (as the service's workers do), or "
        "after each request",
    )
    args = ap.parse_args()
    thread = args.seal == "thread"
    name = f"hukou_bench_{secrets.token_hex(3)}"
    admin = create_engine(f"{args.server}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{args.server}/{name}"
    try:
        upgrade(url)
        registry = Registry(session_factory(make_engine(url)))
        uid = registry.add_user(SYSTEM, "officer", "a long enough secret", "officer", "330402")
        actor = Actor(uid, "officer", "officer", "330402")
        _c, household = registry.add_community(actor, "330402", "建设街道", "紫阳社区", "111")
        print(f"PostgreSQL: {_pg_settings(url)}")
        if args.commit_delay_us:
            print(f"  clients: commit_delay={args.commit_delay_us} µs, commit_siblings=1")
        print(f"{args.clients} client processes, audit sealed by {args.seal}")
        q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        if args.seconds > 0:
            procs = [
                mp.Process(
                    target=_flow,
                    args=(url, w, args.seconds, actor, household, args.commit_delay_us, thread, q),
                )
                for w in range(args.clients)
            ]
            t0 = time.perf_counter()
            for p in procs:
                p.start()
            total = sum(_results(q, procs))
            elapsed = time.perf_counter() - t0
            print(
                f"  whole flow       {total / elapsed:8.1f} applications/s  ({total} in "
                f"{elapsed:.1f} s; each: create, submit, review, approve with the engine's "
                "decision, register — 5 audited transactions)"
            )
        if args.register > 0:
            ready = mp.Barrier(args.clients)
            procs = [
                mp.Process(
                    target=_register,
                    args=(
                        url,
                        w,
                        args.register,
                        actor,
                        household,
                        args.commit_delay_us,
                        thread,
                        ready,
                        q,
                    ),
                )
                for w in range(args.clients)
            ]
            for p in procs:
                p.start()
            spans = _results(q, procs)
            start = min(s[0] for s in spans)
            end = max(s[1] for s in spans)
            n = sum(s[2] for s in spans)
            print(
                f"  register step    {n / (end - start):8.1f} registrations/s  ({n} approved "
                f"applications registered in {end - start:.2f} s; each: the person, the "
                "membership, the application's state — one audited transaction)"
            )
        problems = registry.verify_audit()
        with registry.factory() as s:
            chained = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        print(f"  audit chain      {problems or 'intact'} ({chained} records)")
    finally:
        with admin.connect() as c:
            c.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


if __name__ == "__main__":
    main()
