"""Plain text for people: `path:line:col: level [rule] message`, then a short compile summary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..results.findings import Finding
from ..results.parts import AdapterFile, DeviceRow, ShardingRecord, StaticMemory

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
    lines.append(
        f"  wrapped modules: {len(report.modules)}"
        + (f", modules_to_save: {len(report.modules_to_save)}" if report.modules_to_save else "")
    )
    lines.append(
        f"  trainable params: {report.trainable_params:,} of {report.all_params:,} ({report.trainable_percent:.4f}%)"
    )
    if report.adapter_file is not None:
        lines.append(f"  adapter file: {adapter_file_text(report.adapter_file)}")
    if report.static_memory is not None:
        lines.append(f"  static memory: {memory_text(report.static_memory)}")
    if report.freezing is not None:
        lines.append(
            f"    after Axolotl's post-load freezing; PEFT leaves {report.peft_trainable_params:,} trainable ("
            + ", ".join(
                f"{g.group} {g.trained:,} of {g.peft_trainable:,}"
                for g in report.freezing.groups
                if g.trained or g.peft_trainable
            )
            + ")"
        )
    return out + "\n".join(lines) + "\n"


def adapter_file_text(info: AdapterFile) -> str:
    """'45,118,424 bytes (43.0 MiB, 224 tensors: F32)', or why the size is unknown."""
    if info.bytes is None:
        return f"size unknown ({info.unknown_because})"
    return (
        f"{info.bytes:,} bytes ({info.bytes / 2**20:.1f} MiB, {info.tensors} tensors: "
        f"{', '.join(info.data_bytes or ())}), as adapter_model.safetensors"
    )


def size_text(n: int | None) -> str:
    """Decimal units, so that a tiny test model does not read as 0.00 GB: '335.2 kB', '9.15 GB'."""
    if n is None:
        return "unknown"
    unit, scale = next(((u, s) for u, s in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)) if n >= s), ("bytes", 1))
    return f"{n:,} bytes" if scale == 1 else f"{n / scale:,.2f} {unit}"


def memory_text(memory: StaticMemory) -> str:
    """'9.15 GB (base weights 7.80 GB, trainable 336.00 MB, gradients 336.00 MB, adamw_torch_fused 672.00 MB);
    static: excludes activations', then what one device holds where the YAML shards."""
    state = size_text(memory.optimizer_state) if memory.optimizer_state is not None else "not modelled"
    return (
        f"{size_text(memory.total)} (base weights {size_text(memory.base_weights)}, trainable "
        f"{size_text(memory.trainable)}, gradients {size_text(memory.gradients)}, {memory.optimizer} "
        f"{state}); {memory.label}"
        + "".join(f"; {n}" for n in memory.notes)
        + (f"; {per_device_text(memory.sharding, memory.per_device or ())}" if memory.sharding else "")
    )


def per_device_text(sharding: ShardingRecord, rows: tuple[DeviceRow, ...]) -> str:
    """'per device under FSDP2 (rank 0): 2 devices 4.61 GB, 8 devices 1.20 GB' with what sits in host memory."""
    head = f"per device under {sharding.by} ({sharding.source}"
    head += ", rank 0)" if sharding.exact else f", rank 0; {sharding.note})" if sharding.note else ", rank 0)"
    if not rows:
        return f"{sharding.by} ({sharding.source}): " + (sharding.note or "nothing sharded, every device holds it all")
    unknown = [p.replace("_", " ") for p in ("base_weights", "optimizer_state") if getattr(rows[0], p) is None]
    if unknown:
        return f"{head}: unknown (not modelled per device: {', '.join(unknown)})"
    parts = [
        f"{r.devices} devices {size_text(r.on_device)}"
        + (f" (+ {size_text(r.on_host)} in host memory)" if r.on_host else "")
        for r in rows
    ]
    return f"{head}: " + ", ".join(parts)
