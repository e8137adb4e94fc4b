"""Exports for other trainers: byte-stable against the golden files, and trained alike by the trainers' own code.

The golden files and cases.json come from scripts/trainer_golden.py; <trainer>.json from
scripts/trainer_check.py run with each trainer's own parser and target selection in its own venv
(scripts/trainer_exports.sh). Here nothing of the trainers is imported: their recorded answers are held
against what the compile wraps, and the exports against the files those answers judged.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from trainer_cases import CONFIGS, FACTS, case_name, run_case

from lora_compiler.export import TRAINERS

CASES = json.loads((FACTS / "cases.json").read_text())["cases"]
# the trainers with a proof venv (peft is PEFT itself: judged in-process)
CHECKED = tuple(name for name, trainer in TRAINERS.items() if trainer.requirements)
FACT_FILES = {t: json.loads((FACTS / f"{t}.json").read_text()) for t in CHECKED}


def test_the_case_set_is_every_bundled_example_and_every_export_config():
    assert sorted(CASES) == sorted(case_name(p) for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=case_name)
def test_exports_equal_the_golden_files_and_their_findings(path):
    record, texts = run_case(path)
    assert record == CASES[case_name(path)], "re-run scripts/trainer_exports.sh: the exports changed"
    for file, text in texts.items():
        assert (FACTS / "golden" / case_name(path) / file).read_text() == text


@pytest.mark.parametrize("trainer", CHECKED)
def test_each_trainer_judged_every_file_it_was_given_as_it_is_now(trainer):
    facts = FACT_FILES[trainer]["cases"]
    exported = {n for n, c in CASES.items() if not c["exports"][trainer].get("refused")}
    assert set(facts) == exported
    for name in exported:
        golden = FACTS / "golden" / name / CASES[name]["exports"][trainer]["file"]
        assert facts[name]["sha256"] == hashlib.sha256(golden.read_bytes()).hexdigest(), name


@pytest.mark.parametrize("trainer", CHECKED)
def test_each_trainer_accepts_the_export_and_trains_what_the_yaml_trains(trainer):
    for name, fact in FACT_FILES[trainer]["cases"].items():
        case = CASES[name]
        assert fact["accepted"], (name, fact["error"])
        assert fact["wrapped"] == case["compiled"], name  # names, ranks and scaling, layer by layer
        assert fact["modules_to_save"] == case["modules_to_save"], name
        assert fact["trainable_tokens"] == case["trainable_tokens"], name
        assert (fact["dora"], fact["dropout"]) == (case["dora"], case["dropout"]), name
        assert fact["init"] == case["init"], name


def test_the_set_shows_each_trainer_exporting_and_refusing_and_peft_never_refusing():
    for trainer in (*CHECKED, "peft"):
        refused = {n for n, c in CASES.items() if c["exports"][trainer].get("refused")}
        assert len(refused) < len(CASES), trainer
        assert (trainer == "peft") == (not refused), (trainer, refused)
