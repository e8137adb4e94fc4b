"""Running PEFT for `load_lora`: its refusals and compile's findings become one error type, the rest is logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..pipeline.document import Document
from ..pipeline.spec import AdapterSpec
from ..results import findings as fmod
from ..results.findings import Finding
from ..rulebook.pipeline import PEFT_REFUSED

logger = logging.getLogger("lora_compiler.features.runtime")  # the one logger docs/runtime.md names


class LoraCompilerError(Exception):
    """A config or adapter that cannot be applied; `findings` says where and why, one per line in str()."""

    def __init__(self, findings: list[Finding]) -> None:
        from ..render.text import render_findings

        self.findings = fmod.sort_findings(findings)
        super().__init__(render_findings(self.findings).rstrip())


def peft_call(
    doc: Document, at: tuple[Any, ...] | None, call: Callable[[], Any], spec: AdapterSpec | None = None
) -> Any:
    """Run a PEFT call; its refusal becomes a finding at `at` (or the YAML key its message names)."""
    try:
        return call()
    except Exception as exc:  # every PEFT refusal, whatever its type
        from ..pipeline.fields import key_for_message

        text = (str(exc).strip() or type(exc).__name__).splitlines()[0][:500]
        where = at or ((key_for_message(text, spec),) if spec is not None else ("adapter",))
        raise LoraCompilerError(
            [
                PEFT_REFUSED.at(
                    doc,
                    f"PEFT refuses this adapter: {text}",
                    where,
                    hint=f"change {'.'.join(map(str, where))}",
                )
            ]
        ) from exc


def report(found: list[Finding]) -> None:
    """Raise on errors; log the rest, so a warning compile would print is not lost at runtime."""
    if fmod.has_errors(found):
        raise LoraCompilerError(found)
    for f in found:
        logger.warning("%s: %s [%s] %s", f.location, f.severity.value, f.rule, f.message)
