"""The one finding about the run's Axolotl profile itself: semantics mixed with a stack they were not released with."""

from __future__ import annotations

from ..pipeline.document import Document
from ..profiles import RELEASES, Selection
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule


def _pins() -> str:
    """'0.19.0: transformers 5.16.1, peft 0.20.0; 0.20.0: 5.17.0, 0.21.0; ...' from the profiles."""
    first, *rest = RELEASES
    return "; ".join(
        [f"{first.version}: transformers {first.transformers}, peft {first.peft}"]
        + [f"{p.version}: {p.transformers}, {p.peft}" for p in rest]
    )


AXOLOTL_STACK_MISMATCH = rule(
    "axolotl-stack-mismatch",
    Severity.WARNING,
    Stage.RAISED,
    "The Axolotl profile is mixed with libraries it was not released with.",
    Docs(
        what="The target set, PEFT's checks and the trained counts depend on the installed transformers and "
        f"peft as much as on Axolotl's rules: an Axolotl release pins both ({_pins()}). When the libraries "
        "serving the run, "
        "or an installed axolotl, differ from the chosen profile's, the answer may differ from what that "
        "release would train. Install the release's stack (README: other Axolotl releases) or pick the "
        "profile of the installed axolotl.",
        why="The answer may differ from what the chosen Axolotl release, with its own transformers and peft, "
        "would train.",
        fix="Install the release's transformers and peft (README: other Axolotl releases), or pass --axolotl "
        "with the release these libraries belong to.",
        source="lora_compiler/profiles/__init__.py Selection.mismatches (the pins of each release's profile)",
    ),
)


def stack_mismatch(doc: Document, selection: Selection) -> list[Finding]:
    """A file-level warning naming the versions, when the run mixes them (only runs that build a model)."""
    mixed = selection.mismatches()
    if not mixed:
        return []
    p = selection.profile
    return [
        AXOLOTL_STACK_MISMATCH.at(
            doc,
            f"{p.name}'s semantics (chosen by {selection.chosen_by}) on a "
            f"stack it was not released with: {'; '.join(mixed)}",
            (),
            hint=f"install transformers=={p.transformers} peft=={p.peft} (or pass --axolotl with "
            "the release these libraries belong to)",
        )
    ]
