"""Keys Axolotl would silently ignore: typos of adapter keys are found before a run trains the wrong thing."""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib.resources import files
from typing import Iterable

from ..pipeline.spec import AdapterSpec
from ..results.findings import Finding, Severity
from .context import Context
from .registry import rule


@lru_cache(maxsize=1)
def known_keys() -> frozenset[str]:
    """Every Axolotl config key (generated list) plus this tool's own adapter keys and aliases."""
    text = (files("lora_compiler") / "axolotl_keys.txt").read_text(encoding="utf-8")
    keys = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    for name, field in AdapterSpec.model_fields.items():
        keys.add(field.alias or name)
        keys.add(name)
    return frozenset(keys)


@rule("unknown-key", Severity.WARNING, "A top-level key that Axolotl does not know.",
      """Axolotl ignores keys it does not know, so a misspelt adapter key (lora_targt_modules,
      peft_use_dora typed as peft_dora) silently changes what is trained. Real Axolotl keys that
      do not shape the adapter (datasets, optimizer, ...) are not flagged.""", stage="config")
def unknown_keys(ctx: Context) -> Iterable[Finding]:
    known = known_keys()
    for key in ctx.doc.values:
        if not isinstance(key, str) or key in known:
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'?" if close else "remove it, or check Axolotl's config reference"
        yield ctx.finding("unknown-key", f"unknown key '{key}': Axolotl ignores it", key, hint=hint)
