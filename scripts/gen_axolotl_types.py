"""Regenerate lora_compiler/profiles/axolotl_types-VERSION.json: the type of every field of an Axolotl release's config.

Run with the Python of a venv where the real axolotl is installed (it is imported, read, never run on a config):
`/work/venvs/axolotl-0.21.0/bin/python scripts/gen_axolotl_types.py` writes
lora_compiler/profiles/axolotl_types-0.21.0.json, which the rule axolotl-field-type
(lora_compiler/rules/axolotl/types.py) checks a YAML against.

The source is each model's pydantic core schema, the very schema pydantic validates with: every constraint,
alias, default and field validator is in it, forward references resolved. Walked from AxolotlConfigWCapabilities
(what validate_config validates) into every nested model, and from each plugin's args class (the classes the
plugins' get_input_args name, keyed by plugin module as the key tree does). A type is a plain kind ("str",
"int", "float", "bool", "any", "none") or a node {"k": kind, ...}: constraints (ge, gt, le, lt, min, max,
pattern, strict, nan), "lit" values, "enum" name (values in "enums", only those a YAML can spell), "list"/"dict"
/"tuple"/"union"/"null" (Optional) with "of", "model" name, and "fn": a field validator of mode before, wrap or
plain that sees the raw value first (its inventory entry, then "of" the type it hands on). Each field records
its type ("t"), the inventory entry of the class that declares it ("src": path in the axolotl package, colon,
Class.field, the declaring class found through the MRO), the keys a YAML may spell it with when an alias
differs ("keys"), whether it is required ("req") and Axolotl's description when short ("d", the rule quotes
it; longer ones are left out). Each model lists its model validators of mode before that write into the data
("rewrites"), each plugin its args' fields, rewrites and plugin class, and the fields it declares that the base
config declares too ("shadowed": the base's declaration wins in the MRO); "datasets" names the model validate_config
builds each `datasets` entry as, "internal" the fields validate_config sets itself.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import math
import os
import re
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.update(HF_HUB_OFFLINE="1", AXOLOTL_DO_NOT_TRACK="1", WANDB_MODE="disabled")

import axolotl
from pydantic import BaseModel

PACKAGE = Path(axolotl.__file__).resolve().parent
SHORT = 100  # descriptions up to this many characters go into the table (the rule quotes them)
# validate_config (utils/config/__init__.py) builds each `datasets` entry as one model before the schema sees it:
# DPODataset when rl is dpo/ipo/simpo, KTODataset when rl is kto, SyntheticDataset when type is _synthetic, else
# SFTDataset. Checked against the release's source below, so a release that changes it fails here.
DISPATCH = {"dpo": "DPODataset", "kto": "KTODataset", "synthetic": "SyntheticDataset", "sft": "SFTDataset"}
# A model validator of mode before whose source writes into the data it is given (or hands it to a helper that
# may): it can rewrite, move or drop a value before the type check, so the rule must mirror it or say it has no
# effect on types (lora_compiler/rules/axolotl/types_3.py REWRITES; tests/unit/rules/test_axolotl_types.py).
REWRITES = re.compile(r"\w+\[[^\]]+\]\s*=[^=]|\.pop\(|\bdel\b|\.update\(|setdefault|data\s*=|return\s+[\w.]+\(data")
DISPATCH_SOURCE = ('in ["dpo", "ipo", "simpo"]', "DPODataset(**ds_cfg)", '== "kto"', "KTODataset(", '"_synthetic"')


def where(obj: Any) -> str:
    """Path of the file defining obj, inside the axolotl package."""
    return Path(inspect.getsourcefile(obj) or "").resolve().relative_to(PACKAGE).as_posix()


def entry(func: Any) -> str:
    func = getattr(func, "__func__", func)
    return f"{where(func)}:{func.__qualname__}"


def declaring(model: type[BaseModel], name: str) -> type:
    """The class in model's MRO whose own annotations declare `name` (the one pydantic takes the field from)."""
    for cls in model.__mro__:
        if name in cls.__dict__.get("__annotations__", {}):
            return cls
    raise LookupError(f"{model.__name__}.{name}: no declaring class")


def short(text: Any) -> str | None:
    text = " ".join(str(text).split()) if text else ""
    return text if text and len(text) <= SHORT else None


class Walker:
    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.enums: dict[str, dict[str, Any]] = {}
        self.classes: dict[str, type] = {}
        self.defs: dict[str, Any] = {}

    def model(self, cls: type[BaseModel]) -> str:
        """Register a model (its fields from its core schema) and return its table name."""
        name = cls.__name__
        if self.classes.setdefault(name, cls) is not cls:
            raise ValueError(f"two models named {name}: {self.classes[name]} and {cls}")
        if name in self.models:
            return name
        self.models[name] = {}  # placed first: a recursive model refers to itself
        schema = cls.__pydantic_core_schema__
        if schema["type"] == "definitions":
            self.defs.update({d["ref"]: d for d in schema["definitions"]})
            schema = schema["schema"]
        node, before = schema, []  # (entry, function) of the model validators of mode before, wrap or plain
        while node["type"] != "model":
            if node["type"] in ("function-before", "function-wrap", "function-plain"):
                before.append((entry(node["function"]["function"]), node["function"]["function"]))
            node = self.defs[node["schema_ref"]] if node["type"] == "definition-ref" else node["schema"]
        fields_node = node["schema"]
        while fields_node["type"] != "model-fields":
            if fields_node["type"] in ("function-before", "function-wrap", "function-plain"):
                before.append((entry(fields_node["function"]["function"]), fields_node["function"]["function"]))
            fields_node = fields_node["schema"]
        config = node.get("config", {})
        by_name = bool(config.get("validate_by_name") or config.get("populate_by_name"))
        out: dict[str, Any] = {"src": f"{where(cls)}:{cls.__name__}", "fields": {}}
        rewrites = sorted(e for e, f in before if REWRITES.search(inspect.getsource(f)))
        if rewrites:
            out["rewrites"] = rewrites
        for fname, field in fields_node["fields"].items():
            out["fields"][fname] = self.field(cls, fname, field, by_name)
        self.models[name] = out
        return name

    def field(self, cls: type[BaseModel], fname: str, field: dict[str, Any], by_name: bool) -> dict[str, Any]:
        owner = declaring(cls, fname)
        info = cls.model_fields[fname]
        schema = field["schema"]
        out: dict[str, Any] = {"src": f"{where(owner)}:{owner.__name__}.{fname}"}
        if schema["type"] == "default":
            schema = schema["schema"]
        else:
            out["req"] = 1
        out["t"] = self.type(schema)
        alias = field.get("validation_alias")
        if alias is not None:
            paths = [alias] if isinstance(alias, str) else alias
            keys = [str(p if isinstance(p, str) else p[0]) for p in paths]
            keys += [fname] if by_name and fname not in keys else []
            if keys != [fname]:
                out["keys"] = keys
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        described = short(info.description or extra.get("description"))
        if described:
            out["d"] = described
        return out

    def type(self, s: dict[str, Any]) -> Any:
        kind = s["type"]
        if kind == "definition-ref":
            return self.type(self.defs[s["schema_ref"]])
        if kind == "definitions":
            self.defs.update({d["ref"]: d for d in s["definitions"]})
            return self.type(s["schema"])
        if kind == "model" or self.model_validated(s):
            return {"k": "model", "name": self.model(self.model_validated(s) or s["cls"])}
        if kind == "function-after":  # runs only on a value that already has the type
            return self.type(s["schema"])
        if kind in ("function-before", "function-wrap", "function-plain"):
            node = {"k": "fn", "entry": entry(s["function"]["function"]), "mode": kind.split("-")[1]}
            if kind != "function-plain":
                node["of"] = self.type(s["schema"])
            return node
        if kind == "default":
            return self.type(s["schema"])
        if kind == "nullable":
            return {"k": "null", "of": self.type(s["schema"])}
        if kind in ("str", "int", "float", "bool"):
            return self.scalar(kind, s)
        if kind == "any":
            return "any"
        if kind == "none":
            return "none"
        if kind == "literal":
            return {"k": "lit", "v": [self.plain(v) for v in s["expected"]]}
        if kind == "enum":
            cls = s["cls"]
            values = [m.value for m in s["members"] if isinstance(m.value, (str, int, float))]
            self.enums.setdefault(cls.__name__, {"sub": s.get("sub_type") or "", "v": values})
            return {"k": "enum", "name": cls.__name__}
        if kind == "list":
            return self.sized({"k": "list", "of": self.type(s.get("items_schema", {"type": "any"}))}, s)
        if kind == "dict":
            node = {
                "k": "dict",
                "key": self.type(s.get("keys_schema", {"type": "any"})),
                "of": self.type(s.get("values_schema", {"type": "any"})),
            }
            return self.sized(node, s)
        if kind == "tuple":
            node = {"k": "tuple", "of": [self.type(i) for i in s["items_schema"]]}
            if s.get("variadic_item_index") is not None:
                node["var"] = s["variadic_item_index"]
            return self.sized(node, s)
        if kind == "union":
            if s.get("mode") == "left_to_right":
                raise ValueError("left_to_right union: not modelled")
            return {"k": "union", "of": [self.type(c[0] if isinstance(c, tuple) else c) for c in s["choices"]]}
        raise ValueError(f"core schema type {kind!r} is not modelled: {sorted(s)}")

    def model_validated(self, s: dict[str, Any]) -> type[BaseModel] | None:
        """The model class when s is that model wrapped in its own model validators (recorded with the model)."""
        funcs = []
        while s["type"].startswith("function-") or s["type"] == "definition-ref":
            if s["type"] == "definition-ref":
                s = self.defs[s["schema_ref"]]
                continue
            funcs.append(getattr(s["function"]["function"], "__name__", ""))
            s = s["schema"]
        if s["type"] != "model":
            return None
        own = s["cls"].__pydantic_decorators__.model_validators
        return s["cls"] if all(f in own for f in funcs) else None

    @staticmethod
    def plain(value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        raise ValueError(f"literal {value!r} is not a YAML scalar")

    @staticmethod
    def scalar(kind: str, s: dict[str, Any]) -> Any:
        node: dict[str, Any] = {"k": kind}
        for bound in ("ge", "gt", "le", "lt", "multiple_of"):
            if s.get(bound) is not None:
                node[bound] = s[bound]
        for src, dst in (("min_length", "min"), ("max_length", "max"), ("pattern", "pattern"), ("strict", "strict")):
            if s.get(src) is not None and s.get(src) is not False:
                node[dst] = s[src]
        if s.get("allow_inf_nan") is False:
            node["nan"] = False
        for unmodelled in ("strip_whitespace", "to_lower", "to_upper", "coerce_numbers_to_str", "ascii_only"):
            if s.get(unmodelled):
                raise ValueError(f"{kind} with {unmodelled}: not modelled")
        if any(isinstance(v, float) and not math.isfinite(v) for v in node.values()):
            raise ValueError(f"non-finite bound in {node}")
        return kind if len(node) == 1 else node

    @staticmethod
    def sized(node: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
        if s.get("min_length"):
            node["min"] = s["min_length"]
        if s.get("max_length") is not None:
            node["max"] = s["max_length"]
        if s.get("strict"):
            raise ValueError(f"strict {node['k']}: not modelled")
        return node


def plugin_args() -> dict[str, tuple[str, str]]:
    """plugin module -> (dotted plugin class, dotted args class), from every get_input_args of the integrations."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted((PACKAGE / "integrations").rglob("*.py")):
        module = "axolotl." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for cls in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for node in cls.body if isinstance(cls, ast.ClassDef) else []:
                if isinstance(node, ast.FunctionDef) and node.name == "get_input_args":
                    for ret in ast.walk(node):
                        if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Constant):
                            dotted = str(ret.value.value)
                            plugin = f"{module.removesuffix('.__init__')}.{cls.name}"
                            found[dotted.rsplit(".", 1)[0].removesuffix(".args")] = (plugin, dotted)
    return dict(sorted(found.items()))


def args_class(dotted: str) -> type[BaseModel]:
    """The args class; when its package cannot be imported here (the plugin's own library is not installed, as
    llmcompressor), its module file alone, which needs only pydantic."""
    mod, cls_name = dotted.rsplit(".", 1)
    try:
        return getattr(importlib.import_module(mod), cls_name)
    except ImportError:
        path = PACKAGE.joinpath(*mod.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        spec = importlib.util.spec_from_file_location(mod, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod] = module
        spec.loader.exec_module(module)
        return getattr(module, cls_name)


def main() -> None:
    from axolotl.utils import config as config_module
    from axolotl.utils.schemas.config import AxolotlConfigWCapabilities, AxolotlInputConfig

    source = inspect.getsource(config_module.validate_config)
    missing = [s for s in DISPATCH_SOURCE if s not in source]
    if missing:
        raise SystemExit(f"validate_config's datasets dispatch changed ({missing}): update DISPATCH and the rule")
    walker = Walker()
    root = walker.model(AxolotlConfigWCapabilities)
    top = walker.models[root]["fields"]
    plugins: dict[str, Any] = {}
    for module, (plugin, dotted) in plugin_args().items():
        cls = args_class(dotted)
        name = walker.model(cls)
        args = walker.models.pop(name)
        shadowed = sorted(v["src"] for k, v in args["fields"].items() if k in top)  # the base's declaration wins
        args["fields"] = {k: v for k, v in args["fields"].items() if k not in top}
        plugins[module] = {**args, "plugin": plugin, **({"shadowed": shadowed} if shadowed else {})}
        walker.classes.pop(name)
    for name in DISPATCH.values():
        assert name in walker.models, name
    base = importlib.import_module("axolotl.integrations.base")
    builtin = sorted(p for p in plugins if any(b.startswith(p + ".") for b in getattr(base, "BUILTIN_PLUGINS", ())))
    release = version("axolotl")
    doc = {
        "axolotl": release,
        "generated_by": "scripts/gen_axolotl_types.py",
        "root": root,
        "internal": sorted(set(top) - set(AxolotlInputConfig.model_fields)),  # validate_config sets them
        "datasets": DISPATCH,
        "builtin": builtin,
        "enums": dict(sorted(walker.enums.items())),
        "models": dict(sorted(walker.models.items())),
        "plugins": plugins,
    }
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent.parent / "lora_compiler" / "profiles" / f"axolotl_types-{release}.json"
    )
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    out.write_text(text + "\n", encoding="utf-8")
    count = sum(len(m["fields"]) for m in walker.models.values()) + sum(len(p["fields"]) for p in plugins.values())
    print(f"{len(walker.models)} models, {len(plugins)} plugins, {count} fields, {len(text)} bytes -> {out}")


if __name__ == "__main__":
    main()
