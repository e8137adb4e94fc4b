"""The rules `lint --with-axolotl` raises when the installed Axolotl's own start-up check and the rules differ.

features/with_axolotl.py runs Axolotl in a child process and reports through these; no check runs them.
"""

from __future__ import annotations

from ...results.findings import Severity
from ...rulebook.registry import Docs, Stage, rule

REPORT = "https://github.com/lora-compiler/lora-compiler/issues"

AXOLOTL_DISAGREES = rule(
    "axolotl-disagrees",
    Severity.ERROR,
    Stage.RAISED,
    "The installed Axolotl's start-up check and lint's rules disagree on this config.",
    Docs(
        what=f"""With `lint --with-axolotl`, the installed Axolotl runs its own prepare_plugins,
      validate_config and normalize_config on the YAML (one bf16 GPU, offline, only Axolotl's own plugins).
      An error: Axolotl refuses the config and no rule of lint did (its message, at the key it names). A
      warning: lint refuses the config and Axolotl accepts it. An info: both refuse, but Axolotl's error
      names a key none of lint's errors is at. Each is a gap in lint's rules: please report it at {REPORT}
      with the YAML.""",
        why="lint restates Axolotl's validators from their source; a release, a plugin or a path it missed makes "
        "it say the wrong thing before a job is scheduled.",
        fix="Fix the config for Axolotl's message (Axolotl is the one that trains), and report the disagreement.",
        source="axolotl/utils/config/__init__.py prepare_plugins, validate_config, normalize_config",
    ),
    other_levels=(Severity.WARNING, Severity.INFO),
)

AXOLOTL_NOT_CHECKED = rule(
    "axolotl-not-checked",
    Severity.INFO,
    Stage.RAISED,
    "Part of the installed Axolotl's start-up check did not run under --with-axolotl.",
    Docs(
        what="""`lint --with-axolotl` never runs code the YAML names and stays offline: it drops `plugins:`
      entries outside axolotl.integrations, does not run NeMo Gym's register hook (it clones and starts
      servers), and skips normalize_config when the YAML sets trust_remote_code or a cls_model_config
      import path; normalize_config also cannot run when the model's config.json is not in the local
      Hugging Face cache. What did not run is said here, so an agreement is not read as more than it is;
      a refusal of lint's that Axolotl, without the plugins it dropped, could not make is not compared.""",
        why="A verdict from part of Axolotl's start-up is not the verdict of all of it.",
        fix="Nothing to change in the config; cache the model (huggingface-cli download MODEL config.json) for "
        "normalize_config to run.",
        source="lora_compiler/features/axolotl_child.py",
    ),
)
