"""The round-trip table: compile each YAML once, export it for every trainer, and count what happened.

    python scripts/export_roundtrip.py CONFIG_OR_DIR ... [--md OUT.md] [--json OUT.json]

Per trainer: exported (written), of those faithful (no export-lossy finding) and lossy; refused (nothing
written), with the refusing messages counted; configs that do not compile are listed apart. Every export
is judged on the meta skeleton before it counts as written (export/check.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from lora_compiler.api import _compile, _export, collect_configs
from lora_compiler.export import TRAINERS
from lora_compiler.pipeline.document import load_file
from lora_compiler.pipeline.options import Options
from lora_compiler.pipeline.session import Session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--md")
    parser.add_argument("--json")
    args = parser.parse_args()
    options, session = Options(offline=True), Session()
    rows: dict[str, dict] = {}
    for path in collect_configs(args.paths):
        doc = load_file(path)
        result = _compile(doc, options, session)
        if result.exit_code() != 0 or result.report is None:
            rows[str(path)] = {"compiled": False, "why": sorted({f.rule for f in result.findings
                                                                  if f.severity.value == "error"})}
            continue
        row = {"compiled": True, "exports": {}}
        for name in TRAINERS:
            done = _export(doc, options, session, result, name, None)
            row["exports"][name] = {
                "written": done.text is not None,
                "findings": [[f.rule, f.severity.value, f.message] for f in done.findings if f.rule.startswith("export")]}
        rows[str(path)] = row
        print(path, " ".join(f"{n}={'ok' if e['written'] else 'refused'}" for n, e in row["exports"].items()),
              file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    text = table(rows)
    if args.md:
        Path(args.md).write_text(text)
    print(text)


def table(rows: dict[str, dict]) -> str:
    compiled = [r for r in rows.values() if r["compiled"]]
    lines = [f"{len(rows)} configs, {len(compiled)} compiled (the others are not exported: "
             + ", ".join(f"{k} {v}" for k, v in Counter(w for r in rows.values() if not r["compiled"]
                                                        for w in r["why"] or ["?"]).most_common()) + ")", "",
             "| trainer | exported | faithful | lossy | refused |", "|---|---|---|---|---|"]
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
    message = message.split(":")[0]
    return re.sub(r"\(.*?\)|'[^']*'|\d+", "N", message).strip()


if __name__ == "__main__":
    main()
