"""`lora-compiler diff --format json`: the diff's data, keys sorted, for CI and other tools."""

from __future__ import annotations

import json

from ..diff import MatrixDiff, PairDiff


def render(result: MatrixDiff | PairDiff, color: bool = False) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"
