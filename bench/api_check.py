"""POST /api/check throughput and latency, load from separate client processes on loopback.

    .venv/bin/python bench/api_check.py [--seconds 20] [--clients 2] [--concurrency 16]

Starts `hukou serve` (one process) on a free port, then client processes that post
bench/family4.json for a bounded time and stop by themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CASE = Path(__file__).with_name("family4.json").read_bytes()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(port: int, seconds: float, concurrency: int) -> list[float]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:

        async def worker() -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await http.post(
                    "/api/check", content=CASE, headers={"content-type": "application/json"}
                )
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _client(port: int, seconds: float, concurrency: int, q: mp.Queue) -> None:  # type: ignore[type-arg]
    q.put(asyncio.run(_load(port, seconds, concurrency)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    port = _port()
    db = Path(tempfile.mkdtemp()) / "bench.db"
    env = {**os.environ, "HUKOU_DATABASE_URL": f"sqlite:///{db}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "hukou.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(_load(port, 2, 4))  # warm up
        q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        procs = [
            mp.Process(target=_client, args=(port, args.seconds, args.concurrency, q))
            for _ in range(args.clients)
        ]
        for p in procs:
            p.start()
        latencies = [x for _ in procs for x in q.get()]
        for p in procs:
            p.join()
    finally:
        server.terminate()
        server.wait()
    latencies.sort()
    n = len(latencies)
    print(
        f"POST /api/check, {args.clients} client processes × {args.concurrency} connections, "
        f"{args.seconds:.0f} s, one server process"
    )
    print(f"  decisions/s {n / args.seconds:8.0f}")
    print(f"  p50 ms      {statistics.median(latencies) * 1e3:8.1f}")
    print(f"  p99 ms      {latencies[int(n * 0.99)] * 1e3:8.1f}")


if __name__ == "__main__":
    main()
