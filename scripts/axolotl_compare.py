"""Compare lora-compiler with the real Axolotl's answers (scripts/axolotl_truth.py output).

    python scripts/axolotl_compare.py TRUTH.jsonl [--facts OUT.json]

For every config the real Axolotl could judge (its model is bundled), compiles it here (offline,
one Session) and compares: accepted or refused (Axolotl: validate_config, normalize_config,
load_lora, get_peft_model and train.py's freezing all pass; here: exit code 0), and the trained
parameter count after the post-load freezing. Prints each mismatch and the agreement figures;
`--facts` writes the real tool's answers as the committed expectations tests/test_axolotl_facts.py
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


def truth_answer(rec: dict[str, Any]) -> dict[str, Any]:
    """The real Axolotl's verdict. A config it accepts but whose freezing leaves nothing trainable is refused
    here on purpose (freezing-trains-nothing); a failure that needs a GPU (LoftQ) is recorded, not judged."""
    accepted = rec["status"] == "ok"
    hardware = not accepted and any(h in str(rec.get("error", "")) for h in HARDWARE)  # judged by tests instead
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
    }


def ours(path: Path, session: Any) -> dict[str, Any]:
    from lora_compiler.pipeline.compiler import compile_document
    from lora_compiler.pipeline.options import Options

    result = compile_document(path, Options(offline=True), session)
    report = result.report
    errors = sorted({f.rule for f in result.findings if f.severity.value == "error"})
    config = result.adapter_config or {}
    return {"accepted": result.exit_code() == 0, "errors": errors, "init_lora_weights": config.get("init_lora_weights"),
            "peft_trainable": report.peft_trainable_params if report else None,
            "trainable": report.trainable_params if report else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("truth", type=Path)
    parser.add_argument("--facts", type=Path, help="write the real Axolotl's answers here (JSON)")
    parser.add_argument("--axolotl", default="0.19.0", help="the release that answered (recorded in --facts)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lora_compiler.pipeline.session import Session

    records = [json.loads(line) for line in args.truth.read_text().splitlines() if line.strip()]
    judged = [r for r in records if r["status"] != "no-model"]
    session = Session()
    facts: dict[str, Any] = {}
    verdicts = counts = hardware = 0
    mismatches: list[str] = []
    for rec in judged:
        path = Path(rec["config"])
        want, got = truth_answer(rec), ours(path, session)
        facts[path.stem] = want
        if want["hardware"]:
            hardware += 1
            if want["init_lora_weights"] != got["init_lora_weights"]:
                mismatches.append(f"{path.name}: Axolotl's LoraConfig has init_lora_weights "
                                  f"{want['init_lora_weights']}, "
                                  f"ours {got['init_lora_weights']}")
            continue
        if want["accepted"] != got["accepted"]:
            mismatches.append(f"{path.name}: Axolotl {'accepts' if want['accepted'] else 'refuses'} "
                              f"({want['stage']}: {want['error']}); we {'accept' if got['accepted'] else 'refuse'} "
                              f"{got['errors']}")
        else:
            verdicts += 1
        if want["trains_nothing"] and "freezing-trains-nothing" not in got["errors"]:
            mismatches.append(f"{path.name}: Axolotl trains nothing; we do not say so ({got['errors']})")
        if want["trainable"] is not None and got["trainable"] is not None:
            if want["trainable"] == got["trainable"]:
                counts += 1
            else:
                mismatches.append(f"{path.name}: Axolotl trains {want['trainable']:,} "
                                  f"(PEFT {want['peft_trainable']:,}), "
                                  f"we say {got['trainable']:,} (PEFT {got['peft_trainable']:,})")
    both = sum(1 for r in judged if truth_answer(r)["trainable"] is not None)
    for line in mismatches:
        print("MISMATCH", line)
    print(f"{len(records)} configs, {len(judged)} with a bundled model: accept/refuse agree on "
          f"{verdicts}/{len(judged) - hardware} ({hardware} need a GPU or real weights: LoraConfig compared "
          f"instead); trained count agrees on {counts} of {both} that train")
    if args.facts:
        args.facts.parent.mkdir(parents=True, exist_ok=True)
        args.facts.write_text(json.dumps({"axolotl": args.axolotl, "made_by": "scripts/axolotl_differential.sh",
                                          "answers": dict(sorted(facts.items()))}, indent=1) + "\n")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
