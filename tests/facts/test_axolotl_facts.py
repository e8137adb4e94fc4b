"""The real Axolotl releases' answers, recorded: every variant compiles, under each release's profile, to
the verdict, LoraConfig, wrapped module set and trained count that release gave.

tests/axolotl_variants/ (scripts/axolotl_variants.py) probe freezing patterns and ranges,
freeze_mm_modules, the start-up validators, keys Axolotl drops, trainable tokens, modules_to_save and
every difference between releases (release-*). tests/axolotl_facts/axolotl-VERSION.json holds what the
real release did with each (validate, normalize, load_lora, get_peft_model on the meta skeleton,
train.py's freezing), measured by scripts/axolotl_differential.sh in that release's own venv (its own
transformers and peft); this test needs no Axolotl and runs on whichever stack is installed. A config
Axolotl accepts but whose freezing trains nothing must fail here with freezing-trains-nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lora_compiler import profiles
from lora_compiler.engine.session import Session

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = sorted((ROOT / "tests" / "axolotl_variants").glob("*.yml"))
RELEASES = tuple(profiles.PROFILES)  # each measured on every variant (docs/axolotl-releases.md)
ALL_FACTS = {
    r: json.loads((ROOT / "tests" / "axolotl_facts" / f"axolotl-{r}.json").read_text())["answers"] for r in RELEASES
}
FACTS = ALL_FACTS["0.19.0"]
sys.path.insert(0, str(ROOT / "scripts"))
from axolotl_compare import ours  # noqa: E402  (the differential's own comparison)


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def _fields(config: dict[str, Any], other: dict[str, Any], release: str) -> dict[str, Any]:
    """Every LoraConfig field on the release's own stack; on another peft, the fields both versions have, without
    peft_version (a newer peft adds fields such as kasa_config and records its own version)."""
    if profiles.find(release) is profiles.of_stack():
        return config
    return {k: v for k, v in config.items() if k in other and k != "peft_version"}


@pytest.mark.parametrize("release", RELEASES)
def test_every_variant_has_a_recorded_answer_and_there_are_enough(release: str) -> None:
    assert sorted(p.stem for p in VARIANTS) == sorted(ALL_FACTS[release])
    assert len(VARIANTS) >= 180


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.stem)
def test_variant_gets_the_real_axolotl_s_answer(path: Path, release: str, session: Session, monkeypatch: Any) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    want, got = ALL_FACTS[release][path.stem], ours(path, session, release)
    if want[
        "hardware"
    ]:  # Axolotl failed for want of a GPU (LoftQ) or of real weights (PiSSA on meta): compare the LoraConfig
        assert got["init_lora_weights"] == want["init_lora_weights"]
        return
    assert got["accepted"] == want["accepted"], (want["error"], got["errors"])
    if want["trains_nothing"]:
        assert "freezing-trains-nothing" in got["errors"]
    if want["trainable"] is not None:
        assert (got["trainable"], got["peft_trainable"]) == (want["trainable"], want["peft_trainable"])
    if want.get("lora_config") is not None:
        assert _fields(got["lora_config"], want["lora_config"], release) == _fields(
            want["lora_config"], got["lora_config"], release
        )
    if want.get("wrapped") is not None:
        assert got["wrapped"] == want["wrapped"], got["wrapped_names"][:5]


@pytest.mark.parametrize(
    "stem",
    ["unfrozen-gemma-example-patterns", "unfrozen-gemma3-1b-bare-patterns", "unfrozen-gemma3-270m-bare-patterns"],
)
def test_gemma3_examples_freezing_trains_nothing_and_the_error_sits_on_unfrozen_parameters(
    stem: str, session: Session, monkeypatch: Any
) -> None:
    """The shipped gemma3 examples' patterns (^model.language_model.*, ^lm_head.*) match no PeftModel name."""
    from lora_compiler.engine.compiler import compile_document
    from lora_compiler.engine.options import Options

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = ROOT / "tests" / "axolotl_variants" / f"{stem}.yml"
    result = compile_document(path, Options(offline=True, axolotl="0.19.0"), session)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("unfrozen_parameters:"))
    (error,) = [f for f in result.findings if f.rule == "freezing-trains-nothing"]
    assert (error.line, error.column) == (line, 1)
    assert result.report.trainable_params == FACTS[stem]["trainable"] == 0
    assert result.report.peft_trainable_params == FACTS[stem]["peft_trainable"] > 0
