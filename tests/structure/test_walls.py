"""The package's imports point one way: no cycles, and none of the arrows the walls forbid.

Read from the source with `ast` (lazy imports inside functions count; imports under
`if TYPE_CHECKING:` do not, since they never run). The walls are data below: a new arrow through
one of them is a design decision, to be made here in the open.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lora_compiler"
HEAVY = {"torch", "transformers", "peft"}

# Rooms and the rooms each may import (besides itself). Arrows not listed are walls.
ROOMS = {
    "profiles": {"inputs"},  # one module per Axolotl release, and the texts derived from them
    "results": {"profiles", "model_facts", "version"},  # frozen values
    # the registry of every rule and the declarations of the rules a stage raises itself: a leaf, so stages
    # below the checks can make their findings through rule objects
    "rulebook": {"profiles", "results", "version"},
    # stages only: YAML -> spec -> ... -> inject; they raise findings through the rule book, never run the checks
    # or the engine; each stage records what it reads (inputs: the result cache's manifest)
    "pipeline": {"profiles", "results", "rulebook", "model_facts", "inputs", "version"},
    "rules": {
        "devices",
        "profiles",
        "results",
        "rulebook",
        "pipeline.document",
        "pipeline.spec",
        "pipeline.fields",
        "io.adapter_dir",
        "model_facts",
        "serving",
        "version",
    },
    # bounded readers, the atomic set writer, the cache; the rule book: the adapter-dir rules it raises
    "io": {"profiles", "results", "pipeline", "rulebook", "inputs", "version"},
    "engine": {
        "devices",
        "profiles",
        "results",
        "pipeline",
        "rulebook",
        "rules",
        "io",
        "model_facts",
        "version",
    },  # the orchestrator: runs the stages, asks the rules, shares skeletons in a batch
    "render": {
        "profiles",
        "results",
        "rules",
        "version",
    },  # rules: lint's SARIF and JSON list every rule's id, level and doc
    # a finished compile -> another trainer's config; the rule book: the export-* rules it raises and the
    # convention-* rules its trainers' conventions raise (export/convention.py), which start from the skeleton
    # compile's front stage builds (engine.front, with its options and session)
    "export": {
        "pipeline",
        "results",
        "rulebook",
        "engine.front",
        "engine.options",
        "engine.session",
        "model_facts",
        "version",
    },
    "serving": {"results", "pipeline.fields", "model_facts", "version"},  # engine rule tables -> verdicts
    "features": {
        "profiles",
        "engine",
        "pipeline",
        "results",
        "rulebook",
        "rules",
        "io",
        "render",
        "export",
        "model_facts",
        "version",
    },
    "api": {
        "profiles",
        "engine",
        "pipeline",
        "results",
        "io",
        "render",
        "features",
        "export",
        "rulebook",
        "rules",
        "inputs",
        "version",
    },
    "cli": {
        "devices",
        "profiles",
        "api",
        "engine.options",
        "engine.policy",
        "results.findings",
        "render",
        "io.files",
        "features",
        "export",
        "rulebook",
        "rules",
        "serving",
        "version",
    },
}
# Modules that may import torch, transformers or peft (always lazily, inside a function).
HEAVY_ALLOWED = {
    "pipeline.skeleton",
    "pipeline.inject",
    "pipeline.stacks",
    "pipeline.targets",
    "pipeline.peftcfg",
    "pipeline.loading",  # transformers' own bitsandbytes not-convert decision, on the skeleton
    "pipeline.memory",  # which trained tensors are nn.Embedding weights (32-bit optimizer state)
    "features.runtime",
    "features.mixed",  # PeftMixedModel and the LoHa/LoKr configs of mixed_adapters
    "features.survey",
    "model_facts",
    "export.peft",
    "export.check",
    "rules.adapter_dir",
}  # transformers' checkpoint-conversion table: a renamed module is a warning


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines |= set(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    base = current.split(".") if current else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """(module -> package modules it imports, module -> external top-level packages, module -> those imported at
    module level)."""
    modules = {_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    eager: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        top = {id(n) for n in tree.body}
        edges[name], external[name], eager[name] = set(), set(), set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                target = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    full = f"{target}.{alias.name}" if target else alias.name
                    edges[name].add(full if full in modules else target)
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for full in names:
                if full.startswith("lora_compiler"):
                    edges[name].add(full.removeprefix("lora_compiler").lstrip("."))
                else:
                    external[name].add(full.split(".")[0])
                    if id(node) in top:
                        eager[name].add(full.split(".")[0])
        edges[name].discard(name)
        edges[name].discard("")  # `from . import x` of the package itself resolves to its modules above
    return edges, external, eager


EDGES, EXTERNAL, EAGER = _graph()


def _under(module: str, rooms: tuple[str, ...] | set[str]) -> bool:
    return any(module == r or module.startswith(f"{r}.") for r in rooms)


def test_the_import_graph_has_no_cycle() -> None:
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(EDGES.get(node, ())):
            if seen.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for start in sorted(EDGES):
        if start not in seen:
            visit(start, [start])


def _room(module: str) -> str | None:
    return next((r for r in ROOMS if _under(module, (r,))), None)


def test_no_two_rooms_import_each_other() -> None:
    """Imports point one way between rooms too, not only between modules."""
    arrows = {(_room(a), _room(b)) for a, targets in EDGES.items() for b in targets}
    arrows = {(a, b) for a, b in arrows if a and b and a != b}
    assert sorted((a, b) for a, b in arrows if (b, a) in arrows and a < b) == []


@pytest.mark.parametrize("module", sorted(m for m in EDGES if _room(m)))
def test_each_room_imports_only_the_rooms_its_wall_allows(module: str) -> None:
    room = _room(module)
    wrong = sorted(t for t in EDGES[module] if _room(t) != room and not _under(t, ROOMS[room]))
    assert not wrong, f"{module} ({room}) imports {wrong}"


def test_every_module_lives_in_a_room() -> None:
    """The top level holds only the package face, the one model-facts module, the version, the recorder of
    what a run read (inputs: a leaf every room may record through) and the table of training devices (devices: a
    leaf the rules, the engine and the CLI read)."""
    loose = sorted(
        m for m in EDGES if not _room(m) and m not in {"", "__main__", "model_facts", "inputs", "version", "devices"}
    )
    assert not loose


def test_only_the_model_rooms_touch_torch_transformers_or_peft() -> None:
    wrong = {m: sorted(EXTERNAL[m] & HEAVY) for m in EXTERNAL if EXTERNAL[m] & HEAVY and m not in HEAVY_ALLOWED}
    assert not wrong


def test_torch_transformers_and_peft_are_imported_lazily_everywhere() -> None:
    eager = {m: sorted(EAGER[m] & HEAVY) for m in EAGER if EAGER[m] & HEAVY}
    assert not eager


def test_only_the_cli_knows_click() -> None:
    assert {m for m in EXTERNAL if "click" in EXTERNAL[m]} == {m for m in EDGES if _under(m, ("cli",))}


def test_the_walls_name_modules_that_exist() -> None:
    """A wall naming a module that was renamed away would guard nothing."""
    for room in {*ROOMS, *(t for allowed in ROOMS.values() for t in allowed), *HEAVY_ALLOWED}:
        assert any(_under(m, (room,)) for m in EDGES), room


def test_the_skeleton_key_covers_every_spec_field_the_skeleton_reads() -> None:
    """A batch reuses a skeleton for equal keys: a field read but left out of the key would reuse a wrong one."""
    from lora_compiler.pipeline.skeleton import SPEC_FIELDS

    tree = ast.parse((PACKAGE / "pipeline" / "skeleton.py").read_text(encoding="utf-8"))
    read = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "spec"
    }
    assert read == set(SPEC_FIELDS)


def test_every_package_is_listed_for_the_wheel() -> None:
    """pyproject lists packages by hand; a room missing there imports from a checkout but not from a wheel."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("lora_compiler", *p.parent.relative_to(PACKAGE).parts)) for p in PACKAGE.rglob("__init__.py")}
    assert found - listed == set()
