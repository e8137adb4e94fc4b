"""Benchmark the architecture survey: wall time and peak memory of the parent and its worker processes.

The workers are not the parent's children (they fork from multiprocessing's fork server), so
getrusage cannot see them; a sampler thread walks /proc every 0.1 s instead and records the peak of
the summed resident set (parent + fork server + workers) and of the largest single process.

    python benchmarks/bench_survey.py [--model-type llama ...] [--jobs 2] [--json bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any


def descendants(root: int) -> list[int]:
    """Every process below `root`, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval, self.stopped = interval, threading.Event()
        self.peak_total = self.peak_parent = self.peak_process = 0.0
        self.peak_workers = 0

    def run(self) -> None:
        me = os.getpid()
        while not self.stopped.wait(self.interval):
            children = descendants(me)
            sizes = [rss_mib(pid) for pid in children]
            parent = rss_mib(me)
            self.peak_parent = max(self.peak_parent, parent)
            self.peak_total = max(self.peak_total, parent + sum(sizes))
            self.peak_process = max([self.peak_process, parent] + sizes)
            self.peak_workers = max(self.peak_workers, len(children))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-type", action="append", dest="model_types")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from lora_compiler.features.survey import run_survey
    from lora_compiler.render.survey import document

    sampler = Sampler()
    sampler.start()
    start = time.perf_counter()
    result = run_survey(args.model_types, jobs=args.jobs)
    wall = time.perf_counter() - start
    sampler.stopped.set()
    sampler.join()
    summary = document(result.versions, result.rows)["summary"]
    slowest = sorted(result.seconds.items(), key=lambda item: -item[1])[:5]
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), **result.versions},
        "architectures": summary["architectures"],
        "surveyed": summary["surveyed"],
        "jobs": args.jobs,
        "wall_s": round(wall, 1),
        "worker_s": round(sum(result.seconds.values()), 1),
        "slowest_s": dict(slowest),
        "peak_rss_parent_mib": round(sampler.peak_parent),
        "peak_rss_total_mib": round(sampler.peak_total),
        "peak_rss_one_process_mib": round(sampler.peak_process),
        "processes_at_once": sampler.peak_workers + 1,
    }
    print(
        f"survey of {figures['architectures']} architectures ({figures['surveyed']} surveyed), {args.jobs} jobs, "
        f"{figures['machine']['cpus']} CPUs"
    )
    print(
        f"  wall {figures['wall_s']} s; worker time {figures['worker_s']} s; slowest: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest)
    )
    print(
        f"  peak RSS: parent {figures['peak_rss_parent_mib']} MiB, parent + fork server + workers "
        f"{figures['peak_rss_total_mib']} MiB, largest process {figures['peak_rss_one_process_mib']} MiB"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
