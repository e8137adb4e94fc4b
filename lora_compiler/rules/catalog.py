"""Every rule module, imported in one place: once this module is loaded, the registry is complete.

The order is the order the engine runs the checks of a stage in.
"""

from __future__ import annotations

from ..rulebook import export, pipeline, saved_adapter  # noqa: F401  (the rules stages raise)
from ..rulebook.registry import REGISTRY, restore, run_checks
from . import (  # noqa: F401  (declaration)
    adapter,
    adapter_dir,
    advice,
    coverage,
    freezing,
    keys,
    model_rules,
    modules_to_save,
    peft_outcome,
    profile,
    saved_config,
    serving,
)

# isort: off
from . import axolotl  # noqa: F401  (Axolotl's start-up validators run last)
# isort: on

__all__ = ["REGISTRY", "restore", "run_checks"]
