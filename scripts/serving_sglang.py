"""What scripts/gen_serving_rules.py reads out of an SGLang wheel about LoRA serving, with `ast` (never imported).

- sglang/srt/utils/common.py: SUPPORTED_LORA_TARGET_MODULES, the names --lora-target-modules accepts;
- sglang/srt/lora/utils.py: get_normalized_target_modules' params_mapping (q/k/v_proj -> qkv_proj, ...)
  and _KNOWN_LORA_TARGET_MODULES plus DSA_INDEXER_LORA_NAMES, the normalised names its memory pool handles;
- sglang/srt/lora/lora_manager.py: validate_new_adapter's refusals (added tokens, DoRA) and init_lora_shapes'
  refusal of a target_modules string other than all/all-linear, with their messages;
- sglang/srt/lora/lora.py: the scaling it applies (LoRAAdapter.__init__: lora_alpha / r, nothing else read);
  and whether any file of sglang/srt/lora/ reads init_lora_weights or target_parameters at all;
- sglang/srt/arg_groups/fields/lora.py: lora_strict_loading's default (False: unmatched weights dropped
  with a log warning, sglang/srt/lora/mem_pool.py).
"""

from __future__ import annotations

import ast
import zipfile
from typing import Any

COMMON = "sglang/srt/utils/common.py"
UTILS = "sglang/srt/lora/utils.py"
MANAGER = "sglang/srt/lora/lora_manager.py"
ADAPTER = "sglang/srt/lora/lora.py"
FIELDS = "sglang/srt/arg_groups/fields/lora.py"


def _assigned(tree: ast.AST, name: str) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if getattr(target, "id", None) == name:
                return node.value
    raise LookupError(name)


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _text(node: ast.AST) -> str:
    """An f-string as written, each {expression} kept as {source}; adjacent literals joined."""
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values
        )
    return node.value if isinstance(node, ast.Constant) else ast.unparse(node)


def _raised_after(function: ast.AST, condition: str) -> str:
    """The message of the ValueError raised under the `if` whose test reads `condition`."""
    for node in ast.walk(function):
        if isinstance(node, ast.If) and condition in ast.unparse(node.test):
            raise_ = next(n for n in ast.walk(node) if isinstance(n, ast.Raise))
            return _text(raise_.exc.args[0])
    raise LookupError(condition)


def _function(tree: ast.AST, name: str, cls: str | None = None) -> ast.FunctionDef:
    if cls is not None:
        tree = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


def _mentioned(z: zipfile.ZipFile, word: bytes) -> bool:
    """Whether any file of sglang/srt/lora/ reads an adapter_config.json field at all."""
    return any(word in z.read(n) for n in z.namelist() if n.startswith("sglang/srt/lora/") and n.endswith(".py"))


def extract(z: zipfile.ZipFile, version: str) -> dict[str, Any]:
    read = {path: ast.parse(z.read(path).decode()) for path in (COMMON, UTILS, MANAGER, ADAPTER, FIELDS)}
    normalize = _function(read[UTILS], "get_normalized_target_modules")
    mapping = ast.literal_eval(_assigned(normalize, "params_mapping"))
    known = set(_strings(_assigned(read[UTILS], "_KNOWN_LORA_TARGET_MODULES")))
    known |= set(_strings(_assigned(read[UTILS], "DSA_INDEXER_LORA_NAMES")))
    validate = _function(read[MANAGER], "validate_new_adapter")
    shapes = _function(read[MANAGER], "init_lora_shapes")
    init = _function(read[ADAPTER], "__init__", "LoRAAdapter")
    scaling = next(
        ast.unparse(n.value)
        for n in ast.walk(init)
        if isinstance(n, ast.AnnAssign) and ast.unparse(n.target) == "self.scaling"
    )
    strict = _assigned(read[FIELDS], "lora_strict_loading")
    return {
        "engine": "sglang",
        "version": version,
        "cli_target_modules": ast.literal_eval(_assigned(read[COMMON], "SUPPORTED_LORA_TARGET_MODULES")),
        "normalized": dict(sorted(mapping.items())),
        "known": sorted(known),
        "refusals": {
            "added_tokens": _raised_after(validate, "lora_added_tokens_size > 0"),
            "use_dora": _raised_after(validate, "use_dora"),
            "target_modules_string": _raised_after(shapes, "isinstance(config.target_modules, str)"),
        },
        "scaling": scaling,
        "reads_init_lora_weights": _mentioned(z, b"init_lora_weights"),
        "reads_target_parameters": _mentioned(z, b"target_parameters"),
        "strict_loading_default": ast.literal_eval(strict) if not isinstance(strict, ast.Call) else None,
        "sources": {
            "modules": f"{UTILS} (get_normalized_target_modules, _KNOWN_LORA_TARGET_MODULES)",
            "refusals": f"{MANAGER} (LoRAManager.validate_new_adapter, init_lora_shapes)",
            "scaling": f"{ADAPTER} (LoRAAdapter.__init__)",
            "init": "sglang/srt/lora/lora_config.py (LoRAConfig.__init__; no file of sglang/srt/lora/ reads "
            "init_lora_weights)",
            "parameters": "sglang/srt/lora/lora_config.py (LoRAConfig.__init__; no file of sglang/srt/lora/ "
            "reads target_parameters); sglang/srt/lora/mem_pool.py "
            "(LoRAMemoryPool.load_lora_weight_to_buffer)",
            "strict_loading": "sglang/srt/lora/mem_pool.py (LoRAMemoryPool.load_lora_weight_to_buffer); "
            f"{FIELDS} (Lora.lora_strict_loading)",
        },
    }
