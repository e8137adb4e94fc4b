"""Rules: one object per kind of finding, owning its id, level, stage, exit class, docs and check.

Findings are made through their rule (`RULE.at(doc, ...)` at a YAML key, `RULE.finding(...)` for a file, an
adapter or a diff side), so no raise site retypes an id or picks a level, and the exit class travels with
the finding. REGISTRY is the one table of rules, filled as rule modules declare their constants; this module
imports no pipeline stage, so every stage may import the declarations of the rules it raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from ..results.findings import Finding, Severity

if TYPE_CHECKING:
    from ..rules.context import Context

Check = Callable[["Context"], Iterable[Finding]]


class Stage(str, Enum):
    """When a rule's findings arise: the engine runs the checks of the first three; RAISED ones a stage reports."""

    CONFIG = "config"  # the YAML alone, no model
    MODEL = "model"  # with the skeleton and the target plan
    REPORT = "report"  # after PEFT applied the adapter
    RAISED = "pipeline"  # reported by the pipeline stage that meets the problem (YAML errors, PEFT refusals, ...)


@dataclass(frozen=True)
class Docs:
    """A rule's documentation in sections, as docs/rules/<id>.md shows them (the example comes from tests/cases)."""

    what: str  # what the rule checks (also SARIF's description)
    why: str  # why it matters
    fix: str  # how to make the finding go away
    source: str = ""  # the Axolotl, PEFT, engine or lora-compiler file and function it restates, where one applies


class Positions(Protocol):
    """What `Rule.at` needs of a document: its file, text and the position of a key path."""

    file: str
    text: str

    def position(self, path: tuple[object, ...], prefer_value: bool = False) -> tuple[int | None, int | None]: ...


@dataclass(frozen=True)
class Rule:
    id: str
    level: Severity
    stage: Stage
    summary: str
    docs: Docs
    unusable: bool = False  # its errors mean the input could not be used at all (exit 2); no policy silences them
    other_levels: tuple[Severity, ...] = ()  # levels some of its findings take instead; docs.what says when
    advisory: bool = False  # about the machine, not the config: its warnings never fail --strict by themselves

    @property
    def doc(self) -> str:
        return self.docs.what

    @property
    def check(self) -> Check | None:
        return _CHECKS.get(self.id)

    def checks(self, fn: Check) -> Check:
        """Make `fn` this rule's check (decorator); the engine runs it at the rule's stage."""
        if self.stage is Stage.RAISED:
            raise ValueError(f"{self.id} is raised by a pipeline stage; it has no check to run")
        _CHECKS[self.id] = fn
        return fn

    def at_level(self, level: Severity) -> Rule:
        """This rule at one of its declared other levels (the default level returns the rule itself)."""
        if level is self.level:
            return self
        if level not in self.other_levels:
            raise ValueError(f"{self.id} declares no {level.value} level")
        return replace(self, level=level)

    def finding(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
        key: str | None = None,
    ) -> Finding:
        """A finding of this rule where there is no YAML key to point at (a file, an adapter, a diff side)."""
        return Finding(
            self.id, self.level, message, file, line, column, hint, key, unusable=self.unusable, advisory=self.advisory
        )

    def at(
        self,
        doc: Positions,
        message: str,
        key: str | tuple[object, ...] = (),
        hint: str | None = None,
        prefer_value: bool = False,
    ) -> Finding:
        """A finding at a YAML key path of `doc` (its value with `prefer_value`), else the nearest parent's."""
        path = (key,) if isinstance(key, str) else tuple(key)
        line, column = doc.position(path, prefer_value) if path else (None, None)
        if line is None and path and doc.text:
            line, column = 1, 1  # a missing key: point at the document
        return self.finding(message, doc.file, line, column, hint, ".".join(map(str, path)) if path else None)


REGISTRY: dict[str, Rule] = {}
_CHECKS: dict[str, Check] = {}  # rule id -> check, in the order the rule modules declare them


def rule(
    id: str,
    level: Severity,
    stage: Stage,
    summary: str,
    docs: Docs,
    *,
    unusable: bool = False,
    other_levels: tuple[Severity, ...] = (),
    advisory: bool = False,
) -> Rule:
    """Declare a rule: its object, registered under its id (once)."""
    if id in REGISTRY:
        raise ValueError(f"rule {id} is declared twice")
    tidy = Docs(*(" ".join(part.split()) for part in (docs.what, docs.why, docs.fix, docs.source)))
    REGISTRY[id] = declared = Rule(id, level, stage, summary, tidy, unusable, other_levels, advisory)
    return declared


def run_checks(stage: Stage, ctx: Context, only: Iterable[str] | None = None) -> list[Finding]:
    """The findings of every check declared for `stage` (or of the rules `only` names), in declaration order."""
    wanted = None if only is None else set(only)
    out: list[Finding] = []
    for rule_id, check in _CHECKS.items():
        if REGISTRY[rule_id].stage is stage and (wanted is None or rule_id in wanted):
            out.extend(check(ctx))
    return out


def restore(data: Mapping[str, object]) -> Finding:
    """A finding from its `to_dict` form, its exit class recovered from its rule (an unknown id: exit 1)."""
    found = REGISTRY.get(str(data["rule"]))
    fields = {**data, "severity": Severity(str(data["severity"]))}
    return Finding(
        **fields,  # type: ignore[arg-type]
        unusable=bool(found and found.unusable),
        advisory=bool(found and found.advisory),
    )
