"""A target-selection convention: what one tool selects by default, restated as targets for the same model.

A convention rewrites only the target keys of a parsed config (r, alpha, patterns, exclusions,
layers_to_transform and everything else stay as written); the config is then compiled as usual, so PEFT
itself decides what is wrapped. A trainer's convention is declared beside its exporter (Trainer.convention);
features/conventions.py lists them with the ones that are no trainer's for `diff --convention`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..engine.options import Options
from ..pipeline.document import Document
from ..results.findings import Finding
from ..rulebook.pipeline import CONVENTION_EMPTY, CONVENTION_REPLACED

if TYPE_CHECKING:
    from ..engine.session import Session

TARGET_KEYS = ("lora_target_linear", "lora_target_modules")

Rewrite = Callable[[Document, Options, "Session"], tuple[dict[str, Any], list[Finding]]]


@dataclass(frozen=True)
class Convention:
    name: str
    summary: str  # one line for legends: the key it stands for and its rule
    rewrite: Rewrite  # (document, options, session) -> (new values, notes)

    def apply(self, doc: Document, options: Options, session: Session) -> tuple[Document, list[Finding]]:
        """The document with this convention's target keys; notes say what it replaced."""
        values, notes = self.rewrite(doc, options, session)
        return replace(doc, values=values), notes


def replace_targets(doc: Document, targets: list[str] | str, convention: str) -> tuple[dict[str, Any], list[Finding]]:
    """The values with `targets` as lora_target_modules and no lora_target_linear; a note when names are dropped."""
    values = {k: v for k, v in doc.values.items() if k not in TARGET_KEYS}
    values["lora_target_modules"] = targets
    written = doc.values.get("lora_target_modules")
    notes = []
    if written:
        notes.append(
            CONVENTION_REPLACED.at(
                doc,
                f"{convention} replaces lora_target_modules {written!r}: it selects targets by its "
                "own rule and cannot add names to it",
                ("lora_target_modules",),
            )
        )
    return values, notes


def selects_nothing(doc: Document, convention: str, message: str, key: str) -> tuple[dict[str, Any], list[Finding]]:
    """No targets, with an info note saying why the convention is not restated for this model."""
    values, notes = replace_targets(doc, [], convention)
    notes.append(CONVENTION_EMPTY.at(doc, message, (key,)))
    return values, notes


def start(doc: Document, options: Options, session: Session) -> Any:
    """The skeleton compile builds for this document (shared through `session`), or None (compile reports why)."""
    from ..engine.front import front

    return front(doc, options, session).skeleton


def model_of(doc: Document, options: Options, session: Session) -> Any:
    """The meta model compile builds for this document (shared through `session`), or None."""
    found = start(doc, options, session)
    return found.model if found is not None else None
