"""Registrations per second on PostgreSQL with concurrent clients.

    .venv/bin/python bench/pg_registrations.py [--clients 8] [--seconds 20] [--url URL]

Each client process takes applications through the whole flow on the register
(create, submit, review, approve — the engine decides — and register into a
community collective household), each step its own audited transaction, for a
bounded time. The database is created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import secrets
import time

from sqlalchemy import create_engine, text

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry

SERVER = "postgresql+psycopg://127.0.0.1:5432"


def _case(worker: int, i: int) -> dict:  # type: ignore[type-arg]
    from stdnum.cn import ric

    body = f"341221198805{(i % 28) + 1:02d}{(worker * 50 + i // 28) % 1000:03d}"
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
            "hukou": {"kind": "outside_jiaxing"},
        },
    }


def _client(
    url: str, worker: int, seconds: float, actor: Actor, household: int, q: mp.Queue
) -> None:  # type: ignore[type-arg]
    registry = Registry(session_factory(make_engine(url, pool_size=2)))
    done, i = 0, 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        app = registry.create_application(actor, "s1_1", "330402", _case(worker, i))
        i += 1
        registry.act(actor, app.id, "submit")
        registry.act(actor, app.id, "review")
        registry.approve(actor, app.id)
        registry.register(actor, app.id, household_id=household)
        done += 1
    q.put(done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--server", default=SERVER)
    args = ap.parse_args()
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
        q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        procs = [
            mp.Process(target=_client, args=(url, w, args.seconds, actor, household, q))
            for w in range(args.clients)
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        total = sum(q.get() for _ in procs)
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
        problems = registry.verify_audit()
        print(f"PostgreSQL registrations, {args.clients} client processes, {args.seconds:.0f} s")
        print(f"  registrations   {total}")
        print(
            f"  registrations/s {total / elapsed:8.1f}  (each: 5 audited transactions + a decision)"
        )
        print(f"  audit chain     {problems or 'intact'}")
    finally:
        with admin.connect() as c:
            c.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


if __name__ == "__main__":
    main()
