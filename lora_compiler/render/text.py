"""Plain text for people: `path:line:col: level [rule] message`, then a short compile summary."""

from __future__ import annotations

from typing import Any, Iterable

from ..results.findings import Finding

_COLORS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"


def render_finding(f: Finding, color: bool = False) -> str:
    level = f.severity.value
    if color:
        level = f"{_COLORS[level]}{level}{_RESET}"
    line = f"{f.location}: {level} [{f.rule}] {f.message}"
    return line + (f"\n    hint: {f.hint}" if f.hint else "")


def render_findings(findings: Iterable[Finding], color: bool = False) -> str:
    return "".join(render_finding(f, color) + "\n" for f in findings)


def render_compile(result: Any, color: bool = False) -> str:
    out = render_findings(result.findings, color)
    report = result.report
    if report is None or result.lora_config is None:
        return out
    targets = report.target_modules if isinstance(report.target_modules, str) else ", ".join(report.target_modules)
    lines = [
        f"{report.model.base_model}: {report.model.architecture} ({report.model.config_source} config, "
        f"{report.model.num_parameters:,} params)",
        f"  target_modules: {targets or '-'}",
    ]
    if report.effective_target_parameters:
        lines.append(f"  target_parameters (as PEFT applied them): {', '.join(report.effective_target_parameters)}")
    lines.append(f"  wrapped modules: {len(report.modules)}"
                 + (f", modules_to_save: {len(report.modules_to_save)}" if report.modules_to_save else ""))
    lines.append(f"  trainable params: {report.trainable_params:,} of {report.all_params:,} "
                 f"({report.trainable_percent:.4f}%)")
    if report.adapter_file is not None:
        lines.append(f"  adapter file: {adapter_file_text(report.adapter_file)}")
    if report.static_memory is not None:
        lines.append(f"  static memory: {memory_text(report.static_memory)}")
    if report.freezing is not None:
        lines.append(f"    after Axolotl's post-load freezing; PEFT leaves {report.peft_trainable_params:,} trainable ("
                     + ", ".join(f"{g['group']} {g['trained']:,} of {g['peft_trainable']:,}"
                                 for g in report.freezing["groups"] if g["trained"] or g["peft_trainable"]) + ")")
    return out + "\n".join(lines) + "\n"


def adapter_file_text(info: dict) -> str:
    """'45,118,424 bytes (43.0 MiB, 224 tensors: F32)', or why the size is unknown."""
    if info.get("bytes") is None:
        return f"size unknown ({info['unknown_because']})"
    return (f"{info['bytes']:,} bytes ({info['bytes'] / 2 ** 20:.1f} MiB, {info['tensors']} tensors: "
            f"{', '.join(info['data_bytes'])}), as adapter_model.safetensors")


def memory_text(memory: dict) -> str:
    """'9.15 GB (base weights 7.80 GB, trainable 0.34 GB, gradients 0.34 GB, adamw_torch_fused 0.67 GB);
    static: excludes activations'."""
    gb = lambda n: f"{n / 1e9:,.2f} GB"  # noqa: E731
    state = gb(memory["optimizer_state"]) if memory["optimizer_state"] is not None else "not modelled"
    total = gb(memory["total"]) if memory["total"] is not None else "unknown"
    return (f"{total} (base weights {gb(memory['base_weights'])}, trainable {gb(memory['trainable'])}, gradients "
            f"{gb(memory['gradients'])}, {memory['optimizer']} {state}); {memory['label']}"
            + "".join(f"; {n}" for n in memory["notes"]))

