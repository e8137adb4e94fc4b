"""A draft's keys as a file: YAML and JSON in the trainer's key order, Python through the trainer's own call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..version import __version__
from .core import Draft, Subject, Trainer


def render(trainer: Trainer, draft: Draft, fmt: str, subject: Subject) -> str:
    if fmt not in trainer.formats:
        raise ValueError(f"{trainer.name} is not exported as {fmt} (use one of: {', '.join(trainer.formats)})")
    if fmt == "json":
        return json.dumps(draft.fields, indent=2) + "\n"
    header = _header(trainer, subject)
    if fmt == "python":
        assert trainer.python is not None
        return "".join(f"# {line}\n" for line in header) + "\n" + trainer.python(draft)
    import yaml

    body = yaml.safe_dump(draft.fields, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    return "".join(f"# {line}\n" for line in header) + body


def _header(trainer: Trainer, subject: Subject) -> list[str]:
    """Where the file came from, without paths or times, so two exports of one YAML are byte-identical."""
    count = len(subject.wrapped)
    source = Path(subject.doc.file).name if subject.doc.file else "<input>"
    return [
        f"{trainer.title}: exported by lora-compiler {__version__} from {source}",
        f"checked: trains the same {count} LoRA layer(s) as Axolotl would on {subject.report.model.base_model}",
    ]


def call(head: str, name: str, kwargs: dict[str, Any], tail: str = "") -> str:
    """`name = head(key=value, ...)` with one keyword per line, values as Python literals."""
    args = "".join(f"    {k}={_wrapped(v)},\n" for k, v in kwargs.items())
    return f"{name} = {head}(\n{args})\n{tail}"


def _wrapped(value: Any) -> str:
    """A list that would not fit a line is written one item per line."""
    text = _literal(value)
    if len(text) <= 100 or not isinstance(value, list):
        return text
    return "[\n" + "".join(f"        {_literal(v)},\n" for v in value) + "    ]"


def _literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)
