"""The one finding about the run's Axolotl profile itself: semantics mixed with a stack they were not released with.

It is said once per run (lint over a folder, one compile), not per file, and names only the answers of this run
that the version difference can change: the behaviours of profiles/stack.py whose library release lies between
the pinned and the installed versions and whose condition (model type, config feature) some config meets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import profiles
from ..profiles import RELEASES, Selection
from ..profiles import stack as stackmod
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule


def _pins() -> str:
    """'0.19.0: transformers 5.16.1, peft 0.20.0; 0.20.0: 5.17.0, 0.21.0; ...' from the profiles."""
    first, *rest = RELEASES
    return "; ".join(
        [f"{first.version}: transformers {first.transformers}, peft {first.peft}"]
        + [f"{p.version}: {p.transformers}, {p.peft}" for p in rest]
    )


def _table() -> str:
    return "; ".join(f"{b.library} {b.since}: {b.change.replace('{model_type}', 'MoE')}" for b in stackmod.BEHAVIOURS)


AXOLOTL_STACK_MISMATCH = rule(
    "axolotl-stack-mismatch",
    Severity.WARNING,
    Stage.RAISED,
    "The Axolotl profile is mixed with libraries it was not released with.",
    Docs(
        what="The target set, PEFT's checks and the trained counts depend on the installed transformers and "
        f"peft as much as on Axolotl's rules: an Axolotl release pins both ({_pins()}). When the libraries serving "
        "the run, or an installed axolotl, differ from the chosen profile's, this finding says so once per run. "
        "It is a warning when another axolotl is installed, or when a recorded library change touches a config of "
        f"the run ({_table()}): it names those configs. Otherwise (a patch release of the same minor, or no "
        "recorded change touches these configs) it is an info. It never fails --strict by itself.",
        why="The named configs train another set than the chosen Axolotl release, with its own transformers and "
        "peft, would train.",
        fix="To train what the release trains, install its transformers and peft (scripts/install.sh, README: "
        "other Axolotl releases). To keep the newer libraries, record what they train with `lora-compiler lock` "
        "and review it (docs/lock.md).",
        source="lora_compiler/profiles/stack.py BEHAVIOURS (tests/facts/stack_answers.json); Selection.mismatches",
    ),
    other_levels=(Severity.INFO,),
    advisory=True,
)


def stack_verdict(results: Sequence[Any]) -> list[Finding]:
    """One finding for the whole run: per profile used by a config that built a model, when its stack differs.

    `results` are CompileResults; a config whose model was never built (`depends_on` None) is not judged."""
    out = []
    by_profile: dict[str, tuple[Selection, list[Any]]] = {}
    for r in results:
        if r.selection is not None and r.depends_on is not None:
            by_profile.setdefault(r.selection.profile.version, (r.selection, []))[1].append(r)
    for selection, judged in by_profile.values():
        found = _verdict(selection, judged, len(results) == 1)
        if found is not None:
            out.append(found)
    return out


def _verdict(selection: Selection, results: list[Any], single: bool) -> Finding | None:
    mixed = selection.mismatches()
    if not mixed:
        return None
    p = selection.profile
    pinned = {"transformers": p.transformers, "peft": p.peft}
    have = {lib: profiles.installed(lib) for lib in stackmod.LIBRARIES}
    touched: dict[str, list[Any]] = {}
    for r in results:
        for b in stackmod.changed(r.depends_on, pinned, have):
            touched.setdefault(b.id, []).append(r)
    other_axolotl = [f"axolotl {selection.installed_axolotl}"] if any(m.startswith("axolotl ") for m in mixed) else []
    differ = [f"{lib} {v}" for lib, v in have.items() if v and v != pinned[lib]]
    head = f"{p.name} (chosen by {selection.chosen_by}) pins transformers {p.transformers}, peft {p.peft}"
    head += "; this run has " + ", ".join(other_axolotl + differ)
    if touched:
        said = []
        for bid, rs in touched.items():
            change = stackmod.said(stackmod.BY_ID[bid], [r.stack_run.model_type for r in rs])
            whose = "this config's trained set" if single else f"the trained set of {_files(rs)}"
            said.append(f"{change}: {whose} differs from {p.name}'s pinned stack")
        message = f"{head}. {'; '.join(said)}"
    elif differ:
        patch = all(v is None or stackmod.same_minor(v, pinned[k]) for k, v in have.items())
        why = "patch releases of the pinned minors" if patch else "no recorded library change touches these configs"
        message = f"{head} ({why})"
    else:
        message = head
    level = Severity.WARNING if touched or other_axolotl else Severity.INFO
    file = results[0].file if single else None
    return AXOLOTL_STACK_MISMATCH.at_level(level).finding(
        message,
        file,
        hint=f"install transformers=={p.transformers} peft=={p.peft} to train what {p.name} trains, or record "
        "what these libraries train with `lora-compiler lock` (docs/lock.md)"
        if touched
        else None,
    )


def _files(results: list[Any]) -> str:
    names = [str(r.file) for r in results]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
