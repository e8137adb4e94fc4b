"""Record what each fixture config trains on this Python's transformers and peft: tests/facts/stack_answers.json.

The behaviour table (lora_compiler/profiles/stack.py) says which library changes change which configs' answers;
this script records the answers themselves, one stack per run, so that tests/facts/test_stack_answers.py can check,
without either stack, that every behaviour is backed by a config whose answers really differ and that every
difference is explained by a behaviour. Run it in each stack's venv (each run replaces its own stack's record):

    PYTHONPATH=$PWD /work/main/.venv/bin/python scripts/stack_answers.py          # Axolotl 0.21.0's pins
    PYTHONPATH=$PWD /work/venvs/newest/bin/python scripts/stack_answers.py        # the newest libraries

`--probes` first writes the probe models' config.json (tests/stack_cases/models/) from this transformers'
default configs, two layers each: the model types the bundled fixtures lack.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FACTS = REPO / "tests" / "facts" / "stack_answers.json"
CONFIGS = ("fixtures/configs", "tests/cases/bad", "tests/cases/good", "tests/stack_cases")
PROBES = {"qwen2_moe": {"num_hidden_layers": 2}, "jamba": {"num_hidden_layers": 2}}
# what the facts compare: the lock entry's answers (features/lock.py), without the version-dependent fields
ANSWERS = ("exit_code", "target_modules", "target_parameters", "wrapped_digest", "trainable_params", "adapter_bytes")


def probes() -> None:
    from transformers import AutoConfig

    for model_type, overrides in PROBES.items():
        config = AutoConfig.for_model(model_type, **overrides).to_dict()
        config.pop("transformers_version", None)
        folder = REPO / "tests" / "stack_cases" / "models" / model_type
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def record() -> dict[str, object]:
    from lora_compiler.api import collect_configs
    from lora_compiler.engine.compiler import Options, compile_document
    from lora_compiler.engine.session import Session
    from lora_compiler.features.lock import entry
    from lora_compiler.profiles import NEWEST, installed

    os.chdir(REPO)  # the probes name their models by paths relative to the repository
    session = Session()
    configs = {}
    for path in collect_configs([REPO / c for c in CONFIGS]):
        result = compile_document(path, Options(offline=True, axolotl=NEWEST.version), session, verdict=False)
        found = entry(result)
        suffixes = sorted(result.stack_run.suffixes) if result.stack_run else []
        configs[path.relative_to(REPO).as_posix()] = {
            **{k: found[k] for k in (*ANSWERS, "model_type")},
            "suffixes": suffixes,
        }
    versions = {lib: installed(lib) for lib in ("transformers", "peft")}
    return {"versions": versions, "configs": configs}


def _text(data: dict[str, Any]) -> str:
    """Sorted JSON with one line per config, so a re-recorded stack shows in a diff as the configs that changed."""
    stacks = []
    for name, stack in data["stacks"].items():
        configs = ",\n".join(
            f"    {json.dumps(path)}: {json.dumps(answer, sort_keys=True)}"
            for path, answer in sorted(stack["configs"].items())
        )
        versions = json.dumps(stack["versions"], sort_keys=True)
        stacks.append(f'  {json.dumps(name)}: {{"versions": {versions}, "configs": {{\n{configs}\n  }}}}')
    return '{"stacks": {\n' + ",\n".join(stacks) + "\n}}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", action="store_true", help="write the probe models' config.json first")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    if args.probes:
        probes()
    stack = record()
    data = json.loads(FACTS.read_text()) if FACTS.exists() else {"stacks": {}}
    versions = stack["versions"]
    assert isinstance(versions, dict)
    name = f"transformers {versions['transformers']}, peft {versions['peft']}"
    data["stacks"][name] = stack
    data["stacks"] = dict(sorted(data["stacks"].items()))
    FACTS.write_text(_text(data))
    print(f"{name}: {len(stack['configs'])} configs recorded in {FACTS.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
