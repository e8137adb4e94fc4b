"""Lint renderers: text, json, github and sarif, each handed the finished results of a batch.

`run` holds what the batch says once rather than per file (the stack verdict, api.run_findings): text prints it
after the files' findings, json as the top-level `findings`, github as an annotation without a file, sarif as a
result without a location. Every count and exit code includes it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..results.findings import Finding, exit_code
from ..results.report import versions
from ..version import __version__
from .text import render_findings

SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _all(results: Sequence[Any], run: Sequence[Finding] = ()) -> list[Finding]:
    return [f for r in results for f in r.findings] + list(run)


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    out = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        out[f.severity.value] += 1
    return out


def render_text(results: Sequence[Any], color: bool = False, strict: bool = False, run: Sequence[Finding] = ()) -> str:
    findings = _all(results, run)
    counts = _counts(findings)
    summary = (
        f"{len(results)} file{'s' if len(results) != 1 else ''} checked: {counts['error']} errors, "
        f"{counts['warning']} warnings, {counts['info']} info"
    )
    # the run's own findings have no file: "run:" stands where a path would
    shown = [f for r in results for f in r.findings] + [f if f.file else replace(f, file="run") for f in run]
    return render_findings(shown, color) + summary + "\n"


def render_json(results: Sequence[Any], color: bool = False, strict: bool = False, run: Sequence[Finding] = ()) -> str:
    files = [
        {
            "file": r.file,
            "exit_code": r.exit_code(strict),
            "summary": _counts(r.findings),
            "axolotl": _profile(r),
            "findings": [f.to_dict() for f in r.findings],
        }
        for r in results
    ]
    data = {
        "version": __version__,
        "exit_code": exit_code(_all(results, run), strict),
        "summary": _counts(_all(results, run)),
        "environment": versions(),
        "files": files,
        "findings": [f.to_dict() for f in run],
    }
    return json.dumps(data, indent=2) + "\n"


def _profile(result: Any) -> dict[str, Any] | None:
    """The Axolotl release whose semantics judged this file (None: the YAML was unusable before one was chosen)."""
    return result.selection.record() if result.selection is not None else None


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(
    results: Sequence[Any], color: bool = False, strict: bool = False, run: Sequence[Finding] = ()
) -> str:
    """GitHub Actions workflow commands: one annotation per finding (a run's own, without a file)."""
    lines = []
    for f in _all(results, run):
        props = [f"file={_escape_property(f.file)}"] if f.file else []
        if f.line is not None:
            props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
        props.append(f"title={_escape_property(f.rule)}")
        message = f.message + (f" (hint: {f.hint})" if f.hint else "")
        lines.append(f"::{GITHUB_LEVEL[f.severity.value]} {','.join(props)}::{_escape_data(message)}")
    return "".join(line + "\n" for line in lines)


def render_sarif(results: Sequence[Any], color: bool = False, strict: bool = False, run: Sequence[Finding] = ()) -> str:
    """SARIF 2.1.0 for code scanning: every rule listed once with its doc, results with locations."""
    from ..rules import all_rules

    rules = all_rules()
    index = {r.id: i for i, r in enumerate(rules)}
    driver = {
        "name": "lora-compiler",
        "version": __version__,
        "informationUri": "https://github.com/lora-compiler/lora-compiler",
        "rules": [
            {
                "id": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.doc},
                "help": {"text": r.doc},
                "defaultConfiguration": {"level": SARIF_LEVEL[r.level.value]},
            }
            for r in rules
        ],
    }
    out = []
    for f in _all(results, run):
        item: dict[str, Any] = {
            "ruleId": f.rule,
            "level": SARIF_LEVEL[f.severity.value],
            "message": {"text": f.message + (f" (hint: {f.hint})" if f.hint else "")},
        }
        if f.file:  # a run's own finding has no location (SARIF 2.1.0 3.27.12: locations may be absent)
            location: dict[str, Any] = {"artifactLocation": {"uri": f.file.replace("\\", "/")}}
            if f.line is not None:
                location["region"] = {"startLine": f.line, **({"startColumn": f.column} if f.column else {})}
            item["locations"] = [{"physicalLocation": location}]
        if f.rule in index:
            item["ruleIndex"] = index[f.rule]
        out.append(item)
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "results": out,
                "properties": {
                    "environment": versions(),
                    "axolotl": list({json.dumps(p, sort_keys=True): p for r in results if (p := _profile(r))}.values()),
                },
            }
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"
