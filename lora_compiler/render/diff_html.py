"""diff --format html: the layer maps of every compared side, side by side, differences outlined."""

from __future__ import annotations

from typing import Any


def render(result: Any, color: bool = False) -> str:
    from .html import render_maps_html

    failed = [(side.label, "refused: " + ", ".join(side.error_rules)) for side in result.sides if not side.report]
    return render_maps_html([(side.label, side.report) for side in result.sides if side.report], failed)
