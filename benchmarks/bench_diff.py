"""Benchmark `diff --model`: one config across 10 bundled models in one process.

First each model alone (its column's cost, the first one paying the torch/transformers/peft import),
then the whole 10-column diff as the command runs it, then each renderer. Peak memory is the
process's resident high-water mark (resource.getrusage), so it only grows along the table.

    python benchmarks/bench_diff.py [--json bench.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = [
    "meta-llama/Llama-3.2-1B",
    "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B",
    "mistralai/Mistral-7B-v0.1",
    "mistralai/Mixtral-8x7B-v0.1",
    "Qwen/Qwen2.5-7B",
    "Qwen/Qwen3-30B-A3B",
    "google/gemma-3-4b-it",
    "microsoft/Phi-3-mini-4k-instruct",
    "deepseek-ai/DeepSeek-V3",
]
CONFIG = "base_model: meta-llama/Llama-3.1-8B\nadapter: lora\nlora_r: 16\nlora_alpha: 32\nlora_target_linear: true\n"


def peak_mib() -> float:
    """Resident high-water mark of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def run() -> dict[str, Any]:
    from lora_compiler.engine.compiler import Options
    from lora_compiler.features.diff import diff_models
    from lora_compiler.render import diff_json, diff_md, diff_text

    options = Options(offline=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "train.yml"
        config.write_text(CONFIG, encoding="utf-8")
        columns = []
        for model in MODELS:
            start = time.perf_counter()
            side = diff_models(config, [model], options).sides[0]
            totals = side.totals
            columns.append(
                {
                    "model": model,
                    "seconds": round(time.perf_counter() - start, 3),
                    "peak_rss_mib": round(peak_mib(), 1),
                    "modules": totals.modules if totals else None,
                    "trainable_params": totals.trainable_params if totals else None,
                }
            )
        start = time.perf_counter()
        result = diff_models(config, MODELS, options)
        whole = time.perf_counter() - start
        renders = {}
        for name, fmt in (("text", diff_text), ("md", diff_md), ("json", diff_json)):
            start = time.perf_counter()
            fmt.render(result)
            renders[name] = round(time.perf_counter() - start, 4)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "environment": result.sides[0].report["environment"] if result.sides[0].report else None,
        "config": CONFIG,
        "columns": columns,
        "diff_seconds": round(whole, 3),
        "render_seconds": renders,
        "peak_rss_mib": round(peak_mib(), 1),
    }


def table(data: dict[str, Any]) -> str:
    lines = [f"{'model':<36} {'seconds':>8} {'peak MiB':>9} {'modules':>8} {'trainable':>15}"]
    for c in data["columns"]:
        trainable = f"{c['trainable_params']:,}" if c["trainable_params"] is not None else "failed"
        lines.append(
            f"{c['model']:<36} {c['seconds']:>8.2f} {c['peak_rss_mib']:>9.1f} {c['modules'] or '-':>8} {trainable:>15}"
        )
    lines.append(
        f"whole {len(data['columns'])}-model diff: {data['diff_seconds']:.2f} s; renders (s): "
        + ", ".join(f"{k} {v}" for k, v in data["render_seconds"].items())
        + f"; peak RSS {data['peak_rss_mib']:.1f} MiB"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    args = parser.parse_args(argv)
    data = run()
    print(table(data))
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
