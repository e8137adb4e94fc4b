"""Rules whose findings the pipeline stages report themselves (reading, validating, resolving, building, PEFT).

Declared here, away from any stage, so each stage imports the rules it raises without an import cycle.
"""

from __future__ import annotations

from ..profiles import PROFILES
from ..profiles.texts import listed, minors
from ..results.findings import Severity
from .registry import Docs, Stage, rule

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
RAISED = Stage.RAISED

INPUT_UNREADABLE = rule(
    "input-unreadable",
    E,
    RAISED,
    "The config file cannot be read.",
    Docs(
        what="The path is missing, a directory or other non-regular file (FIFO, device), larger than 1 MB, "
        "binary (NUL bytes) or not UTF-8.",
        why="Nothing can be checked without the text; reading a FIFO or a huge file would hang or exhaust the "
        "runner, so such inputs are refused before they are read.",
        fix="Pass the path of an Axolotl YAML config: a regular UTF-8 text file.",
        source="lora_compiler/pipeline/document.py load_file, read_bounded",
    ),
    unusable=True,
)
YAML_SYNTAX = rule(
    "yaml-syntax",
    E,
    RAISED,
    "The YAML does not parse.",
    Docs(
        what="PyYAML's safe loader rejects the document (including unsafe tags such as !!python/object).",
        why="Axolotl loads the config with PyYAML and stops at the same error before training starts.",
        fix="Fix the syntax at the position given; an unclosed bracket or quote on an earlier line is the usual "
        "cause. Remove Python tags: a config needs only plain values.",
        source="PyYAML yaml.safe_load, as Axolotl's CLI loads the config; lora_compiler/pipeline/document.py",
    ),
    unusable=True,
)
YAML_NOT_MAPPING = rule(
    "yaml-not-mapping",
    E,
    RAISED,
    "The top level is not a mapping.",
    Docs(
        what="An Axolotl config is a mapping of keys such as base_model and adapter; an empty file or a list is not.",
        why="Axolotl reads every setting as a key of the top-level mapping; there is nothing to train from "
        "anything else.",
        fix="Write the config as `key: value` lines, at least base_model and adapter.",
        source="axolotl/cli/config.py load_cfg (DictDefault of the loaded YAML)",
    ),
    unusable=True,
)
YAML_TOO_COMPLEX = rule(
    "yaml-too-complex",
    E,
    RAISED,
    "Alias expansion or nesting exceeds the limits.",
    Docs(
        what="Refuses alias bombs, more than 50,000 nodes and nesting deeper than 200 levels, counted while the "
        "YAML is read so a hostile file stops early; no Axolotl config comes near.",
        why="CI runs the tool on configs from strangers; a billion-laughs document would exhaust memory and time.",
        fix="Flatten the config: remove the deep nesting or the alias expansion.",
        source="lora_compiler/pipeline/document.py MAX_NODES, MAX_DEPTH",
    ),
    unusable=True,
)
YAML_DUPLICATE_KEY = rule(
    "yaml-duplicate-key",
    E,
    RAISED,
    "A key is defined twice.",
    Docs(
        what="PyYAML, and so Axolotl, silently keeps the last value; the first one is almost always a forgotten edit.",
        why="The run trains with a value the reader of the file may not see: the later one wins without a word.",
        fix="Keep one of the two definitions (a merge key `<<` followed by an override is not a duplicate).",
        source="PyYAML SafeConstructor.construct_mapping; lora_compiler/pipeline/document.py",
    ),
)
SCHEMA = rule(
    "schema",
    E,
    RAISED,
    "Wrong type or value for an adapter key.",
    Docs(
        what="Types follow Axolotl's schema, tightened where PEFT would fail later: lora_r and lora_alpha are "
        "positive integers, lora_dropout is in [0, 1), patterns map names to positive integers.",
        why="Axolotl refuses the config at start-up, or passes the value to PEFT, which fails while wrapping the "
        "first layer.",
        fix="Give the key a value of the type named in the message (the hint shows an example).",
        source="axolotl/utils/schemas/peft.py LoraConfig; lora_compiler/pipeline/spec.py AdapterSpec",
    ),
)
ADAPTER_MISSING = rule(
    "adapter-missing",
    E,
    RAISED,
    "No adapter key.",
    Docs(
        what="Without 'adapter' Axolotl trains the full model; there is no LoRA adapter to compile.",
        why="A config meant for LoRA that lost its adapter key trains (and saves) every weight of the model.",
        fix="Add `adapter: lora` (or qlora).",
        source="axolotl/loaders/adapter.py load_adapter (no adapter: the model is returned as is)",
    ),
    unusable=True,
)
ADAPTER_UNSUPPORTED = rule(
    "adapter-unsupported",
    E,
    RAISED,
    "An adapter other than lora or qlora.",
    Docs(
        what="lora-compiler compiles LoRA and QLoRA adapters only.",
        why="Other adapters (llama-adapter, MixLoRA's experts) are not PEFT LoRA configs, so there is no "
        "adapter_config.json to compile or check.",
        fix="Use `adapter: lora` or `adapter: qlora`; lint without a model still checks the YAML's other rules.",
        source="lora_compiler/engine/front.py adapter_findings",
    ),
    unusable=True,
)
AXOLOTL_PROFILE_UNKNOWN = rule(
    "axolotl-profile-unknown",
    E,
    RAISED,
    "The Axolotl release asked for has no profile.",
    Docs(
        what="--axolotl, LORA_COMPILER_AXOLOTL or the policy key `axolotl` names a release lora-compiler has no "
        f"semantics for (it knows {listed(list(PROFILES))}; a patch release maps to its minor's profile).",
        why="Targets, validators and defaults differ between Axolotl releases; guessing one would answer for a "
        "release the user did not ask about.",
        fix=f"Name a known release ({minors()}), or drop the setting to use the installed axolotl's.",
        source="lora_compiler/profiles/__init__.py select",
    ),
    unusable=True,
)
MODEL_NOT_FOUND = rule(
    "model-not-found",
    E,
    RAISED,
    "The model config cannot be found.",
    Docs(
        what="Neither a local directory, the hub cache, the bundled configs nor (unless offline) the Hub has "
        "config.json.",
        why="Without the model's config.json there is no skeleton, so no target can be checked.",
        fix="Correct base_model (the hint names near misses), point it at a directory with config.json, or go "
        "online once so the Hub's config is cached.",
        source="lora_compiler/pipeline/source.py resolve",
    ),
    unusable=True,
)
MODEL_REVISION_UNVERIFIED = rule(
    "model-revision-unverified",
    W,
    RAISED,
    "A pinned revision_of_model could not be checked.",
    Docs(
        what="The bundled configs are transcribed from each model's main branch. With a pinned revision the Hub "
        "is asked first (a nonexistent revision is model-not-found); offline, the bundled config stands in and "
        "this warning says the revision was not verified.",
        why="Another revision can have other layers or module names, so the report may not describe the model "
        "that will be trained.",
        fix="Run online once, or put that revision's config.json in the hub cache.",
        source="lora_compiler/pipeline/source.py resolve",
    ),
)
MODEL_CONFIG_INVALID = rule(
    "model-config-invalid",
    E,
    RAISED,
    "transformers cannot read the model config.",
    Docs(
        what="config.json is not valid for transformers (or larger than 2 MB, or not a regular file), or "
        "cls_model_config names no transformers config class (a model class there would load weights).",
        why="Axolotl's loader fails on the same config.json before training starts.",
        fix="Point base_model (or base_model_config) at a valid transformers config.json; set cls_model_config "
        "to a config class such as LlamaConfig.",
        source="transformers AutoConfig.from_pretrained; lora_compiler/pipeline/skeleton.py",
    ),
    unusable=True,
)
MODEL_TOO_LARGE = rule(
    "model-too-large",
    E,
    RAISED,
    "The model config claims more layers or experts than a skeleton is built with.",
    Docs(
        what="Building a meta skeleton costs time and memory per module, so a config.json (local or a Hub "
        "repo's) with, say, 10^8 layers would exhaust the runner. Limits: 1,024 layers, 4,096 experts, 131,072 "
        "layers x experts, each raised by the environment variable the finding names.",
        why="A hostile or mistyped config.json must not exhaust the machine the check runs on.",
        fix="Check num_hidden_layers and the expert counts; for a genuinely larger model raise the limit with "
        "the environment variable the message names.",
        source="lora_compiler/pipeline/skeleton.py",
    ),
    unusable=True,
)
REMOTE_CODE_REQUIRED = rule(
    "remote-code-required",
    E,
    RAISED,
    "The model is defined by its repository's own Python code.",
    Docs(
        what="Such code runs only when the YAML sets trust_remote_code: true and the command line passes "
        "--trust-remote-code; a YAML alone can never make the tool execute code.",
        why="Without the repository's class there is no skeleton to check, and running code named by an "
        "untrusted YAML would be unsafe.",
        fix="Review the repository's code, then set trust_remote_code: true and pass --trust-remote-code.",
        source="transformers AutoConfig / AutoModel trust_remote_code; lora_compiler/pipeline/skeleton.py",
    ),
    unusable=True,
)
SKELETON_FAILED = rule(
    "skeleton-failed",
    E,
    RAISED,
    "The model class cannot be built.",
    Docs(
        what="The class Axolotl would load cannot be instantiated for this config (unknown model_type class, or "
        "a config the installed transformers does not support).",
        why="Axolotl's loader would fail at the same step; without a model nothing can be targeted.",
        fix="Check type_of_model and the model's config.json, or install the transformers release the model "
        "needs (the Axolotl profile names it).",
        source="axolotl/loaders/model.py ModelLoader; lora_compiler/pipeline/skeleton.py build",
    ),
    unusable=True,
)
PEFT_CONFIG = rule(
    "peft-config",
    E,
    RAISED,
    "PEFT rejects the LoraConfig.",
    Docs(
        what="LoraConfig's own validation fails (e.g. layers_pattern without layers_to_transform, a regex "
        "target with layers_to_transform, a field this PEFT version lacks).",
        why="Axolotl builds the same LoraConfig and PEFT raises the same error at the start of training.",
        fix="Change the key the message names so PEFT accepts it.",
        source="peft/tuners/lora/config.py LoraConfig.__post_init__",
    ),
)
PEFT_REFUSED = rule(
    "peft-refused",
    E,
    RAISED,
    "PEFT cannot apply the adapter to this model.",
    Docs(
        what="Applying the LoraConfig to the skeleton fails, as get_peft_model would at training time (e.g. "
        "'Target modules ... not found', an unsupported layer type).",
        why="Training stops at get_peft_model, after the model was loaded.",
        fix="Target modules this model has and PEFT can wrap (linear, embedding, convolution layers); the "
        "report lists the candidates.",
        source="peft/mapping_func.py get_peft_model, peft/tuners/tuners_utils.py BaseTuner.inject_adapter",
    ),
)
REGEX_TOO_SLOW = rule(
    "regex-too-slow",
    E,
    RAISED,
    "A target or pattern regex backtracks catastrophically on this model's names.",
    Docs(
        what="PEFT runs re.fullmatch of a string lora_target_modules (and rank/alpha pattern keys) over every "
        "module name; a pattern such as '(.|.)*Z' takes exponential time and hangs the run. Each pattern is "
        "first matched over the skeleton's module names under a 1 s budget, and compile stops with this error.",
        why="Training would hang while PEFT matches names, with no error to say why.",
        fix="Rewrite the pattern without nested or overlapping repetition, or list the module names.",
        source="peft/tuners/tuners_utils.py check_target_module_exists",
    ),
)
OUTPUT_PROTECTED = rule(
    "output-protected",
    E,
    RAISED,
    "The output directory holds model or adapter files, or is not a directory.",
    Docs(
        what="compile does not write an adapter_config.json beside weights it did not produce (*.safetensors, "
        "*.bin, index files, a model's config.json: transformers would then load the folder as an adapter) "
        "unless --force, and checks this before compiling; a regular file in the way cannot be forced.",
        why="An adapter_config.json beside other weights changes how transformers and PEFT load that folder.",
        fix="Choose an empty or new output directory, or pass --force when the folder is yours to overwrite.",
        source="lora_compiler/api.py compile and export (output checks)",
    ),
    unusable=True,
)
LOFTQ_UNAVAILABLE = rule(
    "loftq-unavailable",
    E,
    RAISED,
    "LoftQ initialisation cannot run on this machine.",
    Docs(
        what="PEFT's LoftQ needs bitsandbytes and a CUDA or XPU device; load_lora stops before touching the model.",
        why="PEFT would fail half-way through initialising the adapter, leaving the model changed.",
        fix="Run on a machine with bitsandbytes and a CUDA or XPU device, or drop peft.loftq_config.",
        source="peft/utils/loftq_utils.py loftq_init",
    ),
)
CONVENTION_REPLACED = rule(
    "convention-replaced",
    I,
    RAISED,
    "diff --convention replaced the YAML's own target keys.",
    Docs(
        what="A convention selects targets by its own rule; the YAML's lora_target_modules / lora_target_linear "
        "are set aside for that column, and this note says which.",
        why="The column shows the convention's targets, not the ones written in the YAML.",
        fix="Nothing to fix: it says what the comparison set aside.",
        source="lora_compiler/export/convention.py replace_targets",
    ),
)
CONVENTION_EMPTY = rule(
    "convention-empty",
    I,
    RAISED,
    "A convention selects nothing on this model.",
    Docs(
        what="The convention's rule finds no module to adapt (e.g. LLaMA-Factory's class-name rule on GPT-2's Conv1D).",
        why="That trainer's default would train no LoRA layer on this model.",
        fix="Nothing to fix in the YAML; with that trainer, name the target modules explicitly.",
        source="lora_compiler/export/<trainer>.py, the trainer's convention",
    ),
)
DIFF_INCOMPARABLE = rule(
    "diff-incomparable",
    E,
    RAISED,
    "Two diff inputs cannot be compared.",
    Docs(
        what="The inputs are of kinds that share nothing to compare (e.g. a bare adapter_config.json against a YAML).",
        why="A comparison of unrelated things would report differences that mean nothing.",
        fix="Compare two YAML configs, two adapter_config.json files, or two compile outputs.",
        source="lora_compiler/features/diff.py",
    ),
)
LOCK_DIFFERS = rule(
    "lock-differs",
    E,
    RAISED,
    "A config trains another set than lora-compiler.lock records.",
    Docs(
        what="`lint --locked` compiled the config again and what it trains (the verdict, the targets, the wrapped "
        "modules, the trained count or the adapter file's size) differs from the lock's record, or the lock does "
        "not know the config. The difference is printed as a diff; when the lock was written on other library "
        "versions, the recorded library changes that touch the config are named.",
        why="A dependency update or an edit changed what would be trained, and nobody has looked at it yet.",
        fix="Review the difference. If it is intended, run `lora-compiler lock CONFIG...` and commit the lock; if "
        "it comes from a library update, pin the library or accept the new set.",
        source="lora_compiler/features/lock.py",
    ),
)
