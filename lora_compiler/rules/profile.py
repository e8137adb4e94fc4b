"""The one finding about the run's Axolotl profile itself: semantics mixed with a stack they were not released with."""

from __future__ import annotations

from ..pipeline.document import Document
from ..profiles import Selection
from ..results.findings import Finding, Severity
from .registry import documented

documented(
    "axolotl-profile-unknown",
    Severity.ERROR,
    "The Axolotl release asked for has no profile.",
    "--axolotl, LORA_COMPILER_AXOLOTL or the policy key `axolotl` names a release lora-compiler has no "
    "semantics for (it knows 0.19.0, 0.20.0 and 0.21.0; a patch release maps to its minor's profile).",
)
documented(
    "axolotl-stack-mismatch",
    Severity.WARNING,
    "The Axolotl profile is mixed with libraries it was not released with.",
    "The target set, PEFT's checks and the trained counts depend on the installed transformers and "
    "peft as much as on Axolotl's rules: an Axolotl release pins both (0.19.0: transformers 5.16.1, "
    "peft 0.20.0; 0.20.0: 5.17.0, 0.21.0; 0.21.0: 5.20.1, 0.21.2). When the libraries serving the run, "
    "or an installed axolotl, differ from the chosen profile's, the answer may differ from what that "
    "release would train. Install the release's stack (README: other Axolotl releases) or pick the "
    "profile of the installed axolotl.",
)


def stack_mismatch(doc: Document, selection: Selection) -> list[Finding]:
    """A file-level warning naming the versions, when the run mixes them (only runs that build a model)."""
    mixed = selection.mismatches()
    if not mixed:
        return []
    p = selection.profile
    return [
        doc.finding(
            "axolotl-stack-mismatch",
            f"{p.name}'s semantics (chosen by {selection.chosen_by}) on a "
            f"stack it was not released with: {'; '.join(mixed)}",
            (),
            Severity.WARNING,
            hint=f"install transformers=={p.transformers} peft=={p.peft} (or pass --axolotl with "
            "the release these libraries belong to)",
        )
    ]
