"""Regenerate lora_compiler/axolotl_keys.txt: every top-level key an Axolotl config may hold.

Reads the pydantic schema sources of an Axolotl checkout (core schemas and plugin args) with
`ast` (nothing is imported or executed) and collects field names and their aliases, so the
unknown-key rule can tell a typo from a real Axolotl key it does not care about.

    python scripts/gen_axolotl_keys.py /path/to/axolotl [commit-or-version]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def keys_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                name = stmt.target.id
                if not name.startswith("_") and name != "model_config":
                    found.add(name)
                call = stmt.value
                if isinstance(call, ast.Call):
                    for kw in call.keywords:
                        if kw.arg in ("alias", "validation_alias") and isinstance(kw.value, ast.Constant):
                            found.add(str(kw.value.value))
    return found


def main(root: str, version: str = "unknown") -> None:
    base = Path(root) / "src" / "axolotl"
    files = sorted((base / "utils" / "schemas").rglob("*.py")) + sorted((base / "integrations").rglob("args.py"))
    keys = set().union(*(keys_in(f) for f in files))
    out = Path(__file__).resolve().parent.parent / "lora_compiler" / "axolotl_keys.txt"
    header = f"# Top-level and nested Axolotl config keys, from axolotl {version} schemas (scripts/gen_axolotl_keys.py)\n"
    out.write_text(header + "".join(f"{k}\n" for k in sorted(keys)), encoding="utf-8")
    print(f"{len(keys)} keys from {len(files)} files -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
