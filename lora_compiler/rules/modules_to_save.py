"""lora_modules_to_save names the installed PEFT does not find: none at all, or fewer than PEFT 0.21.2 did.

PEFT 0.21.2 took a modules_to_save name as a plain suffix (`head` saved `lm_head`); PEFT 0.22 takes it
only whole, at a dot boundary, so the same YAML saves less after an upgrade without a word from PEFT.
model_facts.peft_saves asks the installed PEFT which rule it follows.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model_facts import peft_saves, suffix_saves
from ..profiles import installed
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

E, W = Severity.ERROR, Severity.WARNING


MODULES_TO_SAVE_MISSING = rule(
    "modules-to-save-missing",
    E,
    Stage.MODEL,
    "lora_modules_to_save names a module the model does not have.",
    Docs(
        what="""PEFT fails when no module ends with a name in modules_to_save; a name that matches nothing is
      never trained or saved.""",
        why="PEFT fails when no module matches, or a listed module is never trained or saved.",
        fix="Use a module name this model has (e.g. lm_head, embed_tokens, score).",
        source="peft/utils/other.py _set_trainable",
    ),
)


@MODULES_TO_SAVE_MISSING.checks
def modules_to_save_missing(ctx: Context) -> Iterable[Finding]:
    for i, name in enumerate(ctx.spec.lora_modules_to_save or []):
        if not any(suffix_saves(n, [name]) for n in ctx.module_names):  # a partial name: the rule below
            yield MODULES_TO_SAVE_MISSING.at(
                ctx.doc,
                f"no module of {ctx.skeleton.architecture} is named '{name}'",
                ("lora_modules_to_save", i),
                prefer_value=True,
                hint="the model's embeddings are usually embed_tokens and lm_head",
            )


MODULES_TO_SAVE_PARTIAL_NAME = rule(
    "modules-to-save-partial-name",
    W,
    Stage.MODEL,
    "A lora_modules_to_save name saves fewer modules under the installed PEFT than under PEFT 0.21.2.",
    Docs(
        what="""PEFT 0.21.2 matched a modules_to_save name as a plain suffix of the module's path, so `head`
      trained and saved `lm_head`; PEFT 0.22 matches only a whole trailing name, at a dot boundary, and says
      nothing about a name that now matches less. A warning, not an error: PEFT and Axolotl go on and train
      the rest, which the report shows; the modules the name no longer reaches stay frozen and are not saved.
      Judged by the installed PEFT's own matching: silent under PEFT 0.21.2.""",
        why="The modules the name reached before the upgrade stay frozen and are missing from the adapter.",
        fix="Write the whole module name (lm_head, not head), as the finding's hint lists them.",
        source="peft/utils/other.py _set_trainable (_is_valid_match from PEFT 0.22)",
    ),
)


@MODULES_TO_SAVE_PARTIAL_NAME.checks
def modules_to_save_partial_name(ctx: Context) -> Iterable[Finding]:
    for i, name in enumerate(ctx.spec.lora_modules_to_save or []):
        before = [n for n in ctx.module_names if suffix_saves(n, [name])]
        now = [n for n in before if peft_saves(n, [name])]
        lost = [n for n in before if n not in now]
        if not lost:
            continue
        peft = f"PEFT {installed('peft') or '(unknown version)'}"
        was = f"PEFT 0.21.2 matched it as a plain suffix and saved {_some(before)}"
        yield MODULES_TO_SAVE_PARTIAL_NAME.at(
            ctx.doc,
            (
                f"'{name}' saves {_some(now)} under {peft}, which matches a whole trailing name only; {was}"
                if now
                else f"'{name}' saves no module under {peft}, which matches a whole trailing name only; {was}"
            ),
            ("lora_modules_to_save", i),
            prefer_value=True,
            hint=f"name the modules whole: {', '.join(sorted({n.rsplit('.', 1)[-1] for n in before}))}",
        )


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} module{'s' if len(names) != 1 else ''} ({shown})"
