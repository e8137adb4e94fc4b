"""The front half of the pipeline, one way in: document -> spec -> adapter check -> model source -> skeleton.

compile, lint, diff, the conventions and the runtime `load_lora` all take these
steps from here, so an override (`--model`), a resolution hint or a skeleton-cache key is written
once. Each step returns its value (or None) with the findings that explain a None; nothing raises
for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..pipeline.document import Document
from ..pipeline.source import ModelSource, ResolutionError, resolve
from ..pipeline.spec import AdapterSpec, parse_spec
from ..profiles import PROFILES, Profile, ProfileError, Selection, select
from ..results.findings import Finding
from ..rulebook.pipeline import (
    ADAPTER_MISSING,
    ADAPTER_UNSUPPORTED,
    AXOLOTL_PROFILE_UNKNOWN,
    MODEL_NOT_FOUND,
    MODEL_REVISION_UNVERIFIED,
)
from .options import Options
from .session import Session

SUPPORTED_ADAPTERS = ("lora", "qlora")


@dataclass
class Front:
    """What the front half produced; later fields stay None once a step failed."""

    spec: AdapterSpec | None = None
    source: ModelSource | None = None
    skeleton: Any = None  # skeleton.Skeleton
    key: str | None = None  # the session's key for this skeleton
    selection: Selection | None = None  # the Axolotl release whose semantics apply (profiles.select)
    findings: list[Finding] = field(default_factory=list)


def spec_of(doc: Document, options: Options) -> tuple[AdapterSpec | None, list[Finding]]:
    """The validated spec, with `options.model` standing in for the YAML's base model."""
    spec, problems = parse_spec(doc)
    if spec is not None and options.model:
        spec = spec.model_copy(update={"base_model": options.model, "base_model_config": None})
    return spec, problems


def adapter_findings(doc: Document, spec: AdapterSpec, profile: Profile) -> list[Finding]:
    """Why there is no LoRA adapter to compile (no findings: there is one)."""
    if spec.adapter is None:
        return [
            ADAPTER_MISSING.at(
                doc,
                "no 'adapter' key: this config trains the full model, so there is no adapter to compile",
                ("adapter",),
                hint="add 'adapter: lora' (or qlora)",
            )
        ]
    if spec.adapter == "mixlora":
        return [
            ADAPTER_UNSUPPORTED.at(
                doc,
                _mixlora(profile),
                ("adapter",),
                prefer_value=True,
                hint=(
                    "use adapter: lora with attention targets to compile the PEFT part; lint still checks the MixLoRA "
                    "rules of Axolotl's schema"
                )
                if "mixlora" in profile.adapters
                else "use adapter: lora or qlora",
            )
        ]
    if spec.adapter not in SUPPORTED_ADAPTERS:
        return [
            ADAPTER_UNSUPPORTED.at(
                doc,
                f"adapter '{spec.adapter}' is not supported by lora-compiler (only lora and qlora)",
                ("adapter",),
                hint="use 'adapter: lora' or 'adapter: qlora'",
                prefer_value=True,
            )
        ]
    return []


def source_of(doc: Document, spec: AdapterSpec, offline: bool) -> tuple[ModelSource | None, list[Finding]]:
    """Where the model's config.json comes from (never weights)."""
    key = "base_model_config" if spec.base_model_config else "base_model"
    name = spec.model_config_name
    if not name:
        return None, [
            MODEL_NOT_FOUND.at(
                doc,
                "no base_model given",
                ("base_model",),
                hint="set base_model to a Hugging Face repo id or a local directory",
            )
        ]
    try:
        source = resolve(name, spec.revision_of_model, offline=offline)
    except ResolutionError as exc:
        return None, [MODEL_NOT_FOUND.at(doc, str(exc), (key,), prefer_value=True, hint=_not_found_hint(exc))]
    if source.revision_unverified:
        return source, [
            MODEL_REVISION_UNVERIFIED.at(
                doc,
                f"revision '{source.revision}' of {name} could not be checked (the Hub was "
                "not asked); the bundled config of its main branch stands in, and may differ from that revision",
                ("revision_of_model",),
                prefer_value=True,
                hint="run online once (or put the revision's config.json in the hub cache) to check it",
            )
        ]
    return source, []


def _mixlora(profile: Profile) -> str:
    """Why mixlora is refused: not in this release, or not expressible as a PEFT adapter config."""
    if "mixlora" not in profile.adapters:
        return f"{profile.name} has no mixlora adapter (it arrived in Axolotl 0.20.0, as a plugin)"
    return (
        f"adapter 'mixlora' ({profile.name}'s MixLoRA plugin) is not compiled: MixLoRA turns every FFN "
        "(gate_proj/up_proj/down_proj) into a router and LoRA experts saved in mixlora_model.safetensors, "
        "outside PEFT's format; an adapter_config.json would describe only its attention LoRA, and no other "
        "trainer or serving engine loads the rest"
    )


def _not_found_hint(exc: ResolutionError) -> str:
    """What to do, for the cause at hand: a near miss first, then the way to the Hub that was closed."""
    if exc.nearest:
        return "did you mean " + " or ".join(f"'{n}'" for n in exc.nearest) + "?"
    if exc.offline_by == "unreachable":
        return (
            "the Hub cannot be reached from here: pass --offline (or set HF_HUB_OFFLINE=1) to use local, "
            "cached and bundled configs only, or fix the network or proxy"
        )
    if exc.offline_by == "--offline":
        return "use a local directory with config.json or a cached or bundled model id, or drop --offline"
    if exc.offline_by:
        return "use a local directory with config.json or a cached or bundled model id, or unset HF_HUB_OFFLINE"
    return "use a local directory with config.json or a cached or bundled model id (check the id and the network)"


def skeleton_of(
    doc: Document, spec: AdapterSpec, source: ModelSource, options: Options, session: Session
) -> tuple[Any, str, list[Finding]]:
    """The meta skeleton (built once per session and key), its key, or the finding that says why not."""
    from ..pipeline.skeleton import SkeletonError, build

    key = session.key(source, spec, options.allow_remote_code)
    try:
        return session.skeleton(key, lambda: build(source, spec, options.allow_remote_code)), key, []
    except SkeletonError as exc:
        return None, key, [exc.rule.at(doc, str(exc), (exc.key or "base_model",), hint=exc.hint)]


def front(doc: Document, options: Options, session: Session, *, model: bool = True) -> Front:
    """Every step the options allow: spec always; with `model` (and not options.no_model), source and skeleton."""
    out = Front()
    if not doc.usable:  # the document's own findings say why
        return out
    try:
        out.selection = select(options.axolotl, options.policy.axolotl)
    except ProfileError as exc:
        out.findings.append(
            AXOLOTL_PROFILE_UNKNOWN.at(
                doc,
                str(exc),
                (),
                hint="use one of: "
                + ", ".join(PROFILES)
                + " (--axolotl, LORA_COMPILER_AXOLOTL or [tool.lora-compiler] axolotl)",
            )
        )
        return out
    out.spec, problems = spec_of(doc, options)
    out.findings += problems
    if out.spec is None or not model or options.no_model:
        return out
    problems = adapter_findings(doc, out.spec, out.selection.profile)
    out.findings += problems
    if problems:
        return out
    out.source, problems = source_of(doc, out.spec, options.offline)
    out.findings += problems
    if out.source is None:
        return out
    out.skeleton, out.key, problems = skeleton_of(doc, out.spec, out.source, options, session)
    out.findings += problems
    return out
