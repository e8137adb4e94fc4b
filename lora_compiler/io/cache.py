"""Result cache for compile: the same inputs give the same bytes back without importing torch.

An entry is found by the run's own terms: the YAML's bytes and path (findings carry positions), the
output format, every option (the rule levels among them) and the version of lora-compiler. It is
believed only while every input compile recorded reading is unchanged (lora_compiler/inputs.py): the
resolved model config.json, the DeepSpeed JSON, a saved adapter's files, the files probed on the way,
the environment variables consulted, the installed torch, transformers, peft and axolotl. The stages
record what they read, as a build system's dependency manifest works, so a new input needs no edit
here; a run that asked the network or ran remote code records that it cannot be checked again, and
is not stored.

Trust model: an entry is believed only if it carries an HMAC-SHA256 made with a secret key that
the cache's readers hold: `LORA_COMPILER_CACHE_KEY` when set (a CI secret, to share a cache
between jobs), else `cache.key`, created once with mode 0600 in a cache directory that must be
owned by this user and writable by nobody else (else the cache is not used). Whoever cannot read
the key cannot plant an answer (the recorded inputs are under the HMAC too); a forged, stale,
unreadable or malformed entry is a miss, never a wrong answer. Entries name only the output files a
compile writes, and every name is checked again before anything is written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import inputs
from ..pipeline.document import Document, read_bounded
from ..version import __version__
from .files import plain_name, write_text

FORMAT_VERSION = 7  # 7: adapter_config.json as PEFT saves it, targets.json 1.4 (peft_rewrites)
KEY_ENV = "LORA_COMPILER_CACHE_KEY"
KEY_FILE = "cache.key"
MAX_ENTRY_BYTES = 64 * 1024 * 1024


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
    inputs: dict[str, str] = field(default_factory=dict)  # what compile read (inputs.Record): must be unchanged


def compile_key(doc: Document, options: Any, fmt: str) -> str | None:
    """Where compiling the already-parsed `doc` is cached, or None when the result must not be cached."""
    if options.allow_remote_code or not doc.usable:
        return None  # remote code reads files outside any record; an unusable YAML is only its findings
    h = hashlib.sha256()
    for part in (
        str(FORMAT_VERSION),
        __version__,
        str(doc.file),
        fmt,
        json.dumps(asdict(options), sort_keys=True, default=str),
    ):
        h.update(part.encode() + b"\0")
    h.update(hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).digest())
    return h.hexdigest()


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
    """The entry for `key` if it is authentic, names only `allowed_names` and every input it recorded is
    unchanged; else None (a miss)."""
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
        entry = Entry(
            dict(payload["files"]), str(payload["stdout"]), int(payload["exit_code"]), dict(payload["inputs"])
        )
        if not all(plain_name(k) and k in allowed_names and isinstance(v, str) for k, v in entry.files.items()):
            raise ValueError("bad file table")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in entry.inputs.items()):
            raise ValueError("bad input record")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()  # corrupt or forged: forget it, compile again
        except OSError:
            pass
        return None
    return entry if inputs.unchanged(entry.inputs) else None  # stale: the next store replaces it


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
