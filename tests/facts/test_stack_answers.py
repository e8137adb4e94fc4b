"""The library behaviour table (lora_compiler/profiles/stack.py) against recorded answers of several stacks.

tests/facts/stack_answers.json holds what every fixture config trains on Axolotl's pinned transformers/peft, on the
newest ones, and on a stack that mixes them (scripts/stack_answers.py, run in each stack's venv). Replayed here
without any of those libraries, for every pair of recorded stacks: every difference of a config's answers is
explained by a behaviour whose library release lies between the two; a behaviour names no config whose answers
stayed the same (the stack verdict stays quiet about those); and every behaviour is backed by a config whose
answers really differ between two stacks that differ in its library only."""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lora_compiler.pipeline.document import load_file
from lora_compiler.profiles import NEWEST
from lora_compiler.profiles import stack as stackmod

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

REPO = Path(__file__).resolve().parents[2]
FACTS = json.loads((REPO / "tests" / "facts" / "stack_answers.json").read_text())
STACKS: dict[str, dict[str, Any]] = FACTS["stacks"]
ANSWERS = ("exit_code", "target_modules", "target_parameters", "wrapped_digest", "trainable_params", "adapter_bytes")
PAIRS = list(itertools.combinations(sorted(STACKS), 2))


@cache
def _values(config: str) -> dict[str, Any]:
    return load_file(REPO / config).values


def _explained(config: str, a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    """The behaviours the table names for this config between stacks a and b, replayed from the facts."""
    ids: set[str] = set()
    for side in (a, b):
        answer = side["configs"][config]
        run = stackmod.Run(answer["model_type"] or "", _values(config), frozenset(answer["suffixes"]))
        ids |= set(stackmod.touching(run))
    return {x.id for x in stackmod.changed(ids, a["versions"], b["versions"])}


def _pair(names: tuple[str, str]) -> dict[str, tuple[list[str], set[str]]]:
    """Per config: the answers that differ between the two stacks, and the behaviours that explain a difference."""
    a, b = STACKS[names[0]], STACKS[names[1]]
    out = {}
    for config in sorted(a["configs"]):
        x, y = a["configs"][config], b["configs"][config]
        out[config] = ([k for k in ANSWERS if x[k] != y[k]], _explained(config, a, b))
    return out


def _moved(names: tuple[str, str]) -> set[str]:
    a, b = STACKS[names[0]]["versions"], STACKS[names[1]]["versions"]
    return {lib for lib in stackmod.LIBRARIES if a[lib] != b[lib]}


def test_the_pinned_stack_and_one_library_at_a_time_are_recorded_on_the_same_configs() -> None:
    pinned = f"transformers {NEWEST.transformers}, peft {NEWEST.peft}"
    assert pinned in STACKS, f"no answers recorded on {NEWEST.name}'s pins: run scripts/stack_answers.py"
    assert len({frozenset(s["configs"]) for s in STACKS.values()}) == 1
    assert len(STACKS[pinned]["configs"]) > 100  # fixtures/configs, tests/cases and the stack probes
    single = {lib for names in PAIRS if len(moved := _moved(names)) == 1 for lib in moved}
    assert single == set(stackmod.LIBRARIES), "record a stack that moves one library only (scripts/stack_answers.py)"


@pytest.mark.parametrize("names", PAIRS, ids=" vs ".join)
def test_every_recorded_difference_is_explained_by_a_behaviour(names: tuple[str, str]) -> None:
    unexplained = {c: differ for c, (differ, ids) in _pair(names).items() if differ and not ids}
    assert unexplained == {}


@pytest.mark.parametrize("names", PAIRS, ids=" vs ".join)
def test_a_behaviour_names_no_config_whose_answers_stayed_the_same(names: tuple[str, str]) -> None:
    quiet = {c: sorted(ids) for c, (differ, ids) in _pair(names).items() if ids and not differ}
    assert quiet == {}


@pytest.mark.parametrize("behaviour", stackmod.BEHAVIOURS, ids=lambda b: b.id)
def test_every_behaviour_is_backed_by_a_difference_its_library_alone_makes(behaviour: stackmod.Behaviour) -> None:
    backed = [
        (names, config)
        for names in PAIRS
        if _moved(names) == {behaviour.library}
        for config, (differ, ids) in _pair(names).items()
        if differ and behaviour.id in ids
    ]
    assert backed, f"no recorded config differs between two stacks that move {behaviour.library} alone"
