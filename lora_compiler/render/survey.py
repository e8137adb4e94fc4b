"""The survey as a document (docs/families.json), a page (docs/families.md) and a terminal listing.

Rows are grouped by the set of Axolotl linear names of the language model, so architectures that
share naming (and so share a `lora_target_modules` list) sit together; a family label and a group
title are derived from those names alone. Everything here is pure data work: no torch, and the
Markdown is rendered from the JSON document, so the two published files cannot disagree.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
Doc = dict[str, Any]

SCHEMA = 1
COMMAND = "lora-compiler survey -o docs/"
FILES = ("families.md", "families.json")
_ATTENTION = {"q_proj", "k_proj", "v_proj", "qkv_proj", "query", "key", "value", "q", "k", "v"}
# Family labels, first match wins, from the signature (text-tower Axolotl names) and the row.
FAMILIES: list[tuple[str, Callable[[set[str], Row], bool]]] = [
    ("Conv1D projections (GPT-2 style)", lambda s, r: bool(r["conv1d"])),
    (
        "linear-attention hybrids (in_proj_qkvz, in_proj_a/b, ...)",
        lambda s, r: any(n.startswith("in_proj_") for n in s),
    ),
    ("Mamba hybrids (in_proj/out_proj mixers + attention)", lambda s, r: "in_proj" in s and bool(s & _ATTENTION)),
    ("Mamba mixers (in_proj, x_proj, dt_proj, out_proj)", lambda s, r: bool(s & {"in_proj", "x_proj"})),
    ("MLA projections (q_a/q_b, kv_a/kv_b)", lambda s, r: bool(s & {"q_a_proj", "kv_a_proj_with_mqa"})),
    ("fused query_key_value", lambda s, r: "query_key_value" in s),
    ("fused qkv (qkv_proj, Wqkv, c_attn)", lambda s, r: bool(s & {"qkv_proj", "Wqkv", "c_attn"})),
    ("BERT-style query/key/value", lambda s, r: {"query", "key", "value"} <= s),
    (
        "llama-like q/k/v/o_proj + (gate/)up/down_proj",
        lambda s, r: {"q_proj", "k_proj", "v_proj"} <= s and ({"up_proj", "down_proj"} <= s or "gate_up_proj" in s),
    ),
    ("q/k/v/out_proj + fc1/fc2 (BART, OPT, Whisper)", lambda s, r: {"q_proj", "fc1", "fc2"} <= s),
    (
        "attention only as modules, MoE experts fused",
        lambda s, r: {"q_proj", "k_proj", "v_proj"} <= s and bool(r["fused_experts"]),
    ),
    ("q/k/v projections + other MLP names", lambda s, r: bool(s & _ATTENTION)),
    ("other naming", lambda s, r: True),
]
_STEM_ORDER = ["q", "k", "v", "o", "qkv", "gate", "up", "down", "gate_up", "in", "out", "x", "dt"]


def signature(row: Row) -> list[str]:
    """Axolotl's names that name a module of the language model (not a vision/audio tower or connector)."""
    text = {n for n, v in row["linear"].items() if "text" in v["towers"]}
    return sorted(set(row["axolotl"]["target_modules"]) & text)


def family(row: Row) -> str:
    names = set(signature(row))
    return next(label for label, test in FAMILIES if test(names, row))


def title(names: list[str]) -> str:
    """`{q,k,v,o}_proj in_proj_{a,b}`: *_proj names braced by stem, others by their shared prefix."""
    if not names:
        return "(no Linear names)"
    groups: dict[str, list[str]] = defaultdict(list)  # pattern -> what fills its {}
    for name in names:
        stem, _, last = name.rpartition("_")
        if stem and last == "proj":
            groups["{}_proj"].append(stem)
        else:
            groups[f"{stem}_{{}}" if stem else "{}"].append(last)
    parts = []
    for pattern, members in groups.items():
        members.sort(key=lambda m: (_STEM_ORDER.index(m) if m in _STEM_ORDER else len(_STEM_ORDER), m))
        if len(members) > 1 and pattern != "{}":
            parts.append(pattern.format("{" + ",".join(members) + "}"))
        else:
            parts += [pattern.format(m) for m in members]
    return " ".join(sorted(parts, key=lambda p: (not p.startswith("{"), p)))


def document(versions: dict[str, str], rows: list[Row]) -> Doc:
    """The published document: versions, summary, families -> groups -> model types, and the rows."""
    published = []
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["model_type"]):
        row = dict(row)
        if row["status"] == "ok":
            row["family"], row["group"] = family(row), title(signature(row))
            groups[(row["family"], tuple(signature(row)))].append(row["model_type"])
        published.append(row)
    order = [label for label, _ in FAMILIES]
    families: list[Doc] = []
    for (label, names), members in sorted(groups.items(), key=lambda g: (order.index(g[0][0]), -len(g[1]), g[0][1])):
        if not families or families[-1]["family"] != label:
            families.append({"family": label, "groups": []})
        families[-1]["groups"].append({"group": title(list(names)), "signature": list(names), "model_types": members})
    return {
        "schema": SCHEMA,
        "versions": versions,
        "command": COMMAND,
        "summary": summary(published),
        "families": families,
        "rows": published,
    }


def summary(rows: list[Row]) -> Doc:
    ok = [r for r in rows if r["status"] == "ok"]
    failed: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["status"] != "ok":
            failed[row["failure"]["class"]].append(row["model_type"])
    axolotl = Counter(_outcome(r["axolotl"]) for r in ok)
    return {
        "architectures": len(rows),
        "surveyed": len(ok),
        "failed": {cls: sorted(types) for cls, types in sorted(failed.items())},
        "axolotl": dict(sorted(axolotl.items())),
        "all_linear": dict(sorted(Counter(_outcome(r["all_linear"]) for r in ok).items())),
        "conventions_differ": sorted(r["model_type"] for r in ok if _differ(r)),
        "towers_hit": sorted(r["model_type"] for r in ok if r["axolotl"].get("towers")),
        "fused_experts": sorted(r["model_type"] for r in ok if r["fused_experts"]),
        "output_collision": sorted(r["model_type"] for r in ok if r["output_collision"]),
    }


def _outcome(conv: Row) -> str:
    if conv.get("error"):
        return "selects nothing" if conv["error"].startswith("lora_target_linear finds no") else "PEFT refuses"
    return "applies"


def _differ(row: Row) -> bool:
    a, b = row["axolotl"], row["all_linear"]
    keys = ("wrapped", "wrapped_names", "target_parameters", "error")
    return any(a.get(k) != b.get(k) for k in keys)


# --- formats -------------------------------------------------------------------------------------


def render_json(doc: Doc) -> str:
    """Indented, except that each row (and each group) is one line: a changed architecture is a one-line diff."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = ["{"]
    for key, value in doc.items():
        if isinstance(value, dict):
            inner = ",\n".join(f"  {compact(k)}: {compact(v)}" for k, v in value.items())
            lines.append(f" {compact(key)}: {{\n{inner}\n }},")
        elif key not in ("families", "rows"):
            lines.append(f" {compact(key)}: {compact(value)},")
    lines.append(' "families": [')
    for i, fam in enumerate(doc["families"]):
        groups = ",\n".join(f"    {compact(g)}" for g in fam["groups"])
        end = "," if i < len(doc["families"]) - 1 else ""
        lines.append(f'  {{"family": {compact(fam["family"])}, "groups": [\n{groups}\n  ]}}{end}')
    lines.append(" ],")
    lines.append(' "rows": [')
    lines.append(",\n".join(f"  {compact(row)}" for row in doc["rows"]))
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


def render_text(doc: Doc) -> str:
    """One line per architecture, then the summary."""
    lines = []
    for row in doc["rows"]:
        if row["status"] != "ok":
            lines.append(f"{row['model_type']}: FAILED [{row['failure']['class']}] {row['failure']['reason']}")
            continue
        lines.append(f"{row['model_type']}: {row['architecture']} ({row['group']})")
        lines.append(f"  axolotl:    {_convention(row['axolotl'])}")
        lines.append(f"  all-linear: {_convention(row['all_linear'])}")
        lines += [f"  note: {note}" for note in _notes(row)]
    s = doc["summary"]
    failed = ", ".join(f"{len(v)} {k}" for k, v in s["failed"].items()) or "none"
    lines.append(f"{s['surveyed']} of {s['architectures']} architectures surveyed; failed: {failed}")
    return "\n".join(lines) + "\n"


def render_markdown(doc: Doc) -> str:
    v, s = doc["versions"], doc["summary"]
    out = [
        "# LoRA target families of every causal-LM and image-text-to-text architecture",
        "",
        f"Generated by `{doc['command']}` with transformers {v['transformers']}, peft {v['peft']}, "
        f"torch {v['torch']}, Axolotl {v['axolotl']}'s rules; do not edit by hand. Data: [`families.json`](families.json).",
        "",
        "Each architecture is transformers' default config for its model type, shrunk to a few layers that "
        "keep every layer kind, built on the meta device with the class Axolotl would load "
        "(image-text-to-text for types in that mapping). `lora_target_linear` is resolved two ways: "
        "**Axolotl** (the last name of every Linear, minus its output-layer name, applied through "
        "`target_modules`) and PEFT's **all-linear** (every Linear/Conv1D path but the output layer). "
        "Counts are for the shrunk model; `×n` is modules per layer where it is not 1.",
        "",
        f"**{s['surveyed']} of {s['architectures']}** architectures surveyed. Axolotl's names: "
        + ", ".join(f"{n} {k}" for k, n in s["axolotl"].items())
        + ". All-linear: "
        + ", ".join(f"{n} {k}" for k, n in s["all_linear"].items())
        + f". The two differ on {len(s['conventions_differ'])}. Axolotl's names reach a vision/audio tower or "
        f"connector on {len(s['towers_hit'])}; {len(s['fused_experts'])} keep MoE experts as fused 3D "
        "parameters, which no `target_modules` name reaches (PEFT turns some expert names into "
        f"`target_parameters`); the output layer collides with Axolotl's names on {len(s['output_collision'])}.",
        "",
    ]
    if s["failed"]:
        out += ["## Not surveyed", "", "| model type | class | reason |", "|---|---|---|"]
        out += [
            f"| `{r['model_type']}` | {r['failure']['class']} | {_cell(r['failure']['reason'])} |"
            for r in doc["rows"]
            if r["status"] != "ok"
        ]
        out.append("")
    rows = {r["model_type"]: r for r in doc["rows"]}
    for fam in doc["families"]:
        out += [f"## {fam['family']}", ""]
        for group in fam["groups"]:
            out += [
                f"### `{group['group']}`",
                "",
                "| model type | class | Axolotl | all-linear | other towers | notes |",
                "|---|---|---|---|---|---|",
            ]
            out += [_md_row(rows[t]) for t in group["model_types"]]
            out.append("")
    return "\n".join(out)


def _md_row(row: Row) -> str:
    per_layer = " ".join(f"{n}×{v['per_layer']}" for n, v in row["linear"].items() if v["per_layer"] > 1)
    others = defaultdict(list)
    for name, v in row["linear"].items():
        for tower in v["towers"]:
            if tower != "text":
                others[tower].append(name)
    towers = "; ".join(f"{t}: {', '.join(n)}" for t, n in sorted(others.items()))
    notes = ([f"per layer: {per_layer}"] if per_layer else []) + _notes(row)
    return (
        f"| `{row['model_type']}` | {row['architecture']} | {_cell(_convention(row['axolotl']))} | "
        f"{_cell(_convention(row['all_linear']))} | {_cell(towers)} | {_cell('; '.join(notes))} |"
    )


def _convention(conv: Row, width: int = 160) -> str:
    if conv.get("error"):
        error = conv["error"] if len(conv["error"]) <= width else conv["error"][: width - 1] + "…"
        return f"error: {error}"
    text = f"{conv['wrapped']} modules"
    if conv.get("wrapped_parameters"):
        text += f" + {conv['wrapped_parameters']} expert parameters ({', '.join(conv['target_parameters'])})"
    if conv["towers"]:
        text += f"; hits {', '.join(conv['towers'])}"
    if conv["unadapted"]:
        text += f"; leaves out {', '.join(conv['unadapted'])}"
    return text


def _notes(row: Row) -> list[str]:
    notes = []
    if row["fused_experts"]:
        reached = any(row[c].get("wrapped_parameters") for c in ("axolotl", "all_linear"))
        notes.append(
            f"fused experts: {', '.join(row['fused_experts'])}"
            + ("" if reached else " (out of reach of both conventions)")
        )
    if row["output_collision"]:
        notes.append(row["output_collision"])
    if row["name_clashes"]:
        notes.append(
            "names also ending non-Linear modules: "
            + ", ".join(f"{n} ({', '.join(c)})" for n, c in row["name_clashes"].items())
        )
    if row["config"] != "shrunk" or row["repaired"]:
        notes.append(f"config {row['config']}" + (f", set {', '.join(row['repaired'])}" if row["repaired"] else ""))
    return notes


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def files(doc: Doc) -> dict[str, str]:
    """The two published files, by name."""
    return {"families.md": render_markdown(doc), "families.json": render_json(doc)}


FORMATS: dict[str, Callable[[Doc], str]] = {"text": render_text, "json": render_json, "md": render_markdown}
