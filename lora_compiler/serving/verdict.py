"""What an engine makes of an adapter: verdicts (refusals, risks) and the launch flags that serve it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..results.findings import Severity


def first_and_more(names: list[str]) -> str:
    """'a.b' or 'a.b and 3 more': a finding names one module and counts the rest."""
    return f"{names[0]} and {len(names) - 1} more" if len(names) > 1 else names[0]


@dataclass(frozen=True)
class Verdict:
    """One thing an engine does with this adapter: a refusal (error), a risk (warning) or a launch need (info).

    `key` is the YAML key to point at; `rule` names the engine file and function the verdict restates."""

    message: str
    key: str
    rule: str
    level: Severity = Severity.ERROR
    hint: str | None = None


@dataclass
class Plan:
    """What an engine makes of an adapter: verdicts, and the launch flags that serve it when none is an error."""

    engine: str
    version: str
    verdicts: list[Verdict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def refuse(self, message: str, key: str, rule: str, hint: str | None = None) -> None:
        self.verdicts.append(Verdict(message, key, rule, Severity.ERROR, hint))

    def warn(self, message: str, key: str, rule: str, hint: str | None = None) -> None:
        self.verdicts.append(Verdict(message, key, rule, Severity.WARNING, hint))

    @property
    def served(self) -> bool:
        return not any(v.level is Severity.ERROR for v in self.verdicts)
