"""The nearest target form a trainer can carry: the compile's own, else names that select exactly the same modules.

Trainers pass their target list to PEFT, whose list matcher takes a name or a dotted suffix of one. A
regex, exclude_modules or layers_to_transform the trainer has no key for is replaced by the shortest
list PEFT's own matcher (model_facts.peft_selected) maps onto exactly the modules the compile wrapped:
their last names when those reach nothing else, else their full names, else (where the trainer takes a
string as a regex) one anchored alternation of the full names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..model_facts import peft_selected
from .core import Subject


@dataclass(frozen=True)
class Targeting:
    target_modules: list[str] | str
    exclude_modules: list[str] | str | None
    layers_to_transform: list[int] | int | None
    layers_pattern: list[str] | str | None
    form: str  # as-compiled | names | full-names | regex
    replaced: tuple[str, ...] = ()  # the LoraConfig fields the form stands in for


def choose(subject: Subject, *, regex: bool, exclude: bool, layers: bool) -> Targeting | None:
    """The compile's target fields if the trainer carries them all, else an equivalent list; None: no such form."""
    cfg = subject.config
    modules = cfg.get("target_modules") or []
    used = {
        "target_modules": isinstance(modules, str),
        "exclude_modules": bool(cfg.get("exclude_modules")),
        "layers_to_transform": cfg.get("layers_to_transform") is not None,
    }
    carried = {"target_modules": regex, "exclude_modules": exclude, "layers_to_transform": layers}
    replaced = tuple(f for f, is_used in used.items() if is_used and not carried[f])
    if not replaced:
        return Targeting(
            modules,
            cfg.get("exclude_modules"),
            cfg.get("layers_to_transform"),
            cfg.get("layers_pattern"),
            "as-compiled",
        )
    wanted = subject.module_names()
    names = [n for n, _ in subject.model.named_modules() if n]
    # names of the list PEFT moved to fused expert parameters match no module: kept, so PEFT moves them again
    moved = [t for t in modules if not peft_selected(names, [t])] if isinstance(modules, list) else []
    last = sorted({n.rsplit(".", 1)[-1] for n in wanted} | set(moved))
    for form, candidate in (("names", last), ("full-names", sorted({*wanted, *moved}))):
        if sorted(peft_selected(names, candidate)) == wanted:
            return Targeting(candidate, None, None, None, form, replaced)
    if regex and not moved:
        return Targeting("(" + "|".join(re.escape(n) for n in wanted) + ")", None, None, None, "regex", replaced)
    return None


def describe(t: Targeting, count: int) -> str:
    """What a rewritten form is, for the export-rewritten finding."""
    what = ", ".join(t.replaced)
    return {
        "names": f"the {count} module(s) it selects by their names",
        "full-names": f"the full names of the {count} module(s) it selects",
        "regex": f"one regex of the full names of the {count} module(s) it selects",
    }[t.form] + f" (replaces {what})"
