"""The library changes that change what a config trains, as data: one Behaviour per change.

An Axolotl release pins transformers and peft; a run on other versions trains what those versions build. Most
version differences change nothing a config trains, a few change it for some configs only (a model type, a
config feature). This table names those few, each with the library release that brought it and the runs it
touches, so that the stack verdict (rules/profile.py) and `lint --locked` name the answers of a run that a
version difference can change and stay quiet about the rest. Every behaviour is backed by a recorded fact (a
config whose answers differ between the two stacks, scripts/stack_answers.py -> tests/facts/stack_answers.json),
and every recorded difference is explained by one (tests/facts/test_stack_answers.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LIBRARIES = ("transformers", "peft")
# The newest releases the suite also runs on, besides the newest Axolotl release's pins: constraints-newest.txt
# (scripts/install.sh --stack newest) and the second pass of .ci/run. Moving it forward: record the new stack's
# answers first (scripts/stack_facts.py, scripts/stack_answers.py, scripts/peft_saves.py in its venv).
NEWEST_TESTED = {"torch": "2.13.0", "transformers": "5.25.0", "peft": "0.22.0"}


@dataclass(frozen=True)
class Run:
    """What a behaviour's condition reads of one compiled config: no model object, so facts can replay it."""

    model_type: str
    values: Mapping[str, Any]  # the YAML's keys
    suffixes: frozenset[str]  # the last name component of every module of the skeleton


@dataclass(frozen=True)
class Behaviour:
    id: str
    library: str  # transformers | peft
    since: str  # the first release of `library` that behaves the new way
    change: str  # what changes, as a finding says it ("PEFT 0.22 converts qwen2_moe experts")
    model_types: frozenset[str] = frozenset()  # the runs it touches (empty: any model type)
    feature: Callable[[Run], bool] | None = None  # and a condition on the config (None: every run of those types)

    def touches(self, run: Run) -> bool:
        """This run's answers can change with the library across `since`."""
        if self.model_types and run.model_type not in self.model_types:
            return False
        return self.feature is None or self.feature(run)

    def crossed(self, pinned: Mapping[str, str | None], installed: Mapping[str, str | None]) -> bool:
        """One side of the comparison is before `since` and the other at or after it."""
        a, b = pinned.get(self.library), installed.get(self.library)
        if not a or not b:
            return False
        return (release(a) < release(self.since)) != (release(b) < release(self.since))


def release(version: str) -> tuple[int, ...]:
    """(5, 25, 0) for "5.25.0" or "5.25.0.dev1": the release numbers, which is what the table compares."""
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0].split(".dev")[0].split("rc")[0])[:3])


def same_minor(a: str, b: str) -> bool:
    return release(a)[:2] == release(b)[:2]


def _partial_modules_to_save(run: Run) -> bool:
    """A `lora_modules_to_save` name that ends a module's name without being its whole last component ('head'
    for lm_head): PEFT 0.21 matched it as a plain suffix, PEFT 0.22 only at a dot boundary."""
    names = run.values.get("lora_modules_to_save")
    if not isinstance(names, list):
        return False
    plain = [n for n in names if isinstance(n, str) and "." not in n]
    return any(n not in run.suffixes and any(s.endswith(n) for s in run.suffixes) for n in plain)


def _targets(*names: str) -> Callable[[Run], bool]:
    """The config targets one of `names` by name, or every linear layer (`lora_target_linear`)."""

    def targets(run: Run) -> bool:
        listed = run.values.get("lora_target_modules")
        if isinstance(listed, str):  # a regex: it names one of them if it spells it out
            return any(n in listed for n in names)
        named = isinstance(listed, list) and any(n in listed for n in names)
        return named or run.values.get("lora_target_linear") is True

    targets.__doc__ = f"targets {', '.join(names)} or every linear layer"
    return targets


EXPERT_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "peft-converts-moe-experts",
        "peft",
        "0.22.0",
        "PEFT 0.22 converts {model_type} experts to fused parameters (gate_up_proj, down_proj)",
        frozenset({"qwen2_moe"}),
        _targets(*EXPERT_PROJECTIONS),
    ),
    Behaviour(
        "peft-keeps-linear-expert-names",
        "peft",
        "0.22.0",
        "PEFT 0.22 keeps gate_proj/up_proj/down_proj in target_modules beside the fused {model_type} expert "
        "parameters (the dense and shared-expert MLPs are wrapped too)",
        frozenset({"afmoe", "deepseek_v2", "deepseek_v3"}),
        _targets(*EXPERT_PROJECTIONS),
    ),
    Behaviour(
        "peft-modules-to-save-dot-boundary",
        "peft",
        "0.22.0",
        "PEFT 0.22 matches lora_modules_to_save only at a dot boundary (a partial name saves nothing)",
        feature=_partial_modules_to_save,
    ),
    Behaviour(
        "transformers-jamba-router",
        "transformers",
        "5.21.0",
        "transformers 5.21 makes Jamba's feed_forward.router a module of its own, not an nn.Linear (PEFT refuses "
        "it as a target)",
        frozenset({"jamba"}),
        _targets("router"),
    ),
)
BY_ID = {b.id: b for b in BEHAVIOURS}


def touching(run: Run) -> tuple[str, ...]:
    """The ids of the behaviours whose answers this run depends on, whatever versions serve it."""
    return tuple(b.id for b in BEHAVIOURS if b.touches(run))


def changed(
    ids: Iterable[str], pinned: Mapping[str, str | None], installed: Mapping[str, str | None]
) -> list[Behaviour]:
    """Of the behaviours `ids`, those whose library release lies between the pinned and the installed versions."""
    return [BY_ID[i] for i in ids if i in BY_ID and BY_ID[i].crossed(pinned, installed)]


def said(behaviour: Behaviour, model_types: Iterable[str]) -> str:
    """The behaviour's change, with the run's model types where it names them."""
    types = sorted(set(model_types) & behaviour.model_types) or sorted(behaviour.model_types)
    return behaviour.change.replace("{model_type}", ", ".join(types) or "MoE")
