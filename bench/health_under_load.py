"""``/api/health`` latency while the server decides the largest valid cases and refuses
oversized bodies (issue 12, B2: the decision used to run on the event loop).

    .venv/bin/python bench/health_under_load.py [--seconds 20] [--checkers 4] [--oversized 2]

Starts the real server — uvicorn, on a free port, in a process of its own, with the app of
``create_app`` on an SQLite register made for the run — and, from two more processes:

* the load: ``--checkers`` connections each posting the largest case the case model
  accepts (tests/security/maximal.py: 20 relatives, 50 residence periods and 20 dwellings
  each, every text at its maximum, escaped and indented: 1.3 MB) to ``POST /api/check`` in
  a loop, every answer a 200; and ``--oversized`` connections each posting a 10 MB body,
  every answer a 413 (or the connection closed by the server before the body was sent);
* the probe: one connection asking ``GET /api/health`` every ``--interval`` seconds.

First the probe alone (``--baseline`` seconds, idle server), then with the load. Prints the
health latencies (p50, p99, max) of both, and what the load got. The rate limits are off
for the run (one address sends everything); the body limit, the decisions' pool and its
time budget are production's (``Limits.unlimited()`` changes nothing else).

``--source DIR`` runs the server on another copy of the package (e.g. an older ``src``),
to compare.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
OVERSIZED = 10 * 1024 * 1024


def app_factory() -> Any:
    """The served app (uvicorn ``--factory``): the register named by HUKOU_DATABASE_URL,
    production's limits less the rate limits."""
    from hukou.registry.db import make_engine, session_factory
    from hukou.registry.service import Registry
    from hukou.service.app import create_app
    from hukou.service.limits import Limits

    changes: dict[str, Any] = {}
    if os.environ.get("BENCH_DECISION_THREADS"):
        changes["decision_threads"] = int(os.environ["BENCH_DECISION_THREADS"])
    if os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    registry = Registry(session_factory(make_engine()))
    return create_app(registry, limits=Limits.unlimited(**changes))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _maximal_body() -> bytes:
    sys.path.insert(0, str(ROOT))
    from tests.security.maximal import encodings, maximal_case

    return encodings(maximal_case())["ascii-escaped, indent 2"]


def _probe(base: str, seconds: float, interval: float, out: Any) -> None:
    latencies = []
    errors = 0
    with httpx.Client(base_url=base, timeout=60) as http:
        http.get("/api/health")  # connect first
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                ok = http.get("/api/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok
            time.sleep(interval)
    out.send((latencies, errors))


def _load(base: str, seconds: float, checkers: int, oversized: int, out: Any) -> None:
    import asyncio

    body = _maximal_body()
    big = b" " * OVERSIZED
    counts: dict[str, int] = {}
    check_times: list[float] = []
    bodies: list[int] = []  # bytes of each oversized body sent before the answer came

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    async def checker(stop: float) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await http.post(
                    "/api/check", content=body, headers={"content-type": "application/json"}
                )
                check_times.append(time.perf_counter() - t0)
                count(f"check {r.status_code}")

    host, port = base.removeprefix("http://").split(":")

    async def refuse_once() -> tuple[str, int]:
        """A 10 MB body announced by Content-Length and sent while the answer is read (an
        HTTP client would read it only once the whole body is sent)."""
        head = (
            f"POST /api/check HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(big)}\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection(host, int(port))
        sent = 0

        async def send() -> None:
            nonlocal sent
            writer.write(head)
            try:
                while sent < len(big):
                    writer.write(big[sent : sent + 64 * 1024])
                    await writer.drain()
                    sent += 64 * 1024
            except OSError:
                pass  # the server answered and closed: the rest is never read

        sender = asyncio.create_task(send())
        try:
            status = (await reader.readline()).split(b" ")[1:2]
        except OSError:  # reset before the answer could be read
            status = [b"reset"]
        sender.cancel()
        writer.close()
        return (status or [b"closed"])[0].decode(), sent

    async def refused(stop: float) -> None:
        while time.perf_counter() < stop:
            status, sent = await refuse_once()
            count(f"oversized {status}")
            bodies.append(sent)

    async def main() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(checker(stop) for _ in range(checkers)), *(refused(stop) for _ in range(oversized))
        )

    asyncio.run(main())
    sent = statistics.median(bodies) if bodies else 0
    out.send((counts, check_times, len(body), sent))


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (
        f"n={len(values):5d}  p50 {statistics.median(values) * 1e3:7.1f} ms  "
        f"p99 {p99 * 1e3:7.1f} ms  max {values[-1] * 1e3:7.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0, help="how long the load lasts")
    ap.add_argument("--baseline", type=float, default=5.0, help="the probe alone, first")
    ap.add_argument("--checkers", type=int, default=4, help="connections deciding")
    ap.add_argument("--oversized", type=int, default=2, help="connections sending 10 MB")
    ap.add_argument("--interval", type=float, default=0.02, help="between health probes")
    ap.add_argument("--source", type=Path, help="serve this copy of src/ instead")
    args = ap.parse_args()

    port = _port()
    base = f"http://127.0.0.1:{port}"
    db = Path(tempfile.mkdtemp()) / "bench.db"
    env = {**os.environ, "HUKOU_DATABASE_URL": f"sqlite:///{db}"}
    env.setdefault("HUKOU_KEY_FILE", str(db.parent / "hukou.keys"))
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
    subprocess.run([sys.executable, "-m", "hukou.cli", "db", "upgrade"], env=env, check=True)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "health_under_load:app_factory",
            "--app-dir",
            str(Path(__file__).parent),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/api/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        ctx = mp.get_context("spawn")
        mine, theirs = ctx.Pipe()
        probe = ctx.Process(target=_probe, args=(base, args.baseline, args.interval, theirs))
        probe.start()
        idle, idle_errors = mine.recv()
        probe.join()

        probe_out, probe_in = ctx.Pipe()
        load_out, load_in = ctx.Pipe()
        load = ctx.Process(
            target=_load, args=(base, args.seconds, args.checkers, args.oversized, load_in)
        )
        probe = ctx.Process(target=_probe, args=(base, args.seconds, args.interval, probe_in))
        load.start()
        time.sleep(1.0)  # the load under way before the probe starts
        probe.start()
        busy, busy_errors = probe_out.recv()
        counts, check_times, size, sent = load_out.recv()
        probe.join()
        load.join()
    finally:
        server.terminate()
        server.wait()

    print(
        f"server: uvicorn, 1 process, {args.source or 'src/'} on SQLite; probe every "
        f"{args.interval * 1e3:.0f} ms"
    )
    print(f"GET /api/health, idle          {_ms(idle)}  errors {idle_errors}")
    print(f"GET /api/health, under load    {_ms(busy)}  errors {busy_errors}")
    print(
        f"load ({args.seconds:.0f} s): {args.checkers} connections posting the largest valid "
        f"case ({size / 1e6:.2f} MB), {args.oversized} posting {OVERSIZED >> 20} MB"
    )
    for key in sorted(counts):
        print(f"  {key:28s} {counts[key]:6d}")
    if check_times:
        print(f"  POST /api/check (largest)    {_ms(check_times)}")
    if sent:
        print(
            f"  oversized: {sent / 1e6:.2f} MB of {OVERSIZED / 1e6:.1f} sent (median) when refused"
        )


if __name__ == "__main__":
    main()
