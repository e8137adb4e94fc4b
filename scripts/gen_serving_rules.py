"""Read a serving engine's LoRA rules out of its released wheel into lora_compiler/serving/ENGINE-VERSION.json.

    pip download --no-deps vllm==0.34.0 sglang==0.5.23 -d /tmp/engines
    python scripts/gen_serving_rules.py /tmp/engines/vllm-0.34.0-*.whl /tmp/engines/sglang-0.5.23-*.whl

Each wheel is opened as a zip and its files are parsed with `ast`; nothing of either engine is imported (both
need a GPU build of torch). What is read, and from which file and function: scripts/serving_vllm.py (its
model files: scripts/serving_vllm_models.py) and scripts/serving_sglang.py. `lint/compile/export --serve ENGINE@VERSION` offers every file of that folder;
tests/facts/test_serving_rules.py compares the committed files with what this extracts from the pinned wheels.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import zipfile
from pathlib import Path

from lora_compiler.serving import ENGINES

sys.path.insert(0, str(Path(__file__).resolve().parent))
OUT = Path(__file__).resolve().parents[1] / "lora_compiler" / "serving"


def extract(wheel: Path) -> dict:
    """The rule table of one wheel (engine and version from its file name)."""
    engine, version = re.match(r"([a-z]+)-([^-]+)-", wheel.name).groups()
    with zipfile.ZipFile(wheel) as z:
        return importlib.import_module(ENGINES[engine].extractor).extract(z, version)


def _dumps(table: dict) -> str:
    """Sorted, indented JSON with one line per architecture, so a new release's table diffs line by line."""
    archs = table.get("architectures")
    rest = json.dumps({k: v for k, v in table.items() if k != "architectures"}, indent=1, sort_keys=True)
    if archs is None:
        return rest + "\n"
    lines = [f" {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}" for name, entry in sorted(archs.items())]
    return rest[:-2] + ',\n "architectures": {\n' + ",\n".join(lines) + "\n }\n}\n"


def main() -> None:
    for wheel in map(Path, sys.argv[1:]):
        table = extract(wheel)
        out = OUT / f"{table['engine']}-{table['version']}.json"
        out.write_text(_dumps(table))
        print(f"{wheel.name} -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
