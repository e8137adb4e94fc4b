"""The real Axolotl 0.19's answers, recorded: every variant compiles to the verdict and count it gave.

tests/axolotl_variants/ (scripts/axolotl_variants.py) probe freezing patterns and ranges,
freeze_mm_modules, the start-up validators, keys Axolotl drops, trainable tokens and modules_to_save.
tests/axolotl_facts/axolotl-0.19.0.json holds what the real Axolotl 0.19.0 did with each (validate,
normalize, load_lora, get_peft_model on the meta skeleton, train.py's freezing), measured by
scripts/axolotl_differential.sh; this test needs no Axolotl. A config Axolotl accepts but whose
freezing trains nothing must fail here with freezing-trains-nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lora_compiler.pipeline.session import Session

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = sorted((ROOT / "tests" / "axolotl_variants").glob("*.yml"))
FACTS = json.loads((ROOT / "tests" / "axolotl_facts" / "axolotl-0.19.0.json").read_text())["answers"]
sys.path.insert(0, str(ROOT / "scripts"))
from axolotl_compare import ours  # noqa: E402  (the differential's own comparison)


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def test_every_variant_has_a_recorded_answer_and_there_are_enough() -> None:
    assert sorted(p.stem for p in VARIANTS) == sorted(FACTS)
    assert len(VARIANTS) >= 150


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.stem)
def test_variant_gets_the_real_axolotl_s_answer(path: Path, session: Session, monkeypatch: Any) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    want, got = FACTS[path.stem], ours(path, session)
    if want["hardware"]:  # Axolotl failed for want of a GPU (LoftQ) or of real weights (PiSSA on meta): compare the LoraConfig
        assert got["init_lora_weights"] == want["init_lora_weights"]
        return
    assert got["accepted"] == want["accepted"], (want["error"], got["errors"])
    if want["trains_nothing"]:
        assert "freezing-trains-nothing" in got["errors"]
    if want["trainable"] is not None:
        assert (got["trainable"], got["peft_trainable"]) == (want["trainable"], want["peft_trainable"])


@pytest.mark.parametrize("stem", ["unfrozen-gemma-example-patterns", "unfrozen-gemma3-1b-bare-patterns",
                                  "unfrozen-gemma3-270m-bare-patterns"])
def test_gemma3_examples_freezing_trains_nothing_and_the_error_sits_on_unfrozen_parameters(
        stem: str, session: Session, monkeypatch: Any) -> None:
    """The shipped gemma3 examples' patterns (^model.language_model.*, ^lm_head.*) match no PeftModel name."""
    from lora_compiler.pipeline.compiler import compile_document
    from lora_compiler.pipeline.options import Options

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = ROOT / "tests" / "axolotl_variants" / f"{stem}.yml"
    result = compile_document(path, Options(offline=True), session)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("unfrozen_parameters:"))
    (error,) = [f for f in result.findings if f.rule == "freezing-trains-nothing"]
    assert (error.line, error.column) == (line, 1)
    assert result.report.trainable_params == FACTS[stem]["trainable"] == 0
    assert result.report.peft_trainable_params == FACTS[stem]["peft_trainable"] > 0
