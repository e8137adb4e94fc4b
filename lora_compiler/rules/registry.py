"""The rule registry: every finding's rule id, default level and documentation, in one table.

Rule modules register into it (`rule`, `documented`); the package's __init__ imports them, so the
registry never imports a rule module back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..results.findings import Finding, Severity

if TYPE_CHECKING:
    from .context import Context

Check = Callable[["Context"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    level: Severity
    summary: str
    doc: str
    stage: str = "pipeline"  # config | model | report | pipeline
    check: Check | None = None


REGISTRY: dict[str, Rule] = {}


def rule(id: str, level: Severity, summary: str, doc: str, stage: str = "pipeline") -> Callable[[Check], Check]:
    """Register a check function under a rule id (decorator)."""

    def register(fn: Check) -> Check:
        REGISTRY[id] = Rule(id, level, summary, " ".join(doc.split()), stage, fn)
        return fn

    return register


def documented(id: str, level: Severity, summary: str, doc: str) -> None:
    """Register a rule whose findings a pipeline stage reports itself."""
    REGISTRY[id] = Rule(id, level, summary, " ".join(doc.split()))


def run_stage(stage: str, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for r in REGISTRY.values():
        if r.stage == stage and r.check is not None:
            out.extend(r.check(ctx))
    return out
