"""Output formats, chosen from a registry and handed a finished result; none prints while checking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import lint_formats, text
from . import report_json as json_format

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


def __getattr__(name: str) -> Any:
    # The diff renderers load only for diff: compile and lint must not pay for their imports.
    if name == "DIFF_FORMATS":
        from . import diff_html, diff_json, diff_md, diff_text

        # name -> renderer(diff result, color) -> str
        formats: dict[str, Callable[[Any, bool], str]] = {
            "text": diff_text.render,
            "md": diff_md.render,
            "json": diff_json.render,
            "html": diff_html.render,
        }
        return formats
    raise AttributeError(name)
