"""What a run read, recorded by the code that reads it: file contents, file identities, probes for files,
environment variables, installed distributions, and the working directory relative paths depend on.

The result cache (io/cache.py) keeps this record beside an entry and believes the entry only while every
recorded input is unchanged, as a build system's dependency manifest works: a stage that starts reading a
new input records it here, and the cache needs no edit. Outside `recording()` these calls only read.
A leaf module (it imports nothing of the package), so every room may record through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as st
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

MAX_HASHED_BYTES = 64 * 1024 * 1024  # a recorded content larger than this reads as changed


@dataclass
class Record:
    """Every input one run read ("kind:name" -> fingerprint), and what it read that cannot be recorded."""

    inputs: dict[str, str] = field(default_factory=dict)
    untracked: list[str] = field(default_factory=list)  # e.g. "the Hub was asked": the result must not be reused


_RECORD: ContextVar[Record | None] = ContextVar("lora_compiler_inputs", default=None)


@contextmanager
def recording() -> Iterator[Record]:
    """Record what the code run inside the block reads (nested blocks each get their own record)."""
    record = Record()
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


def _note(kind: str, name: str, fingerprint: str) -> None:
    record = _RECORD.get()
    if record is not None:
        record.inputs.setdefault(f"{kind}:{name}", fingerprint)


def _path(path: str | Path) -> str:
    """The path as the reader used it; a relative one also depends on the working directory."""
    text = str(path)
    if not os.path.isabs(text):
        cwd()
    return text


def content(path: str | Path, data: bytes) -> bytes:
    """Record that `data` was read from `path` (a file whose every byte counts); returns `data`."""
    if _RECORD.get() is not None:
        _note("file", _path(path), "sha256:" + hashlib.sha256(data).hexdigest())
    return data


def identity(path: str | Path) -> None:
    """Record a file read in part (a weights file's header): its size, times and inode stand for its content."""
    if _RECORD.get() is not None:
        _note("stat", _path(path), _identity(path))


def is_file(path: str | Path) -> bool:
    """Path.is_file, recorded: a file that appears or goes away later changes what the reader did."""
    return _probe(path) == "file"


def is_dir(path: str | Path) -> bool:
    """Path.is_dir, recorded."""
    return _probe(path) == "dir"


def env(name: str) -> str | None:
    """os.environ.get, recorded."""
    value = os.environ.get(name)
    _note("env", name, json.dumps(value))
    return value


def dist(package: str) -> str | None:
    """The installed version of a distribution, from its metadata (nothing is imported), recorded."""
    version = _dist(package)
    _note("dist", package, json.dumps(version))
    return version


def expanduser(path: str | Path) -> Path:
    """Path.expanduser, recorded: a path that starts with ~ depends on HOME."""
    if str(path).startswith("~"):
        env("HOME")
    return Path(path).expanduser()


def cwd() -> str:
    """The working directory, recorded: relative paths are read against it."""
    here = os.getcwd()
    _note("cwd", "", here)
    return here


def untracked(why: str) -> None:
    """The run read something no record can check again (the network, remote code): never reuse its result."""
    record = _RECORD.get()
    if record is not None and why not in record.untracked:
        record.untracked.append(why)


def unchanged(inputs: Mapping[str, str]) -> bool:
    """Every recorded input still reads the same (False for a record this version cannot check)."""
    try:
        return all(_current(entry) == fingerprint for entry, fingerprint in inputs.items())
    except (KeyError, ValueError):
        return False


def _current(entry: str) -> str:
    kind, _, name = entry.partition(":")
    if kind == "file":
        return _hash(name)
    if kind == "stat":
        return _identity(name)
    if kind == "probe":
        return _kind(name)
    if kind == "env":
        return json.dumps(os.environ.get(name))
    if kind == "dist":
        return json.dumps(_dist(name))
    if kind == "cwd":
        return os.getcwd()
    raise KeyError(kind)


def _probe(path: str | Path) -> str:
    found = _kind(path)
    if _RECORD.get() is not None:
        _note("probe", _path(path), found)
    return found


def _kind(path: str | Path) -> str:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return "missing"
    return "file" if st.S_ISREG(mode) else "dir" if st.S_ISDIR(mode) else "other"


def _identity(path: str | Path) -> str:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return "missing"
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}:{info.st_ctime_ns}"


def _hash(path: str) -> str:
    """The content fingerprint of a regular file as it is now (never blocks on a FIFO, never reads past the bound)."""
    if _kind(path) != "file":
        return "not a file"
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_HASHED_BYTES + 1)
    except OSError:
        return "unreadable"
    return "too large" if len(data) > MAX_HASHED_BYTES else "sha256:" + hashlib.sha256(data).hexdigest()


def _dist(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
