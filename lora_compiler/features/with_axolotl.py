"""`lint --with-axolotl`: the installed Axolotl's own start-up verdict beside the rules', and where they differ.

One child process per run (axolotl_child.py, run with `python -I -c`) loads each YAML as `axolotl train` does
and runs prepare_plugins, validate_config and normalize_config with the declared device's capabilities
(--gpu or the policy's `gpu`; `lint --with-axolotl` declares one H100 when neither does, so the rules judge
the same device), offline, with only Axolotl's own plugins and never the model repository's code. The Python is the one lint runs in:
Axolotl counts as installed when its distribution metadata is there (profiles.installed, as the release
selection reads it). Each error Axolotl raises is placed at the YAML line of the key it names (a pydantic
`loc`, else a key named in the message) and compared with the errors of the rules that mirror Axolotl's
start-up: axolotl-disagrees says where the verdicts differ, axolotl-not-checked what did not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..engine.compiler import CompileResult
from ..engine.options import Options
from ..pipeline.document import Document, load_file
from ..results.findings import Finding, Severity, sort_findings

# What validate_config is given when no device is declared (--gpu, policy `gpu`): one bf16 GPU. The CLI declares
# DEFAULT_GPU instead, so that the rules judge the same device.
CAPABILITIES = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 1, "compute_capability": "sm_90"}
DEFAULT_GPU = "H100"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "AXOLOTL_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
    "WANDB_MODE": "disabled",
    "CUDA_VISIBLE_DEVICES": "",  # normalize_config picks a device; never touch a GPU a training run holds
}
LAUNCHER = ("WORLD_SIZE", "LOCAL_RANK", "RANK", "LOCAL_WORLD_SIZE")  # normalize_config reads them: one process
# Rules outside rules/axolotl/ whose errors say Axolotl refuses the config at start-up.
STARTUP_RULES = ("axolotl-key-type", "qlora-quantization", "quantized-without-adapter", "target-parameters-dropout")
TIMEOUT = 1800  # seconds for the whole batch: importing torch and Axolotl alone takes a minute on a slow disk
CHILD = Path(__file__).with_name("axolotl_child.py")


class Unavailable(Exception):
    """Axolotl could not be run at all (not installed, not importable, the child died): a usage error."""


def installed() -> str | None:
    """The installed Axolotl's version, from its metadata, as the release selection reads it (None: absent)."""
    from ..profiles import installed as dist

    return dist("axolotl")


def _env(gpus: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER and not k.startswith("ACCELERATE_USE_")}
    return {**env, **OFFLINE, **({"WORLD_SIZE": str(gpus)} if gpus > 1 else {})}


def judge(
    paths: Sequence[str],
    python: str = sys.executable,
    extra_paths: Sequence[str] = (),
    timeout: float = TIMEOUT,
    gpu: Any = None,
) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """(Axolotl's version, its verdict per path) from one child process; Unavailable when it gives none.
    `gpu` (a devices.Hardware; None: one bf16 GPU) gives validate_config its capabilities and, for several,
    WORLD_SIZE."""
    capabilities = gpu.capabilities() if gpu is not None else CAPABILITIES
    request = {"configs": list(paths), "capabilities": capabilities, "sys_path": list(extra_paths)}
    with tempfile.TemporaryDirectory(prefix="lora-compiler-axolotl-") as tmp:
        out = Path(tmp) / "verdicts.json"
        try:
            done = subprocess.run(
                [python, "-I", "-c", CHILD.read_text(encoding="utf-8"), str(out)],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                env=_env(gpu.count if gpu is not None else 1),
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"Axolotl's check could not run ({python}): {exc}") from None
        if not out.is_file():
            tail = " ".join(done.stderr.strip().splitlines()[-3:])[:500]
            raise Unavailable(f"Axolotl's check stopped (exit status {done.returncode}): {tail}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if data.get("error"):
        raise Unavailable(str(data["error"]))
    return data.get("axolotl"), data["results"]


def cross_check(
    results: list[CompileResult],
    options: Options,
    python: str = sys.executable,
    extra_paths: Sequence[str] = (),
) -> None:
    """Add to each result the findings of comparing Axolotl's verdict on its file with the rules' (in place)."""
    judged = [r for r in results if r.file and r.selection is not None]
    if not judged:
        return
    gpu = options.gpu or options.policy.gpu
    version, verdicts = judge([str(r.file) for r in judged], python, extra_paths, gpu=gpu)
    for result in judged:
        doc = load_file(str(result.file))
        verdict = verdicts.get(str(result.file)) or {"verdict": "not-run", "message": "no verdict"}
        found = options.policy.apply(
            compare(result.findings, verdict, doc, f"{version or ''} on {gpu or 'one bf16 GPU'}"), doc
        )
        result.findings = sort_findings([*result.findings, *found])
        if result.report is not None:
            result.report = replace(result.report, findings=tuple(result.findings))


def _startup_rules() -> set[str]:
    """Rules whose errors say Axolotl refuses the config at start-up (the mirrored validators and a few more)."""
    from ..rules.axolotl.validator import RULES

    return {*RULES, *STARTUP_RULES}


def _normalize_only() -> set[str]:
    """Validator rules every entry of which is a normalize_config step (no verdict when it did not run)."""
    from ..rules.axolotl.validator import ALL

    ids: dict[str, bool] = {}
    for v in ALL:
        only = all(e.startswith("utils/config/__init__.py:") and not e.endswith(":validate_config") for e in v.entries)
        ids[v.id] = ids.get(v.id, True) and only
    return {i for i, only in ids.items() if only}


def compare(findings: Iterable[Finding], verdict: dict[str, Any], doc: Document, version: str | None) -> list[Finding]:
    """The findings of Axolotl's verdict against lint's own start-up errors on one document."""
    from ..rules.axolotl.cross_check import AXOLOTL_DISAGREES, AXOLOTL_NOT_CHECKED, REPORT

    name = f"Axolotl {version.strip()}" if version else "Axolotl"
    ran = verdict.get("stage") == "normalize_config"
    skip = set() if ran else _normalize_only()
    startup = _startup_rules()
    lint = [f for f in findings if f.severity is Severity.ERROR and f.rule in startup and f.rule not in skip]
    out = [AXOLOTL_NOT_CHECKED.finding(f"{name}: {note}", doc.file) for note in verdict.get("notes") or []]
    hint = f"please report this disagreement at {REPORT}"
    if verdict.get("verdict") == "not-run":
        out.append(AXOLOTL_NOT_CHECKED.finding(f"{name} did not judge this config: {verdict.get('message')}", doc.file))
    elif verdict.get("verdict") == "refused":
        stage = verdict.get("stage", "validate_config")
        errors = verdict.get("errors") or [{"loc": [], "msg": f"{verdict.get('type')}: {verdict.get('message')}"}]
        for error in errors:
            text = _text(str(error.get("msg", "")))
            key = place(doc, error.get("loc") or [], text)
            said = f"{name} refuses this config at start-up ({stage}): {text}"
            if not lint:
                out.append(AXOLOTL_DISAGREES.at(doc, f"{said}; lint's rules accept it", key or (), hint=hint))
            elif key is not None and not _agrees(key, text, lint):
                also = f"; lint refuses it for other keys ({', '.join(sorted({f.rule for f in lint}))})"
                out.append(AXOLOTL_DISAGREES.at_level(Severity.INFO).at(doc, said + also, key, hint=hint))
    elif lint and verdict.get("dropped"):
        dropped = ", ".join(verdict["dropped"])
        note = f"{name} accepts this config without the plugins it did not load ({dropped}): lint's refusal is not compared"
        out.append(AXOLOTL_NOT_CHECKED.finding(note, doc.file))
    elif lint:
        first = lint[0]
        what = "validate_config and normalize_config" if ran else "validate_config (normalize_config did not run)"
        message = (
            f"{name} accepts this config at start-up ({what}), but lint refuses it: "
            f"{', '.join(dict.fromkeys(f.rule for f in lint))}"
        )
        warn = AXOLOTL_DISAGREES.at_level(Severity.WARNING)
        out.append(warn.finding(message, doc.file, first.line, first.column, hint, first.key))
    return out


def _text(message: str) -> str:
    """Axolotl's message on one line: pydantic's 'Value error, ' prefix off, the advice after a blank line cut."""
    first = message.split("\n\n")[0].removeprefix("Value error, ")
    return " ".join(first.split())[:400]


def _agrees(key: tuple[Any, ...], text: str, lint: Sequence[Finding]) -> bool:
    """Whether one of lint's errors is at the key Axolotl's error names, or at a key its message names."""
    for f in lint:
        parts = [p for p in (f.key or "").split(".") if p and not p.isdigit()]
        if parts and str(key[0]) == parts[0]:
            return True
        if any(re.search(rf"(?<![\w.]){re.escape(p)}(?!\w)", text) for p in parts):
            return True
    return False


def place(doc: Document, loc: Sequence[Any], message: str) -> tuple[Any, ...] | None:
    """The YAML key path an Axolotl error is about: its pydantic `loc` (or the longest part of it the YAML
    has; a nested model validated alone gives a `loc` inside its block), else the key its message names
    first (a dotted path before a bare key at the same place), else None."""
    keys = [k for k in doc.key_pos if isinstance(k, tuple) and k]
    loc = tuple(loc)
    for n in range(len(loc), 0, -1):
        if loc[:n] in doc.key_pos:
            return loc[:n]
    inside = sorted((k for k in keys if len(k) > len(loc) > 0 and k[-len(loc) :] == loc), key=len)
    if inside:
        return inside[0]
    best: tuple[int, int, tuple[Any, ...]] | None = None
    for k in keys:
        names = [p for p in k if isinstance(p, str)]
        if len(names) != len(k) or len(k) > 3:
            continue
        hit = re.search(rf"(?<![\w.]){re.escape('.'.join(names))}(?![\w])", message)
        if hit and (best is None or (hit.start(), -len(k)) < best[:2]):
            best = (hit.start(), -len(k), k)
    return best[2] if best else None
