"""The installed libraries' own answers to the questions some expectations depend on (what PEFT does with a
router, whether a modules_to_save name may be partial, ...), as scripts/stack_facts.py recorded them in each
stack's venv: tests/facts/peft_answers-<peft>.json and transformers_answers-<transformers>.json.

A test asks `answer(name)` instead of pinning one release's behaviour; on a stack with no recorded answers
the test is skipped, saying which script records them.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

FACTS = Path(__file__).resolve().parent / "facts"


def _script() -> Any:
    """scripts/stack_facts.py as a module (its name is taken by this one on the tests' path)."""
    spec = importlib.util.spec_from_file_location("stack_facts_script", FACTS.parents[1] / "scripts" / "stack_facts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The tiny models the answers were recorded on: a test that reads an answer builds the same model.
_RECORDER = _script()
SMALL: dict[str, Any] = _RECORDER.SMALL
MOE: dict[str, dict[str, Any]] = _RECORDER.MOE


@cache
def answers() -> dict[str, Any] | None:
    """Every recorded answer for the installed peft and transformers; None unless both were measured together."""
    stack = {"peft": version("peft"), "transformers": version("transformers")}
    found: dict[str, Any] = {}
    for library in ("peft", "transformers"):
        path = FACTS / f"{library}_answers-{stack[library]}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if any(data["measured_with"][lib] != have for lib, have in stack.items()):
            return None  # an answer may depend on both libraries: measured on another pairing
        found.update(data["answers"])
    return found


def answer(name: str) -> Any:
    """The installed stack's recorded answer to `name` (a KeyError for a question never asked)."""
    recorded = answers()
    if recorded is None:
        pytest.skip(
            f"no answers recorded for peft {version('peft')} / transformers {version('transformers')}: "
            "run scripts/stack_facts.py in this venv"
        )
    return recorded[name]
