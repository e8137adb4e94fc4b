"""The start-up differential: every mirrored validator's examples through the real Axolotl and through lint.

    python scripts/axolotl_startup.py --release 0.21.0 [--venv DIR] [--record]
    python scripts/axolotl_startup.py --release 0.21.0 [--venv DIR] --configs DIR [DIR...]

Run with lora-compiler's Python. The first form writes the refused and accepted example of every validator
form that runs in the release (lora_compiler/rules/axolotl/), asks the real Axolotl in its venv (default
.venv-axolotl-RELEASE, made by `AXOLOTL=RELEASE scripts/axolotl_differential.sh --install`) what
`validate_config` and `normalize_config` say (scripts/axolotl_truth.py --startup), lints each with
`--no-model` under that release's profile (a form that judges the GPU on its own device, on both sides), and prints every disagreement: on refused/accepted, or on the key
blamed (lint's key must be named in Axolotl's error). `--record` writes tests/axolotl_facts/startup-RELEASE.json,
which tests/facts/test_axolotl_startup_facts.py checks without Axolotl. The second form judges config files
(e.g. ../shared/axolotl-examples) the same way and prints a table, file by file. Exit 1 on a disagreement.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from lora_compiler.devices import parse
from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.rules.axolotl.validator import ALL, example, refuses

ROOT = Path(__file__).resolve().parents[1]
FALLBACK_DEVICE = "H100"
FACTS = ROOT / "tests" / "axolotl_facts"


def cases(release: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(name -> config: each validator form's refused and accepted example, for the forms the release runs;
    name -> the device a form that judges the GPU runs its examples on)."""
    out: dict[str, dict[str, Any]] = {}
    devices: dict[str, str] = {}
    for v in ALL:
        if not v.runs_in(release):
            continue
        form = f"{v.id}@{v.since}..{v.until or ''}"
        for kind, keys in (("refused", v.refused), ("accepted", v.accepted)):
            out[f"{form}:{kind}"] = example(keys)
            if v.device:
                devices[f"{form}:{kind}"] = v.device
    return out, devices


def lint_verdict(config: dict[str, Any] | Path, release: str, device: str | None = None) -> tuple[list[str], list[str]]:
    """(the keys lint's start-up errors blame, in order; the start-up findings) under a release's profile, on the
    declared device (None: none declared)."""
    gpu = parse(device) if device else None
    result = compile_document(config, Options(offline=True, no_model=True, axolotl=release, gpu=gpu))
    errors = [f for f in result.findings if refuses(f.rule) and f.severity.value == "error"]
    shown = [f"{f.rule} {f.line}:{f.column} {f.message}" for f in result.findings if refuses(f.rule)]
    return [f.key or "" for f in errors], shown


# Packages a shipped plugin imports that the release's venv lacks (GPU or heavy extras), stood in for by empty
# modules with the names the plugin imports, so the plugin loads and its validators run as on a machine that
# has them: module -> names. ring_flash_attn: 0.19's context-parallel check only imports it (the ring-flash-attn
# extra), before the checks lint mirrors.
STAND_INS = {
    "ring_flash_attn": (),
    "llmcompressor": ("active_session", "create_session"),
    "llmcompressor.core": ("callbacks",),
    "llmcompressor.recipe": ("Recipe",),
    "llmcompressor.transformers": (),
    "llmcompressor.transformers.sparsification": (),
    "llmcompressor.transformers.sparsification.compressed_tensors_utils": ("modify_save_pretrained",),
}


def _stand_ins(root: Path) -> None:
    for module, names in STAND_INS.items():
        path = root.joinpath(*module.split("."), "__init__.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name} = None\n" for name in names))


def truth(venv: Path, files: list[Path]) -> dict[str, dict[str, Any]]:
    """What the real Axolotl says of each file (scripts/axolotl_truth.py --startup), by file stem."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "truth.jsonl"
        _stand_ins(Path(tmp) / "stand-ins")
        subprocess.run(
            [str(venv / "bin" / "python"), str(ROOT / "scripts" / "axolotl_truth.py"), "--startup"]
            + ["--models", str(ROOT / "fixtures" / "models"), str(out)]
            + [str(f) for f in files],
            check=True,
            stderr=subprocess.DEVNULL,
            env={
                **os.environ,
                "PYTHONPATH": str(Path(tmp) / "stand-ins"),
                "PYTHONHASHSEED": "0",
            },  # set order in messages
        )
        records = [json.loads(line) for line in out.read_text().splitlines()]
    by_name: dict[str, dict[str, Any]] = {}
    for rec in records:
        verdict = rec.get("startup") if rec["status"] == "no-model" else rec
        status = (verdict or {}).get("status", rec["status"])
        by_name[Path(rec["config"]).stem] = {
            "refused": status == "refused",
            "status": status,
            "error": (verdict or {}).get("error", ""),
        }
    return by_name


def _keys(value: Any) -> set[str]:
    """Every mapping key at any depth of a config."""
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def key_named(keys: list[str], error: str, config: dict[str, Any]) -> bool:
    """Whether lint blames a key Axolotl's error names. Axolotl reports its first refusal only, and a model
    validator's error has no location: its message is what names keys. A lint key matches when one of its
    parts (or the part without `_config`) is in the message; when the message names none of the config's keys
    ("Fused modules are not supported with LoRA/QLoRA"), any key lint blames is accepted."""
    text = error.split("[type=")[0].lower()  # pydantic appends the whole input after [type=...]
    for key in keys:
        for part in (p.lower() for p in key.split(".") if p and not p.isdigit()):
            if re.search(rf"\b{re.escape(part)}\b", text) or re.search(
                rf"\b{re.escape(part.removesuffix('_config'))}\b", text
            ):
                return True
    named = {k for k in _keys(config) if re.search(rf"\b{re.escape(k.lower())}\b", text)}
    return not named


def compare(
    release: str, venv: Path, configs: dict[str, Any], devices: dict[str, str] | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    devices = devices or {}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, cfg in configs.items():
            path = Path(tmp) / f"{name.replace('/', '_')}.yml"
            path.write_text(yaml.safe_dump(cfg, sort_keys=False) if isinstance(cfg, dict) else cfg.read_text())
            # scripts/axolotl_truth.py validates each with a device's capabilities: a form that judges the GPU on
            # its own, every other one on the most capable device (which none of those forms refuses)
            hardware = parse(devices.get(name, FALLBACK_DEVICE)).capabilities()
            path.with_suffix(".capabilities.json").write_text(json.dumps(hardware))
            files.append(path)
        real = truth(venv, files)
        facts: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for (name, cfg), path in zip(configs.items(), files):
            got = real[path.stem]
            if got["status"] not in ("ok", "refused"):
                problems.append(f"{name}: Axolotl failed otherwise ({got['status']}): {got['error'][:200]}")
                continue
            keys, shown = lint_verdict(cfg if isinstance(cfg, dict) else path, release, devices.get(name))
            refused = bool(keys)
            fact = {
                "config": cfg if isinstance(cfg, dict) else str(cfg),
                "refused": got["refused"],
                "error": got["error"][:400],
                "key": keys[0] if keys else None,
            }
            if name in devices:
                fact["device"] = devices[name]
            loaded = cfg if isinstance(cfg, dict) else yaml.safe_load(path.read_text())
            named = key_named(keys, got["error"], loaded if isinstance(loaded, dict) else {})
            fact["key_named"] = named if got["refused"] and refused else None
            facts[name] = fact
            if refused != got["refused"]:
                problems.append(
                    f"{name}: Axolotl {'refuses' if got['refused'] else 'accepts'}, lint "
                    f"{'refuses' if refused else 'accepts'}\n    axolotl: {got['error'][:300]}\n"
                    f"    lint: {shown[:3]}"
                )
            elif refused and not fact["key_named"]:
                problems.append(
                    f"{name}: both refuse; Axolotl's error names none of lint's keys {keys}\n"
                    f"    axolotl: {got['error'][:300]}"
                )
    return facts, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--release", required=True)
    ap.add_argument("--venv", type=Path)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--configs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    venv = args.venv or ROOT / f".venv-axolotl-{args.release}"
    if args.configs:
        files = sorted(p for d in args.configs for p in (d.glob("*.y*ml") if d.is_dir() else [d]))
        configs: dict[str, Any] = {p.stem: p for p in files}
        devices: dict[str, str] = {p.stem: FALLBACK_DEVICE for p in files}  # both sides judge an H100
    else:
        configs, devices = cases(args.release)
    facts, problems = compare(args.release, venv, configs, devices)
    for p in problems:
        print(p)
    refused = sum(f["refused"] for f in facts.values())
    print(f"Axolotl {args.release}: {len(facts)} configs judged, {refused} refused; {len(problems)} disagreements")
    if args.configs:
        for name, f in facts.items():
            print(f"| {name} | {'refused' if f['refused'] else 'ok'} | {'refused' if f['key'] else 'ok'} |")
    elif args.record:
        out = FACTS / f"startup-{args.release}.json"
        out.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
