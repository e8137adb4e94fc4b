"""The training devices a run can declare (`--gpu NAME`, `[tool.lora-compiler] gpu`), as data.

Axolotl judges some settings against the GPU it starts on (cli/config.py gpu_capabilities: bf16, fp8, tf32,
the compute capability and WORLD_SIZE as n_gpu); lint has no GPU, so those checks run only against a declared
device. A leaf module (it imports nothing of the package), so rules, the engine, the CLI and the memory stage
can all read one table. `parse("8xH100")` is eight H100s: the count is Axolotl's n_gpu.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


class DeviceError(ValueError):
    pass


@dataclass(frozen=True)
class Device:
    name: str
    compute_capability: str | None  # "sm_90", as Axolotl writes it; None: no CUDA device (cpu)
    memory: int | None  # bytes, the total nvidia-smi reports; None: cpu (host memory is not the device's)
    aliases: tuple[str, ...] = ()

    @property
    def sm(self) -> int | None:
        """90 for sm_90."""
        return int(self.compute_capability[3:]) if self.compute_capability else None

    @property
    def bf16(self) -> bool:
        """What Axolotl's probe reports (transformers' is_torch_bf16_gpu_available): torch counts emulated bf16, so
        every CUDA device the release's torch builds for says yes, pre-Ampere ones (T4) included."""
        return self.sm is not None

    @property
    def tf32(self) -> bool:
        """transformers' is_torch_tf32_available: compute capability 8.0 or above (Ampere)."""
        return self.sm is not None and self.sm >= 80

    @property
    def fp8(self) -> bool:
        """Axolotl's compute_supports_fp8: compute capability 9.0 or above (Ada's fp8 units are not counted)."""
        return self.sm is not None and self.sm >= 90


DEVICES: tuple[Device, ...] = (
    Device("H100", "sm_90", 81559 * MIB, ("h100-80gb", "h100-sxm", "h100-pcie")),
    Device("H200", "sm_90", 143771 * MIB, ("h200-141gb",)),
    Device("A100-40GB", "sm_80", 40960 * MIB, ("a100-40g",)),
    Device("A100-80GB", "sm_80", 81920 * MIB, ("a100-80g",)),
    Device("L40S", "sm_89", 46068 * MIB, ()),
    Device("L4", "sm_89", 23034 * MIB, ()),
    Device("A10G", "sm_86", 23028 * MIB, ()),
    Device("RTX-4090", "sm_89", 24564 * MIB, ("4090", "geforce-rtx-4090")),
    Device("RTX-3090", "sm_86", 24576 * MIB, ("3090", "geforce-rtx-3090")),
    Device("T4", "sm_75", 15360 * MIB, ("tesla-t4",)),
    Device("cpu", None, None),
)


def _key(text: str) -> str:
    """Names compare without case, spaces, dashes or underscores: "rtx_4090" is "RTX-4090"."""
    return re.sub(r"[\s_-]+", "", text.lower())


_BY_KEY = {_key(alias): d for d in DEVICES for alias in (d.name, *d.aliases)}
_COUNT = re.compile(r"^\s*(\d+)\s*[x×*]\s*(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Hardware:
    """What a run trains on: `count` of one device."""

    device: Device
    count: int = 1

    def __str__(self) -> str:
        return self.device.name if self.count == 1 else f"{self.count}x{self.device.name}"

    def capabilities(self) -> dict[str, Any]:
        """The `capabilities` mapping Axolotl's validate_config receives (GPUCapabilities)."""
        d = self.device
        return {
            "bf16": d.bf16,
            "fp8": d.fp8,
            "tf32": d.tf32,
            "n_gpu": self.count,
            "n_node": 1,
            "compute_capability": d.compute_capability,
        }


def names() -> list[str]:
    return [d.name for d in DEVICES]


def parse(text: str) -> Hardware:
    """ "H100", "a100-80gb", "8xH100" or "8 x H100"; an unknown name or a zero count is a DeviceError."""
    count, name = 1, str(text).strip()
    counted = _COUNT.match(name)
    if counted:
        count, name = int(counted.group(1)), counted.group(2).strip()
    device = _BY_KEY.get(_key(name))
    if device is None:
        hint = " (A100-40GB or A100-80GB)" if _key(name) == "a100" else ""
        raise DeviceError(f"unknown device {text!r}{hint}: lora-compiler knows {', '.join(names())}")
    if count < 1:
        raise DeviceError(f"{text!r}: the device count must be at least 1")
    if device.sm is None and count != 1:
        raise DeviceError(f"{text!r}: cpu takes no count")
    return Hardware(device, count)
