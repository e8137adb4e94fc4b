"""report.md: the targets report for a person, in GitHub-flavoured markdown."""

from __future__ import annotations

import json
from typing import Any

from ..results.layermap import build_layer_map, legend, text_grid
from ..results.parts import AxolotlRecord, Coverage
from ..results.report import Report, suffix_table
from .text import adapter_file_text, memory_text, size_text

WIDTH = 120  # the widest line a pull-request comment shows without scrolling


def _n(value: int) -> str:
    return f"{value:,}"


def _names(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return f"`{value}` (regex)"
    return ", ".join(f"`{v}`" for v in value) or "—"


def profile_line(axolotl: AxolotlRecord | None) -> str:
    """The profile record in one line: which release, chosen how, released with which libraries."""
    if not axolotl:
        return "not recorded"
    installed = axolotl.installed_axolotl
    return (
        f"{axolotl.version} ({axolotl.chosen_by}; released with transformers "
        f"{axolotl.released_with.transformers}, peft {axolotl.released_with.peft}"
        + (f"; axolotl {installed} installed" if installed else "")
        + ")"
    )


def verdict(report: Report) -> str:
    """The answers first: findings by level, what is trained, what the adapter file weighs."""
    counts = {level: sum(f.severity.value == level for f in report.findings) for level in ("error", "warning", "info")}
    said = ", ".join(f"{n} {level}{'s' if n != 1 and level != 'info' else ''}" for level, n in counts.items())
    parts = [
        f"**{'Fails' if counts['error'] else 'Passes'}** ({said})",
        f"trains {_n(report.trainable_params)} of {_n(report.all_params)} parameters ({report.trainable_percent:.4f}%)",
    ]
    size = report.adapter_file.bytes if report.adapter_file else None
    if size is not None:
        parts.append(f"adapter file {_n(size)} bytes ({size / 2**20:,.1f} MiB)")
    memory = report.static_memory
    if memory and memory.total is not None:
        parts.append(f"static memory {size_text(memory.total)} (excludes activations)")
    busiest = memory.per_device[-1] if memory and memory.sharding and memory.per_device else None
    if memory and memory.sharding and busiest and busiest.on_device is not None:
        parts.append(f"{size_text(busiest.on_device)} per device, {busiest.devices} devices ({memory.sharding.by})")
    return " · ".join(parts)


def rank_notes(report: Report) -> list[str]:
    """Ranks PEFT set that the YAML did not: a fused gate_up_proj PEFT made of gate_proj + up_proj targets holds
    both halves, and PEFT gives it twice the rank to hold both."""
    asked = {m.r for m in report.modules if m.kind == "module"}
    out = []
    for name in sorted({m.suffix for m in report.modules if m.kind == "parameter"}):
        ranks = sorted({m.r for m in report.modules if m.kind == "parameter" and m.name.endswith(name)})
        if asked and ranks and min(ranks) > max(asked):
            why = (
                " (PEFT fused the gate_proj and up_proj targets into it and doubled the rank to hold both)"
                if name == "gate_up_proj" and report.effective_target_parameters and not report.target_parameters
                else ""
            )
            out.append(f"rank PEFT gives `{name}`: {', '.join(map(str, ranks))}{why}")
    return out


def render_markdown(report: Report) -> str:
    model = report.model
    env = report.environment
    lines = [
        f"# LoRA targets: {model.base_model}",
        "",
        verdict(report),
        "",
        f"- Config: `{report.file or '<mapping>'}` (adapter: {report.adapter})",
        f"- Model: {model.architecture} (model_type `{model.model_type}`, loaded as {model.loader}, "
        f"config from {model.config_source}), {model.num_hidden_layers} layers, "
        f"{_n(model.num_parameters)} parameters" + (", multimodal" if model.is_multimodal else ""),
        f"- Versions: torch {env.get('torch')}, transformers {env.get('transformers')}, peft {env.get('peft')}, "
        f"lora-compiler {env.get('lora_compiler')}",
        f"- Axolotl semantics: {profile_line(report.axolotl)}",
        "",
        "## Findings",
        "",
    ]
    if not report.findings:
        lines.append("None.")
    for f in report.findings:
        where = f"{f.file}:{f.line}" if f.line else (f.file or "")
        hint = f" — {f.hint}" if f.hint else ""
        lines.append(f"- **{f.severity.value}** [{f.rule}] {where}: {f.message}{hint}")
    lines += [
        "",
        "## Targets",
        "",
        f"- target_modules: {_names(report.target_modules)}",
        f"- found by lora_target_linear: {_names(report.linear_names)}",
    ]
    if report.target_parameters:
        lines.append(f"- target_parameters: {_names(report.target_parameters)}")
    if report.effective_target_parameters and not report.target_parameters and not report.peft_rewrites:
        lines.append(
            f"- PEFT rewrote expert targets into target_parameters: {_names(report.effective_target_parameters)}"
        )
    lines += [f"- {note}" for note in rank_notes(report)]
    lines += ["", "| module | count | shape (in x out) | r / alpha | LoRA params |", "|---|---:|---|---|---:|"]
    for row in suffix_table(report.modules):
        lines.append(
            f"| `{row['suffix']}` | {row['count']} | {', '.join(row['shapes'])} | "
            f"{', '.join(row['ranks'])} | {_n(row['params'])} |"
        )
    extra = [(m, "modules_to_save") for m in report.modules_to_save]
    extra += [(m, "trainable tokens") for m in report.trainable_tokens]
    if extra:
        lines += ["", "| trained in full | kind | type | params |", "|---|---|---|---:|"]
        lines += [f"| `{m.name}` | {kind} | {m.type} | {_n(m.params)} |" for m, kind in extra]
    lines += _rewrites(report)
    lines += _coverage(report.coverage)
    lines += _layer_map(report)
    lines += [
        "",
        "## Totals",
        "",
        f"- wrapped modules: {len(report.modules)}",
        f"- trainable parameters: {_n(report.trainable_params)} of {_n(report.all_params)} "
        f"({report.trainable_percent:.4f}%)",
        *([f"- adapter file: {adapter_file_text(report.adapter_file)}"] if report.adapter_file else []),
        *([f"- static memory: {memory_text(report.static_memory)}"] if report.static_memory else []),
        *_freezing(report),
    ]
    return "\n".join(lines) + "\n"


def _layer_map(report: Report) -> list[str]:
    """The layer map as characters in a code block, which a pull-request comment shows unchanged."""
    lmap = build_layer_map(report)
    if not lmap.blocks:
        return []
    key = ", ".join(
        f"`{symbol}` {meaning}" if symbol != "blank" else f"blank: {meaning}" for symbol, meaning in legend(lmap)
    )
    return [
        "",
        "## Layer map",
        "",
        f"One line per module name, one character per layer: {key}.",
        "",
        "```text",
        *fold(text_grid(lmap)),
        "```",
    ]


def fold(grid: list[str], width: int = WIDTH) -> list[str]:
    """The text grid cut into slices of layers no wider than `width` columns, for pull-request comments.

    Each block (title, ruler lines, one line per module) is sliced on the same columns, so rows stay
    aligned; a slice repeats the labels and says which columns of the block it holds."""
    out: list[str] = []
    blocks: list[list[str]] = [[]]
    for line in grid:
        if line == "" and blocks[-1]:
            blocks.append([])
        elif line != "":
            blocks[-1].append(line)
    for block in blocks:
        title, body = block[0], block[1:]
        if max(map(len, block)) <= width or not body:
            out += ["", *block]
            continue
        rulers = [line for line in body if line.startswith(" ")]  # the layer-number lines (tens, units)
        if not rulers:
            out += ["", *block]
            continue
        label = min(len(r) - len(r.lstrip(" ")) for r in rulers)  # rows: their module name padded to this width
        span = width - label
        cells = max(len(line) for line in body) - label
        for start in range(0, cells, span):
            out += ["", f"{title} (columns {start + 1}-{min(start + span, cells)} of {cells})"]
            out += [(line[:label] + line[label + start : label + start + span]).rstrip() for line in body]
    return out[1:]


def _rewrites(report: Report) -> list[str]:
    """The LoraConfig fields PEFT rewrote while injecting: adapter_config.json holds the saved values."""
    if not report.peft_rewrites:
        return []
    lines = [
        "",
        "## PEFT rewrote the LoraConfig",
        "",
        "adapter_config.json holds what the trained adapter saves, not the LoraConfig Axolotl built:",
        "",
        "| field | Axolotl's LoraConfig | saved adapter | why |",
        "|---|---|---|---|",
    ]
    for r in report.peft_rewrites:
        built, saved = (json.dumps(v, sort_keys=False).replace("|", "\\|") for v in (r.built, r.saved))
        lines.append(f"| `{r.field}` | `{built}` | `{saved}` | {r.reason} |")
    return lines


def _freezing(report: Report) -> list[str]:
    """What Axolotl's post-load freezing (unfrozen_parameters, freeze_mm_modules) removed or kept, by group."""
    f = report.freezing
    if not f:
        return []
    lines = [
        f"- PEFT leaves {_n(report.peft_trainable_params)} trainable; Axolotl's post-load freezing keeps "
        f"{_n(report.trainable_params)}:",
        "",
        "| group | PEFT trainable | trained | with gradients |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {g.group} | {_n(g.peft_trainable)} | {_n(g.trained)} | {_n(g.with_gradients)} |"
        for g in f.groups
        if g.peft_trainable or g.trained
    ]
    return lines


def _coverage(cov: Coverage | None) -> list[str]:
    """Per target entry: what it reached, by kind of block, and in how many decoder layers."""
    if not cov or not cov.entries:
        return []
    total = cov.decoder_layers
    lines = [
        "",
        "## Coverage per target",
        "",
        f"{cov.adapted_decoder_layers} of {total if total is not None else '?'} decoder layers hold an adapted module.",
        "",
        "| entry | from | reached | where | decoder layers |",
        "|---|---|---:|---|---:|",
    ]
    for e in cov.entries:
        where = ", ".join(f"{kind} {n}" for kind, n in e.blocks.items()) or "nothing"
        possible = f" of {e.decoder_layers_with_name}" if e.decoder_layers_with_name else ""
        lines.append(f"| `{e.entry}` | {e.key} | {_n(e.reached)} | {where} | {e.decoder_layers}{possible} |")
    return lines
