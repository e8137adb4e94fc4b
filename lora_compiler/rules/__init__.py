"""Every rule, one object each (registry.py), declared by one module per group of rules.

This package's own import stays light (the registry and its types): pipeline stages import the rule
declarations they raise, and the modules with checks import those stages, so the checks are loaded
(catalog.py) only when the whole table is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..rulebook.registry import Docs, Rule, Stage, rule

if TYPE_CHECKING:
    from ..results.findings import Finding
    from .context import Context

__all__ = [
    "Docs",
    "Rule",
    "Stage",
    "all_rules",
    "by_id",
    "restore",
    "rule",
    "rules_markdown",
    "run_stage",
    "run_startup",
]


def by_id() -> Mapping[str, Rule]:
    """Every declared rule by id (loading every rule module first)."""
    from .catalog import REGISTRY

    return REGISTRY


def all_rules() -> list[Rule]:
    return sorted(by_id().values(), key=lambda r: r.id)


def run_stage(stage: str, ctx: Context) -> list[Finding]:
    """The findings of every check of one stage ("config", "model", "report") on a context."""
    from .catalog import run_checks

    return run_checks(Stage(stage), ctx)


def run_startup(ctx: Context) -> list[Finding]:
    """Only Axolotl's start-up checks (the Validators of rules/axolotl). They read the YAML, never the spec, so they
    still run when the adapter keys failed the schema: Axolotl would refuse the same start for those reasons too."""
    from .axolotl.validator import GPU_UNDECLARED, RULES
    from .catalog import run_checks

    return run_checks(Stage.CONFIG, ctx, only=[*RULES, GPU_UNDECLARED.id])


def restore(data: Mapping[str, object]) -> Finding:
    """A finding read back from its JSON form (a cached report, a diff side), its exit class from its rule."""
    from .catalog import restore as read

    return read(data)


def rules_markdown() -> str:
    """docs/rules.md: the index of every rule (docs.py also writes one page per rule)."""
    from .docs import index

    return index()
