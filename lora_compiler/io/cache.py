"""Result cache for compile: the same inputs give the same bytes back without importing torch.

The key covers everything the output depends on: the YAML's bytes and path (findings carry
positions), the resolved model config.json's bytes, a saved adapter's files (`lora_model_dir`),
the options, the rule levels, and the versions of lora-compiler, torch, transformers and peft.

Trust model: an entry is believed only if it carries an HMAC-SHA256 made with a secret key that
the cache's readers hold: `LORA_COMPILER_CACHE_KEY` when set (a CI secret, to share a cache
between jobs), else `cache.key`, created once with mode 0600 in a cache directory that must be
owned by this user and writable by nobody else (else the cache is not used). Whoever cannot read
the key cannot plant an answer; a forged, stale, unreadable or malformed entry is a miss, never
a wrong answer. Entries name only the output files a compile writes, and every name is checked
again before anything is written. Remote code is never cached (its output depends on code files
outside the key), and neither is a model or adapter that is not a local file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..pipeline.document import Document, read_bounded
from ..pipeline.sharding import sharding_inputs, yaml_dir
from ..profiles import ProfileError, select
from ..results.report import versions
from .files import plain_name, write_text

FORMAT_VERSION = 5
KEY_ENV = "LORA_COMPILER_CACHE_KEY"
KEY_FILE = "cache.key"
MAX_ENTRY_BYTES = 64 * 1024 * 1024
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


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


def compile_key(doc: Document, options: Any, fmt: str) -> str | None:
    """The cache key for compiling the already-parsed `doc`, or None when the result must not be cached."""
    from ..engine.front import source_of, spec_of

    if options.allow_remote_code or not doc.usable:
        return None
    spec = spec_of(doc, options)[0]
    if spec is None:
        return None  # compile will explain, without importing torch; nothing worth caching
    source = source_of(doc, spec, offline=True)[0]
    if source is None or source.revision_unverified:
        return None  # not resolvable offline: compile itself decides (and may download)
    adapter = _adapter_fingerprint(spec.lora_model_dir)
    if adapter is None:
        return None
    try:
        model_config = read_bounded(source.config_dir / "config.json", MAX_ENTRY_BYTES)
    except (OSError, ValueError):
        return None
    try:
        profile = select(options.axolotl, options.policy.axolotl).record()
    except ProfileError:
        return None
    h = hashlib.sha256()
    for part in (
        str(FORMAT_VERSION),
        doc.file,
        fmt,
        json.dumps(versions(), sort_keys=True),
        json.dumps(profile, sort_keys=True),
        json.dumps(
            [
                options.model,
                options.serve,
                sorted(options.policy.levels.items()),
                options.policy.coverage_threshold,
                options.devices or options.policy.devices,
            ],
            default=str,
        ),
        sharding_inputs(doc.values, yaml_dir(doc.file)),
        source.kind,
        str(source.config_dir),
        adapter,
    ):
        h.update(part.encode() + b"\0")
    h.update(hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).digest())
    h.update(hashlib.sha256(model_config).digest())
    return h.hexdigest()


def _adapter_fingerprint(lora_model_dir: str | None) -> str | None:
    """What compile reads of a saved adapter, as text; "" without one, None when it cannot be pinned down."""
    if not lora_model_dir:
        return ""
    d = Path(lora_model_dir).expanduser()
    if not d.is_dir():
        return None  # a hub id or a missing directory: compile reports it; not worth a key
    parts = [str(d.resolve())]
    for name in _ADAPTER_FILES:
        try:
            info = os.stat(d / name)
            parts.append(f"{name}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}:{info.st_ctime_ns}")
        except FileNotFoundError:
            parts.append(f"{name}:-")
        except OSError:
            return None
    try:
        parts.append(hashlib.sha256(read_bounded(d / "adapter_config.json", MAX_ENTRY_BYTES)).hexdigest())
    except (OSError, ValueError):
        parts.append("unreadable")
    return "|".join(parts)


def _usable_dir(directory: Path, create: bool) -> bool:
    """The cache directory exists (or was made, 0700), is ours, and nobody else can write into it."""
    try:
        if create:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(directory)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _secret(directory: Path, create: bool) -> bytes | None:
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = directory / KEY_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if not create:
            return None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # another compile made it first: use theirs
            return _secret(directory, create=False)
        except OSError:
            return None
        with os.fdopen(fd, "wb") as fh:
            secret = os.urandom(32)
            fh.write(secret)
        return secret
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & 0o077 or not stat.S_ISREG(info.st_mode):
            return None  # a key others can read or replace authenticates nothing
        secret = fh.read(4096)
    return secret if len(secret) >= 16 else None


def _mac(secret: bytes, key: str, payload: dict[str, Any]) -> str:
    body = json.dumps({"key": key, "payload": payload}, sort_keys=True).encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def load(key: str, allowed_names: frozenset[str]) -> Entry | None:
    """The entry for `key` if it is authentic and names only `allowed_names`; else None (a miss)."""
    directory = cache_dir()
    if not _usable_dir(directory, create=False):
        return None
    secret = _secret(directory, create=False)
    if secret is None:
        return None
    path = directory / f"{key}.json"
    try:
        data = json.loads(read_bounded(path, MAX_ENTRY_BYTES).decode("utf-8"))
        payload = data["payload"]
        if not hmac.compare_digest(str(data.get("mac")), _mac(secret, key, payload)):
            raise ValueError("not authentic")
        entry = Entry(dict(payload["files"]), str(payload["stdout"]), int(payload["exit_code"]))
        if not all(plain_name(k) and k in allowed_names and isinstance(v, str) for k, v in entry.files.items()):
            raise ValueError("bad file table")
        return entry
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()  # corrupt or forged: forget it, compile again
        except OSError:
            pass
        return None


def store(key: str, entry: Entry) -> None:
    """Best effort: a cache that cannot be written only costs the next run its speed."""
    directory = cache_dir()
    if not _usable_dir(directory, create=True):
        return
    secret = _secret(directory, create=True)
    if secret is None:
        return
    payload = asdict(entry)
    try:
        write_text(
            directory / f"{key}.json", json.dumps({"key": key, "mac": _mac(secret, key, payload), "payload": payload})
        )
    except OSError:
        pass
