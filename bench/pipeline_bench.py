"""Benchmark of the daily job on the shipped sample day: cold run vs warm re-run.

Each run is a separate process (`python -m bot digest --sample`) on a fresh temporary
database, so the figures are what a user meets. Prints wall seconds and peak RSS.
Targets (issue 2): cold < 60 s, warm < 5 s, peak memory < 1 GB on 2 cores.

    python bench/pipeline_bench.py [--runs 1]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(db: Path, digests: Path) -> tuple[float, float]:
    settings = db.parent / "settings.toml"
    settings.write_text(f'[storage]\ndatabase = "{db}"\ndigest_dir = "{digests}"\n')
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--settings", str(settings), "digest", "--sample", "--quiet"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"digest failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # KiB -> MiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1, help="repeat cold+warm pairs")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            db, digests = Path(tmp) / "bench.sqlite", Path(tmp) / "digests"
            cold = run(db, digests)
            warm = run(db, digests)
            rows.append((cold, warm))
            print(f"run {i + 1}: cold {cold[0]:.1f} s, peak {cold[1]:.0f} MiB | warm {warm[0]:.2f} s, peak {warm[1]:.0f} MiB")
    cold_s = sorted(r[0][0] for r in rows)
    warm_s = sorted(r[1][0] for r in rows)
    peak = max(max(r[0][1], r[1][1]) for r in rows)
    print(f"cold run (embed 365 papers, score, digest): median {cold_s[len(cold_s)//2]:.1f} s  (target < 60 s)")
    print(f"warm re-run (same date, all cached):        median {warm_s[len(warm_s)//2]:.2f} s  (target < 5 s)")
    print(f"peak memory (max RSS of any run):           {peak:.0f} MiB  (target < 1024 MiB)")


if __name__ == "__main__":
    main()
