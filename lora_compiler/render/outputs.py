"""The compile outputs, rendered from a finished result: adapter_config.json, targets.json, report.md."""

from __future__ import annotations

import json
from typing import Any

from ..results.report import Report
from .html import render_report_html
from .markdown import render_markdown


def targets_text(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def adapter_config_text(config: dict[str, Any]) -> str:
    """As PEFT's save_pretrained writes it: indent 2, keys in the order the dict holds (PEFT's, set by
    pipeline/peftcfg.py), no newline at the end."""
    return json.dumps(config, indent=2)


OUTPUT_NAMES = frozenset({"adapter_config.json", "targets.json", "report.md", "report.html"})


def render_files(result: Any) -> dict[str, str]:
    """All files of one compile, keyed by file name; written together or not at all."""
    report = result.report
    return {
        "adapter_config.json": adapter_config_text(result.adapter_config),
        "targets.json": targets_text(report),
        "report.md": render_markdown(report),
        "report.html": render_report_html(report, result.source_text),
    }
