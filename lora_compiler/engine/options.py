"""What a run was asked to do, kept apart from the pipeline so light commands need not import it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..devices import Hardware
from .policy import Policy


@dataclass(frozen=True)
class Options:
    offline: bool = False
    allow_remote_code: bool = False
    model: str | None = None  # compile against this base model instead of the YAML's (diff --model)
    no_model: bool = False  # stop after the YAML-only rules (lint --no-model): no torch import
    serve: str | None = None  # serving engine to check: "vllm", "sglang@0.5.23" (--serve; serving.resolve)
    axolotl: str | None = None  # the Axolotl release whose semantics apply (--axolotl); see profiles.select
    devices: tuple[int, ...] = ()  # --devices: device counts for per-device memory (default: the policy's)
    gpu: Hardware | None = None  # --gpu: the training device hardware checks judge (default: the policy's)
    policy: Policy = field(default_factory=Policy)
