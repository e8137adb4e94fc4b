"""Output formats, chosen from a registry and handed a finished result; none prints while checking."""

from __future__ import annotations

from typing import Any, Callable

from . import json_format, lint_formats, text

# name -> renderer(result, color) -> str
COMPILE_FORMATS: dict[str, Callable[[Any, bool], str]] = {
    "text": text.render_compile,
    "json": json_format.render_compile,
}

# name -> renderer(results, color, strict) -> str
LINT_FORMATS: dict[str, Callable[..., str]] = {
    "text": lint_formats.render_text,
    "json": lint_formats.render_json,
    "github": lint_formats.render_github,
    "sarif": lint_formats.render_sarif,
}
