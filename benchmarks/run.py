"""Benchmark lora-compiler against the cost of importing the libraries it is built on.

    python benchmarks/run.py [--quick] [--json benchmarks/results.json]

Every figure comes from this run on this machine, measured side by side: each sample is a fresh
subprocess (wall clock, and peak RSS from os.wait4's rusage of that child alone), and the commands
of a section take turns round by round, so load from other processes falls on all of them alike.
The table shows medians and ratios to the floor, `python -c "import torch, transformers, peft"`.
Correctness checks (exit codes, no torch import where none may happen, equal bytes on a cache hit)
make the script exit 1; performance targets are reported, pass or fail, in the table and JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
CLI = [PY, "-m", "lora_compiler"]
FLOOR = [PY, "-c", "import torch, transformers, peft"]
# The same imports as lora-compiler's command line runs them: cyclic collector off, objects frozen at exit.
FLOOR_GC_OFF = [PY, "-c", "import gc; gc.disable(); import torch, transformers, peft; gc.freeze()"]
HEAVY = ("torch", "transformers", "peft")
BUNDLED = HERE.parent / "fixtures" / "models"

COLD = {  # label -> bundled model
    "Llama-3.2-1B": "meta-llama/Llama-3.2-1B",
    "Llama-3.1-70B": "meta-llama/Llama-3.1-70B",
    "Llama-3.1-405B": "meta-llama/Llama-3.1-405B",
    "Mixtral-8x7B": "mistralai/Mixtral-8x7B-v0.1",
    "DeepSeek-V3 (671B)": "deepseek-ai/DeepSeek-V3",
    "gemma-3-4b-it (multimodal)": "google/gemma-3-4b-it",
}
SCALING_MODEL = "meta-llama/Llama-3.1-8B"
SCALING_LAYERS = (1, 8, 32, 128)
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]
# Ten families for the batch: model(s), attention target names, MLP target names.
FAMILIES: dict[str, tuple[tuple[str, ...], list[str], list[str]]] = {
    "llama": (("meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B"), ATTENTION, MLP),
    "mistral": (("mistralai/Mistral-7B-v0.1",), ATTENTION, MLP),
    "mixtral": (("mistralai/Mixtral-8x7B-v0.1",), ATTENTION, ["w1", "w2", "w3"]),
    "qwen2": (("Qwen/Qwen2.5-7B",), ATTENTION, MLP),
    "qwen3_moe": (("Qwen/Qwen3-30B-A3B",), ATTENTION, MLP),
    "gemma2": (("google/gemma-2-9b",), ATTENTION, MLP),
    "gemma3": (("google/gemma-3-4b-it",), ATTENTION, MLP),
    "phi3": (("microsoft/Phi-3-mini-4k-instruct",), ["qkv_proj", "o_proj"], ["gate_up_proj", "down_proj"]),
    "gpt_neox": (("EleutherAI/pythia-1.4b",), ["query_key_value", "dense"], ["dense_h_to_4h", "dense_4h_to_h"]),
    "deepseek_v3": (
        ("deepseek-ai/DeepSeek-V3",),
        ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"],
        MLP,
    ),
}

# What a user would do instead: the model for real (random weights) on the CPU, then PEFT.
REAL_BUILD = """\
import sys
import torch, transformers, peft
from transformers import AutoConfig, AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(sys.argv[1]))
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
print(*model.get_nb_trainable_parameters())
"""
# What `accelerate estimate-memory` does once it has the config, without its Hub lookup.
EMPTY_MODEL = """\
import sys
from accelerate import init_empty_weights
from accelerate.utils import calculate_maximum_sizes
from transformers import AutoConfig, AutoModel
with init_empty_weights():
    model = AutoModel.from_config(AutoConfig.from_pretrained(sys.argv[1]))
print(*calculate_maximum_sizes(model)[:1])
"""
# Runs the CLI as the console script does and reports which heavy libraries got imported.
PROBE = """\
import atexit, sys
atexit.register(lambda: print("heavy-modules:", ",".join(m for m in %r if m in sys.modules), file=sys.stderr))
sys.argv = ["lora-compiler", *sys.argv[1:]]
from lora_compiler.cli import main
main()
""" % (HEAVY,)  # noqa: UP031


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds of the child: less disturbed by other processes than wall time
    rss_mib: float
    code: int
    stdout: str
    stderr: str


def run(argv: Sequence[str], env: dict[str, str], cwd: Path) -> Run:
    """One fresh subprocess: wall time, CPU time and peak RSS of that child (os.wait4, not RUSAGE_CHILDREN's max)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            wall,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


@dataclass
class Series:
    """One command, sampled several times."""

    name: str
    argv: list[str]
    expect: tuple[int, ...] = (0,)
    env: dict[str, str] | None = None  # the bench's environment when None
    runs: list[Run] = field(default_factory=list)

    def sample(self, bench: Bench, keep: bool = True) -> Run:
        r = run(self.argv, self.env or bench.env, bench.tmp)
        if r.code not in self.expect:
            bench.fail(f"{self.name}: exit {r.code}, expected {self.expect}: {tail(r.stderr or r.stdout)}")
        if keep:
            self.runs.append(r)
        return r

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def rss(self) -> float:
        return statistics.median(r.rss_mib for r in self.runs)

    def as_dict(self, floor: Series | None = None) -> dict[str, Any]:
        command = " ".join(self.argv[1:] if self.argv[0] == PY else self.argv)
        out: dict[str, Any] = {
            "name": self.name,
            "command": command,
            "wall_s": round(self.wall, 3),
            "wall_runs_s": [round(r.wall, 3) for r in self.runs],
            "cpu_s": round(self.cpu, 3),
            "peak_rss_mib": round(self.rss, 1),
        }
        if floor is not None:
            out["wall_x_floor"] = round(self.wall / floor.wall, 3)
            out["cpu_x_floor"] = round(self.cpu / floor.cpu, 3)
            out["rss_x_floor"] = round(self.rss / floor.rss, 3)
        return out


def tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "LORA_COMPILER_CACHE_DIR": str(tmp / "cache"),
        }
        self.failures: list[str] = []
        self.loads: dict[str, list[float]] = {}

    def fail(self, message: str) -> None:
        print(f"CHECK FAILED: {message}", file=sys.stderr)
        self.failures.append(message)

    def load(self, label: str) -> None:
        self.loads[label] = [round(x, 2) for x in os.getloadavg()]

    def rounds(self, series: list[Series], n: int, warm_up: bool = True) -> None:
        """n interleaved rounds of every series, after one unrecorded run of each (disk cache)."""
        if warm_up:
            for s in series:
                s.sample(self, keep=False)
        for _ in range(n):
            for s in series:
                s.sample(self)

    def yaml(self, name: str, text: str) -> Path:
        path = self.tmp / "configs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


def lora_yaml(model: str, r: int = 16, targets: list[str] | None = None, extra: str = "") -> str:
    target = f"lora_target_modules: [{', '.join(targets)}]\n" if targets else "lora_target_linear: true\n"
    return f"base_model: {model}\nadapter: lora\nlora_r: {r}\nlora_alpha: {2 * r}\n{target}{extra}"


def compile_series(label: str, path: Path, out: Path) -> Series:
    return Series(f"compile {label}", [*CLI, "compile", str(path), "--offline", "--no-cache", "-o", str(out)])


def measure_cold(bench: Bench, n: int) -> tuple[Series, Series, list[Series], dict[str, Path]]:
    """1 and 2: the import floor (also with the collector off) and cold compiles, round by round."""
    floor = Series("floor: import torch, transformers, peft", FLOOR)
    floor_gc_off = Series("floor, collector off as the CLI runs: gc.disable(); import ...; gc.freeze()", FLOOR_GC_OFF)
    compiles, outs = [], {}
    for label, model in COLD.items():
        slug = model.split("/")[1]
        outs[label] = bench.tmp / "out" / slug
        compiles.append(compile_series(label, bench.yaml(f"{slug}.yml", lora_yaml(model)), outs[label]))
    bench.load("cold: start")
    bench.rounds([floor, floor_gc_off, *compiles], n)
    bench.load("cold: end")
    return floor, floor_gc_off, compiles, outs


def measure_alternatives(bench: Bench, n: int, ours: Path) -> dict[str, Any]:
    """3: building Llama-3.2-1B for real and applying PEFT; accelerate estimate-memory.

    `ours` is our compile's output directory for the same model: its counts must equal PEFT's on real weights.
    """
    local = BUNDLED / "meta-llama" / "Llama-3.2-1B"
    real = Series("real build + get_peft_model (Llama-3.2-1B, CPU, random weights)", [PY, "-c", REAL_BUILD, str(local)])
    empty = Series("accelerate empty model (estimate-memory's steps, no Hub call)", [PY, "-c", EMPTY_MODEL, str(local)])
    bench.rounds([real, empty], n)
    accelerate = [PY, "-m", "accelerate.commands.accelerate_cli", "estimate-memory"]
    attempts = {}
    for what, args in (
        ("local dir", [str(local)]),
        ("local dir, --library_name transformers", [str(local), "--library_name", "transformers"]),
        ("repo id, offline", ["meta-llama/Llama-3.2-1B"]),
    ):
        r = run([*accelerate, *args], bench.env, bench.tmp)
        attempts[what] = {
            "command": "accelerate estimate-memory " + " ".join(args),
            "exit_code": r.code,
            "wall_s": round(r.wall, 3),
            "peak_rss_mib": round(r.rss_mib, 1),
            "last_line": tail(r.stderr or r.stdout),
        }
    trainable, total = (int(x) for x in real.runs[-1].stdout.split())
    report = json.loads((ours / "targets.json").read_text(encoding="utf-8"))
    same = (trainable, total) == (report["trainable_params"], report["all_params"])
    if not same:
        bench.fail(
            f"real PEFT counts {trainable}/{total} differ from ours {report['trainable_params']}/{report['all_params']}"
        )
    return {
        "real": real,
        "empty": empty,
        "estimate_memory": attempts,
        "real_counts": {"trainable_params": trainable, "all_params": total, "equal_to_compile": same},
    }


def measure_batch(bench: Bench, n: int) -> dict[str, Any]:
    """4: lint over 100 configs of 10 families in one process, and over the first of them alone."""
    paths = []
    for family, (models, attention, mlp) in FAMILIES.items():
        for i in range(10):
            r = (8, 16, 32, 64)[i % 4]
            targets = (None, attention, mlp)[i % 3]
            extra = f"lora_dropout: {(0.0, 0.05, 0.1)[i % 3]}\nlearning_rate: {1e-4 * (1 + i)}\n"
            paths.append(bench.yaml(f"batch/{family}-{i}.yml", lora_yaml(models[i % len(models)], r, targets, extra)))
    lint = [*CLI, "lint", "--offline", "--format", "json"]
    one = Series("lint 1 config", [*lint, str(paths[0])], expect=(0, 1))
    batch = Series(f"lint {len(paths)} configs ({len(FAMILIES)} families)", [*lint, *map(str, paths)], expect=(0, 1))
    bench.load("batch: start")
    bench.rounds([one, batch], n)
    bench.load("batch: end")
    summary = json.loads(batch.runs[-1].stdout)["summary"]
    return {
        "one": one,
        "batch": batch,
        "files": len(paths),
        "exit_code": batch.runs[-1].code,
        "findings": summary,
        "marginal_s": (batch.wall - one.wall) / (len(paths) - 1),
    }


def heavy_modules(bench: Bench, args: list[str]) -> list[str]:
    r = run([PY, "-c", PROBE, *args], bench.env, bench.tmp)
    line = next((x for x in r.stderr.splitlines() if x.startswith("heavy-modules:")), "heavy-modules: ?")
    return [m for m in line.split(":", 1)[1].strip().split(",") if m]


def measure_startup(bench: Bench, n: int) -> list[dict[str, Any]]:
    """5: commands that must not import torch, as this environment runs them and with bytecode cached.

    With PYTHONDONTWRITEBYTECODE set (as on the machines this project runs on) the editable install's
    own modules are compiled from source on every start; an installed package has them in .pyc.
    """
    path = bench.yaml("startup.yml", lora_yaml("meta-llama/Llama-3.2-1B"))
    cases = {"--help": ["--help"], "lint --no-model (1 file)": ["lint", "--no-model", str(path)], "schema": ["schema"]}
    cached = {k: v for k, v in bench.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(bench.tmp / "pycache")
    series = [Series(f"lora-compiler {name}", [*CLI, *args]) for name, args in cases.items()]
    series += [
        Series(f"lora-compiler {name} (bytecode cached)", [*CLI, *args], env=cached) for name, args in cases.items()
    ]
    bench.rounds(series, n)
    out = []
    for s, args in zip(series, [*cases.values(), *cases.values()]):
        heavy = heavy_modules(bench, args)
        if heavy:
            bench.fail(f"{s.name} imported {', '.join(heavy)}")
        out.append({**s.as_dict(), "heavy_imports": heavy})
    return out


def measure_repeat(bench: Bench, n: int, cold_out: Path) -> dict[str, Any]:
    """6: the same compile again with unchanged inputs: a cache hit, byte for byte the cold output."""
    model = COLD["Llama-3.1-405B"]
    path = bench.yaml("repeat.yml", lora_yaml(model))
    first_out, again_out = bench.tmp / "repeat-first", bench.tmp / "repeat-again"
    compile_args = ["compile", str(path), "--offline"]
    first = run([*CLI, *compile_args, "-o", str(first_out)], bench.env, bench.tmp)
    again = Series("repeat compile (cache hit, Llama-3.1-405B)", [*CLI, *compile_args, "-o", str(again_out)])
    bench.rounds([again], n, warm_up=False)
    heavy = heavy_modules(bench, [*compile_args, "-o", str(again_out)])
    names = sorted(p.name for p in first_out.iterdir())
    same_first = names == sorted(p.name for p in again_out.iterdir()) and all(
        (first_out / f).read_bytes() == (again_out / f).read_bytes() for f in names
    )
    # The cold (--no-cache) output of the same YAML content, under another path: every file but the
    # ones naming the YAML's path must match too.
    same_cold = (first_out / "adapter_config.json").read_bytes() == (cold_out / "adapter_config.json").read_bytes()
    if first.code != 0 or not same_first or not same_cold:
        bench.fail(
            f"repeat compile: first exit {first.code}, same bytes as first {same_first}, "
            f"adapter_config.json same as --no-cache {same_cold}"
        )
    if heavy:
        bench.fail(f"cache hit imported {', '.join(heavy)}")
    return {
        **again.as_dict(),
        "first_wall_s": round(first.wall, 3),
        "files": names,
        "bytes_equal_to_first_run": same_first,
        "adapter_config_equal_to_no_cache_run": same_cold,
        "heavy_imports": heavy,
    }


def measure_scaling(bench: Bench, n: int, floor: Series) -> dict[str, Any]:
    """7: one architecture at 1..128 layers: cold compile wall, and the pipeline alone in-process."""
    series = []
    for layers in SCALING_LAYERS:
        path = bench.yaml(
            f"scaling-{layers}.yml", lora_yaml(SCALING_MODEL, extra=f"model_config:\n  num_hidden_layers: {layers}\n")
        )
        label = f"{layers} layer{'s' * (layers != 1)}"
        series.append(compile_series(label, path, bench.tmp / "out" / f"scaling-{layers}"))
    bench.load("scaling: start")
    bench.rounds(series, n)
    pipeline = run(
        [PY, str(HERE / "pipeline.py"), "--layers", *map(str, SCALING_LAYERS), "--rounds", str(max(n, 3))],
        bench.env,
        bench.tmp,
    )
    bench.load("scaling: end")
    if pipeline.code != 0:
        bench.fail(f"pipeline.py: exit {pipeline.code}: {tail(pipeline.stderr)}")
        return {"cold": [s.as_dict(floor) for s in series]}
    stages = json.loads(pipeline.stdout)
    return {"cold": [s.as_dict(floor) for s in series], "pipeline": stages, "growth": growth(stages)}


def growth(stages: dict[str, Any]) -> dict[str, Any]:
    """Per stage, from the two largest layer counts a < b: how calls and time grow, and the verdict.

    Linear-plus-constant work grows at most b/a times. The verdict uses the call counts, which are
    deterministic (5% slack); time is shown beside them, for stages of at least 20 ms only, since
    shorter ones are within the noise of a shared machine.
    """
    counts = sorted(int(k) for k in stages["layers"])
    a, b = (stages["layers"][str(n)] for n in counts[-2:])
    factor = counts[-1] / counts[-2]
    out = {}
    for stage, calls in b["calls"].items():
        call_ratio = calls / max(a["calls"][stage], 1)
        seconds = b["seconds"][stage]
        out[stage] = {
            "calls_per_layer": round((calls - a["calls"][stage]) / (counts[-1] - counts[-2])),
            "calls_ratio": round(call_ratio, 3),
            "time_ratio": round(seconds / a["seconds"][stage], 2) if seconds >= 0.02 else None,
            "ms_per_layer": round(1000 * (seconds - a["seconds"][stage]) / (counts[-1] - counts[-2]), 3),
            "no_worse_than_linear": call_ratio <= factor * 1.05,
        }
    return {"layers": counts[-2:], "stages": out}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    versions = {}
    for dist in ("lora-compiler", "torch", "transformers", "peft", "accelerate", "huggingface_hub", "pydantic"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
    }


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []

    def check(name: str, measured: float, limit: float, unit: str) -> None:
        rows.append(
            {"target": name, "measured": round(measured, 3), "limit": limit, "unit": unit, "pass": measured <= limit}
        )

    for c in data["cold_compile"]:
        check(f"{c['name']}: wall / floor", c["wall_x_floor"], 1.25, "x")
        check(f"{c['name']}: peak RSS / floor", c["rss_x_floor"], 1.5, "x")
    for s in data["startup"]:
        check(f"{s['name']}: wall", s["wall_s"], 0.3, "s")
    one_cold = next(c for c in data["cold_compile"] if "Llama-3.2-1B" in c["name"])
    check(
        "batch lint of 100 / cold compile of Llama-3.2-1B",
        data["batch_lint"]["batch"]["wall_s"] / one_cold["wall_s"],
        2.0,
        "x",
    )
    check("repeat run (cache hit): wall", data["repeat"]["wall_s"], 0.5, "s")
    growth_ = data["scaling"].get("growth")
    if growth_:
        a, b = growth_["layers"]
        check(
            f"pipeline: largest growth of a stage's calls, {a} -> {b} layers",
            max(g["calls_ratio"] for g in growth_["stages"].values()),
            round(b / a * 1.05, 2),
            "x",
        )
    return rows


def table(data: dict[str, Any]) -> str:
    def x(value: float | None) -> str:
        return f"{value:.2f}x" if value is not None else ""

    def row(label: str, d: dict[str, Any], note: str = "") -> str:
        return (
            f"| {label} | {d['wall_s']:.3f} | {x(d.get('wall_x_floor'))} | {d['cpu_s']:.3f} | "
            f"{x(d.get('cpu_x_floor'))} | {d['peak_rss_mib']:.0f} | {x(d.get('rss_x_floor'))} | {note} |"
        )

    lines = [
        "| what | wall s | x floor | CPU s | x floor | peak RSS MiB | x floor | note |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
        row("1. " + data["floor"]["name"], data["floor"]),
        row("1. " + data["floor_gc_off"]["name"], data["floor_gc_off"]),
    ]
    gc_off = data["floor_gc_off"]["wall_s"]
    lines += [
        row(f"2. {c['name']} (cold, --no-cache)", c, f"{c['wall_s'] / gc_off:.2f}x the collector-off floor")
        for c in data["cold_compile"]
    ]
    alt = data["alternatives"]
    counts = alt["real_counts"]
    lines.append(
        row(
            "3. " + alt["real"]["name"],
            alt["real"],
            f"trainable {counts['trainable_params']:,}: equal to compile's: {counts['equal_to_compile']}",
        )
    )
    lines.append(row("3. " + alt["empty"]["name"], alt["empty"]))
    for what, a in alt["estimate_memory"].items():
        lines.append(
            f"| 3. accelerate estimate-memory ({what}) | {a['wall_s']:.3f} | | | | "
            f"{a['peak_rss_mib']:.0f} | | exit {a['exit_code']}: {a['last_line'][:120]} |"
        )
    b = data["batch_lint"]
    lines.append(row("4. " + b["one"]["name"], b["one"]))
    lines.append(row("4. " + b["batch"]["name"], b["batch"], f"marginal {1000 * b['marginal_s']:.0f} ms/file"))
    for s in data["startup"]:
        heavy = ", ".join(s["heavy_imports"]) or "no torch/transformers/peft"
        lines.append(row("5. " + s["name"], s, "imports " + heavy))
    r = data["repeat"]
    lines.append(
        row(
            "6. " + r["name"],
            r,
            f"bytes equal: {r['bytes_equal_to_first_run']}; imports " + (", ".join(r["heavy_imports"]) or "no torch"),
        )
    )
    sc = data["scaling"]
    pipe = sc.get("pipeline", {}).get("layers", {})
    for c in sc["cold"]:
        p = pipe.get(c["name"].split()[1], {}).get("seconds")
        lines.append(
            row(
                f"7. {c['name']} ({SCALING_MODEL.split('/')[1]})",
                c,
                f"pipeline in-process {p['total']:.3f} s" if p else "",
            )
        )
    out = "\n".join(lines)
    if pipe:
        a, b = sc["growth"]["layers"]
        out += "\n\nPipeline stages in-process (median s; calls counted once, warm), by layer count:\n\n"
        out += (
            "| stage | "
            + " | ".join(f"{n} layer{'s' * (int(n) != 1)}" for n in pipe)
            + f" | ms/layer | calls/layer | calls {b}/{a} | time {b}/{a} | linear |\n"
        )
        out += "|---|" + "---|" * (len(pipe) + 5) + "\n"
        for stage in next(iter(pipe.values()))["seconds"]:
            g = sc["growth"]["stages"].get(stage)
            cells = " | ".join(f"{pipe[n]['seconds'][stage]:.4f}" for n in pipe)
            if g is None:  # the total: no call count of its own
                out += f"| {stage} | {cells} | | | | | |\n"
                continue
            time_ratio = f"{g['time_ratio']}x" if g["time_ratio"] is not None else "< 20 ms"
            out += (
                f"| {stage} | {cells} | {g['ms_per_layer']} | {g['calls_per_layer']} | {g['calls_ratio']}x | "
                f"{time_ratio} | {'yes' if g['no_worse_than_linear'] else 'NO'} |\n"
            )
    out += "\nTargets:\n\n| target | measured | limit | pass |\n|---|---|---|---|\n"
    for t in data["targets"]:
        verdict = "PASS" if t["pass"] else "FAIL"
        out += f"| {t['target']} | {t['measured']}{t['unit']} | {t['limit']}{t['unit']} | {verdict} |\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs per figure (2 instead of 5)")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    n = 2 if args.quick else 5
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lora-compiler-bench-") as tmp:
        bench = Bench(Path(tmp))
        bench.load("start")
        floor, floor_gc_off, compiles, outs = measure_cold(bench, n)
        few = 1 if args.quick else 3
        alt = measure_alternatives(bench, few, outs["Llama-3.2-1B"])
        batch = measure_batch(bench, few)
        data: dict[str, Any] = {
            "machine": machine(),
            "runs_per_figure": n,
            "floor": floor.as_dict(floor),
            "floor_gc_off": floor_gc_off.as_dict(floor),
            "cold_compile": [c.as_dict(floor) for c in compiles],
            "alternatives": {
                "real": alt["real"].as_dict(floor),
                "empty": alt["empty"].as_dict(floor),
                "real_counts": alt["real_counts"],
                "estimate_memory": alt["estimate_memory"],
            },
            "batch_lint": {
                "one": batch["one"].as_dict(floor),
                "batch": batch["batch"].as_dict(floor),
                "files": batch["files"],
                "families": list(FAMILIES),
                "exit_code": batch["exit_code"],
                "findings_by_level": batch["findings"],
                "marginal_s": round(batch["marginal_s"], 4),
            },
            "startup": measure_startup(bench, n + 2),
            "repeat": measure_repeat(bench, n, outs["Llama-3.1-405B"]),
            "scaling": measure_scaling(bench, n, floor),
        }
        bench.load("end")
        data["load_average"] = bench.loads
        data["elapsed_s"] = round(time.time() - started)
        data["targets"] = targets(data)
        data["check_failures"] = bench.failures
    print(table(data))
    print(f"\nload average (1, 5, 15 min): {data['load_average']}; {data['elapsed_s']} s in all")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
