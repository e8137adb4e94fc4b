"""What PEFT itself said while wrapping the skeleton (or the real model, in load_lora), as findings.

The stages that run PEFT (engine/compiler.py, features/runtime.py) hand over what they saw;
this module declares their two rules and says where each finding points.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..pipeline.document import Document
from ..pipeline.fields import key_for_message
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule

W = Severity.WARNING

PEFT_WARNING = rule(
    "peft-warning",
    W,
    Stage.RAISED,
    "PEFT warned while applying the adapter.",
    Docs(
        what="A warning PEFT itself emitted on the skeleton, such as tied-weight advice, at the YAML key it is "
        "about; dropped when another rule already explains that key better.",
        why="PEFT prints the same warning at the start of training, where it is easy to miss in the log.",
        fix="Follow PEFT's message (the hint names the key to change), or accept it knowingly.",
        source="peft/tuners/tuners_utils.py BaseTuner.inject_adapter (warnings.warn)",
    ),
)
MOE_FUSED_DROPOUT = rule(
    "moe-fused-dropout",
    W,
    Stage.RAISED,
    "lora_dropout cannot apply to fused MoE expert parameters.",
    Docs(
        what="PEFT rewrote expert target_modules into target_parameters, whose wrapper cannot use dropout; "
        "Axolotl patches it so that dropout applies to the other layers only.",
        why="The expert adapters train without the dropout the YAML asks for.",
        fix="Set lora_dropout: 0 to make this explicit, or accept dropout on the other layers only.",
        source="peft/tuners/lora/layer.py ParamWrapper; Axolotl's patch of PEFT's MoE conversion",
    ),
)


# The keys whose values made PEFT wrap (or save) what its message is about, most specific first: where a
# warning about a key the YAML leaves unset points instead.
CAUSES = (
    "lora_modules_to_save",
    "peft_trainable_token_indices",
    "lora_target_modules",
    "lora_target_linear",
    "lora_target_parameters",
)
HINTS = {
    "peft_ensure_weight_tying": "set peft_ensure_weight_tying: true so PEFT keeps the tied copies tied",
}


def peft_warnings(doc: Document, spec: Any, messages: Iterable[str]) -> list[Finding]:
    """Each warning at the YAML key it is about, or (when that key is unset) at the key that caused it.

    peft 0.21 warns that rank/alpha_pattern keys matched nothing also when the keys are its own: the
    `.*\\.gate_up_proj` pattern its transformers-5 MoE conversion writes. A YAML without that pattern key
    did not cause it, and the report shows the ranks PEFT applied, so that warning is left out."""
    out = []
    for text in messages:
        pattern = next((k for k in ("rank_pattern", "alpha_pattern") if f"{k} keys did not match" in text), None)
        if pattern and not getattr(spec, f"lora_{pattern}", None):
            continue
        about = key_for_message(text, spec)
        where = about if (about,) in doc.key_pos else next((k for k in CAUSES if (k,) in doc.key_pos), "adapter")
        hint = HINTS.get(about) or (f"PEFT's message is about {about}" if about != where else None)
        out.append(PEFT_WARNING.at(doc, f"PEFT: {text}", (where,), hint=hint))
    return out


def fused_dropout(doc: Document, dropout: float, parameters: list[str] | None = None) -> Finding:
    """lora_dropout meets fused expert parameters; `parameters`: the targets PEFT converted them into."""
    into = f" ({', '.join(parameters)})" if parameters else ""
    return MOE_FUSED_DROPOUT.at(
        doc,
        f"PEFT turns the MoE expert targets into fused parameter targets{into}, where "
        f"lora_dropout {dropout:g} cannot apply; as in Axolotl, it applies to the other layers only",
        ("lora_dropout",),
        hint="set lora_dropout: 0 to make this explicit",
    )


def without_restated(findings: list[Finding]) -> list[Finding]:
    """Drop a PEFT warning about a key that one of our rules already explains better."""

    def top(f: Finding) -> str:
        return (f.key or "").split(".")[0]

    explained = {top(f) for f in findings if f.rule != PEFT_WARNING.id and f.key}
    return [f for f in findings if f.rule != PEFT_WARNING.id or top(f) not in explained]
