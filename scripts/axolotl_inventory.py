"""List every place an Axolotl release can refuse, warn about or rewrite a config at start-up, from its wheel.

    python scripts/axolotl_inventory.py WHEEL [WHEEL...]     # writes lora_compiler/profiles/axolotl_inventory-V.json
    python scripts/axolotl_inventory.py --check WHEEL...     # exit 1 when a committed inventory differs

The wheel (`pip download --no-deps axolotl==0.21.0`) is read as text and parsed with `ast`: nothing of it is
imported or run. Entries, keyed `path:Qualname` inside the axolotl package:
- `validator`: every pydantic `model_validator` / `field_validator` (schemas and the plugins Axolotl ships),
  with its mode, the fields it validates, the messages it raises, the warnings it logs and whether it
  rewrites the data it is given;
- `function`: every other function of the schema folder, of the plugins' argument modules and of the start-up
  path (config loading and normalisation, `axolotl train`'s command before model or data) that raises or warns;
- `field`: every field a schema or plugin-argument model declares, with its annotation and default.
`digest` changes when a validator's code changes, so a new release's changed validators show up in the diff.
tests/structure/test_axolotl_inventory.py proves each entry is mirrored by a rule or declared out of scope.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "lora_compiler" / "profiles"
# The start-up path outside the schema: config loading, normalisation, plugin preparation, the train command.
START_UP = ("utils/config/__init__.py", "cli/config.py", "cli/train.py")
WARN_CALLS = re.compile(r"^(LOG|LOGGER|logger|log)\.(warning|warn|error)$|^warnings\.warn$")


def _selected(path: str) -> str | None:
    """The kind of file: schema, plugin, start-up, or None (not listed)."""
    if path.startswith("utils/schemas/"):
        return "schema"
    if path.startswith("integrations/") and path.endswith(("args.py", "cloud_args.py")):
        return "plugin"
    if path in START_UP:
        return "start-up"
    return None


def _decorator(fn: ast.FunctionDef) -> tuple[str, str, list[str]] | None:
    """(kind, mode, fields) of a pydantic validator decorator."""
    for dec in fn.decorator_list:
        call = dec if isinstance(dec, ast.Call) else None
        name = ast.unparse(call.func if call else dec)
        if name.endswith(("model_validator", "field_validator", "validator", "root_validator")):
            mode = next((ast.literal_eval(k.value) for k in (call.keywords if call else []) if k.arg == "mode"), "")
            fields = [ast.literal_eval(a) for a in (call.args if call else []) if isinstance(a, ast.Constant)]
            return name.split(".")[-1], str(mode or ("after" if "model" in name else "after")), fields
    return None


def _message(node: ast.expr | None) -> str:
    if node is None:
        return ""
    text = ast.unparse(node)
    return text if len(text) <= 300 else text[:297] + "..."


def _effects(fn: ast.FunctionDef) -> dict[str, Any]:
    raises: list[str] = []
    warns: list[str] = []
    rewrites = False
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc
            raises.append(_message(exc.args[0] if isinstance(exc, ast.Call) and exc.args else exc))
        elif isinstance(node, ast.Call) and WARN_CALLS.match(ast.unparse(node.func)):
            warns.append(_message(node.args[0] if node.args else None))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                base = t.value if isinstance(t, (ast.Subscript, ast.Attribute)) else None
                if isinstance(base, ast.Name) and base.id in ("data", "self", "cfg", "values", "value"):
                    rewrites = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("pop", "setdefault", "update") and ast.unparse(node.func.value) in ("data", "cfg"):
                rewrites = True
    return {"raises": raises, "warns": warns, "rewrites": rewrites}


def _digest(fn: ast.AST) -> str:
    return hashlib.sha256(ast.dump(fn, include_attributes=False).encode()).hexdigest()[:12]


def _is_model(cls: ast.ClassDef) -> bool:
    """A pydantic model or mixin (not an Enum): the classes whose annotated attributes are fields."""
    bases = [ast.unparse(b) for b in cls.bases]
    return not any("Enum" in b for b in bases)


def inventory(wheel: Path) -> dict[str, Any]:
    entries: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith("axolotl/") and n.endswith(".py"))
        version = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA")).split("-")[1].split(".dist")[0]
        for name in names:
            path = name[len("axolotl/") :]
            kind = _selected(path)
            if kind is None:
                continue
            tree = ast.parse(zf.read(name).decode("utf-8"))
            _walk(tree.body, path, kind, "", entries)
    return {"release": version, "entries": dict(sorted(entries.items()))}


def _walk(body: list[ast.stmt], path: str, kind: str, prefix: str, entries: dict[str, dict[str, Any]]) -> None:
    for node in body:
        if isinstance(node, ast.ClassDef):
            if kind != "start-up" and _is_model(node):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        if item.target.id.startswith("_") or "ClassVar" in ast.unparse(item.annotation):
                            continue
                        entries[f"{path}:{prefix}{node.name}.{item.target.id}"] = {
                            "kind": "field",
                            "line": item.lineno,
                            "annotation": ast.unparse(item.annotation),
                            "default": _message(item.value) if item.value is not None else None,
                        }
            _walk(node.body, path, kind, f"{prefix}{node.name}.", entries)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            fn = node  # type: ignore[assignment]
            validator = _decorator(fn)  # type: ignore[arg-type]
            effects = _effects(fn)  # type: ignore[arg-type]
            if validator is None and not (effects["raises"] or effects["warns"]):
                continue
            entry: dict[str, Any] = {"kind": "validator" if validator else "function", "line": fn.lineno}
            if validator:
                entry.update(decorator=validator[0], mode=validator[1], fields=validator[2])
            entry.update(effects, digest=_digest(fn))
            entries[f"{path}:{prefix}{fn.name}"] = entry


def target(release: str) -> Path:
    return OUT / f"axolotl_inventory-{release}.json"


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheels", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    status = 0
    for wheel in args.wheels:
        data = inventory(wheel)
        out = target(data["release"])
        text = render(data)
        if args.check:
            if not out.exists() or out.read_text(encoding="utf-8") != text:
                print(f"{out} is stale: re-run scripts/axolotl_inventory.py {wheel}", file=sys.stderr)
                status = 1
            continue
        out.write_text(text, encoding="utf-8")
        counts: dict[str, int] = {}
        for e in data["entries"].values():
            counts[e["kind"]] = counts.get(e["kind"], 0) + 1
        print(f"{out.name}: {counts}")
    return status


if __name__ == "__main__":
    sys.exit(main())
