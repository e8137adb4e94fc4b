"""Result cache for compile: the same inputs give the same bytes back without importing torch.

The key covers everything the output depends on: the YAML's bytes and path (findings carry
positions), the resolved model config.json's bytes, the options, the rule levels, and the
versions of lora-compiler, torch, transformers and peft. Entries carry a checksum; a missing,
unreadable or corrupt entry is a miss, never a wrong answer. Remote code is never cached (its
output depends on code files outside the key).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..results.report import versions

FORMAT_VERSION = 2


def cache_dir() -> Path:
    if os.environ.get("LORA_COMPILER_CACHE_DIR"):
        return Path(os.environ["LORA_COMPILER_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "lora-compiler"


@dataclass(frozen=True)
class Entry:
    files: dict[str, str]  # output file name -> content
    stdout: str
    exit_code: int


def compile_key(config_path: Path, options: Any, fmt: str) -> str | None:
    """The cache key for compiling `config_path`, or None when the result must not be cached."""
    from ..pipeline.document import load_file
    from ..pipeline.front import source_of, spec_of

    if options.allow_remote_code:
        return None
    try:
        raw = config_path.read_bytes()
    except OSError:
        return None
    doc = load_file(config_path)
    spec = spec_of(doc, options)[0] if doc.usable else None
    if spec is None:
        return None  # compile will explain, without importing torch; nothing worth caching
    source = source_of(doc, spec, offline=True)[0]
    if source is None:
        return None  # not resolvable offline: compile itself decides (and may download)
    try:
        model_config = (source.config_dir / "config.json").read_bytes()
    except OSError:
        return None
    h = hashlib.sha256()
    for part in (
        str(FORMAT_VERSION), str(config_path), fmt, json.dumps(versions(), sort_keys=True),
        json.dumps([options.model, options.serve, sorted(options.policy.levels.items())], default=str),
        source.kind, str(source.config_dir),
    ):
        h.update(part.encode() + b"\0")
    h.update(hashlib.sha256(raw).digest())
    h.update(hashlib.sha256(model_config).digest())
    return h.hexdigest()


def _checksum(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load(key: str) -> Entry | None:
    path = cache_dir() / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        payload = data["payload"]
        if data.get("checksum") != _checksum(payload) or data.get("key") != key:
            raise ValueError("checksum mismatch")
        entry = Entry(dict(payload["files"]), str(payload["stdout"]), int(payload["exit_code"]))
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in entry.files.items()):
            raise ValueError("bad file table")
        return entry
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)  # corrupt: forget it, compile again
        return None


def store(key: str, entry: Entry) -> None:
    """Best effort: a cache that cannot be written only costs the next run its speed."""
    from .files import write_text

    payload = asdict(entry)
    try:
        write_text(cache_dir() / f"{key}.json", json.dumps({"key": key, "checksum": _checksum(payload),
                                                             "payload": payload}))
    except OSError:
        pass
