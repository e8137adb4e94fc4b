"""Every rule module, imported in one place: once this module is loaded, the registry is complete.

The order is the order the engine runs the checks of a stage in.
"""

from __future__ import annotations

from . import (  # noqa: F401  (declaration)
    adapter,
    adapter_dir,
    advice,
    coverage,
    export,
    freezing,
    keys,
    model_rules,
    peft_outcome,
    pipeline,
    profile,
    saved_adapter,
    serving,
    startup,
)
from .registry import REGISTRY, restore, run_checks

__all__ = ["REGISTRY", "restore", "run_checks"]
