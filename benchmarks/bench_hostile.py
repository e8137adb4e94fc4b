"""One row per hostile case (tests/hostile/): wall time, CPU time and peak memory of each run.

    python benchmarks/bench_hostile.py [--json FILE] [--repeat N] [--fresh] [CASE ...]

Goal (issue 20): every case under 2 s and 300 MB when only the YAML is read; a case that reaches the
model or adapter pays the import floor (torch, transformers and peft: the first row) and should add
little to it. The slowest of N repeats is kept, as the quiet figures in each case.json are.

Runs fork from the servers of tests/hostile_replay.py, as in the tests: `cpu s` and `wall s` are then
the run's own, without the imports its server paid once (`import s`). --fresh runs each child as a fresh
process, as the quiet figures in case.json were measured: `cpu s` then includes the imports.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_replay import CASES, import_floor, replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="a fresh process per run, not a fork")
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        floor = max((import_floor(Path(tmp), args.fresh) for _ in range(args.repeat)), key=lambda r: r.wall_s)
        rows.append(
            {
                "case": "(import floor: honest lint)",
                "wall_s": floor.wall_s,
                "cpu_s": floor.cpu_s,
                "import_s": floor.import_cpu_s,
                "peak_mb": floor.peak_mb,
                "floor": True,
                "forked": floor.forked,
            }
        )
        for folder in CASES:
            if args.cases and folder.name not in args.cases:
                continue
            worst: dict[str, float] = {"wall_s": 0.0, "cpu_s": 0.0, "import_s": 0.0, "peak_mb": 0.0}
            forked = True
            for _ in range(args.repeat):
                spec, runs = replay(folder, Path(tempfile.mkdtemp(dir=tmp)), args.fresh)
                for run in runs:
                    for k, value in (("wall_s", run.wall_s), ("cpu_s", run.cpu_s), ("peak_mb", run.peak_mb)):
                        worst[k] = max(worst[k], value)
                    worst["import_s"] = max(worst["import_s"], run.import_cpu_s)
                    forked = forked and run.forked
            rows.append({"case": folder.name, **worst, "floor": spec.get("floor", True), "forked": forked})
    print(f"{'case':44} {'wall s':>7} {'cpu s':>7} {'import s':>8} {'peak MB':>8}  reads      run")
    for row in rows:
        print(
            f"{row['case']:44} {row['wall_s']:7.2f} {row['cpu_s']:7.2f} {row['import_s']:8.2f} {row['peak_mb']:8.0f}  "
            f"{'model    ' if row['floor'] else 'YAML only'}  {'forked' if row['forked'] else 'fresh'}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
