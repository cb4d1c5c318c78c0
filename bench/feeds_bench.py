"""Benchmark of the daily job with several feeds on the shipped sample day: 1, 5 and 20 feeds.

Every feed has its own criteria (distinct texts built from the topics of the shipped criteria
and of tests/fixtures/shared/vision-embodied.criteria.txt) and its own mix of cs.LG, cs.AI and
cs.CV. Each count runs as separate processes (`python -m bot digest --sample`) on a fresh
temporary database, local scorer, no LLM: a cold run (nothing embedded) and a warm re-run of
the same command on that database. Prints wall and CPU seconds and the child's peak RSS
(CPU time is what the run itself cost, on a machine shared with other work).

The first feed reads all three categories, so every count embeds the same papers and the
ratio measures what each further feed costs. Targets: 20 feeds cold at most 2x one feed cold,
peak memory under 1 GB.

    python bench/feeds_bench.py [--runs 1] [--counts 1 5 20]
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CRITERIA = ROOT / "prompts" / "criteria.txt"
VISION_CRITERIA = ROOT / "tests" / "fixtures" / "shared" / "vision-embodied.criteria.txt"
CATEGORY_MIXES = [["cs.LG", "cs.AI", "cs.CV"], ["cs.CV", "cs.AI"], ["cs.LG", "cs.AI"], ["cs.CV"],
                  ["cs.LG"], ["cs.AI", "cs.LG"], ["cs.CV", "cs.LG"], ["cs.AI"]]
TOPICS_PER_FEED = 3
LLM_ENVIRONMENT = ("OPENAI_API_KEY", "OPENAI_BASE_URL")  # unset: the local scorer, no LLM


def numbered_topics(text: str) -> list[str]:
    """The numbered items of a criteria text ("1. ..." with their indented lines), unnumbered."""
    blocks = re.split(r"(?m)^\s*\d+\.\s+", text)[1:]
    return [block.split("**Keywords:**")[0].strip() for block in blocks]


def criteria_texts(n: int) -> list[str]:
    """`n` distinct criteria texts: the two shipped files whole, then subsets of their topics."""
    shipped, vision = SHIPPED_CRITERIA.read_text(), VISION_CRITERIA.read_text()
    topics = numbered_topics(shipped) + numbered_topics(vision)
    subsets = list(itertools.combinations(range(len(topics)), TOPICS_PER_FEED))
    wanted = max(n - 2, 0)
    if wanted > len(subsets):
        sys.exit(f"only {len(subsets) + 2} distinct criteria texts can be built; ask for fewer feeds")
    spread = [subsets[k * len(subsets) // wanted] for k in range(wanted)]  # not all on the first topic
    topical = ["\n\n".join(f"{i}. {topics[t]}" for i, t in enumerate(subset, 1)) for subset in spread]
    return ([shipped, vision] + topical)[:n]


def write_settings(folder: Path, n_feeds: int) -> Path:
    """A settings file with `n_feeds` [feeds.NAME] tables, each its criteria file and categories."""
    lines = ["[storage]", f'digest_dir = "{folder / "digests"}"', ""]
    for i, text in enumerate(criteria_texts(n_feeds)):
        name = f"feed{i:02d}"
        criteria_file = folder / f"{name}.criteria.txt"
        criteria_file.write_text(text)
        categories = ", ".join(f'"{c}"' for c in CATEGORY_MIXES[i % len(CATEGORY_MIXES)])
        lines += [f"[feeds.{name}.ranking]", f'criteria_file = "{criteria_file}"',
                  f"[feeds.{name}.arxiv]", f"categories = [{categories}]", ""]
    settings = folder / "settings.toml"
    settings.write_text("\n".join(lines))
    return settings


@dataclass
class Measure:
    seconds: float  # wall
    cpu_seconds: float  # user + system: what the run itself cost, less moved by other load
    peak_mib: float


def run_digest(settings: Path, db: Path) -> Measure:
    """One `python -m bot digest --sample` process: its wall time and its own peak RSS."""
    env = {k: v for k, v in os.environ.items() if k not in LLM_ENVIRONMENT}
    cmd = [sys.executable, "-m", "bot", "digest", "--sample", "--quiet", "--settings", str(settings), "--db", str(db)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage only, not the earlier ones'
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"digest with {settings} failed (exit {os.waitstatus_to_exitcode(status)}):\n"
                 f"{proc.stderr.read().decode()[-3000:]}")
    proc.stderr.close()
    return Measure(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # KiB -> MiB on Linux


def cold_and_warm(n_feeds: int) -> tuple[Measure, Measure]:
    with tempfile.TemporaryDirectory(prefix="feeds-bench-") as tmp:
        settings = write_settings(Path(tmp), n_feeds)
        db = Path(tmp) / "bench.sqlite"
        cold = run_digest(settings, db)
        warm = run_digest(settings, db)
        digests = list((Path(tmp) / "digests").glob("*/*.md"))
        if len(digests) != n_feeds:
            sys.exit(f"{n_feeds} feeds wrote {len(digests)} digests, expected one each")
        return cold, warm


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()} "
            f"({platform.system()} {platform.release()}), load average at start {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="cold+warm pairs per feed count (the median is shown)")
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 5, 20], help="feed counts to measure")
    args = ap.parse_args()
    print(machine())
    print("sample day 2025-02-24, local scorer, no LLM; each run a separate process on a fresh database")
    results: dict[int, tuple[list[Measure], list[Measure]]] = {}
    for n in args.counts:
        pairs = [cold_and_warm(n) for _ in range(args.runs)]
        results[n] = ([c for c, _ in pairs], [w for _, w in pairs])
        for i, (cold, warm) in enumerate(pairs, 1):
            print(f"  {n:2} feeds, run {i}: cold {cold.seconds:.1f} s (cpu {cold.cpu_seconds:.1f} s), "
                  f"{cold.peak_mib:.0f} MiB | warm {warm.seconds:.2f} s (cpu {warm.cpu_seconds:.2f} s), "
                  f"{warm.peak_mib:.0f} MiB", flush=True)
    print_table(results)


def median_seconds(measures: list[Measure]) -> float:
    return statistics.median(m.seconds for m in measures)


def median_cpu(measures: list[Measure]) -> float:
    return statistics.median(m.cpu_seconds for m in measures)


def print_table(results: dict[int, tuple[list[Measure], list[Measure]]]) -> None:
    print()
    print("| feeds | cold s | cold CPU s | warm s | warm CPU s | peak MiB | CPU s per extra feed, cold |")
    print("|---|---|---|---|---|---|---|")
    base_n = min(results)
    base, base_cpu = median_seconds(results[base_n][0]), median_cpu(results[base_n][0])
    for n, (colds, warms) in sorted(results.items()):
        marginal = f"{(median_cpu(colds) - base_cpu) / (n - base_n):.2f}" if n > base_n else ""
        peak = max(m.peak_mib for m in colds + warms)
        print(f"| {n} | {median_seconds(colds):.1f} | {median_cpu(colds):.1f} | {median_seconds(warms):.2f} | "
              f"{median_cpu(warms):.2f} | {peak:.0f} | {marginal} |")
    print("(medians over the runs; peak: the largest of any run)")
    top = max(results)
    ratio = median_seconds(results[top][0]) / base
    peak = max(m.peak_mib for colds, warms in results.values() for m in colds + warms)
    print()
    print(f"target: {top} feeds cold <= 2x {base_n} feed cold: {ratio:.2f}x {'✔' if ratio <= 2 else '✘'}")
    print(f"target: peak memory < 1024 MiB: {peak:.0f} MiB {'✔' if peak < 1024 else '✘'}")


if __name__ == "__main__":
    main()
