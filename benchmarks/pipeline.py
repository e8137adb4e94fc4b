"""The compile pipeline timed in-process, stage by stage, once the libraries are imported.

run.py starts it in a fresh subprocess; it prints JSON to stdout:

    python benchmarks/pipeline.py --layers 1 8 32 128 --rounds 5

A warm-up compile imports torch, transformers and peft first, so the figures are our pipeline
alone. Rounds are interleaved across layer counts so that load from other processes spreads
over all of them; each figure is the median wall time of its stage over the rounds. One more
compile per layer count, warm, counts the Python and builtin calls of each stage (sys.setprofile):
unlike time, that count is deterministic, so it shows exactly how each stage grows.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

MODEL = "meta-llama/Llama-3.1-8B"

# (module, attribute path, stage label): the stages compile_document goes through, in order.
STAGES = (
    ("lora_compiler.pipeline.skeleton", "build", "skeleton"),
    ("lora_compiler.pipeline.targets", "plan_targets", "targets"),
    ("lora_compiler.pipeline.stacks", "collapse", "collapse stacks"),
    ("peft", "get_peft_model", "peft inject"),
    ("lora_compiler.pipeline.inject", "_inventory", "inventory"),
    ("lora_compiler.pipeline.inject", "_Snapshot.restore", "restore"),
    ("lora_compiler.rules", "run_stage", "rules"),
)


def config(layers: int) -> dict[str, Any]:
    return {
        "base_model": MODEL,
        "adapter": "lora",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_target_linear": True,
        "model_config": {"num_hidden_layers": layers},
    }


class Stages:
    """Wraps every stage function: its time accumulates in spent[label], and `current` names the running stage."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.current = "other"
        for module_name, path, label in STAGES:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            setattr(owner, name, self._timed(getattr(owner, name), label))

    def _timed(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer, self.current = self.current, label
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[label] += time.perf_counter() - start
                self.current = outer

        return wrapper

    def count_calls(self, run: Callable[[], Any]) -> dict[str, int]:
        """Python and builtin calls made by run(), by the stage they happen in."""
        counts: dict[str, int] = defaultdict(int)

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event in ("call", "c_call"):
                counts[self.current] += 1

        sys.setprofile(profile)
        try:
            run()
        finally:
            sys.setprofile(None)
        return {label: counts[label] for _, _, label in STAGES} | {"other": counts["other"]}


def measure(layer_counts: list[int], rounds: int) -> dict[str, Any]:
    from lora_compiler.engine.compiler import compile_document
    from lora_compiler.engine.options import Options

    options = Options(offline=True)
    stages = Stages()
    compile_document(config(2), options)  # warm-up: imports and first-call caches
    samples: dict[int, list[dict[str, float]]] = {n: [] for n in layer_counts}
    modules: dict[int, int] = {}
    for _ in range(rounds):
        for layers in layer_counts:
            stages.spent.clear()
            start = time.perf_counter()
            result = compile_document(config(layers), options)
            total = time.perf_counter() - start
            if result.report is None or result.exit_code() != 0:
                raise SystemExit(f"{layers} layers: compile failed: {result.findings}")
            modules[layers] = len(result.report.modules)
            spent = {label: stages.spent[label] for _, _, label in STAGES}
            samples[layers].append({"total": total, **spent, "other": total - sum(spent.values())})
    return {
        "model": MODEL,
        "rounds": rounds,
        "layers": {
            str(n): {
                "wrapped_modules": modules[n],
                "seconds": {k: statistics.median(s[k] for s in samples[n]) for k in samples[n][0]},
                "calls": stages.count_calls(lambda n=n: compile_document(config(n), options)),
            }
            for n in layer_counts
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.layers, args.rounds)))


if __name__ == "__main__":
    main()
