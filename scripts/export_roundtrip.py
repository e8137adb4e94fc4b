"""The round-trip table: compile each YAML once, export it for every trainer, and count what happened.

    python scripts/export_roundtrip.py CONFIG_OR_DIR ... [--stand-in ID=BUNDLED_ID ...] [--md OUT.md] [--json OUT.json]

Per trainer: exported (written), of those faithful (no export-lossy finding) and lossy; refused (nothing
written), with the refusing messages counted; configs that do not compile are listed apart. Every export
is judged on the meta skeleton before it counts as written (export/check.py). `--stand-in ID=OTHER` compiles
configs whose base_model is ID (not bundled, so not resolvable offline) against OTHER, a bundled model of the
same shape; a config that Axolotl 0.20+ refuse only for FSDP1 is compiled with 0.19's semantics. Both are
counted apart in the table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from lora_compiler.api import _compile, _export, collect_configs
from lora_compiler.engine.options import Options
from lora_compiler.engine.session import Session
from lora_compiler.export import TRAINERS
from lora_compiler.pipeline.document import load_file
from lora_compiler.profiles import RELEASES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--md")
    parser.add_argument("--json")
    parser.add_argument("--stand-in", action="append", default=[], metavar="ID=BUNDLED_ID")
    args = parser.parse_args()
    stand_ins = dict(pair.split("=", 1) for pair in args.stand_in)
    options, session = Options(offline=True), Session()
    rows: dict[str, dict] = {}
    for path in collect_configs(args.paths):
        doc = load_file(path)
        stand_in = stand_ins.get(str(doc.values.get("base_model")))
        opts = replace(options, model=stand_in) if stand_in else options
        result = _compile(doc, opts, session)
        release = None
        if _only(result, "axolotl-fsdp1-removed"):  # valid for the newest release that still had FSDP1: export that
            release = next(p.version for p in reversed(RELEASES) if "axolotl-fsdp1-removed" not in p.validators)
            opts = replace(opts, axolotl=release)
            result = _compile(doc, opts, session)
        if result.exit_code() != 0 or result.report is None:
            rows[str(path)] = {
                "compiled": False,
                "why": sorted({f.rule for f in result.findings if f.severity.value == "error"}),
            }
            continue
        row = {"compiled": True, "stand_in": stand_in, "axolotl": release, "exports": {}}
        for name in TRAINERS:
            done = _export(doc, opts, session, result, name, None)
            row["exports"][name] = {
                "written": done.text is not None,
                "findings": [
                    [f.rule, f.severity.value, f.message] for f in done.findings if f.rule.startswith("export")
                ],
            }
        rows[str(path)] = row
        print(
            path,
            " ".join(f"{n}={'ok' if e['written'] else 'refused'}" for n, e in row["exports"].items()),
            file=sys.stderr,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    text = table(rows)
    if args.md:
        Path(args.md).write_text(text)
    print(text)


def _only(result, rule: str) -> bool:
    return {f.rule for f in result.findings if f.severity.value == "error"} == {rule}


def table(rows: dict[str, dict]) -> str:
    compiled = [r for r in rows.values() if r["compiled"]]
    stood = sum(1 for r in compiled if r.get("stand_in"))
    older = sum(1 for r in compiled if r.get("axolotl"))
    lines = [
        f"{len(rows)} configs, {len(compiled)} compiled ({stood} on a stand-in of the same shape, {older} with "
        "Axolotl 0.19's semantics because 0.20+ refuse them only for FSDP1; the others are not exported: "
        + ", ".join(
            f"{k} {v}"
            for k, v in Counter(w for r in rows.values() if not r["compiled"] for w in r["why"] or ["?"]).most_common()
        )
        + ")",
        "",
        "| trainer | exported | faithful | lossy | refused |",
        "|---|---|---|---|---|",
    ]
    reasons: dict[str, Counter] = {}
    for name in TRAINERS:
        written = [r["exports"][name] for r in compiled if r["exports"][name]["written"]]
        lossy = [e for e in written if any(f[0] == "export-lossy" for f in e["findings"])]
        refused = [r["exports"][name] for r in compiled if not r["exports"][name]["written"]]
        reasons[name] = Counter(_gist(f[2]) for e in refused for f in e["findings"] if f[1] == "error")
        reasons[name].update("lossy: " + _gist(f[2]) for e in lossy for f in e["findings"] if f[0] == "export-lossy")
        lines.append(f"| {name} | {len(written)} | {len(written) - len(lossy)} | {len(lossy)} | {len(refused)} |")
    lines += ["", "Findings behind the lossy and refused counts (one config can have several):", ""]
    for name, counts in reasons.items():
        if counts:
            lines.append(f"- **{name}**: " + "; ".join(f"{why} ({n})" for why, n in counts.most_common()))
    return "\n".join(lines) + "\n"


def _gist(message: str) -> str:
    """A message without the values that make each one unique (names, numbers, lists)."""
    message = message.split(":")[0].split(" (")[0]
    return re.sub(r"'[^']*'|\d+(\.\d+)*", "N", message).strip()


if __name__ == "__main__":
    main()
