"""The adapter-dir-* rules: will a saved PEFT adapter (`lora_model_dir`) load onto this model?

Declared apart from their checks (adapter_dir.py) because io/adapter_dir.py, which reads the directory,
raises some of them itself and may not import the rule modules that check a skeleton.
"""

from __future__ import annotations

from ..results.findings import Severity
from .registry import Docs, Stage, rule

E, W = Severity.ERROR, Severity.WARNING
SOURCE = "peft/peft_model.py PeftModel.from_pretrained, peft/utils/save_and_load.py set_peft_model_state_dict"

ADAPTER_DIR_SHAPE_MISMATCH = rule(
    "adapter-dir-shape-mismatch",
    E,
    Stage.REPORT,
    "The adapter in lora_model_dir does not fit this model's shapes.",
    Docs(
        what="lora_model_dir's adapter_model.safetensors is read from its header only (no tensors, never a "
        "pickle .bin) and each lora_A/lora_B shape is compared with the module's in/out features: an adapter "
        "trained on another base model is caught here rather than as a shape error deep in PEFT. Each "
        "module's saved rank is also compared with the one the saved config gives it (rank_pattern, else r): "
        "PEFT builds the layer with that rank and then fails loading the tensors. The same check reports the "
        "other adapter-dir-* findings.",
        why="Training resumes from this adapter: PEFT fails with a size-mismatch error after the model loaded.",
        fix="Use the adapter with the base model it was trained on, or drop lora_model_dir to train a new one.",
        source=SOURCE,
    ),
)
ADAPTER_DIR_MISSING = rule(
    "adapter-dir-missing",
    E,
    Stage.RAISED,
    "lora_model_dir is not an adapter directory.",
    Docs(
        what="The directory does not exist, or lacks adapter_config.json or adapter_model.safetensors.",
        why="Axolotl hands lora_model_dir to PeftModel.from_pretrained, which fails on a missing file.",
        fix="Point lora_model_dir at a directory written by PEFT's save_pretrained (fetch LFS or annex content first).",
        source=SOURCE,
    ),
)
ADAPTER_DIR_CONFIG_INVALID = rule(
    "adapter-dir-config-invalid",
    E,
    Stage.RAISED,
    "lora_model_dir's adapter_config.json cannot be used.",
    Docs(
        what="The saved adapter config is not valid JSON or not a PEFT config.",
        why="PEFT reads that file first to know what to build; it fails before any weight loads.",
        fix="Restore the adapter_config.json PEFT saved with the weights.",
        source="peft/config.py PeftConfigMixin.from_pretrained",
    ),
)
ADAPTER_DIR_HEADER_INVALID = rule(
    "adapter-dir-header-invalid",
    E,
    Stage.RAISED,
    "lora_model_dir's safetensors header cannot be trusted.",
    Docs(
        what="The header's declared length is impossible (e.g. terabytes), it is not valid JSON, or the file is "
        "truncated; read with bounded memory, tensors never loaded.",
        why="The file is damaged or not safetensors; loading it fails, and a hostile header could exhaust memory.",
        fix="Re-save the adapter (PEFT's save_pretrained writes a valid file).",
        source="safetensors format (8-byte header length, JSON header); lora_compiler/io/adapter_dir.py",
    ),
)
ADAPTER_DIR_PICKLE = rule(
    "adapter-dir-pickle",
    W,
    Stage.RAISED,
    "lora_model_dir holds a pickle adapter_model.bin.",
    Docs(
        what="Unpickling a file can run arbitrary code; it is never opened by lint or compile, and load_lora "
        "refuses it (an error) without an explicit opt-in (allow_pickle=True, a warning).",
        why="Loading the file runs whatever code it contains, and its shapes cannot be checked without loading.",
        fix="Convert the adapter to adapter_model.safetensors (in a sandbox, if its origin is unknown).",
        source="torch.load (pickle), as PEFT loads adapter_model.bin",
    ),
    other_levels=(E,),
)
ADAPTER_DIR_TARGET_MISSING = rule(
    "adapter-dir-target-missing",
    E,
    Stage.RAISED,
    "The saved adapter targets modules this model lacks.",
    Docs(
        what="Module names in the saved adapter's weights that do not exist in the model (a warning for model "
        "types whose checkpoints transformers converts while loading).",
        why="The adapter was trained on another architecture: PEFT cannot place its weights.",
        fix="Use the adapter with its own base model.",
        source=SOURCE,
    ),
    other_levels=(W,),
)
ADAPTER_DIR_CONFIG_DIFFERS = rule(
    "adapter-dir-config-differs",
    W,
    Stage.RAISED,
    "The YAML and the saved adapter disagree.",
    Docs(
        what="r, alpha, targets or patterns in the YAML differ from the saved adapter_config.json; PEFT loads "
        "the saved values, so the YAML's are ignored.",
        why="The run trains the saved adapter's shape, not the one the YAML describes.",
        fix="Make the YAML's keys match the saved adapter, or drop lora_model_dir to train a new one.",
        source=SOURCE,
    ),
)
ADAPTER_DIR_BASE_MODEL_DIFFERS = rule(
    "adapter-dir-base-model-differs",
    W,
    Stage.RAISED,
    "The saved adapter was trained on another base model.",
    Docs(
        what="base_model_name_or_path in the saved adapter_config.json is not the YAML's base_model.",
        why="An adapter only means something on its own base model, even when the shapes happen to fit.",
        fix="Use the base model the adapter was trained on, or train a new adapter.",
        source=SOURCE,
    ),
)
