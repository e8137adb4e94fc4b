"""The one problem type every stage reports, and the exit-code policy decided in one place.

A finding is made through its rule (rulebook/registry.py), which sets its level and exit class.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNUSABLE = 2


@dataclass(frozen=True)
class Finding:
    """A problem with a 1-based position in the file that caused it, and how to fix it."""

    rule: str
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    key: str | None = field(default=None, compare=False)
    # Set from the rule that made the finding (rulebook/registry.py): its errors mean exit 2. Not serialized.
    unusable: bool = field(default=False, compare=False, repr=False)
    # Set from the rule too: a warning about the machine, not the config, that --strict does not fail on.
    advisory: bool = field(default=False, compare=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data.pop("key")
        data.pop("unusable")
        data.pop("advisory")
        return data

    @property
    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable order for output: by file, position, then rule id."""
    return sorted(
        findings,
        key=lambda f: (f.file or "", f.line or 0, f.column or 0, f.rule, f.message),
    )


def exit_code(findings: Iterable[Finding], strict: bool = False) -> int:
    """0 clean, 1 findings that would fail training (warnings too when strict, advisory ones excepted), 2 unusable
    input."""
    worst = EXIT_OK
    for f in findings:
        if f.severity is Severity.ERROR and f.unusable:
            return EXIT_UNUSABLE
        if f.severity is Severity.ERROR or (strict and f.severity is Severity.WARNING and not f.advisory):
            worst = EXIT_FINDINGS
    return worst


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
