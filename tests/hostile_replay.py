"""Replays a hostile case folder (tests/hostile/NAME/case.json): the setup steps, then each run in a child.

Shared by tests/acceptance/test_hostile_cases.py (which checks each run) and benchmarks/bench_hostile.py (which
times them). A case's `steps` make what cannot be committed (a 3 GB sparse file, a FIFO, a symlink to
/dev/zero, a forged cache entry, a 1 MB generated YAML); `{case}` in any string is the case's copy.
The case format: tests/hostile/README.md.

Each run is the real `cli` on the real files in a process of its own, forked from one of two servers
this process keeps (tests/forkserver.py says what a fork keeps of a fresh `python -c`, and how the
per-case directories in HF_HOME, HF_MODULES_CACHE, XDG_CACHE_HOME and LORA_COMPILER_CACHE_DIR reach the
constants huggingface_hub, transformers and accelerate froze at import):
- a case that reaches the model or adapter (`"floor": true`) forks from a server that has imported torch,
  transformers, peft and lora_compiler.cli, so the 3-4 CPU seconds of imports are paid once per process,
  not per run;
- a YAML-only case (`"floor": false`) forks from a server that has imported lora_compiler.cli alone, so
  whether the run imports torch is still its own doing, and it reports it.
Where a fork would not be faithful (forkserver.ForkServer.run returns None), and with `fresh=True`
(benchmarks/bench_hostile.py --fresh), a run is a fresh `python -c` as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import forkserver

REPO = Path(__file__).resolve().parents[1]
CASES = sorted(p for p in (REPO / "tests" / "hostile").iterdir() if (p / "case.json").is_file())
_RUNNER = """
import re, resource, sys
from lora_compiler.cli import cli
code = 0
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
usage = resource.getrusage(resource.RUSAGE_SELF)
hwm = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
torch = int("torch" in sys.modules)
print(f"@@ {code} {usage.ru_utime + usage.ru_stime:.3f} {hwm:.1f} {torch}", file=sys.stderr)
"""
# What each server imports before it forks; the per-case directories are the variables a run may differ in.
HEAVY = ("torch", "transformers", "peft", "lora_compiler.cli")
LIGHT = ("lora_compiler.cli",)
PER_CASE = ("HF_HOME", "XDG_CACHE_HOME", "LORA_COMPILER_CACHE_DIR", "HF_MODULES_CACHE")


def _sub(value: Any, case: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{case}", str(case))
    if isinstance(value, list):
        return [_sub(v, case) for v in value]
    if isinstance(value, dict):
        return {k: _sub(v, case) for k, v in value.items()}
    return value


def _env(case: Path, extra: dict[str, str]) -> dict[str, str]:
    # Left out, so that one fork server (whose environment must equal its runs') serves every case:
    # PYTEST_CURRENT_TEST, which pytest rewrites for every test phase and nothing the command runs reads,
    # and TORCHINDUCTOR_CACHE_DIR, which torch._dynamo sets in this process when some test first imports it
    # (the run's own import sets it again, as in a fresh process).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LORA_COMPILER_", "HF_")) and k not in ("PYTEST_CURRENT_TEST", "TORCHINDUCTOR_CACHE_DIR")
    }
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(case / ".hf"),
        XDG_CACHE_HOME=str(case / ".xdg"),
        LORA_COMPILER_CACHE_DIR=str(case / ".lc-cache"),
        HF_MODULES_CACHE=str(case / ".modules"),
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    """One child's outcome, as it measured itself."""

    step: dict[str, Any]
    exit_code: int
    cpu_s: float  # the child's own CPU seconds (a forked child's start at zero)
    peak_mb: float  # the child's VmHWM
    wall_s: float
    output: str
    torch: bool  # torch was in sys.modules when the command returned
    import_cpu_s: float = 0.0  # what the server paid importing before the fork (0 for a fresh process)
    forked: bool = False


def run_child(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    step: dict[str, Any] | None = None,
    *,
    yaml_only: bool = False,
    fresh: bool = False,
) -> Run:
    server = None if fresh else forkserver.shared(LIGHT if yaml_only else HEAVY, _env(cwd, {}), PER_CASE)
    start = time.monotonic()  # the run's, not the server's start
    proc = server.run(_RUNNER, args, env, cwd) if server else None
    if proc is None:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
        )
    wall = time.monotonic() - start
    tail = proc.stderr.strip().splitlines()[-1].split() if proc.stderr.strip() else []
    if tail[:1] != ["@@"]:
        raise AssertionError("the child did not finish its command:\n" + proc.stdout + proc.stderr)
    forked = isinstance(proc, forkserver.Completed)
    return Run(
        step or {},
        int(tail[1]),
        float(tail[2]),
        float(tail[3]),
        wall,
        proc.stdout + proc.stderr,
        tail[4] == "1",
        server.import_cpu_s if forked and server else 0.0,
        forked,
    )


def _write(path: Path, op: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text, repeat = op.get("text", ""), op.get("repeat", 1)
    if op.get("numbered"):  # {i} is the line's number, {indent} that many spaces
        middle = "".join(text.format(i=i, indent=" " * i) for i in range(repeat))
    else:
        middle = text * repeat
    body = op.get("head", "") + middle + op.get("tail", "")
    path.write_text(body, encoding="utf-8")


def _sparse(path: Path, op: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(op.get("head", "").encode())
        fh.truncate(op["size"])


def _safetensors(path: Path, op: dict[str, Any]) -> None:
    """A valid safetensors file of zeros; `claim` overrides the header length (a lying header)."""
    header, offset = {}, 0
    tensors = op.get("tensors", {})
    if op.get("numbered"):  # {i} in each name, op["numbered"] times
        tensors = {name.format(i=i): spec for i in range(op["numbered"]) for name, spec in tensors.items()}
    for name, (dtype, shape) in tensors.items():
        size = 4 if dtype == "F32" else 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    length = op.get("claim", len(raw))
    path.write_bytes(length.to_bytes(8, "little") + raw + b"\0" * offset)


class _Marker:
    """Unpickling this writes the marker file: proof that a pickle was (or was not) loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('unpickled')",))


def _hub_cache(case: Path, op: dict[str, Any]) -> None:
    """huggingface_hub's cache layout for op['repo'] (refs/main -> one snapshot holding config.json)."""
    org, name = op["repo"].split("/")
    repo = case / ".hf" / "hub" / f"models--{org}--{name}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(case / op["config"], snapshot / "config.json")


def _forge(case: Path, op: dict[str, Any], env: dict[str, str]) -> None:
    """Plant a cache entry for op['config'] as someone who can write the cache directory but lacks the key."""
    from lora_compiler.engine.options import Options
    from lora_compiler.io import cache
    from lora_compiler.pipeline.document import load_file

    saved = {k: os.environ.get(k) for k in ("LORA_COMPILER_CACHE_DIR", "HF_HUB_OFFLINE", "HF_HOME")}
    os.environ.update({k: env[k] for k in saved})
    try:
        key = cache.compile_key(load_file(case / op["config"]), Options(offline=True), "text")
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert key, "the forged config must be cacheable"
    payload = {"files": op["files"], "stdout": op.get("stdout", ""), "exit_code": op.get("exit_code", 0)}
    mac = hashlib.sha256(json.dumps({"key": key, "payload": payload}, sort_keys=True).encode()).hexdigest()
    directory = Path(env["LORA_COMPILER_CACHE_DIR"])
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / f"{key}.json").write_text(json.dumps({"key": key, "mac": mac, "payload": payload}))


def _setup(case: Path, op: dict[str, Any], env: dict[str, str]) -> None:
    kind = next(k for k in op if k in _OPS)
    path = case / op[kind] if isinstance(op[kind], str) else case
    if kind == "write":
        _write(path, op)
    elif kind == "sparse":
        _sparse(path, op)
    elif kind == "symlink":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(op["to"])
    elif kind == "fifo":
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    elif kind == "mkdir":
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(int(op.get("mode", "0755"), 8))
    elif kind == "safetensors":
        _safetensors(path, op)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_Marker(str(case / op["marker"]))))
    elif kind == "hub_cache":
        _hub_cache(case, op)
    elif kind == "forge_cache":
        _forge(case, op, env)
    elif kind == "cache_entries_to_dirs":
        for entry in Path(env["LORA_COMPILER_CACHE_DIR"]).glob("*.json"):
            entry.unlink()
            entry.mkdir()


_OPS = (
    "write",
    "sparse",
    "symlink",
    "fifo",
    "mkdir",
    "safetensors",
    "pickle",
    "hub_cache",
    "forge_cache",
    "cache_entries_to_dirs",
)


def replay(folder: Path, workdir: Path, fresh: bool = False) -> tuple[dict[str, Any], list[Run]]:
    """Copy the case into `workdir`, perform its steps, and return its spec and every run's outcome."""
    case = workdir / folder.name
    shutil.copytree(folder, case, symlinks=True)
    spec = _sub(json.loads((case / "case.json").read_text()), case)
    env = _env(case, spec.get("env", {}))
    yaml_only = spec.get("floor", True) is False
    runs = []
    for step in spec["steps"]:
        if "run" in step:
            runs.append(
                run_child(step["run"], env, Path(step.get("cwd", case)), step, yaml_only=yaml_only, fresh=fresh)
            )
        else:
            _setup(case, step, env)
    return spec, runs


def import_floor(workdir: Path, fresh: bool = False) -> Run:
    """An honest lint of the bundled example: what importing torch, transformers and peft costs here."""
    env = _env(workdir, {})
    return run_child(["lint", str(REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml")], env, workdir, fresh=fresh)
