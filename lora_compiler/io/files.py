"""Atomic, lock-protected output: a reader never sees half a file or a mismatched pair."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# Files that make a folder a model or adapter checkpoint: an adapter_config.json written beside them
# turns the folder into an adapter for transformers (from_pretrained then looks for adapter weights).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".index.json")
LOCK_NAME = ".lora-compiler.lock"


class OutputProtected(Exception):
    """OUT holds model or adapter weights; writing an adapter config beside them could break or mislabel them.

    `forceable` says whether --force would help (a regular file in the way cannot be forced)."""

    def __init__(self, message: str, forceable: bool = True) -> None:
        super().__init__(message)
        self.forceable = forceable


def check_writable(out_dir: Path, force: bool) -> None:
    """Raise OutputProtected before any work when OUT cannot, or must not without --force, take the files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputProtected(f"{out_dir} exists and is not a directory", forceable=False)
    if force or not out_dir.is_dir():
        return
    held = sorted(p.name for p in out_dir.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if (out_dir / "config.json").is_file():
        held.append("config.json (a model's)")
    if held:
        shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
        raise OutputProtected(f"{out_dir} holds model or adapter files ({shown}); writing adapter_config.json "
                              "there would change how transformers loads the folder; refusing without --force")


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


def _stage(directory: Path, name: str, text: str) -> Path:
    """Write `text` to a fsynced temporary sibling of `name`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_all(out_dir: Path, files: dict[str, str], force: bool = False) -> list[Path]:
    """Replace every file together or none: stage all, then rename under a lock, rolling back on failure."""
    check_writable(out_dir, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    backups: dict[str, Path] = {}
    try:
        for name, text in files.items():
            staged.append((name, _stage(out_dir, name, text)))
        with _locked(out_dir):
            check_writable(out_dir, force)
            done: list[str] = []
            try:
                for name, tmp in staged:
                    target = out_dir / name
                    if target.exists():
                        backups[name] = Path(tempfile.mktemp(prefix=f".{name}.", suffix=".bak", dir=out_dir))
                        os.link(target, backups[name])
                    os.replace(tmp, target)
                    done.append(name)
            except BaseException:
                for name in done:  # put the previous generation back, so the set stays consistent
                    if name in backups:
                        os.replace(backups.pop(name), out_dir / name)
                    else:
                        (out_dir / name).unlink(missing_ok=True)
                raise
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)
        for backup in backups.values():
            backup.unlink(missing_ok=True)
    return [out_dir / name for name in files]


def write_text(path: Path, text: str) -> None:
    """Write one file atomically: a reader sees the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_stage(path.parent, path.name, text), path)
