"""Safe YAML loading that keeps every key's and value's position and refuses what PyYAML hides.

PyYAML silently keeps the last of two duplicate keys and expands alias bombs without limit;
CI runs this tool on configs from strangers, so both are findings here, as are oversized or
undecodable files. Only the safe tag set is ever constructed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import inputs
from ..results.findings import Finding
from ..rulebook.pipeline import INPUT_UNREADABLE, YAML_DUPLICATE_KEY, YAML_NOT_MAPPING, YAML_SYNTAX, YAML_TOO_COMPLEX

MAX_BYTES = 1024 * 1024  # Axolotl configs are a few KB (the largest of 178 examples: 12 KB); 1 MB is not one.
MAX_NODES = 50_000  # counted while composing and again after alias expansion: stops billion-laughs documents
MAX_DEPTH = 200

Path_ = tuple[object, ...]  # a key path into the document: ("peft", "loftq_config", "loftq_bits")


@dataclass
class Document:
    """Plain values plus the 1-based (line, column) of every key and value, by key path."""

    file: str
    values: dict[str, Any] = field(default_factory=dict)
    key_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    text: str = ""

    @property
    def usable(self) -> bool:
        return not any(f.unusable for f in self.findings)

    def position(self, path: Path_, prefer_value: bool = False) -> tuple[int | None, int | None]:
        """Best position for a key path: the value (or key) itself, else its nearest parent."""
        for depth in range(len(path), 0, -1):
            sub = tuple(path[:depth])
            first, second = (self.value_pos, self.key_pos) if prefer_value else (self.key_pos, self.value_pos)
            pos = first.get(sub) or second.get(sub)
            if pos:
                return pos
        return (None, None)


_SAFE_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _TooComplex(Exception):
    """A limit passed while loading; the message says which."""


class _Builder:
    """Turns a composed node graph into Python values, recording positions and duplicates."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.nodes = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise _TooComplex()
        self.doc.value_pos[path] = _pos(node)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _SAFE_COLLECTION_TAGS:
            raise yaml.constructor.ConstructorError(None, None, f"tag {node.tag} is not allowed", node.start_mark)
        if isinstance(node, yaml.MappingNode):
            own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.constructor.flatten_mapping(node)  # resolves YAML merge keys (<<) first
            merged = len(node.value) - own  # flatten puts the merged pairs first: keys the mapping may override
            out: dict[Any, Any] = {}
            from_merge: set[Any] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.build_key(key_node)
                sub = path + (key,)
                if index < merged:
                    from_merge.add(key)
                elif key in out and key in from_merge:
                    from_merge.discard(key)  # a standard merge override (<<: *defaults, then key: value)
                elif key in out:
                    first = self.doc.key_pos.get(sub, (None, None))[0]
                    self.doc.findings.append(
                        YAML_DUPLICATE_KEY.finding(
                            f"duplicate key '{key}' (first defined on line {first}); "
                            "Axolotl would silently use this later value",
                            self.doc.file,
                            *_pos(key_node),
                            hint="keep one of the two definitions",
                            key=".".join(map(str, sub)),
                        )
                    )
                self.doc.key_pos[sub] = _pos(key_node)
                out[key] = self.build(value_node, sub, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except ValueError as exc:  # e.g. an integer of more than 4300 digits (Python's int-string limit)
            raise yaml.constructor.ConstructorError(
                None, None, f"a value that cannot be read: {str(exc)[:120]}", node.start_mark
            ) from None

    def build_key(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            key = self.constructor.construct_object(node)
            return key if isinstance(key, (str, int, float, bool)) or key is None else str(key)
        return yaml.serialize(node).strip()  # a complex key: keep its text, never a crash


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's own safe loader (Axolotl's yaml.safe_load), stopped as soon as a limit is passed.

    Nodes are counted while composing and flow nesting while scanning (PyYAML's scanner is
    quadratic in it), so a hostile document costs at most the limits' worth of work, never the
    whole node graph first. Brackets inside comments and strings are not nesting and do not count."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.composed = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.composed += 1
        self.depth += 1
        if self.composed > MAX_NODES:
            raise _TooComplex(f"more than {MAX_NODES:,} nodes")
        if self.depth > MAX_DEPTH:
            raise _TooComplex(f"collections nested more than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def fetch_more_tokens(self) -> None:
        if self.flow_level > MAX_DEPTH:
            raise _TooComplex(f"flow collections nested more than {MAX_DEPTH} levels")
        super().fetch_more_tokens()


def _compose(text: str) -> yaml.Node | None:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_text(text: str, file: str) -> Document:
    doc = Document(file=file, text=text)
    try:
        root = _compose(text)
    except _TooComplex as exc:
        return _too_complex(doc, str(exc))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        hint = "fix the YAML syntax at this position"
        opened = exc.context_mark
        if opened is not None and exc.problem_mark is not None and opened.line != exc.problem_mark.line:
            # where the parser gave up is often lines after the cause (an unclosed bracket): name both
            msg += f" (the construct began at line {opened.line + 1}, column {opened.column + 1})"
            hint = f"look at line {opened.line + 1}: an unclosed bracket or quote there is the usual cause"
        doc.findings.append(YAML_SYNTAX.finding(f"YAML syntax error: {msg}", file, line, col, hint))
        return doc
    except yaml.YAMLError as exc:
        doc.findings.append(YAML_SYNTAX.finding(f"YAML error: {exc}", file, 1, 1))
        return doc
    except RecursionError:
        return _too_complex(doc, "nesting too deep")
    if root is None:
        doc.findings.append(
            YAML_NOT_MAPPING.finding(
                "the file is empty; expected an Axolotl config mapping",
                file,
                1,
                1,
                "add at least base_model and adapter",
            )
        )
        return doc
    if not isinstance(root, yaml.MappingNode):
        doc.findings.append(
            YAML_NOT_MAPPING.finding(
                f"top level is a {type(root).__name__.replace('Node', '').lower()}, expected a mapping of keys",
                file,
                *_pos(root),
                "an Axolotl config is a mapping such as 'base_model: ...'",
            )
        )
        return doc
    try:
        doc.values = _Builder(doc).build(root, (), 0)
    except _TooComplex:
        return _too_complex(doc, f"more than {MAX_NODES:,} nodes or {MAX_DEPTH} levels after alias expansion")
    except RecursionError:
        return _too_complex(doc, "nesting too deep")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        doc.findings.append(YAML_SYNTAX.finding(f"YAML error: {exc}", file, line, col))
    return doc


def _too_complex(doc: Document, why: str) -> Document:
    doc.values = {}
    doc.findings.append(
        YAML_TOO_COMPLEX.finding(
            f"refusing to load this YAML: {why}",
            doc.file,
            1,
            1,
            "an Axolotl config is a flat mapping; remove the deep nesting or alias expansion",
        )
    )
    return doc


def read_bounded(path: str | Path, limit: int) -> bytes:
    """A regular file's bytes, at most `limit` of them. More (a huge or sparse file), or a file that is not
    regular (/dev/zero behind a symlink, a FIFO, a socket, a directory) is a ValueError, never a read into
    memory or a hang. The one way lint and compile read their inputs, so it records them (inputs.py)."""
    try:
        data = _read_bounded(path, limit)
    except (OSError, ValueError):
        inputs.identity(path)  # a refused or missing file is an input too: its change may change the finding
        raise
    return inputs.content(path, data)


def _read_bounded(path: str | Path, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    # O_NONBLOCK: opening a FIFO with no writer would otherwise block before fstat can refuse it
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size:,} bytes; more than {limit:,} are refused")
        while total <= limit:  # in chunks: memory follows the file's size, not the limit
            chunk = fh.read(min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise ValueError(f"more than {limit:,} bytes")
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def load_file(path: str | Path) -> Document:
    """Read and parse one config file; every failure becomes a finding, never an exception."""
    p = Path(path)
    name = str(path)
    try:
        if p.is_dir():
            raise IsADirectoryError("is a directory, not a YAML file")
        raw = read_bounded(p, MAX_BYTES)
        if b"\x00" in raw:
            raise ValueError("file contains NUL bytes; it is binary, not YAML")
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unreadable(name, f"not valid UTF-8 (byte {exc.start})")
    except FileNotFoundError:
        return _unreadable(name, "no such file")
    except (OSError, ValueError) as exc:
        return _unreadable(name, getattr(exc, "strerror", None) or str(exc))
    return load_text(text, name)


def _unreadable(name: str, why: str) -> Document:
    doc = Document(file=name)
    doc.findings.append(
        INPUT_UNREADABLE.finding(
            f"cannot read config: {why}",
            name,
            None,
            None,
            "pass the path of an Axolotl YAML config",
        )
    )
    return doc
