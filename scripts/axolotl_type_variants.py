"""The differential of axolotl-field-type: a value of the wrong type and one of the right type for every field.

    python scripts/axolotl_type_variants.py make RELEASE VARIANTS.json       # the shared venv (reads the table)
    /work/venvs/axolotl-RELEASE/bin/python scripts/axolotl_type_variants.py run VARIANTS.json \\
        tests/axolotl_facts/types-RELEASE.json                               # the release's own venv

`make` walks the release's type table (lora_compiler/profiles/axolotl_types-RELEASE.json) and writes, for every
field Axolotl can reach from a YAML (top-level keys, nested blocks, each dataset model as validate_config picks
it, the plugins' keys with their plugin listed), the keys merged onto EXAMPLE_BASE for: a value of the wrong
type ("wrong"), a value of the right type ("right") and, for int, float and bool fields, the right value as a
string pydantic's lax mode converts ("lax": "1", "0.5", "false"); the values are chosen from the table with the
rule's own checker, and CONTEXT adds the keys a block's validators require. CASES ("rewrite/...") exercise
each rewrite Axolotl applies before the type check, both ways. `run` validates each in the real release as
`axolotl train` does (prepare_plugins, then validate_config with one bf16 GPU's capabilities) and records
{variant: {config, refused, loc, error}} (loc: pydantic's first error location as a YAML key path, union tags
dropped) and the base in types-base.json; it imports nothing of lora_compiler. tests/facts/
test_axolotl_type_facts.py re-lints every recorded variant and requires the variants to be `make`'s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WRONG = {  # first candidates for a wrong value, by kind (then the generic ones)
    "str": [3.1, False],
    "int": [1.5, "abc"],
    "float": ["abc"],
    "bool": ["maybe"],
    "lit": ["zz_not_a_choice"],
    "enum": ["qwen2_5", "zz_not_a_choice"],
    "list": ["x", 3.1],
    "dict": [["x"], 3.1],
    "model": ["x", 3.1],
    "tuple": ["x", 3.1],
}
GENERIC = [3.1, "zz_not_a_choice", False, {"zz": 1}, ["zz"], 1.5, -1, None]
CONTEXT = {  # keys a block's validators require, so that its right values are accepted (by site prefix)
    "coreweave/": {"bf16": True},
    "swanlab/": {"swanlab_project": "x"},
    "diffusion_decision/": {"diffusion_lm": {}},
    "datasets[kto]": {"remove_unused_columns": False},
    "pretraining_dataset": {"max_steps": 10},
    "selective_checkpointing": {"gradient_checkpointing": True},
    "fp8_config": {"fp8": True},
}
LIGER, KERNELS, MORA = (
    f"axolotl.integrations.{p}" for p in ("liger.LigerPlugin", "kernels.KernelsPlugin", "mora.MoraPlugin")
)
SFT = {"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}
CASES: dict[str, dict[str, Any]] = {  # what Axolotl rewrites before the type check (types_3.py), both ways
    "fsdp-prefixed-key": {"fsdp_config": {"fsdp_offload_params": "maybe"}},
    "fsdp-prefixed-key-ok": {"fsdp_config": {"fsdp_offload_params": True, "fsdp_version": 2}},
    "wandb-name-from-run-id": {"wandb_name": False, "wandb_run_id": "run"},
    "wandb-name-kept": {"wandb_name": 3, "wandb_run_id": "run"},
    "legacy-message-field": {"datasets": [{**SFT, "message_field_role": 3}]},
    "legacy-message-field-empty": {"datasets": [{**SFT, "message_field_role": ""}]},
    "dataset-chat-template-filled": {"datasets": [{**SFT, "type": "chat_template", "chat_template": ""}]},
    "jinja-fills-chat-template": {"chat_template": "", "chat_template_jinja": "{{ messages }}"},
    "neftune-moved": {"noisy_embedding_alpha": "abc"},
    "dataset-processes-moved": {"dataset_processes": "abc"},
    "dataset-processes-dropped": {"dataset_processes": "abc", "dataset_num_proc": 2},
    "liger-swiglu-moved": {"plugins": [LIGER], "liger_swiglu": "maybe"},
    "mora-type-number": {"plugins": [MORA], "mora": {"mora_type": 6}},
    "mora-type-other-number": {"plugins": [MORA], "mora": {"mora_type": 2}},
    "kernels-mlp-overwritten": {"plugins": [KERNELS], "use_scattermoe": True, "mlp_kernel": "maybe"},
    "kernels-experts-implementation": {"plugins": [KERNELS], "experts_implementation": 3},
    "kernels-nvfp4-start-dropped": {
        "plugins": [KERNELS],
        "nvfp4_merge_aware": False,
        "nvfp4_merge_aware_start_step": "x",
    },
    "large-head-attention-upper": {"large_head_attention": "AUTO"},
    "large-head-attention-number": {"large_head_attention": 3},
    "image-resize-upper": {"image_resize_algorithm": "BILINEAR"},
    "image-resize-number": {"image_resize_algorithm": 2},
    "image-resize-number-text": {"image_resize_algorithm": "2"},
    "ipo-dataset-is-dpo": {
        "rl": "ipo",
        "datasets": [{"path": "Intel/orca_dpo_pairs", "type": "chatml.intel", "shards": "x"}],
    },
    "plugin-colon-form": {"plugins": ["axolotl.integrations.liger.plugin:LigerPlugin"], "liger_rope": "maybe"},
    "accelerator-config-filled": {"pretraining_dataset": [{"path": "x"}], "max_steps": 10, "accelerator_config": ""},
}
DATASETS: dict[str, dict[str, Any]] = {  # the base entry and keys of each dataset model validate_config picks
    "sft": {"entry": {"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}},
    "dpo": {"entry": {"path": "Intel/orca_dpo_pairs", "type": "chatml.intel"}, "keys": {"rl": "dpo"}},
    "kto": {
        "entry": {"path": "argilla/ultrafeedback-binarized-preferences-cleaned-kto", "type": "llama3.ultra"},
        "keys": {"rl": "kto"},
    },
    "synthetic": {"entry": {"path": "synthetic", "type": "_synthetic"}},
}


# ------------------------------------------------------------------------------------------------ make (shared venv)


class Maker:
    def __init__(self, release: str) -> None:
        from lora_compiler.rules.axolotl import types

        self.release = release
        self.types = types
        self.tab = types.table(release)
        self.check = types.checker(release)

    def ok(self, value: Any, t: Any) -> bool:
        return not self.check.check(value, t, (), "")

    def right(self, t: Any, depth: int = 0) -> Any:
        if isinstance(t, str):
            return {"str": "x", "int": 1, "float": 0.5, "bool": False, "any": "x", "none": None}[t]
        k = t["k"]
        if k == "null":
            return self.right(t["of"], depth)
        if k == "fn":
            return self.right(t["of"], depth) if "of" in t else None
        if k == "union":
            members = [m for m in t["of"] if m != "none"]
            return self.right(members[0], depth)
        if k == "lit":
            return t["v"][0]
        if k == "enum":
            return self.tab["enums"][t["name"]]["v"][0]
        if k == "list":
            return [self.right(t["of"], depth + 1)] * max(1, t.get("min", 1))
        if k == "dict":
            return {self.right(t["key"]) if t["key"] not in ("str", "any") else "x": self.right(t["of"], depth + 1)}
        if k == "tuple":
            return [self.right(i, depth + 1) for i in t["of"]]
        if k == "model":
            return self.filled(t["name"], depth)
        return self.number(t) if k in ("int", "float") else self.right(k)

    def filled(self, model: str, depth: int = 0) -> dict[str, Any]:
        """A model's mapping with its required fields given right values."""
        fields = self.tab["models"][model]["fields"]
        return {n: self.right(f["t"], depth + 1) for n, f in fields.items() if f.get("req")} if depth < 6 else {}

    def number(self, t: dict[str, Any]) -> Any:
        low = t.get("ge", t.get("gt"))
        high = t.get("le", t.get("lt"))
        candidates = [1, 2, 0.5, 0, 10, 100, 0.1, 0.001, -1]
        if low is not None:
            candidates = [low, low + 1, low + 0.5, *candidates]
        if high is not None:
            candidates = [high, high - 1, (high + (low or 0)) / 2, *candidates]
        for c in candidates:
            c = int(c) if t["k"] == "int" and float(c).is_integer() else c
            if self.ok(c, t):
                return c
        raise ValueError(f"no number for {t}")

    def wrong(self, t: Any) -> Any:
        node = t
        while isinstance(node, dict) and node["k"] in ("null", "fn") and "of" in node:
            node = node["of"]
        for c in WRONG.get(node if isinstance(node, str) else node["k"], []) + GENERIC:
            if not self.ok(c, t):
                return c
        return NotImplemented  # every value is right (Any)

    def lax(self, t: Any) -> Any:
        node = t
        while isinstance(node, dict) and node["k"] in ("null", "fn") and "of" in node:
            node = node["of"]
        kind = node if isinstance(node, str) else node["k"]
        if kind not in ("int", "float", "bool"):
            return NotImplemented
        value = self.right(node)
        text = str(value).lower() if kind == "bool" else str(value)
        return text if self.ok(text, t) else NotImplemented

    def sites(self) -> list[tuple[str, str, Any, Any]]:
        """(site name, the field's inventory entry, builder of the config from the field's value, field type): every
        field of the table, each nested model reached once (a dataset model as validate_config picks it)."""
        out: list[tuple[str, str, Any, Any]] = []
        root = self.tab["models"][self.tab["root"]]
        seen: set[str] = {self.tab["root"], *self.tab["datasets"].values()}

        def walk(model: str, prefix: str, wrap: Any, depth: int) -> None:
            for name, spec in self.tab["models"][model]["fields"].items():
                site = f"{prefix}.{name}"
                out.append((site, spec["src"], _inside(wrap, name), spec["t"]))
                for sub, inner in _models(spec["t"], self.tab):
                    if sub not in seen and depth < 6:
                        seen.add(sub)
                        walk(sub, f"{site}{inner}", _nest(wrap, name, inner, sub, self), depth + 1)

        for name, spec in root["fields"].items():
            if name in self.tab["internal"]:
                continue
            out.append((name, spec["src"], _inside(_top({}), name), spec["t"]))
        for name, spec in root["fields"].items():
            if name in self.tab["internal"] or name == "datasets":
                continue
            for sub, inner in _models(spec["t"], self.tab):
                if sub not in seen:
                    seen.add(sub)
                    walk(sub, f"{name}{inner}", _nest(_top({}), name, inner, sub, self), 1)
        for kind, base in DATASETS.items():
            model = self.tab["datasets"][kind]
            walk(model, f"datasets[{kind}]", _dataset(base), 1)
        for module, plugin in self.tab["plugins"].items():
            keys = {} if module in self.tab["builtin"] else {"plugins": [plugin["plugin"]]}
            for name, spec in plugin["fields"].items():
                site = f"{module.rsplit('.', 1)[1]}/{name}"
                out.append((site, spec["src"], _inside(_top(keys), name), spec["t"]))
                for sub, inner in _models(spec["t"], self.tab):
                    if sub not in seen:
                        seen.add(sub)
                        walk(sub, f"{site}{inner}", _nest(_top(keys), name, inner, sub, self), 1)
        return out

    def variants(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for site, _, build, t in self.sites():
            for kind, value in (("wrong", self.wrong(t)), ("right", self.right(t)), ("lax", self.lax(t))):
                if value is NotImplemented:
                    continue
                context = {k: v for prefix, keys in CONTEXT.items() if site.startswith(prefix) for k, v in keys.items()}
                found[f"{site}|{kind}"] = {**context, **build(value)}
        found.update({f"rewrite/{name}|case": keys for name, keys in CASES.items()})
        return found


def _models(t: Any, tab: dict[str, Any], inner: str = "") -> list[tuple[str, str]]:
    """(model name, '' / '[]' / '{}') for each model inside a type."""
    if isinstance(t, str):
        return []
    k = t["k"]
    if k == "model":
        return [(t["name"], inner)]
    if k in ("null", "fn"):
        return _models(t["of"], tab, inner) if "of" in t else []
    if k == "union":
        return [m for member in t["of"] for m in _models(member, tab, inner)]
    if k == "list":
        return _models(t["of"], tab, inner + "[]")
    if k == "dict":
        return _models(t["of"], tab, inner + "{}")
    return []


# A wrap turns the keys of one block into the keys merged onto EXAMPLE_BASE; a site's builder wraps {field: value}.


def _top(keys: dict[str, Any]) -> Any:
    return lambda block: {**keys, **block}


def _dataset(base: dict[str, Any]) -> Any:
    return lambda entry: {**base.get("keys", {}), "datasets": [{**base["entry"], **entry}]}


def _inside(wrap: Any, name: str) -> Any:
    return lambda value: wrap({name: value})


def _nest(wrap: Any, name: str, inner: str, sub: str, maker: Maker) -> Any:
    def build(keys: dict[str, Any]) -> dict[str, Any]:
        block: Any = {**maker.filled(sub), **keys}
        for part in reversed(inner):
            block = [block] if part == "[" else {"x": block} if part == "{" else block
        return wrap({name: block})

    return build


def merged(base: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """A variant's config: EXAMPLE_BASE with its keys (None drops a base key, as validator.example does)."""
    return {k: v for k, v in {**base, **keys}.items() if v is not None or k not in base}


def make(release: str, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from lora_compiler.rules.axolotl.validator import EXAMPLE_BASE

    maker = Maker(release)
    declared = {
        f["src"]
        for block in [*maker.tab["models"].values(), *maker.tab["plugins"].values()]
        for f in block["fields"].values()
    }
    root = maker.tab["models"][maker.tab["root"]]["fields"]
    behind = {m for n in maker.tab["internal"] for m, _ in _models(root[n]["t"], maker.tab)}  # set by validate_config
    internal = {root[n]["src"] for n in maker.tab["internal"]}
    internal |= {f["src"] for m in behind for f in maker.tab["models"][m]["fields"].values()}
    missing = declared - internal - {src for _, src, _, _ in maker.sites()}
    if missing:
        raise SystemExit(f"fields without a variant: {sorted(missing)}")
    variants = maker.variants()
    out.write_text(json.dumps({"base": EXAMPLE_BASE, "variants": variants}, sort_keys=True) + "\n")
    print(f"{len(variants)} variants -> {out}")


# -------------------------------------------------------------------------------------- run (the release's venv)


def _clean(loc: tuple[Any, ...], config: Any) -> list[Any] | None:
    """pydantic's error location as a YAML key path: union member tags dropped; None if a part is not in the YAML."""
    path, node = [], config
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(part, str) and (part[:1].isupper() or "[" in part or part in ("function-before", "str")):
            continue  # a union member's tag
        else:
            return None
        path.append(part)
    return path


def run(variants_file: Path, out: Path) -> None:
    import os

    os.environ.update(HF_HUB_OFFLINE="1", AXOLOTL_DO_NOT_TRACK="1", WANDB_MODE="disabled")
    import logging

    logging.disable(logging.CRITICAL)
    import torch
    from axolotl.integrations.base import PluginManager
    from axolotl.utils.config import prepare_plugins, validate_config
    from axolotl.utils.dict import DictDefault
    from pydantic import ValidationError

    data = json.loads(variants_file.read_text())
    base, results = data["base"], {}
    capabilities = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 1, "compute_capability": "sm_90"}
    env = {"torch_version": torch.__version__.split("+")[0]}
    for name, keys in sorted(data["variants"].items()):
        config = merged(base, keys)
        record: dict[str, Any] = {"config": keys, "refused": False, "loc": None, "error": None}
        try:
            PluginManager._instance = None
            cfg = DictDefault(json.loads(json.dumps(config)))
            try:
                prepare_plugins(cfg)
                loaded = PluginManager.get_instance().plugins
                absent = [p for p in cfg.get("plugins") or [] if p not in loaded and p.replace(":", ".") not in loaded]
                if absent:  # 0.19 and 0.20 log a plugin they cannot import and go on without it
                    raise ImportError(f"plugin not loaded: {absent}")
            except ImportError as exc:
                record.update(refused=None, error=f"environment: {exc}"[:200])
                results[name] = record
                continue
            validate_config(cfg, capabilities=capabilities, env_capabilities=env)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = tuple(err["loc"])
            if exc.title in ("SFTDataset", "DPODataset", "KTODataset", "SyntheticDataset"):  # validate_config's own
                loc = ("datasets", 0, *loc)
            record.update(refused=True, loc=_clean(loc, config), error=f"{err['type']}: {err['msg']}"[:200])
        except Exception as exc:
            record.update(refused=True, error=f"{type(exc).__name__}: {exc}"[:200])
        results[name] = record
    out.with_name("types-base.json").write_text(json.dumps(base, indent=1, sort_keys=True) + "\n")
    lines = [f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(results.items())]
    out.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    refused = sum(1 for r in results.values() if r["refused"])
    print(f"{len(results)} variants, {refused} refused -> {out}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], Path(sys.argv[3]))
    else:
        run(Path(sys.argv[2]), Path(sys.argv[3]))
