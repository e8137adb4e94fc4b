"""The compile outputs, rendered from a finished result: adapter_config.json, targets.json, report.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..peftcfg import adapter_config_text
from .html import render_report_html
from .markdown import render_markdown


def targets_text(report_dict: dict[str, Any]) -> str:
    return json.dumps(report_dict, indent=2, sort_keys=False) + "\n"


def render_files(result: Any) -> dict[str, str]:
    """All files of one compile, keyed by file name; written together or not at all."""
    report = result.report.to_dict()
    return {
        "adapter_config.json": adapter_config_text(result.lora_config),
        "targets.json": targets_text(report),
        "report.md": render_markdown(report),
        "report.html": render_report_html(report, _source(result.file)),
    }


def _source(file: str | None) -> str | None:
    """The YAML's text, so report.html can quote the lines its findings point at."""
    try:
        return Path(file).read_text(encoding="utf-8") if file else None
    except (OSError, UnicodeDecodeError):
        return None
