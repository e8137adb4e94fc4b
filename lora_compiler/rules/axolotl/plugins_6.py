"""The expert- and context-parallel plugins' validators: their args are merged while the plugin is listed,
and without it where the release registers the plugin itself (context parallelism 0.20+, expert parallelism
0.21+), so the forms differ by release. The topology check is lora.py's (axolotl-expert-parallel).
"""

from __future__ import annotations

from typing import Any

from ...results.findings import Severity
from .plugins import gated, whole
from .validator import RULES, Found, Validator, Values, mirrored_by, register

EP = "integrations/expert_parallel/args.py:ExpertParallelArgs._validate"
_EP = {"plugins": ["axolotl.integrations.expert_parallel.ExpertParallelPlugin"]}
_EP_FSDP = {"fsdp_version": 2, "fsdp_config": {"state_dict_type": "FULL_STATE_DICT"}}


def _ep(check: Any, built_in: bool) -> Any:
    """An expert_parallel check, run where its args are merged (0.21: built in; before: when listed)."""
    return check if built_in else gated("expert_parallel", check)


def ep_sizes(v: Values) -> Found | None:
    """ExpertParallelArgs._validate's refusals (after: expert_parallel_size defaults to 1)."""
    size, capacity = v.get("expert_parallel_size", 1), v.get("expert_parallel_token_capacity")
    if whole(size) and size < 1:
        message = f"expert_parallel_size must be >= 1 (got {size!r}). Use 1 to disable EP."
        return message, "expert_parallel_size"
    if whole(capacity) and capacity < 1:
        return (
            f"expert_parallel_token_capacity must be >= 1 when set (got {capacity!r}). Use None to disable the cap.",
            "expert_parallel_token_capacity",
        )
    return None


def ep_rdma(v: Values) -> Found | None:
    size, rdma = v.get("expert_parallel_size", 1), v.get("expert_parallel_num_rdma_bytes", 0)
    if whole(size) and size > 1 and whole(rdma) and rdma != 0 and ep_sizes(v) is None:
        return (
            "expert_parallel_num_rdma_bytes != 0 — RDMA path requires Hopper + IBGDA-capable InfiniBand. Will fail "
            "on Ampere/intranode.",
            "expert_parallel_num_rdma_bytes",
        )
    return None


def ep_replicate(v: Values) -> Found | None:
    """0.20's reject_replicate_without_shard_axis (the last step of validate_expert_parallel_topology)."""
    sizes = [v.get(k) or 1 for k in ("expert_parallel_size", "dp_replicate_size", "dp_shard_size")]
    sizes.append(v.get("context_parallel_size") or 1)
    if not all(whole(s) for s in sizes):
        return None
    ep, replicate, shard, cp = sizes
    if ep > 1 and replicate > 1 and shard <= 1 and cp <= 1:
        return (
            f"expert_parallel_size ({ep}) with dp_replicate_size ({replicate}) needs a shard axis inside each replica: "
            "set dp_shard_size > 1 or context_parallel_size > 1.",
            "dp_replicate_size",
        )
    return None


def context_parallel(v: Values) -> Found | None:
    """ContextParallelArgs.sync_context_parallel_size (before), then ContextParallelConfig._validate (after)."""
    block = v.get("context_parallel") or {}
    if not isinstance(block, dict):
        return None
    size, flat = block.get("size"), v.get("context_parallel_size")
    flat = v.get("sequence_parallel_degree") if flat is None else flat
    if size is not None and flat is not None and flat != size:
        message = f"context_parallel.size ({size}) conflicts with context_parallel_size ({flat}); set only one"
        return message, ("context_parallel", "size")
    size = size if size is not None else flat
    if "context_parallel" not in v and size is None:
        return None
    size = 1 if size is None else size
    ulysses, ring, backend = block.get("ulysses_size"), block.get("ring_size"), block.get("backend", "auto")
    if not all(x is None or whole(x) and x >= 1 for x in (size, ulysses, ring)):
        return None  # the field constraints refuse it first (the type rule's)
    for name, degree in (("ulysses_size", ulysses), ("ring_size", ring)):
        if degree is not None and size % degree:
            message = f"{name} ({degree}) must divide context_parallel.size ({size})"
            return message, ("context_parallel", name)
    if backend == "ulysses" and (ring not in (None, 1) or ulysses not in (None, size)):
        return "backend=ulysses requires ring_size=1 and ulysses_size=size", ("context_parallel", "backend")
    if backend == "ring" and (ulysses not in (None, 1) or ring not in (None, size)):
        return "backend=ring requires ulysses_size=1 and ring_size=size", ("context_parallel", "backend")
    if ulysses and ring and ulysses * ring != size:
        message = f"ulysses_size({ulysses}) * ring_size({ring}) != context_parallel.size({size})"
        return message, ("context_parallel", "ring_size")
    return None


VALIDATORS: tuple[Validator, ...] = (
    *(
        Validator(
            "axolotl-expert-parallel-sizes",
            "expert_parallel_size or expert_parallel_token_capacity below 1.",
            EP,
            _ep(ep_sizes, built_in),
            fix="Use expert_parallel_size >= 1 (1 disables EP) and leave expert_parallel_token_capacity unset or >= 1.",
            since=since,
            until=until,
            refused={**_EP, "expert_parallel_size": 0},
            accepted={**_EP, "expert_parallel_size": 1},
        )
        for built_in, since, until in ((False, "0.19.0", "0.21.0"), (True, "0.21.0", None))
    ),
    *(
        Validator(
            "axolotl-expert-parallel-rdma",
            "expert_parallel_num_rdma_bytes set for expert parallelism.",
            EP,
            _ep(ep_rdma, built_in),
            fix="Leave expert_parallel_num_rdma_bytes at 0 unless the nodes are Hopper with IBGDA InfiniBand.",
            level=Severity.WARNING,
            since=since,
            until=until,
            refused={**_EP, **_EP_FSDP, "expert_parallel_size": 2, "expert_parallel_num_rdma_bytes": 1024},
            accepted={**_EP, **_EP_FSDP, "expert_parallel_size": 2},
        )
        for built_in, since, until in ((False, "0.19.0", "0.21.0"), (True, "0.21.0", None))
    ),
    Validator(
        "axolotl-expert-parallel-replicate",
        "expert_parallel_size with dp_replicate_size and no shard axis inside each replica.",
        "integrations/expert_parallel/args.py:reject_replicate_without_shard_axis",
        gated("expert_parallel", ep_replicate),
        fix="Set dp_shard_size > 1 or context_parallel_size > 1 beside dp_replicate_size.",
        since="0.20.0",
        until="0.21.0",
        refused={**_EP, **_EP_FSDP, "expert_parallel_size": 2, "dp_replicate_size": 2},
        accepted={**_EP, **_EP_FSDP, "expert_parallel_size": 2, "dp_replicate_size": 2, "dp_shard_size": 2},
    ),
    Validator(
        "axolotl-context-parallel-degrees",
        "A context_parallel block whose size, ulysses_size, ring_size and backend do not fit together.",
        "integrations/context_parallel/args.py:ContextParallelArgs.sync_context_parallel_size, "
        "integrations/context_parallel/args.py:ContextParallelConfig._validate",
        context_parallel,
        fix="Set the size once (context_parallel.size or context_parallel_size) and make ulysses_size * ring_size "
        "equal it, as the backend requires.",
        since="0.20.0",
        refused={"context_parallel": {"size": 4, "ring_size": 3}},
        accepted={"context_parallel": {"size": 4, "ring_size": 2, "ulysses_size": 2}},
    ),
)

register(VALIDATORS)
# The EP args' after-validator that calls validate_expert_parallel_topology, which lora.py mirrors.
mirrored_by(
    RULES["axolotl-expert-parallel"].id, ["integrations/expert_parallel/args.py:ExpertParallelArgs._validate_topology"]
)
