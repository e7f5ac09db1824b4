"""How long the command line takes to start (命令行启动时间), hyperfine-style.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--warmup 2]

Runs each command ``--runs`` times as a fresh process (after ``--warmup`` untimed runs,
so the file cache and the bytecode cache are warm) and prints min / median / max
wall-clock seconds and the median CPU seconds (steadier on a busy machine):

* ``python -c pass`` — the interpreter alone, the floor;
* ``hukou --help`` — the command list (no command's code is imported);
* ``hukou check examples/01-owner-family.json`` — one case decided and printed;
* ``hukou check --json …`` — the same, machine form (no Rich);
* ``hukou db --help`` — a register command's help (SQLAlchemy and Alembic load here).

The target (issue 14): ``hukou --help`` and ``hukou check`` on one case ≤ 0.3 s. What each
command imports: ``python -X importtime -c "import hukou.cli"``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HUKOU = str(Path(sys.executable).with_name("hukou"))
CASE = str(ROOT / "examples" / "01-owner-family.json")

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("hukou --help", [HUKOU, "--help"]),
    ("hukou check <one case>", [HUKOU, "check", CASE]),
    ("hukou check --json <one case>", [HUKOU, "check", "--json", CASE]),
    ("hukou db --help", [HUKOU, "db", "--help"]),
]


def timed(argv: list[str], runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """(wall-clock, CPU) seconds of each timed run."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    # an installed program has its bytecode cached: the warm-up writes it even where the
    # shell says not to (PYTHONDONTWRITEBYTECODE), which would time the compiler instead
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for _ in range(warmup):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
        )
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr!r}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    print(
        f"{'command':<32} {'min':>7} {'median':>7} {'max':>7} {'CPU med':>8}"
        f"   ({args.runs} runs, seconds)"
    )
    for label, argv in COMMANDS:
        t, cpu = timed(argv, args.runs, args.warmup)
        print(
            f"{label:<32} {min(t):7.3f} {statistics.median(t):7.3f} {max(t):7.3f}"
            f" {statistics.median(cpu):8.3f}"
        )
    try:
        load = os.getloadavg()[0]
        print(f"load average {load:.2f} on {os.cpu_count()} CPU(s)")
    except OSError:
        pass


if __name__ == "__main__":
    main()
