"""What scripts/gen_serving_rules.py reads out of a vLLM wheel: its LoRA limits, PEFTHelper's checks, how it
loads and scales LoRA weights, and per architecture what its model class lets LoRA reach
(scripts/serving_vllm_models.py). Parsed with `ast`; nothing of vLLM is imported."""

from __future__ import annotations

import ast
import re
import zipfile
from typing import Any

from serving_vllm_models import architectures

LORA_CONFIG = "vllm/config/lora.py"
PEFT_HELPER = "vllm/lora/peft_helper.py"
LOGITS = "vllm/lora/layers/logits_processor.py"
LORA_UTILS = "vllm/lora/utils.py"
LORA_MODEL = "vllm/lora/lora_model.py"
RUNNER = "vllm/v1/worker/lora_model_runner_mixin.py"
MANAGER = "vllm/lora/model_manager.py"
EMBEDDING = "vllm/lora/layers/vocab_parallel_embedding.py"


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise LookupError(f"{cls}.{name}")


def _text(node: ast.AST) -> str:
    """A string or f-string as written, with each {expression} kept as {name}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values
        )
    if isinstance(node, ast.BinOp):
        return _text(node.left) + _text(node.right)
    return ast.unparse(node)


def ranks(source: str) -> dict:
    tree = ast.parse(source)
    allowed = default = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MaxLoRARanks" for t in node.targets):
            allowed = [e.value for e in node.value.slice.elts]  # Literal[1, 8, ...]
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "max_lora_rank":
            default = node.value.value
    if allowed is None or default is None:
        raise LookupError("MaxLoRARanks or LoRAConfig.max_lora_rank not found")
    return {"allowed": allowed, "default": default}


def features(source: str) -> dict:
    tree = ast.parse(source)
    checks, allowed_saved = [], None
    for node in _function(tree, "PEFTHelper", "_validate_features").body:
        if not isinstance(node, ast.If):
            continue
        test = node.test
        field = test.attr if isinstance(test, ast.Attribute) else None
        if isinstance(test, ast.UnaryOp) and isinstance(test.operand, ast.Call):
            field = "init_lora_weights"  # `if not self._init_is_supported():`
        appended = [c for c in ast.walk(node) if isinstance(c, ast.Call) and getattr(c.func, "attr", "") == "append"]
        if field == "modules_to_save":
            lists = [n for n in ast.walk(node) if isinstance(n, ast.List)]
            allowed_saved = [e.value for e in lists[0].elts]
        checks.append({"field": field, "message": re.sub(r"\s+", " ", _text(appended[0].args[0])).strip()})
    legal = _function(tree, "PEFTHelper", "validate_legal")
    for node in ast.walk(legal):  # `if self.bias != "none": error_msg.append(...)`
        if (
            isinstance(node, ast.If)
            and getattr(node.test, "left", None) is not None
            and getattr(node.test.left, "attr", None) == "bias"
        ):
            checks.append(
                {
                    "field": "bias",
                    "allowed": node.test.comparators[0].value,
                    "message": _text(node.body[0].value.args[0]),
                }
            )
    init = _function(tree, "PEFTHelper", "_init_is_supported")
    inits = [
        e.value
        for n in ast.walk(init)
        if isinstance(n, ast.Tuple)
        for e in n.elts
        if isinstance(e, ast.Constant) and isinstance(e.value, str)
    ]
    return {
        "checks": checks,
        "modules_to_save_allowed": allowed_saved,
        "init_strings_allowed": inits,
        "source": f"{PEFT_HELPER} (PEFTHelper.validate_legal, _validate_features, _init_is_supported)",
    }


def extract(z: zipfile.ZipFile, version: str) -> dict[str, Any]:
    return {
        "engine": "vllm",
        "version": version,
        "max_lora_rank": {**ranks(z.read(LORA_CONFIG).decode()), "source": f"{LORA_CONFIG} (MaxLoRARanks)"},
        "peft_helper": features(z.read(PEFT_HELPER).decode()),
        "vocab_limit": vocab_limit(z.read(LOGITS).decode()),
        "weights": weight_messages(z.read(LORA_UTILS).decode(), z.read(LORA_MODEL).decode()),
        "no_lora": no_lora(z.read(RUNNER).decode()),
        "unwrapped": unwrapped(z.read(LORA_MODEL).decode()),
        "embedding_scale": embedding_scale(z.read(EMBEDDING).decode()),
        "architectures": architectures(z),
    }


def vocab_limit(source: str) -> dict[str, Any]:
    """LogitsProcessorWithLoRA.create_lora_weights: `if self.base_layer.vocab_size > N: raise ValueError(...)`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(getattr(node.test, "left", None), "attr", None) == "vocab_size":
            return {
                "max": node.test.comparators[0].value,
                "message": _text(node.body[0].exc.args[0]),
                "source": f"{LOGITS} (LogitsProcessorWithLoRA.create_lora_weights)",
            }
    raise LookupError("the vocabulary limit of LogitsProcessorWithLoRA")


def _last_raise(function: ast.AST) -> str:
    raises = [n for n in ast.walk(function) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)]
    last = max(raises, key=lambda n: n.lineno)
    return re.sub(r"\s+", " ", _text(last.exc.args[0]))


def weight_messages(utils: str, lora_model: str) -> dict[str, str]:
    """How vLLM refuses adapter weights: tensors that are not LoRA A/B (parse_fine_tuned_lora_name) and
    modules outside the model's supported set (LoRAModel.from_local_checkpoint's check_unexpected_modules)."""
    parse = next(
        n
        for n in ast.walk(ast.parse(utils))
        if isinstance(n, ast.FunctionDef) and n.name == "parse_fine_tuned_lora_name"
    )
    check = next(
        n
        for n in ast.walk(ast.parse(lora_model))
        if isinstance(n, ast.FunctionDef) and n.name == "check_unexpected_modules"
    )
    return {
        "not_lora": _last_raise(parse),
        "not_lora_source": f"{LORA_UTILS} (parse_fine_tuned_lora_name)",
        "unexpected": _last_raise(check),
        "unexpected_source": f"{LORA_MODEL} (LoRAModel.from_local_checkpoint, check_unexpected_modules); "
        "vllm/lora/worker_manager.py (WorkerLoRAManager._load_adapter: the expected modules)",
    }


def no_lora(source: str) -> dict[str, str]:
    """The refusal of --enable-lora on a model class without SupportsLoRA (`if not supports_lora(model): raise`)."""
    for cls in (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef)):
        for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            for sub in ast.walk(method):
                if isinstance(sub, ast.If) and "supports_lora(" in ast.unparse(sub.test):
                    return {"message": _text(sub.body[0].exc.args[0]), "source": f"{RUNNER} ({cls.name}.{method.name})"}
    raise LookupError("the SupportsLoRA refusal")


def _function_named(source: str, name: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == name)


def unwrapped(lora_model: str) -> dict[str, Any]:
    """LoRA weights on a layer whose name ends like a LoRA layer's but that vLLM does not wrap (a plain
    nn.Linear such as BERT's pooler.dense): refused by check_unexpected_modules when it tests
    `module_name in unsupported_lora_modules` (0.34), else loaded and never applied (the module manager
    skips the layer)."""
    check = _function_named(lora_model, "check_unexpected_modules")
    for node in ast.walk(check):
        if isinstance(node, ast.If) and "unsupported_lora_modules" in ast.unparse(node.test):
            return {
                "refused": True,
                "message": _text(node.body[0].value.args[0]),  # unexpected_modules.append(f"... (not a LoRA layer)")
                "source": f"{LORA_MODEL} (check_unexpected_modules); {MANAGER} "
                "(LoRAModelManager._create_lora_modules: unsupported_lora_modules)",
            }
    return {"refused": False, "source": f"{MANAGER} (LoRAModelManager._create_lora_modules: is_supported_lora_module)"}


def embedding_scale(source: str) -> dict[str, Any]:
    """Whether VocabParallelEmbeddingWithLoRA.set_lora multiplies LoRA B by the base layer's `embed_scale`
    (a Transformers *ScaledWordEmbedding kept by the Transformers backend), as PEFT scales the delta."""
    tree = ast.parse(source)
    set_lora = _function(tree, "VocabParallelEmbeddingWithLoRA", "set_lora")
    return {
        "applied": "embed_scale" in ast.unparse(set_lora),
        "source": f"{EMBEDDING} (VocabParallelEmbeddingWithLoRA.set_lora)",
    }
