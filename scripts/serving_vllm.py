"""What scripts/gen_serving_rules.py reads out of a vLLM wheel: its LoRA limits, PEFTHelper's checks and,
per architecture, what its model class lets LoRA reach. Parsed with `ast`; nothing of vLLM is imported.

Per architecture (vllm/model_executor/models/registry.py maps an HF architecture name to a module and a
class; the class and its bases are read from the model files):
- `lora`: the class (or a base) lists SupportsLoRA: vLLM refuses --enable-lora on any other model;
- `packed`: packed_modules_mapping, the class attribute plus every `self.packed_modules_mapping[...] = `
  of its __init__ (vLLM fills some only for some configs; all are kept: an adapter naming either form loads);
- `embedding`: embedding_modules' names (vllm/lora/utils.py get_supported_lora_modules adds them);
- `linear`: the leaf names of the layers vLLM builds there, read from the `prefix=` of every *Linear*, *MoE*
  or *Mixer* constructor in the model's file and every vllm.model_executor file it imports, transitively
  (get_supported_lora_modules: "In vLLM, all linear layers support LoRA"; the output layer and embeddings
  only through embedding_modules); a superset, so a name missing from it is missing in vLLM;
  for an architecture served by the Transformers backend (models/transformers/), ["*"]: it keeps the HF
  model's module names and replaces every nn.Linear with a vLLM linear layer;
- `moe_3d`: is_3d_moe_weight (fused 3-D expert LoRA weights), `tower`: supports_tower_connector_lora.
"""

from __future__ import annotations

import ast
import re
import zipfile
from typing import Any

LORA_CONFIG = "vllm/config/lora.py"
PEFT_HELPER = "vllm/lora/peft_helper.py"
LOGITS = "vllm/lora/layers/logits_processor.py"
LORA_UTILS = "vllm/lora/utils.py"
LORA_MODEL = "vllm/lora/lora_model.py"
RUNNER = "vllm/v1/worker/lora_model_runner_mixin.py"
MODELS = "vllm/model_executor/models/"
REGISTRY = MODELS + "registry.py"
_LAYER_CALL = re.compile(r"Linear|MoE|Mixer")


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


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def registry(source: str) -> dict[str, tuple[str, str]]:
    """HF architecture -> (model module, class) as vLLM's _VLLM_MODELS merges its dicts (a later dict wins)."""
    tree = ast.parse(source)
    dicts: dict[str, ast.Dict] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(getattr(node, "value", None), ast.Dict) and getattr(target, "id", None):
            dicts[target.id] = node.value
    out: dict[str, tuple[str, str]] = {}
    for merged in dicts["_VLLM_MODELS"].values:  # {**_TEXT_GENERATION_MODELS, ...}
        d = dicts[merged.id]
        for key, value in zip(d.keys, d.values):
            if (
                isinstance(key, ast.Constant)
                and isinstance(value, ast.Tuple)
                and len(value.elts) == 2
                and all(isinstance(e, ast.Constant) for e in value.elts)
            ):
                out[key.value] = (value.elts[0].value, value.elts[1].value)
    return out


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


class _Class:
    """One class of a model file: its bases (names) and the LoRA attributes it sets itself."""

    def __init__(self, node: ast.ClassDef) -> None:
        self.bases = [_name(b) for b in node.bases]
        self.attrs: dict[str, Any] = {}
        self.packed: dict[str, list[str]] = {}
        for item in node.body:
            target = item.targets[0] if isinstance(item, ast.Assign) else getattr(item, "target", None)
            if isinstance(target, ast.Name) and getattr(item, "value", None) is not None:
                value = _literal(item.value)
                if target.id == "packed_modules_mapping" and isinstance(value, dict):
                    self.packed.update(value)
                elif target.id in ("embedding_modules", "is_3d_moe_weight", "supports_tower_connector_lora"):
                    self.attrs[target.id] = value
        for sub in ast.walk(node):  # self.packed_modules_mapping["x"] = [...] inside methods
            if isinstance(sub, ast.Assign) and isinstance(sub.targets[0], ast.Subscript):
                t = sub.targets[0]
                if _name(t.value) == "packed_modules_mapping" and isinstance(_literal(t.slice), str):
                    value = _literal(sub.value)
                    if isinstance(value, list):
                        self.packed[_literal(t.slice)] = value


def _prefix_leaf(call: ast.Call) -> str | None:
    """The last dotted part of a layer constructor's prefix= (f"{prefix}.qkv_proj", maybe_prefix(p, "x"))."""
    for kw in call.keywords:
        if kw.arg != "prefix":
            continue
        value = kw.value
        if isinstance(value, ast.JoinedStr) and isinstance(value.values[-1], ast.Constant):
            tail = value.values[-1].value
            return tail.rsplit(".", 1)[-1] or None
        if isinstance(value, ast.Call) and value.args and isinstance(value.args[-1], ast.Constant):
            return str(value.args[-1].value).rsplit(".", 1)[-1]
        if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant):
            return str(value.args[0].value).rsplit(".", 1)[-1]  # add_prefix("x", prefix)
    return None


class _File:
    def __init__(self, source: str) -> None:
        tree = ast.parse(source)
        self.classes = {n.name: _Class(n) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        self.layers = {
            leaf
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and _LAYER_CALL.search(_name(n.func))
            for leaf in [_prefix_leaf(n)]
            if leaf and leaf.isidentifier()
        }
        self.imports = {
            ("vllm.model_executor.models." if n.level == 1 else "") + n.module
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.level <= 1
        }


def architectures(z: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    every = {
        name[:-3].replace("/", ".").removesuffix(".__init__"): name
        for name in z.namelist()
        if name.startswith("vllm/model_executor/") and name.endswith(".py")
    }
    files = {
        name[len(MODELS) : -3].removesuffix("/__init__").replace("/", "."): _File(z.read(name).decode())
        for name in every.values()
        if name.startswith(MODELS) and (name.count("/") == 3 or name.startswith(MODELS + "transformers/"))
    }
    parsed: dict[str, _File] = {f"vllm.model_executor.models.{m}": f for m, f in files.items()}
    by_class: dict[str, list[str]] = {}
    for module, f in files.items():
        for cls in f.classes:
            by_class.setdefault(cls, []).append(module)

    def lineage(module: str, cls: str, seen: set[str]) -> list[tuple[str, _Class]]:
        """The class and its bases, nearest first (a base is looked up in the same file, then anywhere)."""
        if cls in seen or cls not in files.get(module, _File("")).classes:
            homes = by_class.get(cls, [])
            if cls in seen or not homes:
                return []
            module = homes[0]
        seen.add(cls)
        node = files[module].classes[cls]
        out = [(module, node)]
        for base in node.bases:
            out += lineage(module, base, seen)
        return out

    def layers(module: str) -> set[str]:
        found, todo, done = set(), [f"vllm.model_executor.models.{module}"], set()
        while todo:
            m = todo.pop()
            if m in done or m not in every:
                continue
            done.add(m)
            if m not in parsed:
                parsed[m] = _File(z.read(every[m]).decode())
            found |= parsed[m].layers
            todo += parsed[m].imports
        return found

    out: dict[str, dict[str, Any]] = {}
    for arch, (module, cls) in sorted(registry(z.read(REGISTRY).decode()).items()):
        chain = lineage(module, cls, set())
        if "." in module or not chain:
            continue  # an out-of-tree plugin path, or a class this wheel does not hold
        names = {base for _, c in chain for base in c.bases}
        packed: dict[str, list[str]] = {}
        attrs: dict[str, Any] = {}
        for _, c in reversed(chain):  # nearer classes override
            packed.update(c.packed)
            attrs.update(c.attrs)
        backend = module == "transformers"  # the Transformers backend: the HF model with vLLM's linear layers
        out[arch] = {
            "module": f"{MODELS}{module}{'/__init__' if backend else ''}.py",
            "class": cls,
            "lora": "SupportsLoRA" in names,
            "packed": {k: sorted(v) for k, v in sorted(packed.items())},
            "embedding": sorted(attrs.get("embedding_modules") or {}),
            "linear": ["*"] if backend else sorted(set().union(*(layers(m) for m, _ in chain))),
            "moe_3d": bool(attrs.get("is_3d_moe_weight")),
            "tower": bool(attrs.get("supports_tower_connector_lora")),
        }
    return out


def extract(z: zipfile.ZipFile, version: str) -> dict[str, Any]:
    return {
        "engine": "vllm",
        "version": version,
        "max_lora_rank": {**ranks(z.read(LORA_CONFIG).decode()), "source": f"{LORA_CONFIG} (MaxLoRARanks)"},
        "peft_helper": features(z.read(PEFT_HELPER).decode()),
        "vocab_limit": vocab_limit(z.read(LOGITS).decode()),
        "weights": weight_messages(z.read(LORA_UTILS).decode(), z.read(LORA_MODEL).decode()),
        "no_lora": no_lora(z.read(RUNNER).decode()),
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
