"""Atomic, lock-protected output: a reader never sees half a file or a mismatched pair."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
LOCK_NAME = ".lora-compiler.lock"


class OutputProtected(Exception):
    """OUT holds trained adapter weights; writing a new config beside them could mislabel them."""


def check_writable(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputProtected(f"{out_dir} exists and is not a directory")
    weights = [name for name in ADAPTER_WEIGHTS if (out_dir / name).exists()]
    if weights and not force:
        raise OutputProtected(
            f"{out_dir} holds adapter weights ({', '.join(weights)}); refusing to write beside them without --force"
        )


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Serialise concurrent compiles into one directory so the files they leave belong together."""
    import fcntl

    with open(out_dir / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_all(out_dir: Path, files: dict[str, str], force: bool = False) -> list[Path]:
    """Write every file to a temporary sibling, fsync, then rename each into place under a lock."""
    check_writable(out_dir, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            staged.append((name, Path(tmp)))
        with _locked(out_dir):
            check_writable(out_dir, force)
            for name, tmp in staged:
                os.replace(tmp, out_dir / name)
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)
    return [out_dir / name for name in files]


def write_text(path: Path, text: str) -> None:
    """Write one file atomically: a reader sees the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
