"""Per-project rule levels and inline suppressions, applied to findings in one place.

Project levels come from `[tool.lora-compiler.rules]` in the nearest pyproject.toml, or from a
`.lora-compiler.toml` with a `[rules]` table (rule-id = "off" | "info" | "warning" | "error").
Inline, a YAML comment `# lora-compiler: disable=rule-a,rule-b` silences those rules on its line
(or, alone on a line, on the next line); `# lora-compiler: disable-file=rule-a` for the whole
file. Findings that make the input unusable cannot be silenced.

`axolotl = "0.21"` beside the rules names the project's Axolotl release (profiles/: --axolotl,
LORA_COMPILER_AXOLOTL and the installed axolotl come first); `gpu = "H100"` (or "8xH100") the training
device the hardware-dependent start-up checks judge (devices.py; --gpu comes first).
`ignore = ["glob", ...]` beside the rules (in `[tool.lora-compiler]` or at the top of
.lora-compiler.toml) leaves out files that `lint DIR` would otherwise collect, matched against
their path relative to the policy file's folder (`examples/archived/*`, `**/draft-*.yml`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..devices import DeviceError, Hardware, parse
from ..results.findings import Finding, Severity

LEVELS = ("off", "info", "warning", "error")
_DIRECTIVE = re.compile(r"#\s*lora-compiler:\s*(disable|disable-file)=([\w,\s-]+)")


class PolicyError(Exception):
    pass


@dataclass(frozen=True)
class Policy:
    levels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    ignore: tuple[str, ...] = ()
    axolotl: str | None = None  # `axolotl = "0.21"`: the project's Axolotl release (profiles.select)
    coverage_threshold: float = 0.5  # the share of decoder layers below which coverage-below-threshold warns
    devices: tuple[int, ...] = (2, 4, 8)  # device counts for per-device memory where the YAML shards
    gpu: Hardware | None = None  # `gpu = "H100"` or "8xH100": the training device hardware checks judge

    def ignores(self, path: Path) -> bool:
        """Whether `lint DIR` leaves this collected file out (an ignore glob of the policy matches it)."""
        if not self.ignore or self.source is None:
            return False
        try:
            relative = path.resolve().relative_to(Path(self.source).resolve().parent).as_posix()
        except ValueError:
            return False
        return any(fnmatch.fnmatch(relative, pattern) for pattern in self.ignore)

    def apply(self, findings: Iterable[Finding], doc: object) -> list[Finding]:
        by_line, whole_file = suppressions(getattr(doc, "text", "") or "")
        out = []
        for f in findings:
            if not f.unusable:
                if _hit(f.rule, whole_file) or (f.line is not None and _hit(f.rule, by_line.get(f.line, set()))):
                    continue
                level = self.levels.get(f.rule)
                if level == "off":
                    continue
                if level:
                    f = replace(f, severity=Severity(level))
            out.append(f)
        return out

    @classmethod
    def discover(cls, start: Path) -> Policy:
        """The nearest project configuration at or above `start` (a file or directory)."""
        here = start.resolve()
        for folder in [here, *here.parents] if here.is_dir() else here.parents:
            own = folder / ".lora-compiler.toml"
            if own.is_file():
                return cls._from(own, _toml(own))
            pyproject = folder / "pyproject.toml"
            if pyproject.is_file():
                tool = _toml(pyproject).get("tool", {})
                if not isinstance(tool, dict):
                    raise PolicyError(f"{pyproject}: 'tool' must be a table")
                table = tool.get("lora-compiler")
                if table is not None:
                    return cls._from(pyproject, table)
        return cls()

    @classmethod
    def from_file(cls, path: Path) -> Policy:
        """A given levels file: a pyproject.toml ([tool.lora-compiler.rules]) or any TOML with [rules]."""
        data = _toml(path)
        tool = data.get("tool", {})
        if path.name == "pyproject.toml" and not isinstance(tool, dict):
            raise PolicyError(f"{path}: 'tool' must be a table")
        table = tool.get("lora-compiler", {}) if path.name == "pyproject.toml" else data
        return cls._from(path, table)

    @classmethod
    def _from(cls, path: Path, table: object) -> Policy:
        from ..rules import by_id

        if not isinstance(table, dict):
            raise PolicyError(f"{path}: the lora-compiler settings must be a table")
        rules, ignore = table.get("rules", {}), table.get("ignore", [])
        if not (isinstance(ignore, list) and all(isinstance(g, str) for g in ignore)):
            raise PolicyError(f"{path}: 'ignore' must be a list of glob patterns")
        if not isinstance(rules, dict):
            raise PolicyError(f"{path}: 'rules' must be a table of rule-id = level")
        for rule_id, level in rules.items():
            if rule_id not in by_id():
                raise PolicyError(f"{path}: unknown rule '{rule_id}'")
            if level not in LEVELS:
                raise PolicyError(f"{path}: level of '{rule_id}' must be one of {', '.join(LEVELS)}")
        axolotl = table.get("axolotl")
        if axolotl is not None:
            from ..profiles import ProfileError, find

            try:
                find(str(axolotl))
            except ProfileError as exc:
                raise PolicyError(f"{path}: 'axolotl': {exc}") from None
        threshold = table.get("coverage_threshold", 0.5)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise PolicyError(f"{path}: 'coverage_threshold' must be a number from 0 to 1 (a share of decoder layers)")
        devices = table.get("devices", [2, 4, 8])
        if (
            not isinstance(devices, list)
            or not devices
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in devices)
        ):
            raise PolicyError(f"{path}: 'devices' must be a list of device counts (positive integers), e.g. [8]")
        return cls(
            dict(rules),
            str(path),
            tuple(ignore),
            None if axolotl is None else str(axolotl),
            float(threshold),
            tuple(sorted(set(devices))),
            _gpu(path, table.get("gpu")),
        )


def _gpu(path: Path, value: object) -> Hardware | None:
    """The policy's `gpu` key: a device name of devices.py, optionally with a count ("8xH100")."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PolicyError(f'{path}: \'gpu\' must be a device name such as "H100" or "8xH100"')
    try:
        return parse(value)
    except DeviceError as exc:
        raise PolicyError(f"{path}: 'gpu': {exc}") from None


def _hit(rule: str, rules: set[str]) -> bool:
    return rule in rules or "all" in rules


def suppressions(text: str) -> tuple[dict[int, set[str]], set[str]]:
    by_line: dict[int, set[str]] = {}
    whole: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, names in _DIRECTIVE.findall(line):
            rules = {n.strip() for n in names.split(",") if n.strip()}
            if kind == "disable-file":
                whole |= rules
            else:
                target = number + 1 if line.lstrip().startswith("#") else number
                by_line.setdefault(target, set()).update(rules)
    return by_line, whole


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path}: {exc}") from None
