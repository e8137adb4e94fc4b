"""Compare lora-compiler with the real Axolotl's answers (scripts/axolotl_truth.py output).

    python scripts/axolotl_compare.py TRUTH.jsonl --axolotl 0.21.0 [--facts OUT.json]

For every config the real Axolotl could judge (its model is bundled), compiles it here (offline,
one Session, under that release's profile) and compares: accepted or refused (Axolotl:
validate_config, normalize_config, load_lora, get_peft_model and train.py's freezing all pass;
here: exit code 0), every LoraConfig field (Axolotl's LoraConfig against our adapter_config.json;
FIELDS_NOT_COMPARED says which and why not), the set of modules PEFT wrapped, and the trained
parameter count after the post-load freezing. Prints each mismatch and the agreement figures;
`--facts` writes the real tool's answers as the committed expectations tests/facts/test_axolotl_facts.py
checks without Axolotl installed. Exit 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# Failures that come from this machine, not the config: no GPU (LoftQ), or the meta skeleton having no
# values for a data-dependent initialisation (PiSSA, OLoRA, CorDA set_data on meta tensors).
HARDWARE = ("CUDA", "NVIDIA driver", "bitsandbytes", "incompatible tensor type")
START_UP = ("validate", "normalize")  # stages that decide from the YAML alone
# LoraConfig fields that differ by design: Axolotl leaves base_model_name_or_path unset (PEFT fills in the
# model's name when it saves); compile names base_model because it has no model object to take it from.
FIELDS_NOT_COMPARED = frozenset({"base_model_name_or_path"})


def lora_fields(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A LoraConfig's fields in one comparable form: string lists PEFT keeps as sets sorted, the by-design
    differences left out."""
    if config is None:
        return None
    out = {}
    for key, value in sorted(config.items()):
        if key in FIELDS_NOT_COMPARED:
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = sorted(set(value))
        out[key] = value
    return out


def wrapped_digest(names: list[str]) -> dict[str, Any]:
    """The wrapped module set as a count and a digest (the names themselves would make the facts huge). PEFT's
    inner tuner layers name no module of the model: a second target parameter nests its ParamWrapper as
    `.base_layer`, trainable tokens keep theirs as `.token_adapter`; both count as the module they wrap."""
    import hashlib

    bare = sorted({_owner(n.removeprefix("base_model.model.")) for n in names})
    return {"count": len(bare), "sha256": hashlib.sha256("\n".join(bare).encode()).hexdigest()}


def truth_answer(rec: dict[str, Any]) -> dict[str, Any]:
    """The real Axolotl's verdict. A config it accepts but whose freezing leaves nothing trainable is refused
    here on purpose (freezing-trains-nothing); a failure that needs a GPU (LoftQ) is recorded, not judged."""
    accepted = rec["status"] == "ok"
    # judged by tests instead; a start-up refusal that mentions bitsandbytes is still a refusal
    hardware = (
        not accepted and rec.get("stage") not in START_UP and any(h in str(rec.get("error", "")) for h in HARDWARE)
    )
    trains_nothing = accepted and rec.get("trainable_sliced", rec.get("trainable")) == 0
    return {
        "accepted": accepted and not trains_nothing,
        "trains_nothing": trains_nothing,
        "hardware": hardware,
        "stage": None if accepted else rec.get("stage"),
        "error": None if accepted else str(rec.get("error", ""))[:200],
        "init_lora_weights": (rec.get("lora_config") or {}).get("init_lora_weights"),
        "peft_trainable": rec.get("peft_trainable") if accepted else None,
        "trainable": rec.get("trainable_sliced", rec.get("trainable")) if accepted else None,
        "lora_config": lora_fields(rec.get("lora_config")) if accepted else None,
        "wrapped": wrapped_digest(rec["wrapped_modules"]) if accepted and "wrapped_modules" in rec else None,
    }


def _owner(name: str) -> str:
    name = name.removesuffix(".token_adapter")
    while name.endswith(".base_layer"):
        name = name.removesuffix(".base_layer")
    return name


def ours(path: Path, session: Any, release: str) -> dict[str, Any]:
    from lora_compiler.engine.compiler import compile_document
    from lora_compiler.engine.options import Options
    from lora_compiler.pipeline.peftcfg import adapter_config_dict

    result = compile_document(path, Options(offline=True, axolotl=release), session)
    report = result.report
    # Axolotl's answer is the LoraConfig load_lora builds, before PEFT's injection-time rewrite and the save
    built = adapter_config_dict(result.lora_config) if result.lora_config is not None else None
    errors = sorted({f.rule for f in result.findings if f.severity.value == "error"})
    config = result.adapter_config or {}
    return {
        "accepted": result.exit_code() == 0,
        "errors": errors,
        "init_lora_weights": config.get("init_lora_weights"),
        "peft_trainable": report.peft_trainable_params if report else None,
        "trainable": report.trainable_params if report else None,
        "lora_config": lora_fields(built),
        "wrapped": wrapped_digest(wrapped_names(report)) if report else None,
        "wrapped_names": wrapped_names(report) if report else [],
    }


def wrapped_names(report: Any) -> list[str]:
    """The modules PEFT turned into tuner layers: targeted modules, and the owners of targeted parameters."""
    if report is None:
        return []
    names = {m.name if m.kind != "parameter" else m.name.rsplit(".", 1)[0] for m in report.modules}
    return sorted(names | {m.name for m in report.trainable_tokens})


def startup_agreement(records: list[dict[str, Any]], release: str, mismatches: list[str]) -> tuple[int, int]:
    """Configs without a bundled model: Axolotl's start-up verdict against our YAML-only rules (lint --no-model)."""
    from lora_compiler.engine.compiler import compile_document
    from lora_compiler.engine.options import Options

    agree = judged = 0
    for rec in records:
        verdict = rec.get("startup") if rec["status"] == "no-model" else None
        if not verdict or verdict["status"] == "error":
            continue
        judged += 1
        result = compile_document(Path(rec["config"]), Options(offline=True, no_model=True, axolotl=release))
        errors = sorted({f.rule for f in result.findings if f.severity.value == "error"})
        if (verdict["status"] == "ok") == (not errors):
            agree += 1
        else:
            mismatches.append(
                f"{Path(rec['config']).name} (start-up only): Axolotl "
                f"{'accepts' if verdict['status'] == 'ok' else 'refuses: ' + verdict['error'][:160]}; "
                f"we {'refuse ' + str(errors) if errors else 'accept'}"
            )
    return agree, judged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("truth", type=Path)
    parser.add_argument("--facts", type=Path, help="write the real Axolotl's answers here (JSON)")
    parser.add_argument(
        "--axolotl",
        required=True,
        help="the release that answered: its profile compiles our side, and it is recorded in --facts",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lora_compiler.engine.session import Session

    records = [json.loads(line) for line in args.truth.read_text().splitlines() if line.strip()]
    mismatches: list[str] = []
    startup_agree, startup_judged = startup_agreement(records, args.axolotl, mismatches)
    judged = [r for r in records if r["status"] != "no-model"]
    session = Session()
    facts: dict[str, Any] = {}
    verdicts = counts = hardware = fields = wrapped = 0
    for rec in judged:
        path = Path(rec["config"])
        want, got = truth_answer(rec), ours(path, session, args.axolotl)
        facts[path.stem] = want
        if want["hardware"]:
            hardware += 1
            if want["init_lora_weights"] != got["init_lora_weights"]:
                mismatches.append(
                    f"{path.name}: Axolotl's LoraConfig has init_lora_weights "
                    f"{want['init_lora_weights']}, "
                    f"ours {got['init_lora_weights']}"
                )
            continue
        if want["accepted"] != got["accepted"]:
            mismatches.append(
                f"{path.name}: Axolotl {'accepts' if want['accepted'] else 'refuses'} "
                f"({want['stage']}: {want['error']}); we {'accept' if got['accepted'] else 'refuse'} "
                f"{got['errors']}"
            )
        else:
            verdicts += 1
        if want["trains_nothing"] and "freezing-trains-nothing" not in got["errors"]:
            mismatches.append(f"{path.name}: Axolotl trains nothing; we do not say so ({got['errors']})")
        if want["lora_config"] is not None and got["lora_config"] is not None:
            if want["lora_config"] == got["lora_config"]:
                fields += 1
            else:
                diff = sorted(
                    k
                    for k in want["lora_config"].keys() | got["lora_config"].keys()
                    if want["lora_config"].get(k) != got["lora_config"].get(k)
                )
                mismatches.append(
                    f"{path.name}: LoraConfig fields differ: "
                    + "; ".join(
                        f"{k} Axolotl {want['lora_config'].get(k)!r} ours {got['lora_config'].get(k)!r}" for k in diff
                    )
                )
        if want["wrapped"] is not None and got["wrapped"] is not None:
            if want["wrapped"] == got["wrapped"]:
                wrapped += 1
            else:
                real = {_owner(n.removeprefix("base_model.model.")) for n in rec["wrapped_modules"]}
                extra, missing = sorted(set(got["wrapped_names"]) - real), sorted(real - set(got["wrapped_names"]))
                mismatches.append(
                    f"{path.name}: wrapped modules differ: Axolotl {want['wrapped']['count']}, ours "
                    f"{got['wrapped']['count']}; only ours {extra[:3]}; only Axolotl's {missing[:3]}"
                )
        if want["trainable"] is not None and got["trainable"] is not None:
            if want["trainable"] == got["trainable"]:
                counts += 1
            else:
                mismatches.append(
                    f"{path.name}: Axolotl trains {want['trainable']:,} "
                    f"(PEFT {want['peft_trainable']:,}), "
                    f"we say {got['trainable']:,} (PEFT {got['peft_trainable']:,})"
                )
    both = sum(1 for r in judged if truth_answer(r)["trainable"] is not None)
    built = sum(1 for r in judged if truth_answer(r)["lora_config"] is not None)
    for line in mismatches:
        print("MISMATCH", line)
    if startup_judged:
        print(
            f"start-up only (no bundled model; validate_config against lint --no-model): agree on "
            f"{startup_agree}/{startup_judged}"
        )
    print(
        f"{len(records)} configs, {len(judged)} with a bundled model: accept/refuse agree on "
        f"{verdicts}/{len(judged) - hardware} ({hardware} need a GPU or real weights: LoraConfig compared "
        f"instead); LoraConfig fields agree on {fields}, wrapped modules on {wrapped} of {built} accepted; trained "
        f"count agrees on {counts} of {both} that train"
    )
    if args.facts:
        args.facts.parent.mkdir(parents=True, exist_ok=True)
        args.facts.write_text(
            json.dumps(
                {
                    "axolotl": args.axolotl,
                    "made_by": "scripts/axolotl_differential.sh",
                    "answers": dict(sorted(facts.items())),
                },
                indent=1,
            )
            + "\n"
        )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
