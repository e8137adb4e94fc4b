"""The export test set: every bundled example and tests/trainer_facts/configs, exported for every trainer.

scripts/trainer_golden.py writes what this computes to tests/trainer_facts (cases.json and the golden files);
scripts/trainer_check.py runs each trainer's own code on those files; tests/facts/test_trainer_exports.py computes
it again and holds both equal.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "tests" / "trainer_facts"
CONFIGS = sorted((ROOT / "fixtures" / "configs").glob("*.yml")) + sorted((FACTS / "configs").glob("*.yml"))


def case_name(path: Path) -> str:
    return path.stem


def run_case(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(the case's record for cases.json, {file name: exported text}) for one YAML."""
    from lora_compiler.api import _compile, _export
    from lora_compiler.engine.options import Options
    from lora_compiler.engine.session import Session
    from lora_compiler.export import TRAINERS
    from lora_compiler.pipeline.document import load_file

    options = Options(offline=True)
    doc, session = load_file(path), Session()
    result = _compile(doc, options, session)
    assert result.exit_code() == 0, [f.message for f in result.findings]
    rslora = bool(result.adapter_config.get("use_rslora"))
    record: dict[str, Any] = {
        "config": str(path.relative_to(ROOT)),
        "model": result.spec.base_model,
        "compiled": sorted(
            [m.name, m.r, round(m.alpha / (math.sqrt(m.r) if rslora else m.r), 6)] for m in result.report.modules
        ),
        "modules_to_save": sorted(m.name for m in result.report.modules_to_save),
        "trainable_tokens": sorted(m.name for m in result.report.trainable_tokens),
        # as scripts/trainer_check.py notes them per LoRA layer (sorted sets)
        "init": [str(result.adapter_config.get("init_lora_weights"))],
        "dropout": [float(result.adapter_config.get("lora_dropout") or 0.0)],
        "dora": [bool(result.adapter_config.get("use_dora"))],
        "exports": {},
    }
    texts: dict[str, str] = {}
    for name in TRAINERS:
        done = _export(doc, options, session, result, name, None)
        findings = [[f.rule, f.severity.value, f.line, f.column] for f in done.findings]
        if done.text is None:
            record["exports"][name] = {"refused": True, "findings": findings}
        else:
            texts[done.filename] = done.text
            record["exports"][name] = {
                "file": done.filename,
                "findings": findings,
                "sha256": hashlib.sha256(done.text.encode()).hexdigest(),
            }
    return record, texts
