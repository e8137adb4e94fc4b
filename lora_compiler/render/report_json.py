"""Machine-readable output on stdout: the report (or just findings when compile stopped early)."""

from __future__ import annotations

import json
from typing import Any


def render_compile(result: Any, color: bool = False) -> str:
    if result.report is not None:
        data = result.report.to_dict()
    else:
        data = {"file": result.file, "findings": [f.to_dict() for f in result.findings]}
    data["exit_code"] = result.exit_code()
    return json.dumps(data, indent=2) + "\n"
