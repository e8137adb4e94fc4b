"""The lock: what each config trains, recorded (`lora-compiler lock`) and checked again (`lint --locked`).

`lora-compiler.lock` holds, per config, the Axolotl release and the libraries that answered, the targets, the
wrapped modules (grouped by layer as the diff groups them, with a digest), the trained count, the adapter file's
bytes and the findings. `lint --locked` compiles the configs again and compares: a config whose trained set
differs is a `lock-differs` error, printed as a diff (features/diff.py's changes, render/diff_*.py), with the
library changes of profiles/stack.py that explain it when the lock's versions differ from this run's.
The file is JSON with sorted keys, written atomically (io/files.py write_text); the config paths are relative to
the lock's folder, so the lock means the same in every checkout.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import profiles
from ..engine.compiler import CompileResult
from ..profiles import stack as stackmod
from ..results.diff import Facts, FieldChange, PairDiff, Side, Totals, report_entries
from ..results.findings import Finding
from ..rulebook.pipeline import LOCK_DIFFERS
from .diff import group_changes

LOCK_NAME = "lora-compiler.lock"
FORMAT = 1
LIBRARIES = ("torch", "transformers", "peft")
# what a config trains: a difference in any of these fails `lint --locked`
TRAINED = ("exit_code", "target_modules", "target_parameters", "wrapped_digest", "trainable_params", "adapter_bytes")


class LockError(ValueError):
    """A lock file that cannot be read or written: a usage error (exit 2)."""


def entry(result: CompileResult) -> dict[str, Any]:
    """One config's record: what it trains on this stack, and what that depends on."""
    report = result.report
    modules = [] if report is None else _grouped(report_entries(report))
    return {
        "axolotl": result.selection.profile.version if result.selection else None,
        "libraries": {lib: profiles.installed(lib) for lib in LIBRARIES},
        "model_type": report.model.model_type if report else None,
        "exit_code": result.exit_code(),
        "target_modules": _names(report.effective_target_modules if report else None),
        "target_parameters": _names(report.effective_target_parameters if report else None),
        "modules": modules,
        "wrapped_digest": hashlib.sha256(json.dumps(modules, sort_keys=True).encode()).hexdigest()[:16],
        "wrapped_modules": sum(m["count"] for m in modules if m["section"] == "modules"),
        "trainable_params": report.trainable_params if report else None,
        "all_params": report.all_params if report else None,
        "adapter_bytes": report.adapter_file.bytes if report and report.adapter_file else None,
        "depends_on": list(result.depends_on or ()),
        "findings": [_finding(f) for f in result.findings if f.rule != "axolotl-stack-mismatch"],
    }


def _names(value: Any) -> Any:
    return sorted(value) if isinstance(value, (tuple, list)) else value


def _finding(f: Finding) -> str:
    where = f":{f.line}:{f.column}" if f.line is not None else ""
    return f"{f.severity.value} {f.rule}{where}"


def _grouped(entries: Mapping[tuple[str, str], Facts]) -> list[dict[str, Any]]:
    """The wrapped modules as the diff groups them: one row per name template and facts, with its layers."""
    return [
        {
            "section": c.section,
            "name": c.name,
            "layers": c.layers,
            "count": c.count,
            "type": f.type,
            "shape": f.shape,
            "rank": f.rank,
            "params": f.params,
        }
        for c in group_changes([(k, None, v) for k, v in entries.items()], False)
        if (f := c.after) is not None
    ]


def _entries(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Facts]:
    """The grouped rows back to one entry per module name (the inverse of _grouped)."""
    out = {}
    for row in rows:
        facts = Facts(row["type"], row["shape"], row["rank"], row["params"])
        for index in _indices(row["layers"]) or [()]:
            name = row["name"]
            for i in index:
                name = name.replace("*", str(i), 1)
            out[(row["section"], name)] = facts
    return out


def _indices(text: str) -> list[tuple[int, ...]]:
    """'0-2,5' -> [(0,), (1,), (2,), (5,)]; '0.0-7' -> layer 0's experts 0 to 7 (features/diff.py ranges)."""
    out: list[tuple[int, ...]] = []
    for run in filter(None, text.split(",")):
        first, _, last = run.partition("-")
        start = tuple(int(p) for p in first.split("."))
        stop = int(last) if last else start[-1]
        out += [(*start[:-1], i) for i in range(start[-1], stop + 1)]
    return out


def text(entries: Mapping[str, Mapping[str, Any]]) -> str:
    """The lock file: deterministic JSON, configs sorted by path."""
    return json.dumps({"format": FORMAT, "configs": dict(sorted(entries.items()))}, indent=2, sort_keys=True) + "\n"


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The configs of a lock file; a missing or foreign file is a LockError."""
    from ..pipeline.document import read_bounded

    try:
        data = json.loads(read_bounded(path, 64 * 1024 * 1024))
    except FileNotFoundError:
        raise LockError(f"{path} does not exist: write it with `lora-compiler lock CONFIG...`") from None
    except (OSError, ValueError) as exc:
        raise LockError(f"{path} cannot be read as a lora-compiler lock: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("configs"), dict):
        raise LockError(f"{path} is not a lora-compiler lock (format {FORMAT})")
    for name, found in data["configs"].items():
        try:  # what a check reads of an entry: a hand-edited lock fails here, as input, not later as a traceback
            _entries(found["modules"])
            if not isinstance(found["libraries"], dict) or not isinstance(found.get("depends_on", []), list):
                raise TypeError("libraries must be an object and depends_on a list")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LockError(f"{path}: the entry of {name} is malformed ({type(exc).__name__}: {exc})") from None
    return data["configs"]


def key(config: Path, lock_path: Path) -> str:
    """A config's name in the lock: its path relative to the lock's folder, with forward slashes."""
    return Path(os.path.relpath(config.resolve(), lock_path.resolve().parent)).as_posix()


def write(lock_path: Path, results: Sequence[CompileResult], force: bool = False) -> dict[str, dict[str, Any]]:
    """Record `results` in the lock (other configs it holds are kept); refuses to replace what is not a lock."""
    from ..io.files import write_text

    if lock_path.is_symlink() or lock_path.is_dir():
        raise LockError(
            f"{lock_path} is a {'symlink' if lock_path.is_symlink() else 'directory'}; refusing to replace it"
        )
    kept: dict[str, dict[str, Any]] = {}
    if lock_path.exists():
        try:
            kept = read(lock_path)
        except LockError:
            if not force:
                raise LockError(
                    f"{lock_path} exists and is not a lora-compiler lock; pass --force to replace it"
                ) from None
    entries = {**kept, **{key(Path(str(r.file)), lock_path): entry(r) for r in results}}
    try:
        write_text(lock_path, text(entries))
    except OSError as exc:
        raise LockError(f"cannot write {lock_path}: {exc.strerror or exc}") from None
    return entries


@dataclass(frozen=True)
class LockCheck:
    """One config against its lock entry: the difference as a diff, and the finding that fails the run."""

    config: str
    diff: PairDiff | None  # None: the config trains what the lock says
    finding: Finding | None


def check(result: CompileResult, locked: Mapping[str, Any] | None, name: str) -> LockCheck:
    """Compare a compile with the lock's entry for it (None: the lock does not know the config)."""
    now = entry(result)
    if locked is None:
        return LockCheck(name, None, LOCK_DIFFERS.finding(f"{name} is not in the lock", str(result.file), hint=_RELOCK))
    differs = [k for k in TRAINED if locked.get(k) != now.get(k)]
    if not differs:
        return LockCheck(name, None, None)
    diff = _pair(name, locked, now)
    causes = _causes(locked, now)
    because = "; ".join(causes) if causes else _versions_note(locked, now)
    message = f"{name} trains another set than the lock records ({', '.join(differs)} differ)" + (
        f": {because}" if because else ""
    )
    return LockCheck(name, diff, LOCK_DIFFERS.finding(message, str(result.file), hint=_RELOCK))


_RELOCK = "review the difference; if it is intended, record it with `lora-compiler lock` and commit the lock"


def _causes(locked: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The recorded library changes between the lock's versions and this run's that touch this config."""
    ids = dict.fromkeys([*locked.get("depends_on", ()), *now.get("depends_on", ())])
    types = [t for t in (locked.get("model_type"), now.get("model_type")) if t]
    return [stackmod.said(b, types) for b in stackmod.changed(ids, locked.get("libraries", {}), now["libraries"])]


def _versions_note(locked: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    moved = [
        f"{lib} {locked['libraries'].get(lib)} -> {now['libraries'].get(lib)}"
        for lib in LIBRARIES
        if locked.get("libraries", {}).get(lib) != now["libraries"].get(lib)
    ]
    return f"no recorded library change explains it ({', '.join(moved)})" if moved else ""


def _pair(name: str, locked: Mapping[str, Any], now: Mapping[str, Any]) -> PairDiff:
    """The lock entry and the compile as a pair diff: module changes, target fields and versions."""
    before, after = _entries(locked.get("modules", ())), _entries(now["modules"])
    removed = group_changes([(k, before[k], None) for k in before.keys() - after.keys()], False)
    added = group_changes([(k, None, after[k]) for k in after.keys() - before.keys()], False)
    changed = group_changes(
        [(k, before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]], False
    )
    fields = [
        FieldChange(k, locked.get(k), now.get(k), k in ("target_modules", "target_parameters"))
        for k in ("axolotl", "target_modules", "target_parameters", "adapter_bytes", "exit_code", "findings")
        if locked.get(k) != now.get(k)
    ]
    environment = [
        FieldChange(lib, locked.get("libraries", {}).get(lib), now["libraries"].get(lib), False)
        for lib in LIBRARIES
        if locked.get("libraries", {}).get(lib) != now["libraries"].get(lib)
    ]
    sides = (_side("lock", locked), _side(name, now))
    return PairDiff(sides, tuple(removed), tuple(added), tuple(changed), tuple(fields), tuple(environment), False)


def _side(label: str, data: Mapping[str, Any]) -> Side:
    lora = sum(m["count"] * m["params"] for m in data.get("modules", ()) if m["section"] == "modules")
    trainable, total = data.get("trainable_params") or 0, data.get("all_params") or 0
    percent = round(100.0 * trainable / total, 6) if total else 0.0
    totals = Totals(data.get("wrapped_modules") or 0, lora, trainable, total, percent)
    return Side(label, "lock", counts=totals)
