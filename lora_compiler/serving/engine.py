"""What a serving engine is to lora-compiler: its name for --serve, how it judges an adapter, how it is launched.

Each engine module (serving/vllm.py, serving/sglang.py) declares one Engine; serving/__init__.py lists them.
Its rule tables are the ENGINE-VERSION.json files of this folder, written by scripts/gen_serving_rules.py with
the extractor the declaration names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .verdict import Plan


@dataclass(frozen=True)
class Engine:
    name: str  # --serve ENGINE, and the prefix of its tables' file names
    label: str  # "vLLM": how findings name it
    check: Callable[[dict[str, Any], Any], Plan]  # (rule table, rules.context.Context) -> its verdicts
    launch: Callable[[Plan, str, str], str]  # (plan, base model, NAME=ADAPTER_DIR) -> the command that serves it
    extractor: str  # the scripts/ module whose extract(wheel, version) reads a release's table out of its wheel
