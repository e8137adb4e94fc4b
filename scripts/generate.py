"""Regenerate every file that is generated from the code; with --check, only say which are stale.

    python scripts/generate.py            # rewrite the stale files
    python scripts/generate.py --check    # write nothing; exit 1 listing the stale files (CI)
    python scripts/generate.py --survey   # also the architecture survey, docs/families.* (about 2 minutes)

Each entry of GENERATORS is a function returning {path relative to the repository: text}. A new generated
file is one more entry. The survey is slow, so it runs only with --survey (tests/unit/features/test_survey.py checks a
sample of it in the default suite). Files generated from other packages' wheels or from real training
runs cannot be remade offline; docs/development.md lists them with their scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

Files = dict[str, str]


def rules_pages() -> Files:
    """docs/rules.md (the index `lora-compiler rules` prints) and one page per rule, docs/rules/<id>.md."""
    from lora_compiler.rules.docs import pages

    return pages()


def adapter_schema() -> Files:
    """schemas/axolotl-lora.schema.json, as `lora-compiler schema` prints it."""
    from lora_compiler.api import adapter_schema

    return {"schemas/axolotl-lora.schema.json": json.dumps(adapter_schema(), indent=2) + "\n"}


def survey() -> Files:
    """docs/families.md and docs/families.json, as `lora-compiler survey -o docs/` writes them (slow)."""
    from lora_compiler.features.survey import run_survey
    from lora_compiler.render.survey import document, files

    result = run_survey(None, jobs=2, timeout=180)
    return {f"docs/{name}": text for name, text in files(document(result.versions, result.rows)).items()}


def splice(path: str, name: str, text: str) -> str:
    """The committed file at `path` with the block between its `<!-- generated: NAME -->` and
    `<!-- end generated: NAME -->` lines replaced by `text`: for a generated table inside a written page."""
    start, end = f"<!-- generated: {name} -->\n", f"<!-- end generated: {name} -->"
    page = (REPO / path).read_text()
    head, found, rest = page.partition(start)
    if not found or end not in rest:
        raise ValueError(f"{path}: no '{start.strip()}' ... '{end}' block")
    return head + start + text.rstrip("\n") + "\n" + end + rest.partition(end)[2]


def releases() -> Files:
    """The constraints files and the table of docs/axolotl-releases.md, from the release profiles."""
    from lora_compiler.profiles.texts import constraints_files, docs_table

    return {
        **constraints_files(),
        "docs/axolotl-releases.md": splice("docs/axolotl-releases.md", "releases", docs_table()),
    }


def inventory() -> Files:
    """docs/axolotl-inventory.md: every Axolotl start-up check of every release and the rule that mirrors it."""
    from lora_compiler.rules.axolotl.inventory import page

    return {"docs/axolotl-inventory.md": page()}


def devices() -> Files:
    """The table of training devices in docs/configuration.md, from lora_compiler/devices.py."""
    from lora_compiler.devices import DEVICES, MIB

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    rows = ["| name | also | compute capability | bf16 | tf32 | fp8 | memory |", "|---|---|---|---|---|---|---|"]
    for d in DEVICES:
        also = ", ".join(f"`{a}`" for a in d.aliases)
        bf16 = yes(d.bf16) + (" (emulated)" if d.sm is not None and d.sm < 80 else "")
        memory = f"{d.memory // MIB:,} MiB" if d.memory else "none"
        rows.append(
            f"| `{d.name}` | {also} | {d.compute_capability or 'none'} | {bf16} | {yes(d.tf32)} | {yes(d.fp8)} | {memory} |"
        )
    return {"docs/configuration.md": splice("docs/configuration.md", "devices", "\n".join(rows))}


# (name, function, in the default run). Kept in step with the code by tests/structure/test_generated.py.
GENERATORS: list[tuple[str, Callable[[], Files], bool]] = [
    ("rules", rules_pages, True),
    ("schema", adapter_schema, True),
    ("survey", survey, False),
    ("releases", releases, True),
    ("inventory", inventory, True),
    ("devices", devices, True),
]


def generated(with_survey: bool = False) -> Files:
    """Every generated file's text, as the code makes it now."""
    out: Files = {}
    for _name, make, default in GENERATORS:
        if default or with_survey:
            out.update(make())
    return out


def stale(files: Files) -> list[str]:
    """The paths whose committed text differs from `files` (or that are missing)."""
    return sorted(p for p, text in files.items() if not (REPO / p).is_file() or (REPO / p).read_text() != text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is stale")
    parser.add_argument("--survey", action="store_true", help="also the architecture survey (about 2 minutes)")
    args = parser.parse_args(argv)
    files = generated(args.survey)
    old = stale(files)
    if args.check:
        for path in old:
            print(f"stale: {path}", file=sys.stderr)
        if old:
            print("regenerate with: python scripts/generate.py", file=sys.stderr)
        return 1 if old else 0
    for path in old:
        target = REPO / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
