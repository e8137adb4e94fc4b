"""axolotl-field-type: every value of the YAML against the type Axolotl's schema declares for it.

The type table (profiles/axolotl_types-VERSION.json, written from each release by scripts/gen_axolotl_types.py)
holds the type of every field of AxolotlConfigWCapabilities, its nested models and the plugins' args; types_2.py
restates pydantic's lax validation. This module adds what Axolotl runs before the types are checked:
validate_config's choice of one dataset model per `datasets` entry, the model validators of mode before that
move, rename or overwrite raw values (mirrored in types_3.py, or declared without effect on types), and the
field validators that reshape a raw value (restated, or their field left unchecked; the unit test lists which).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from ...profiles import PROFILES
from ...results.findings import Finding, Severity
from ...rulebook.registry import Docs, Stage, rule
from ..context import Context
from ..keys import key_tree
from .types_2 import NO, Checker, Path, Problem
from .types_3 import FIELD_VALIDATORS, REWRITES, View
from .validator import mirrored_by, out_of_scope

AXOLOTL_FIELD_TYPE = rule(
    "axolotl-field-type",
    Severity.ERROR,
    Stage.CONFIG,
    "A value whose type Axolotl's schema refuses.",
    Docs(
        what="""Axolotl validates the whole config with pydantic in lax mode before anything is loaded: a string
      key refuses numbers and booleans (`wandb_name: 3.1`), an integer key a fractional number, a
      `chat_template` a name that is not one of its templates (`qwen2_5`; `qwen_25` is one), a block a
      scalar, and every `datasets` entry is validated as the dataset model Axolotl picks for it (DPO
      when rl is dpo, ipo or simpo, KTO for kto, synthetic for type _synthetic, else SFT). Checked
      for every field of the release's schema, nested blocks and the listed plugins' keys included,
      after the rewrites Axolotl applies first (renamed fsdp_ keys, moved deprecated keys, dropped
      legacy attention flags). Left to other rules: top-level plain scalars (axolotl-key-type), extra
      keys (unknown-key), required top-level keys, and the fields whose own validator maps names to
      values (qat/quantization dtypes, export.quantize).""",
        why="Axolotl refuses the config at start-up, after the job was scheduled.",
        fix="Give the key a value of the type the message names (quote a number meant as a string).",
        source="axolotl/utils/schemas/config.py AxolotlConfigWCapabilities (pydantic, lax mode); "
        "axolotl/utils/config/__init__.py validate_config",
    ),
)


@cache
def table(version: str) -> dict[str, Any]:
    """The release's type table (read once per process: one JSON file)."""
    return json.loads((files("lora_compiler") / f"profiles/axolotl_types-{version}.json").read_text(encoding="utf-8"))


def _passes(entry: str, value: Any) -> Any:
    restated = FIELD_VALIDATORS.get(entry)
    return restated(value) if restated else NO


@cache
def checker(version: str) -> Checker:
    return Checker(table(version), _passes, _rewrite(version))


def _rewrite(version: str) -> Any:
    def rewrite(entries: list[str], data: dict[Any, Any]) -> View:
        view = View(dict(data), version)
        for entry in entries:
            mirror = REWRITES[entry]
            if callable(mirror):
                mirror(view)
        return view

    return rewrite


def active_plugins(values: Mapping[Any, Any], tab: Mapping[str, Any]) -> list[str]:
    """The plugin modules whose args apply: those `plugins:` lists (module.Class, or module:Class) and the built-in."""
    listed = values.get("plugins")
    names = [p.replace(":", ".") for p in listed if isinstance(p, str)] if isinstance(listed, list) else []
    return [m for m in tab["plugins"] if m in tab["builtin"] or any(p == m or p.startswith(m + ".") for p in names)]


def dataset_model(values: Mapping[Any, Any], entry: Any, dispatch: Mapping[str, str]) -> str:
    """The model validate_config builds a `datasets` entry as, before the schema sees it."""
    rl = values.get("rl")
    if rl in ("dpo", "ipo", "simpo"):
        return dispatch["dpo"]
    if rl == "kto":
        return dispatch["kto"]
    if isinstance(entry, dict) and entry.get("type") == "_synthetic":
        return dispatch["synthetic"]
    return dispatch["sft"]


def problems(values: Mapping[Any, Any], version: str, skip: Iterable[str] = ()) -> list[Problem]:
    """Every type problem of a config, as Axolotl `version` validates it (fields in `skip` left alone)."""
    tab, check = table(version), checker(version)
    plugins = active_plugins(values, tab)
    root = tab["models"][tab["root"]]
    entries = root.get("rewrites", []) + [e for p in plugins for e in tab["plugins"][p].get("rewrites", [])]
    view = check.rewrite(entries, dict(values))
    fields = {**{k: v for p in plugins for k, v in tab["plugins"][p]["fields"].items()}, **root["fields"]}
    left = set(tab["internal"]) | set(skip)
    found = [p for p in view.refused if p.path[0] not in left or _typed(check, p, view.data, fields)]
    for name, spec in fields.items():
        key = next((k for k in spec.get("keys", (name,)) if k in view.data), None)
        if key is None or name in left or key in left:
            continue
        value = view.data[key]
        if name == "datasets" and isinstance(value, list) and value:
            for i, entry in enumerate(value):
                kind = {"k": "model", "name": dataset_model(view.data, entry, tab["datasets"])}
                found += check.check(entry, kind, (key, i), spec["src"])
        else:
            found += check.check(value, spec["t"], (key,), spec["src"])
    unique = {p.path: view.origin_of(p) for p in found}
    return list(unique.values())


# Inventory fields of classes validate_config never validates: the cloud launchers' own configs (read by `axolotl
# cloud`, not by the training config's schema) and a trainer-arguments mixin.
OUTSIDE = {
    "integrations/baseten/args.py:BasetenImageConfig": "docker_auth",
    "integrations/coreweave/cloud_args.py:CoreWeaveCloudConfig": "account backend context cpu cpus_per_task dry_run "
    "env env_file exclusive gpus_per_node image job_name kubeconfig master_port memory memory_request mounts namespace "
    "node_selector nodes object_storage partition provider pvc pvc_mount qos rdma rdzv_port scratch_size secret_env "
    "setup_commands shared_dir shm_size ssh_host time_limit",
    "integrations/coreweave/cloud_args.py:ObjectStorageIdentity": "audience endpoint org_id region",
    "integrations/kd/args.py:KDTrainingArgsMixin": "kd_alpha kd_beta kd_ce_alpha kd_normalize_topk kd_temperature",
    "integrations/modal/args.py:ModalImageConfig": "image_registry",
    "integrations/modal/args.py:ModalImageRegistry": "provider secret",
    "integrations/nebius/args.py:NebiusCloudConfig": "disk_size dry_run env env_secret output parent_id platform "
    "preset profile provider show_context subnet_id timeout volumes",
    "integrations/nebius/args.py:NebiusVolume": "mode mount source",
    "utils/schemas/cloud.py:CloudImageBuild": "build_args context dockerfile platform tag",
    "utils/schemas/cloud.py:CloudImageConfig": "image image_build",
}


def _declare_inventory() -> None:
    """The inventory's schema fields: every field of every release's table (the plugins' shadowed declarations too)
    is this rule's; the fields of classes outside the schema are out of scope."""
    tables = [table(release) for release in PROFILES]
    blocks = [block for tab in tables for block in [*tab["models"].values(), *tab["plugins"].values()]]
    fields = {f["src"] for block in blocks for f in block["fields"].values()}
    mirrored_by(AXOLOTL_FIELD_TYPE.id, sorted(fields | {e for block in blocks for e in block.get("shadowed", [])}))
    out_of_scope({f"{cls}.{name}": "no-effect" for cls, names in OUTSIDE.items() for name in names.split()})


_declare_inventory()


def _typed(check: Checker, problem: Problem, data: Mapping[Any, Any], fields: Mapping[str, Any]) -> bool:
    """Whether a key a rewrite's mirror refuses (a string Axolotl compares as a number) has the right type for the
    type check: then the rule that owns its type (axolotl-key-type) says nothing, and this one must."""
    spec = fields.get(problem.path[0])
    return spec is not None and not check.check(data.get(problem.path[0]), spec["t"], problem.path, spec["src"])


@cache
def descriptions(version: str) -> dict[str, str]:
    """Axolotl's description of each field (by inventory entry) the table kept: the short ones."""
    tab = table(version)
    blocks = [*tab["models"].values(), *tab["plugins"].values()]
    return {f["src"]: f["d"] for block in blocks for f in block["fields"].values() if "d" in f}


@AXOLOTL_FIELD_TYPE.checks
def field_types(ctx: Context) -> Iterable[Finding]:
    version = ctx.profile.version
    owned = key_tree(ctx.profile.keys).get("types", {})  # top-level scalars axolotl-key-type reports already
    for problem in problems(ctx.doc.values, version, skip=owned):
        yield _finding(ctx, problem, version)


def _finding(ctx: Context, problem: Problem, version: str) -> Finding:
    value = _at(ctx.doc.values, problem.path)
    where = ".".join(str(p) for p in problem.path)
    about = descriptions(version).get(problem.field)
    if problem.missing:
        message = f"{where} is required: Axolotl refuses the block without it"
    else:
        message = f"{where}: Axolotl expects {problem.expected}, got {_shown(value)}"
    if about:
        message += f" ({about.rstrip('.')})"
    return AXOLOTL_FIELD_TYPE.at(
        ctx.doc,
        f"Axolotl refuses this config at start-up: {message}",
        problem.path,
        hint=_hint(problem, value),
        prefer_value=not problem.missing,
    )


def _at(values: Any, path: Path) -> Any:
    for part in path:
        try:
            values = values[part]
        except (KeyError, IndexError, TypeError):
            return None
    return values


def _shown(value: Any) -> str:
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return str(value) if len(str(value)) < 40 else "a number too long to show"
    if isinstance(value, str):
        return repr(value) if len(value) < 60 else repr(value[:57] + "...")
    return f"a {type(value).__name__}"


def _hint(problem: Problem, value: Any) -> str:
    if problem.missing:
        return f"add {problem.path[-1]}, or drop the block"
    names = [c for c in problem.choices if isinstance(c, str)]
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6) if isinstance(value, str) else []
    if close:
        return f"did you mean '{close[0]}'?"
    if problem.expected.startswith("a string") and isinstance(value, (int, float, bool)):
        return f"quote it: {_shown(value)} is read as {'a boolean' if isinstance(value, bool) else 'a number'}"
    return f"give it {problem.expected}"
