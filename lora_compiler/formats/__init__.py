"""Terminal formats, chosen from a registry and handed a finished result; none prints while checking."""

from __future__ import annotations

from typing import Any, Callable

from . import json_format, text

# name -> renderer(results, color) -> str
COMPILE_FORMATS: dict[str, Callable[[Any, bool], str]] = {
    "text": text.render_compile,
    "json": json_format.render_compile,
}
