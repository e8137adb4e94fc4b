"""`lora-compiler diff --format json`: the diff's data with sorted keys, for CI and other tools.

Sides carry their model, totals and findings, not their whole targets report (that is compile's
output); `differs` is what --exit-code tests and `error` means an input was unusable (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from ..results.diff import MatrixDiff, PairDiff, Side
from ..results.findings import EXIT_UNUSABLE

_MODEL_KEYS = ("base_model", "architecture", "model_type", "is_multimodal")


def render(result: MatrixDiff | PairDiff, color: bool = False) -> str:
    return json.dumps(to_dict(result), indent=2, sort_keys=True) + "\n"


def to_dict(d: MatrixDiff | PairDiff) -> dict[str, Any]:
    common = {
        "layers": d.layers,
        "differs": d.differs,
        "error": d.exit_code() == EXIT_UNUSABLE,
        "sides": [_side(s) for s in d.sides],
    }
    if isinstance(d, MatrixDiff):
        return {
            **common,
            "diff": "matrix",
            "axis": d.axis,
            "config": d.config,
            "unmatched": [list(u) for u in d.unmatched],
            "rows": [{"section": r.section, "key": r.key, "cells": [c and asdict(c) for c in r.cells]} for r in d.rows],
        }
    return {
        **common,
        "diff": "pair",
        "compares": d.compares,
        **{k: [asdict(c) | {"delta": c.delta} for c in getattr(d, k)] for k in ("removed", "added", "changed")},
        "fields": [asdict(c) for c in d.fields],
        "environment": [asdict(c) for c in d.environment],
        "notes": [f.to_dict() for f in d.notes],
    }


def _side(s: Side) -> dict[str, Any]:
    totals = s.totals
    return {
        "label": s.label,
        "kind": s.kind,
        "exit_code": s.exit_code,
        "model": {k: getattr(s.report.model, k) for k in _MODEL_KEYS} if s.report else None,
        "totals": asdict(totals) if totals else None,
        "findings": [f.to_dict() for f in s.findings],
    }
