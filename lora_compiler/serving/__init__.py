"""Serving engines whose LoRA loading lint, compile and export check on request (--serve ENGINE[@VERSION]).

An engine is one module here declaring its Engine (serving/vllm.py, serving/sglang.py: name, checks, launch
command, extractor), listed in ENGINES below; the CLI help, rules/serving.py and scripts/gen_serving_rules.py
read that list. Each engine release is one table in this folder, ENGINE-VERSION.json, generated from its
released wheel by scripts/gen_serving_rules.py; the checks read only the table, so a new release is a new
file. Importing this module reads no table and imports neither torch nor the engines.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from . import sglang, vllm
from .engine import Engine

ENGINES: dict[str, Engine] = {e.name: e for e in (vllm.ENGINE, sglang.ENGINE)}


class ServeError(ValueError):
    """--serve names an engine or release with no table here (a usage error: exit 2)."""


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def releases(engine: str) -> list[str]:
    """The releases of `engine` with a table, oldest first."""
    names = [p.name for p in resources.files(__name__).iterdir() if p.name.startswith(f"{engine}-")]
    return sorted((n[len(engine) + 1 : -len(".json")] for n in names if n.endswith(".json")), key=_key)


def resolve(spec: str) -> str:
    """'vllm' or 'vllm@0.33.0' -> 'vllm@0.33.0' (no version: the newest table); ServeError lists what exists."""
    engine, _, version = spec.partition("@")
    if engine not in ENGINES:
        raise ServeError(f"unknown serving engine {engine!r}: choose {', '.join(ENGINES)} (optionally @VERSION)")
    known = releases(engine)
    if not version:
        return f"{engine}@{known[-1]}"
    if version not in known:
        raise ServeError(
            f"no rules for {engine} {version}: this lora-compiler knows {engine} "
            f"{', '.join(known)} (scripts/gen_serving_rules.py reads another release's wheel)"
        )
    return f"{engine}@{version}"


@cache
def table(spec: str) -> dict[str, Any]:
    """The committed rule table of a resolved 'engine@version'."""
    engine, _, version = resolve(spec).partition("@")
    return json.loads(resources.files(__name__).joinpath(f"{engine}-{version}.json").read_text())


def plan(spec: str, ctx: Any) -> Any:
    """The engine's serving.verdict.Plan for this compile (rules.context.Context with its report and adapter_config)."""
    rules = table(spec)
    return ENGINES[rules["engine"]].check(rules, ctx)
