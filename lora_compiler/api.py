"""The Python face of the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .compiler import CompileResult, Options
from .compiler import compile_config as _compile


def compile_config(
    config: str | Path | Mapping[str, Any], *, offline: bool = False, trust_remote_code: bool = False
) -> CompileResult:
    """Compile a YAML path or a mapping of Axolotl keys; the result carries report, LoraConfig and findings."""
    return _compile(config, Options(offline=offline, allow_remote_code=trust_remote_code))
