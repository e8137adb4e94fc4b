"""What scripts/serving_vllm.py reads out of a vLLM wheel's model files: per registered architecture, what its
model class lets LoRA reach. Parsed with `ast`; nothing of vLLM is imported.

vllm/model_executor/models/registry.py maps each HF architecture name to a module and a class
(_VLLM_MODELS; `_resolve_module_name`: a relative name is a flat file of vllm/model_executor/models/, a
`vllm.`-prefixed one a package such as vllm/models/qwen3_5/, whose __init__ re-exports the class from a
per-platform subpackage: nvidia/, amd/, cpu/, xpu/, common/). The class is followed through those re-exports
as a CUDA build takes them (`TYPE_CHECKING`, `current_platform.is_cuda()` true; `is_rocm()`, `is_xpu()`,
`is_cpu()`, another `device_type` false), then its bases through each file's imports. Every registered
architecture resolves, or extraction fails naming the ones that do not.

Per architecture:
- `lora`: the class (or a base) lists SupportsLoRA: vLLM refuses --enable-lora on any other model;
- `packed`: packed_modules_mapping, the class attribute plus every `self.packed_modules_mapping[...] = `
  of its __init__ (vLLM fills some only for some configs; all are kept: an adapter naming either form loads);
- `embedding`: embedding_modules' names (vllm/lora/utils.py get_supported_lora_modules adds them);
- `linear`: the leaf names of the layers vLLM builds there, read from the `prefix=` of every *Linear*, *MoE*
  or *Mixer* constructor in the model's file and every vllm.model_executor / vllm.models file it imports,
  transitively and on every platform's branch (get_supported_lora_modules: "In vLLM, all linear layers
  support LoRA"; the output layer and embeddings only through embedding_modules); a superset, so a name
  missing from it is missing in vLLM; for an architecture served by the Transformers backend
  (models/transformers/), ["*"]: it keeps the HF model's module names and replaces every nn.Linear with a
  vLLM linear layer;
- `unwrapped`: "Owner.name" of every `self.name = nn.Linear(...)` / `nn.Embedding(...)` in those files whose
  name is also a LoRA layer's built in the same file: a plain torch layer vLLM never wraps though its name
  ends like one it does (BERT's BertPooler.dense);
- `moe_3d`: is_3d_moe_weight (fused 3-D expert LoRA weights), `tower`: supports_tower_connector_lora.
"""

from __future__ import annotations

import ast
import re
import zipfile
from typing import Any

MODELS = "vllm/model_executor/models/"
REGISTRY = MODELS + "registry.py"
ROOTS = ("vllm/model_executor/", "vllm/models/")  # the files a model class and its layers come from
_LAYER_CALL = re.compile(r"Linear|MoE|Mixer")
_TORCH_LAYER = re.compile(r"^(torch\.)?nn\.(Linear|Embedding)$")


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
            if key is None:
                continue  # {**{k: v for ... in _TEXT_GENERATION_MODELS.items() if ...}}: entries listed there
            entry = ast.literal_eval(value)
            out[ast.literal_eval(key)] = (entry[0], entry[1])
    return out


def absolute(module: str) -> str:
    """registry.py _resolve_module_name: a `vllm.` path as is, else a file of vllm/model_executor/models/."""
    return module if module.startswith("vllm.") else f"vllm.model_executor.models.{module}"


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _on_cuda(test: ast.expr) -> bool | None:
    """An `if` test as a CUDA build evaluates it, or None when it does not depend on the platform alone."""
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return True
    if isinstance(test, ast.Call) and _name(getattr(test.func, "value", test.func)) == "current_platform":
        return _name(test.func) in ("is_cuda", "is_cuda_alike")
    if isinstance(test, ast.Compare) and _name(test.left) == "device_type" and isinstance(test.ops[0], ast.Eq):
        return _literal(test.comparators[0]) == "cuda"
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _on_cuda(test.operand)
        return None if inner is None else not inner
    if isinstance(test, ast.BoolOp):
        values = [_on_cuda(v) for v in test.values]
        decided = True if isinstance(test.op, ast.Or) else False
        if decided in values:
            return decided
        return None if None in values else not decided
    return None


class _Class:
    """One class of a model file: its bases (names), the LoRA attributes it sets itself and its torch layers."""

    def __init__(self, node: ast.ClassDef) -> None:
        self.name = node.name
        self.bases = [_name(b) for b in node.bases]
        self.attrs: dict[str, Any] = {}
        self.packed: dict[str, list[str]] = {}
        self.torch_layers: set[str] = set()  # `self.x = nn.Linear(...)`: layers LoRA does not wrap
        for item in node.body:
            target = item.targets[0] if isinstance(item, ast.Assign) else getattr(item, "target", None)
            if isinstance(target, ast.Name) and getattr(item, "value", None) is not None:
                value = _literal(item.value)
                if target.id == "packed_modules_mapping" and isinstance(value, dict):
                    self.packed.update(value)
                elif target.id in ("embedding_modules", "is_3d_moe_weight", "supports_tower_connector_lora"):
                    self.attrs[target.id] = value
        for sub in ast.walk(node):  # self.packed_modules_mapping["x"] = [...] inside methods
            if not isinstance(sub, ast.Assign) or not isinstance(sub.targets[0], (ast.Subscript, ast.Attribute)):
                continue
            t = sub.targets[0]
            if isinstance(t, ast.Subscript) and _name(t.value) == "packed_modules_mapping":
                value = _literal(sub.value)
                if isinstance(_literal(t.slice), str) and isinstance(value, list):
                    self.packed[_literal(t.slice)] = value
            if (
                isinstance(t, ast.Attribute)
                and _name(t.value) == "self"
                and isinstance(sub.value, ast.Call)
                and _TORCH_LAYER.match(ast.unparse(sub.value.func))
            ):
                self.torch_layers.add(t.attr)


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
    """One module: its classes, the LoRA-able layer names it builds, what it imports (every branch, for the
    layer walk) and the names it binds by import as a CUDA build runs it (to follow a re-exported class)."""

    def __init__(self, source: str, module: str, package: bool) -> None:
        tree = ast.parse(source)
        self.module = module
        self.classes = {n.name: _Class(n) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        self.layers = {
            leaf
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and _LAYER_CALL.search(_name(n.func))
            for leaf in [_prefix_leaf(n)]
            if leaf and leaf.isidentifier()
        }
        self._package = module if package else module.rpartition(".")[0]
        self.imports: set[str] = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom):
                source_module = self._resolve(n)
                self.imports |= {source_module, *(f"{source_module}.{a.name}" for a in n.names)}
        self.bound: dict[str, str] = {}  # name -> the module it is imported from, on CUDA
        self._bind(tree.body)

    def _resolve(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self._package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        return f"{base}.{node.module}" if node.module else base

    def _bind(self, body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    self.bound.setdefault(alias.asname or alias.name, self._resolve(node))
            elif isinstance(node, ast.If):
                taken = _on_cuda(node.test)
                if taken is not False:
                    self._bind(node.body)
                if taken is not True:
                    self._bind(node.orelse)
            elif isinstance(node, ast.Try):
                self._bind(node.body)
            elif isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                self._bind(node.body)  # a lazy package: its __getattr__ imports the class on lookup


class _Wheel:
    """The model files of one wheel, parsed on demand, and the classes they define."""

    def __init__(self, z: zipfile.ZipFile) -> None:
        self.z = z
        self.paths = {
            name[:-3].replace("/", ".").removesuffix(".__init__"): name
            for name in z.namelist()
            if name.startswith(ROOTS) and name.endswith(".py")
        }
        self._files: dict[str, _File] = {}
        self._homes: dict[str, list[str]] | None = None
        self._layers: dict[str, tuple[set[str], set[str]]] = {}

    def file(self, module: str) -> _File | None:
        if module not in self.paths:
            return None
        if module not in self._files:
            path = self.paths[module]
            self._files[module] = _File(self.z.read(path).decode(), module, path.endswith("/__init__.py"))
        return self._files[module]

    def find(self, module: str, cls: str, hops: int = 0) -> tuple[str, _Class] | None:
        """The module defining `cls` as `module` binds it (defined there, or re-exported from another)."""
        f = self.file(module)
        if f is None or hops > 8:
            return None
        if cls in f.classes:
            return module, f.classes[cls]
        source = f.bound.get(cls)
        return self.find(source, cls, hops + 1) if source else None

    def anywhere(self, cls: str) -> tuple[str, _Class] | None:
        """A base class the importing file does not name: the first model file of vllm/model_executor/models/
        that defines it (bases imported under a star or from a helper module)."""
        if self._homes is None:
            self._homes = {}
            for module, path in self.paths.items():
                if (
                    path.startswith(MODELS)
                    and (path.count("/") == 3 or "/transformers/" in path)
                    and (f := self.file(module))
                ):
                    for name in f.classes:
                        self._homes.setdefault(name, []).append(module)
        homes = self._homes.get(cls, [])
        return (homes[0], self.file(homes[0]).classes[cls]) if homes else None  # type: ignore[union-attr]

    def lineage(self, module: str, cls: str) -> list[tuple[str, _Class]]:
        """The class and its bases, nearest first."""
        out: list[tuple[str, _Class]] = []
        todo, seen = [(module, cls)], set()
        while todo:
            at, name = todo.pop(0)
            found = self.find(at, name) or self.anywhere(name)
            if found is None or (found[0], name) in seen:
                continue
            seen.add((found[0], name))
            out.append(found)
            todo += [(found[0], base) for base in found[1].bases]
        return out

    def layers(self, module: str) -> tuple[set[str], set[str]]:
        """The layer names built by `module` and every model file it imports, transitively, and the
        "Owner.name" of their plain torch Linear/Embedding layers (kept per module: architectures share them)."""
        if module in self._layers:
            return self._layers[module]
        found, torch_layers, todo, done = set(), set(), [module], set()
        while todo:
            m = todo.pop()
            if m in done:
                continue
            done.add(m)
            f = self.file(m)
            if f is None:
                continue
            found |= f.layers
            # a plain layer named like a LoRA layer the same file builds (BertPooler.dense beside BERT's dense)
            torch_layers |= {f"{c.name}.{x}" for c in f.classes.values() for x in c.torch_layers if x in f.layers}
            # a file of vllm/model_executor/ reaches only that tree (its shared layers import model packages
            # of vllm/models/ that no flat model uses); a package of vllm/models/ reaches both
            inside = "vllm." if m.startswith("vllm.models.") else "vllm.model_executor."
            todo += [i for i in f.imports if i.startswith(inside)]
        self._layers[module] = found, torch_layers
        return found, torch_layers


def architectures(z: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    wheel = _Wheel(z)
    out: dict[str, dict[str, Any]] = {}
    unresolved = []
    for arch, (module, cls) in sorted(registry(z.read(REGISTRY).decode()).items()):
        chain = wheel.lineage(absolute(module), cls)
        if not chain:
            unresolved.append(f"{arch} ({module}.{cls})")
            continue
        names = {base for _, c in chain for base in c.bases}
        packed: dict[str, list[str]] = {}
        attrs: dict[str, Any] = {}
        for _, c in reversed(chain):  # nearer classes override
            packed.update(c.packed)
            attrs.update(c.attrs)
        backend = module == "transformers"  # the Transformers backend: the HF model with vLLM's linear layers
        linear, plain = set(), set()
        for m, _ in chain:
            built, torch_layers = wheel.layers(m)
            linear |= built
            plain |= torch_layers
        out[arch] = {
            "module": wheel.paths[chain[0][0]],
            "class": cls,
            "lora": "SupportsLoRA" in names,
            "packed": {k: sorted(v) for k, v in sorted(packed.items())},
            "embedding": sorted(attrs.get("embedding_modules") or {}),
            "linear": ["*"] if backend else sorted(linear),
            "unwrapped": [] if backend else sorted(p for p in plain if p.rsplit(".", 1)[1] in linear),
            "moe_3d": bool(attrs.get("is_3d_moe_weight")),
            "tower": bool(attrs.get("supports_tower_connector_lora")),
        }
    if unresolved:
        raise LookupError(f"registered architectures with no model class in the wheel: {', '.join(unresolved)}")
    return out
