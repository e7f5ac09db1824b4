"""POST /api/check throughput and latency, with load from a separate process on loopback.

    .venv/bin/python bench/api_check.py [--workers 2] [--seconds 20] [--connections 16]

Starts ``hukou serve --workers N`` on a free port and loads it with ``wrk`` (``apt-get
install wrk``; a Python client, ``--client httpx``, is the fallback, and costs far more CPU
of its own). The requests are **varied**: every worked example in ``examples/`` decided on
many dates (``?on=``), in a shuffled rotation of ``--variants`` distinct requests, so a
cache of identical requests would not help (the service has none). Every response must be
200; the figures are wrk's (requests/s, latency percentiles).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from hukou.policy.facts import InputError, parse_case

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

LUA = r"""
local reqs = {}
init = function(args)
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local path, body = line:match("^(%S+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
  end
  f:close()
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
"""


def requests(n: int, seed: int = 2026) -> list[tuple[str, bytes]]:
    """``n`` distinct (path, body) pairs: the examples, each on many decision dates."""
    rng = random.Random(seed)
    cases = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    first, span = dt.date(2020, 6, 1), (dt.date(2027, 12, 31) - dt.date(2020, 6, 1)).days
    out: dict[tuple[str, bytes], None] = {}
    while len(out) < n:
        case = rng.choice(cases)
        on = first + dt.timedelta(days=rng.randrange(span))
        try:
            parse_case(case, decision_date=on)
        except InputError:
            continue  # e.g. a date before someone's birth: not a decision request
        body = json.dumps(case, ensure_ascii=False, separators=(",", ":")).encode()
        out[(f"/api/check?on={on}", body)] = None
    pairs = list(out)
    rng.shuffle(pairs)
    return pairs


def _cpu_seconds(root: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if root in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wrk(port: int, reqs: list[tuple[str, bytes]], args: argparse.Namespace) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "check.lua").write_text(LUA)
    with (tmp / "requests.tsv").open("wb") as f:
        for path, body in reqs:
            f.write(path.encode() + b"\t" + body + b"\n")
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.seconds}s",
        "--latency",
        "-s",
        str(tmp / "check.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        str(tmp / "requests.tsv"),
    ]
    print("$", " ".join(cmd))
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    print(text)
    if "Non-2xx" in text or "Socket errors" in text:
        raise SystemExit("wrk saw errors or non-200 responses: the figures do not count")

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        assert m, label
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    assert rate
    return {"rps": float(rate.group(1)), "p50": ms("50"), "p99": ms("99")}


async def _httpx_load(
    port: int, reqs: list[tuple[str, bytes]], seconds: float, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() < stop:
                path, body = reqs[i % len(reqs)]
                i += concurrency
                t0 = time.perf_counter()
                r = await http.post(path, content=body, headers=headers)
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies


def _httpx(port: int, reqs: list[tuple[str, bytes]], args: argparse.Namespace) -> dict[str, float]:
    lat = sorted(asyncio.run(_httpx_load(port, reqs, args.seconds, args.connections)))
    return {
        "rps": len(lat) / args.seconds,
        "p50": statistics.median(lat) * 1e3,
        "p99": lat[int(len(lat) * 0.99)] * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--variants", type=int, default=2000, help="distinct requests in rotation")
    ap.add_argument("--client", choices=("wrk", "httpx"), default="wrk")
    args = ap.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --client httpx")
    reqs = requests(args.variants)
    port = _port()
    db = Path(tempfile.mkdtemp()) / "bench.db"
    # one client address drives it all: the anonymous rate limits would answer 429
    env = {**os.environ, "HUKOU_DATABASE_URL": f"sqlite:///{db}", "HUKOU_RATE_LIMITS": "off"}
    subprocess.run([sys.executable, "-m", "hukou.cli", "db", "upgrade"], env=env, check=True)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hukou.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:  # warm every worker
            for path, body in reqs[: 50 * args.workers]:
                r = http.post(path, content=body, headers={"content-type": "application/json"})
                r.raise_for_status()
        cpu0 = _cpu_seconds(server.pid)
        result = (_wrk if args.client == "wrk" else _httpx)(port, reqs, args)
        cpu = _cpu_seconds(server.pid) - cpu0
    finally:
        server.terminate()
        server.wait()
    print(
        f"POST /api/check — {len(reqs)} distinct requests in rotation, {args.connections} "
        f"connections ({args.client}), {args.seconds} s, {args.workers} server worker(s)"
    )
    print(f"  decisions/s {result['rps']:8.0f}")
    print(f"  p50 ms      {result['p50']:8.1f}")
    print(f"  p99 ms      {result['p99']:8.1f}")
    per = cpu / (result["rps"] * args.seconds) * 1e3
    print(
        f"  server CPU  {per:8.2f} ms per decision (all workers; so {1e3 / per:.0f}/s per "
        "free core)"
    )


if __name__ == "__main__":
    main()
