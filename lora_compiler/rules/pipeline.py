"""Rules whose findings the pipeline stages report themselves; documented here once."""

from __future__ import annotations

from ..results.findings import Severity
from .registry import documented

E, W = Severity.ERROR, Severity.WARNING

documented(
    "input-unreadable",
    E,
    "The config file cannot be read.",
    "The path is missing, a directory or other non-regular file (FIFO, device), larger than 1 MB, "
    "binary (NUL bytes) or not UTF-8.",
)
documented(
    "yaml-syntax",
    E,
    "The YAML does not parse.",
    "PyYAML's safe loader rejects the document (including unsafe tags such as !!python/object).",
)
documented(
    "yaml-not-mapping",
    E,
    "The top level is not a mapping.",
    "An Axolotl config is a mapping of keys such as base_model and adapter; an empty file or a list is not.",
)
documented(
    "yaml-too-complex",
    E,
    "Alias expansion or nesting exceeds the limits.",
    "Refuses alias bombs, more than 50,000 nodes and nesting deeper than 200 levels, counted while "
    "the YAML is read so a hostile file stops early; no Axolotl config comes near.",
)
documented(
    "yaml-duplicate-key",
    E,
    "A key is defined twice.",
    "PyYAML, and so Axolotl, silently keeps the last value; the first one is almost always a forgotten edit.",
)
documented(
    "schema",
    E,
    "Wrong type or value for an adapter key.",
    "Types follow Axolotl's schema, tightened where PEFT would fail later: lora_r and lora_alpha are "
    "positive integers, lora_dropout is in [0, 1), patterns map names to positive integers.",
)
documented(
    "adapter-missing",
    E,
    "No adapter key.",
    "Without 'adapter' Axolotl trains the full model; there is no LoRA adapter to compile.",
)
documented(
    "adapter-unsupported",
    E,
    "An adapter other than lora or qlora.",
    "lora-compiler compiles LoRA and QLoRA adapters only.",
)
documented(
    "model-not-found",
    E,
    "The model config cannot be found.",
    "Neither a local directory, the hub cache, the bundled configs nor (unless offline) the Hub has config.json.",
)
documented(
    "model-revision-unverified",
    W,
    "A pinned revision_of_model could not be checked.",
    "The bundled configs are transcribed from each model's main branch. With a pinned revision the Hub is "
    "asked first (a nonexistent revision is model-not-found); offline, the bundled config stands in and "
    "this warning says the revision was not verified.",
)
documented(
    "model-config-invalid",
    E,
    "transformers cannot read the model config.",
    "config.json is not valid for transformers (or larger than 2 MB, or not a regular file), or "
    "cls_model_config names no transformers config class (a model class there would load weights).",
)
documented(
    "model-too-large",
    E,
    "The model config claims more layers or experts than a skeleton is built with.",
    "Building a meta skeleton costs time and memory per module, so a config.json (local or a Hub repo's) "
    "with, say, 10^8 layers would exhaust the runner. Limits: 1,024 layers, 4,096 experts, 131,072 "
    "layers x experts, each raised by the environment variable the finding names.",
)
documented(
    "remote-code-required",
    E,
    "The model is defined by its repository's own Python code.",
    "Such code runs only when the YAML sets trust_remote_code: true and the command line passes "
    "--trust-remote-code; a YAML alone can never make the tool execute code.",
)
documented(
    "skeleton-failed",
    E,
    "The model class cannot be built.",
    "The class Axolotl would load cannot be instantiated for this config (unknown model_type class, "
    "or a config the installed transformers does not support).",
)
documented(
    "peft-config",
    E,
    "PEFT rejects the LoraConfig.",
    "LoraConfig's own validation fails (e.g. layers_pattern without layers_to_transform, a regex "
    "target with layers_to_transform, a field this PEFT version lacks).",
)
documented(
    "peft-refused",
    E,
    "PEFT cannot apply the adapter to this model.",
    "Applying the LoraConfig to the skeleton fails, as get_peft_model would at training time "
    "(e.g. 'Target modules ... not found', an unsupported layer type).",
)
documented(
    "regex-too-slow",
    E,
    "A target or pattern regex backtracks catastrophically on this model's names.",
    "PEFT runs re.fullmatch of a string lora_target_modules (and rank/alpha pattern keys) over every module "
    "name; a pattern such as '(.|.)*Z' takes exponential time and hangs the run. Each pattern is first "
    "matched over the skeleton's module names under a 1 s budget, and compile stops with this error.",
)
documented(
    "output-protected",
    E,
    "The output directory holds model or adapter files, or is not a directory.",
    "compile does not write an adapter_config.json beside weights it did not produce (*.safetensors, *.bin, "
    "index files, a model's config.json: transformers would then load the folder as an adapter) unless "
    "--force, and checks this before compiling; a regular file in the way cannot be forced.",
)
documented(
    "loftq-unavailable",
    E,
    "LoftQ initialisation cannot run on this machine.",
    "PEFT's LoftQ needs bitsandbytes and a CUDA or XPU device; load_lora stops before touching the model.",
)
documented(
    "convention-replaced",
    Severity.INFO,
    "diff --convention replaced the YAML's own target keys.",
    "A convention selects targets by its own rule; the YAML's lora_target_modules / lora_target_linear are "
    "set aside for that column, and this note says which.",
)
documented(
    "convention-empty",
    Severity.INFO,
    "A convention selects nothing on this model.",
    "The convention's rule finds no module to adapt (e.g. LLaMA-Factory's class-name rule on GPT-2's Conv1D).",
)
documented(
    "diff-incomparable",
    E,
    "Two diff inputs cannot be compared.",
    "The inputs are of kinds that share nothing to compare (e.g. a bare adapter_config.json against a YAML).",
)
