"""Atomic, lock-protected output sets: a reader that checks the manifest never sees a mixed set.

A compile writes several files (adapter_config.json, targets.json, report.md, report.html) that
must belong together. POSIX cannot rename several files at once, so the set carries a manifest,
`lora-compiler.json`, naming each file with its sha256. The writer, under a lock:
1. removes leftovers of a crashed run and stages every file (fsynced temporaries);
2. removes the manifest (from here on the directory holds no complete set);
3. renames each file into place, then fsyncs the directory;
4. writes the new manifest last (staged, renamed, directory fsynced).
A failure rolls every file back and restores the old manifest; a kill leaves no manifest until
the next compile. `read_set` is the reader's side: it returns files whose hashes match the
manifest, or raises IncompleteSet, so a consistent set is the only thing it can observe.
Outputs get the usual umask permissions (other users and artifact uploaders can read them).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Files that make a folder a model or adapter checkpoint: an adapter_config.json written beside them
# turns the folder into an adapter for transformers (from_pretrained then looks for adapter weights).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".index.json")
LOCK_NAME = ".lora-compiler.lock"
MANIFEST_NAME = "lora-compiler.json"
MAX_READ_BYTES = 256 * 1024 * 1024
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def plain_name(name: object) -> bool:
    """A file name that stays inside the directory it is written to: no separators, no dot files, no '..'."""
    return isinstance(name, str) and bool(_PLAIN_NAME.match(name)) and ".." not in name


class OutputProtected(Exception):
    """OUT holds model or adapter weights; writing an adapter config beside them could break or mislabel them.

    `forceable` says whether --force would help (a regular file in the way cannot be forced)."""

    def __init__(self, message: str, forceable: bool = True) -> None:
        super().__init__(message)
        self.forceable = forceable


class IncompleteSet(Exception):
    """The directory holds no complete output set right now (being written, crashed, or not ours)."""


def check_writable(out_dir: Path, force: bool) -> None:
    """Raise OutputProtected before any work when OUT cannot, or must not without --force, take the files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputProtected(f"{out_dir} exists and is not a directory", forceable=False)
    if force or not out_dir.is_dir():
        return
    # a dangling symlink counts: git-annex and git-lfs checkouts keep weights as links to absent content
    held = sorted(
        p.name for p in out_dir.iterdir() if (p.is_file() or p.is_symlink()) and p.name.endswith(WEIGHT_SUFFIXES)
    )
    if (out_dir / "config.json").is_file():
        held.append("config.json (a model's)")
    if held:
        shown = ", ".join(held[:4]) + (f" and {len(held) - 4} more" if len(held) > 4 else "")
        raise OutputProtected(
            f"{out_dir} holds model or adapter files ({shown}); writing adapter_config.json "
            "there would change how transformers loads the folder; refusing without --force"
        )


def _file_mode() -> int:
    """0666 minus the umask: what open() would give, rather than mkstemp's private 0600."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Serialise concurrent compiles into one directory so the files they leave belong together."""
    import fcntl

    try:  # O_NOFOLLOW: a planted lock symlink must not make us create or truncate a file elsewhere
        fd = os.open(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, _file_mode())
    except OSError as exc:
        why = "it is a symlink; remove it" if exc.errno == errno.ELOOP else exc.strerror
        raise OutputProtected(f"{out_dir / LOCK_NAME} cannot be used as a lock ({why})", forceable=False) from None
    with os.fdopen(fd, "r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stage(directory: Path, name: str, text: str) -> Path:
    """Write `text` to a fsynced temporary sibling of `name`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _sync_dir(directory: Path) -> None:
    """Make the renames durable: without it a power cut can bring back the old names."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_leftovers(out_dir: Path, names: list[str]) -> None:
    """Remove the temporaries and backups a killed run left (only ours: `.NAME.*.tmp` / `.bak`)."""
    for name in names:
        for leftover in out_dir.glob(f".{name}.*"):
            if leftover.name.endswith((".tmp", ".bak")) and not leftover.is_dir():
                leftover.unlink(missing_ok=True)


def manifest_text(files: dict[str, str]) -> str:
    digests = {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in sorted(files.items())}
    return json.dumps({"format": 1, "files": digests}, indent=2, sort_keys=True) + "\n"


def write_all(out_dir: Path, files: dict[str, str], force: bool = False) -> list[Path]:
    """Replace every file together or none, the manifest last (see the module docstring)."""
    bad = sorted(str(n) for n in files if not plain_name(n) or n in (MANIFEST_NAME, LOCK_NAME))
    if bad:
        raise OutputProtected(f"refusing to write {bad!r}: not a plain file name of an output set", forceable=False)
    check_writable(out_dir, force)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*files, MANIFEST_NAME]
    with _locked(out_dir):
        check_writable(out_dir, force)
        _clean_leftovers(out_dir, names)
        staged: list[tuple[str, Path]] = []
        backups: dict[str, Path] = {}
        manifest = out_dir / MANIFEST_NAME
        try:
            for name, text in files.items():
                staged.append((name, _stage(out_dir, name, text)))
            staged.append((MANIFEST_NAME, _stage(out_dir, MANIFEST_NAME, manifest_text(files))))
            done: list[str] = []
            try:
                if manifest.exists():
                    backups[MANIFEST_NAME] = _backup(out_dir, MANIFEST_NAME)
                    manifest.unlink()
                    _sync_dir(out_dir)
                for name, tmp in staged[:-1]:
                    target = out_dir / name
                    if target.exists() or target.is_symlink():
                        backups[name] = _backup(out_dir, name)
                    os.replace(tmp, target)
                    done.append(name)
                _sync_dir(out_dir)
                os.replace(staged[-1][1], manifest)
                _sync_dir(out_dir)
            except BaseException:
                for name in done:  # put the previous generation back, so the set stays consistent
                    if name in backups:
                        os.replace(backups[name], out_dir / name)
                    else:
                        (out_dir / name).unlink(missing_ok=True)
                if MANIFEST_NAME in backups:
                    # a no-op when the manifest was never removed: rename(2) between two links of one file
                    # does nothing, so the backup is left for the cleanup below
                    os.replace(backups[MANIFEST_NAME], manifest)
                _sync_dir(out_dir)
                raise
        finally:  # best effort, each on its own: the set is decided; a leftover is removed by the next run
            for leftover in [tmp for _, tmp in staged] + list(backups.values()):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
    return [out_dir / name for name in files]


def _backup(out_dir: Path, name: str) -> Path:
    backup = Path(tempfile.mktemp(prefix=f".{name}.", suffix=".bak", dir=out_dir))
    os.link(out_dir / name, backup, follow_symlinks=False)
    return backup


def read_set(out_dir: Path) -> dict[str, bytes]:
    """The output set as the manifest names it, each file's bytes matching its sha256; else IncompleteSet."""
    from ..pipeline.document import read_bounded

    try:
        manifest = json.loads(read_bounded(out_dir / MANIFEST_NAME, MAX_READ_BYTES))
        digests = manifest["files"]
        if not all(plain_name(n) and n != MANIFEST_NAME for n in digests):
            raise ValueError("it names a file outside the set")
        out = {name: read_bounded(out_dir / name, MAX_READ_BYTES) for name in digests}
    except FileNotFoundError:
        raise IncompleteSet(
            f"{out_dir} holds no complete output set (no {MANIFEST_NAME}, or a file it names is "
            "missing): a compile is writing it, or one was killed"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IncompleteSet(f"{out_dir}: {MANIFEST_NAME} cannot be used: {exc}") from None
    changed = sorted(n for n, data in out.items() if hashlib.sha256(data).hexdigest() != digests[n])
    if changed:
        raise IncompleteSet(f"{out_dir}: {', '.join(changed)} changed since the manifest was written")
    return out


def write_text(path: Path, text: str) -> None:
    """Write one file atomically: a reader sees the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_stage(path.parent, path.name, text), path)
