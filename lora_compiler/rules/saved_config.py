"""Does the adapter_config.json PEFT saves load the adapter back as it was trained?

PEFT resolves a module's rank and alpha from rank_pattern / alpha_pattern by the first key that matches
its name. While training, that is the YAML's order; on reload, the order of the saved file. PEFT before
0.22 writes every dict with sorted keys, so a pattern whose order decides a match reloads some layers at
another rank (the load fails with a size mismatch) or another alpha (it loads, and scales them otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model_facts import pattern_key_matches
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

SAVED_PATTERN_ORDER = rule(
    "saved-pattern-order",
    Severity.WARNING,
    Stage.REPORT,
    "The saved adapter_config.json reloads some layers at another rank or alpha than they were trained at.",
    Docs(
        what="""rank_pattern and alpha_pattern give a module the value of the first key that matches its name.
      PEFT before 0.22 saves adapter_config.json with sorted keys (json.dumps(sort_keys=True)); when the YAML's
      order decides a match (`q_proj: 8` before `model.layers.0.self_attn.q_proj: 64`), the saved file
      resolves some modules otherwise than training did. The finding names them, with both values.""",
        why="""PeftModel.from_pretrained then fails with a size mismatch (another rank), or loads the adapter and
      scales those layers by another alpha, silently.""",
        fix="""Order-proof patterns: make at most one key match each module (e.g. `^(?!model\\.layers\\.0\\.).*q_proj`
      beside the layer-0 key), or train with PEFT >= 0.22, which keeps their order.""",
        source="peft/config.py PeftConfigMixin.save_pretrained; peft/utils/other.py get_pattern_key",
    ),
)


def resolved(patterns: Mapping[str, Any] | None, name: str, default: Any) -> Any:
    """PEFT's get_pattern_key: the value of the first key, in the dict's order, that matches `name`."""
    return next((v for k, v in (patterns or {}).items() if pattern_key_matches(k, name)), default)


@SAVED_PATTERN_ORDER.checks
def saved_pattern_order(ctx: Context) -> Iterable[Finding]:
    saved = ctx.adapter_config or {}
    for field, attr, what in (("rank_pattern", "r", "r"), ("alpha_pattern", "alpha", "lora_alpha")):
        key = f"lora_{field}"
        if not getattr(ctx.spec, key, None):
            continue  # only PEFT's own keys (a fused expert's): nothing of the YAML's order to lose
        default = saved.get(what)
        moved = [
            (m.name, getattr(m, attr), value)
            for m in ctx.report.modules
            if (value := resolved(saved.get(field), m.name, default)) != getattr(m, attr)
        ]
        if not moved:
            continue
        name, trained, reloaded = moved[0]
        more = f" and {len(moved) - 1} more" if len(moved) > 1 else ""
        yield SAVED_PATTERN_ORDER.at(
            ctx.doc,
            f"the saved adapter_config.json lists {field} as {list(saved.get(field) or {})}: PEFT reloads "
            f"{name}{more} at {what}={reloaded:g}, trained at {what}={trained:g}"
            + (" (a size mismatch: the adapter does not load)" if attr == "r" else ""),
            (key,),
            hint="make at most one key match each module, or train with a PEFT that keeps the patterns' order",
        )
