"""The real Axolotl's start-up verdict on every mirrored validator's examples, per release, recorded by
scripts/axolotl_startup.py --record (tests/axolotl_facts/startup-RELEASE.json): lint must refuse exactly what
Axolotl refused and blame the same key, with no Axolotl installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lora_compiler.devices import parse
from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.profiles import PROFILES
from lora_compiler.rules.axolotl.validator import ALL, example, refuses

FACTS = Path(__file__).resolve().parents[1] / "axolotl_facts"


def facts(release: str) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((FACTS / f"startup-{release}.json").read_text("utf-8"))
    return data


def current(release: str) -> dict[str, dict[str, Any]]:
    out = {}
    for v in ALL:
        if v.runs_in(release):
            form = f"{v.id}@{v.since}..{v.until or ''}"
            out[f"{form}:refused"], out[f"{form}:accepted"] = example(v.refused), example(v.accepted)
    return out


@pytest.mark.parametrize("release", list(PROFILES))
def test_every_example_was_judged_by_the_real_release_as_it_is_now(release: str) -> None:
    recorded = facts(release)
    stale = sorted(n for n, cfg in current(release).items() if recorded.get(n, {}).get("config") != cfg)
    assert stale == [], f"re-run scripts/axolotl_startup.py --release {release} --record for {stale[:5]}"


@pytest.mark.parametrize("release", list(PROFILES))
def test_lint_refuses_what_axolotl_refused_at_the_key_it_named(release: str) -> None:
    wrong = []
    for name, fact in facts(release).items():
        gpu = parse(fact["device"]) if fact.get("device") else None  # a form that judges the GPU ran on its own
        result = compile_document(fact["config"], Options(offline=True, no_model=True, axolotl=release, gpu=gpu))
        errors = [f for f in result.findings if refuses(f.rule) and f.severity.value == "error"]
        if bool(errors) != fact["refused"] or (errors and errors[0].key != fact["key"]):
            wrong.append((name, fact["refused"], [(f.rule, f.key) for f in errors]))
    assert wrong == []


@pytest.mark.parametrize("release", list(PROFILES))
def test_every_recorded_refusal_names_the_key_lint_blames(release: str) -> None:
    unnamed = sorted(n for n, f in facts(release).items() if f["refused"] and not f["key_named"])
    assert unnamed == []
