"""report.md: the targets report for a person, in GitHub-flavoured markdown."""

from __future__ import annotations

from typing import Any

from ..results.layermap import build_layer_map, legend, text_grid
from ..results.report import suffix_table
from .text import adapter_file_text


def _n(value: int) -> str:
    return f"{value:,}"


def _names(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return f"`{value}` (regex)"
    return ", ".join(f"`{v}`" for v in value) or "—"


def profile_line(axolotl: dict[str, Any] | None) -> str:
    """The profile record in one line: which release, chosen how, released with which libraries."""
    if not axolotl:
        return "not recorded"
    installed = axolotl.get("installed_axolotl")
    return (f"{axolotl['version']} ({axolotl['chosen_by']}; released with transformers "
            f"{axolotl['released_with']['transformers']}, peft {axolotl['released_with']['peft']}"
            + (f"; axolotl {installed} installed" if installed else "") + ")")


def render_markdown(report: dict[str, Any]) -> str:
    model = report["model"]
    env = report["environment"]
    lines = [
        f"# LoRA targets: {model['base_model']}",
        "",
        f"- Config: `{report['file'] or '<mapping>'}` (adapter: {report['adapter']})",
        f"- Model: {model['architecture']} (model_type `{model['model_type']}`, loaded as {model['loader']}, "
        f"config from {model['config_source']}), {model['num_hidden_layers']} layers, "
        f"{_n(model['num_parameters'])} parameters" + (", multimodal" if model["is_multimodal"] else ""),
        f"- Versions: torch {env['torch']}, transformers {env['transformers']}, peft {env['peft']}, "
        f"lora-compiler {env['lora_compiler']}",
        f"- Axolotl semantics: {profile_line(report.get('axolotl'))}",
        "",
        "## Targets",
        "",
        f"- target_modules: {_names(report['target_modules'])}",
        f"- found by lora_target_linear: {_names(report['linear_names'])}",
    ]
    if report["target_parameters"]:
        lines.append(f"- target_parameters: {_names(report['target_parameters'])}")
    if report["effective_target_parameters"] and not report["target_parameters"]:
        lines.append(f"- PEFT rewrote expert targets into target_parameters: {_names(report['effective_target_parameters'])}")
    lines += ["", "| module | count | shape (in x out) | r / alpha | LoRA params |", "|---|---:|---|---|---:|"]
    for row in suffix_table(report["modules"]):
        lines.append(f"| `{row['suffix']}` | {row['count']} | {', '.join(row['shapes'])} | "
                     f"{', '.join(row['ranks'])} | {_n(row['params'])} |")
    extra = [(m, "modules_to_save") for m in report["modules_to_save"]]
    extra += [(m, "trainable tokens") for m in report["trainable_tokens"]]
    if extra:
        lines += ["", "| trained in full | kind | type | params |", "|---|---|---|---:|"]
        lines += [f"| `{m['name']}` | {kind} | {m['type']} | {_n(m['params'])} |" for m, kind in extra]
    lines += _layer_map(report)
    lines += [
        "",
        "## Totals",
        "",
        f"- wrapped modules: {len(report['modules'])}",
        f"- trainable parameters: {_n(report['trainable_params'])} of {_n(report['all_params'])} "
        f"({report['trainable_percent']:.4f}%)",
        *([f"- adapter file: {adapter_file_text(report['adapter_file'])}"] if report.get("adapter_file") else []),
        *_freezing(report),
        *_coverage(report),
        "",
        "## Findings",
        "",
    ]
    if not report["findings"]:
        lines.append("None.")
    for f in report["findings"]:
        where = f"{f['file']}:{f['line']}" if f["line"] else (f["file"] or "")
        hint = f" — {f['hint']}" if f.get("hint") else ""
        lines.append(f"- **{f['severity']}** [{f['rule']}] {where}: {f['message']}{hint}")
    return "\n".join(lines) + "\n"


def _layer_map(report: dict[str, Any]) -> list[str]:
    """The layer map as characters in a code block, which a pull-request comment shows unchanged."""
    lmap = build_layer_map(report)
    if not lmap.blocks:
        return []
    key = ", ".join(f"`{symbol}` {meaning}" if symbol != "blank" else f"blank: {meaning}"
                    for symbol, meaning in legend(lmap))
    return ["", "## Layer map", "", f"One line per module name, one character per layer: {key}.", "",
            "```text", *text_grid(lmap), "```"]


def _freezing(report: dict[str, Any]) -> list[str]:
    """What Axolotl's post-load freezing (unfrozen_parameters, freeze_mm_modules) removed or kept, by group."""
    f = report.get("freezing")
    if not f:
        return []
    lines = [f"- PEFT leaves {_n(report['peft_trainable_params'])} trainable; Axolotl's post-load freezing keeps "
             f"{_n(report['trainable_params'])}:", "", "| group | PEFT trainable | trained | with gradients |",
             "|---|---:|---:|---:|"]
    lines += [f"| {g['group']} | {_n(g['peft_trainable'])} | {_n(g['trained'])} | {_n(g['with_gradients'])} |"
              for g in f["groups"] if g["peft_trainable"] or g["trained"]]
    return lines


def _coverage(report: dict[str, Any]) -> list[str]:
    """Per target entry: what it reached, by kind of block, and in how many decoder layers."""
    cov = report.get("coverage")
    if not cov or not cov["entries"]:
        return []
    total = cov["decoder_layers"]
    lines = ["", "## Coverage per target", "",
             f"{cov['adapted_decoder_layers']} of {total if total is not None else '?'} decoder layers hold an "
             "adapted module.", "", "| entry | from | reached | where | decoder layers |", "|---|---|---:|---|---:|"]
    for e in cov["entries"]:
        where = ", ".join(f"{kind} {n}" for kind, n in e["blocks"].items()) or "nothing"
        possible = f" of {e['decoder_layers_with_name']}" if e["decoder_layers_with_name"] else ""
        lines.append(f"| `{e['entry']}` | {e['key']} | {_n(e['reached'])} | {where} | {e['decoder_layers']}{possible} |")
    return lines

