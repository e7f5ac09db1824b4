"""Durability: registrations from several client processes, the server killed with SIGKILL
midway and restarted — every registration a client saw acknowledged is there, and none is
half-written (PostgreSQL)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hukou.registry.access import SYSTEM, Actor
from hukou.registry.db import make_engine, session_factory
from hukou.registry.models import Application, Membership, Person
from hukou.registry.service import Registry

from ..registry.helpers import owner_case
from .papers import receive_all

PASSWORD = "a long enough secret"
CLIENTS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HUKOU_DATABASE_URL": url}  # keys: the test's HUKOU_KEY_FILE
    proc = subprocess.Popen(
        [sys.executable, "-m", "hukou.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def _client(port: int, worker: int, collective: int, out: str) -> None:
    """Register applicants one after another; write each acknowledged reference to ``out``."""
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as http, open(out, "a") as acked:
        try:
            token = http.post(
                "/api/login", json={"username": "officer", "password": PASSWORD}
            ).json()["token"]
            h = {"Authorization": f"Bearer {token}"}
            for i in range(200):
                facts = owner_case(
                    name=f"申请人{worker}-{i}", seq=worker * 200 + i, with_spouse=False
                )
                app = http.post(
                    "/api/applications",
                    headers=h,
                    json={"kind": "s1_1", "county": "330402", "facts": facts},
                ).json()
                for step in ("submit", "review"):
                    http.post(f"/api/applications/{app['id']}/{step}", headers=h, json={})
                receive_all(http, h, app["id"])  # materials before approval
                http.post(f"/api/applications/{app['id']}:approve", headers=h, json={})
                r = http.post(
                    f"/api/applications/{app['id']}:register",
                    headers=h,
                    # an owner's place is his flat: the collective is a stated exception
                    json={"household_id": collective, "placement_reason": "data_correction"},
                )
                if r.status_code == 200:
                    acked.write(
                        json.dumps(
                            {
                                "reference": app["reference"],
                                "id_number": facts["applicant"]["id_number"],
                            }
                        )
                        + "\n"
                    )
                    acked.flush()
                    os.fsync(acked.fileno())
        except (httpx.HTTPError, KeyError, ValueError):
            return  # the server went away


@pytest.mark.clause("§4.3")
def test_acknowledged_registrations_survive_sigkill(pg_url: str, tmp_path: Path) -> None:
    from sqlalchemy import text

    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE users, communities, households, applications, "
                "application_events, memberships, persons, audit_log, audit_head, "
                "dwellings, documents_received, move_out_procedures, "
                "residence_registrations, residence_permits, "
                "residence_permit_endorsements RESTART IDENTITY CASCADE"
            )
        )
    registry = Registry(session_factory(engine))
    uid = registry.add_user(SYSTEM, "officer", PASSWORD, "officer", "330402")
    _cid, collective = registry.add_community(
        Actor(uid, "officer", "officer", "330402"), "330402", "建设街道", "紫阳社区", "111"
    )
    port = _free_port()
    server = _serve(pg_url, port)
    out = str(tmp_path / "acked.jsonl")
    ctx = mp.get_context("spawn")
    clients = [ctx.Process(target=_client, args=(port, w, collective, out)) for w in range(CLIENTS)]
    for c in clients:
        c.start()
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once enough registrations were acknowledged
        if Path(out).exists() and len(Path(out).read_text().splitlines()) >= 20:
            break
        time.sleep(0.2)
    server.send_signal(signal.SIGKILL)
    server.wait()
    for c in clients:
        c.join(30)
    acked = [json.loads(line) for line in Path(out).read_text().splitlines()]
    assert len(acked) >= 20
    server = _serve(pg_url, port)  # restart: the register must come back as it was
    try:
        with session_factory(engine)() as s:
            apps = {a.reference: a for a in s.execute(select(Application)).scalars()}
            in_collective = set(
                s.execute(
                    select(Person.id_number)
                    .join(Membership)
                    .where(Membership.household_id == collective, Membership.end_date.is_(None))
                ).scalars()
            )
            for entry in acked:  # every acknowledged registration is there
                assert apps[entry["reference"]].state == "registered"
                assert entry["id_number"] in in_collective
            for app in apps.values():  # none is half-written
                registered = app.applicant_id_number in in_collective
                assert (app.state == "registered") == registered, app.reference
        assert registry.verify_audit() == []
    finally:
        server.kill()
        server.wait()
        engine.dispose()
