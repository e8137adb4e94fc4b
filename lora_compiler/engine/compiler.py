"""The pipeline: document -> spec -> model source -> skeleton -> targets -> LoraConfig -> report.

Each stage takes the previous stage's value; rules run after the stage that gives them what they
check (config, model, report). A stage that cannot produce its value records a finding and the
pipeline stops there, so a result always carries every finding seen so far. compile and lint
both run this one function; they differ only in what they do with the result. The front half is
front.py's, the step to the LoraConfig middle.py's (shared with the runtime load_lora); the stages
themselves live in pipeline/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..pipeline.document import Document, load_file
from ..pipeline.source import ModelSource
from ..pipeline.spec import AdapterSpec
from ..profiles import Selection
from ..profiles.stack import Run, touching
from ..results import findings as fmod
from ..results.findings import Finding
from ..results.parts import AxolotlRecord, Candidate, Coverage, WrappedModule, frozen_names
from ..results.report import ModelInfo, Report
from ..results.serialize import build
from .front import Front, front
from .options import Options
from .session import Session


@dataclass
class CompileResult:
    file: str | None
    findings: list[Finding] = field(default_factory=list)
    spec: AdapterSpec | None = None
    source: ModelSource | None = None
    report: Report | None = None
    lora_config: Any = None  # peft.LoraConfig, as Axolotl's load_lora(config_only=True) returns it
    # adapter_config.json as PEFT will save the trained adapter: lora_config after PEFT's injection-time
    # rewrite, in its on-disk form and key order (pipeline/peftcfg.saved_config)
    adapter_config: dict[str, Any] | None = None
    source_text: str | None = None  # the YAML as read, for outputs that quote its lines
    selection: Selection | None = None  # the Axolotl release that applied (None: the YAML was unusable first)
    # what the library behaviours of profiles/stack.py read of this run (None: no model was built)
    stack_run: Run | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None and not fmod.has_errors(self.findings)

    def exit_code(self, strict: bool = False) -> int:
        return fmod.exit_code(self.findings, strict)

    @property
    def depends_on(self) -> tuple[str, ...] | None:
        """The library behaviours this run's answers depend on (None: no model was built)."""
        return None if self.stack_run is None else touching(self.stack_run)


def load_document(config: str | Path | Mapping[str, Any] | Document) -> Document:
    if isinstance(config, Document):
        return config
    if isinstance(config, Mapping):
        return Document(file=None, values=dict(config))  # type: ignore[arg-type]
    return load_file(config)


def compile_document(
    config: str | Path | Mapping[str, Any] | Document,
    options: Options = Options(),
    session: Session | None = None,
    *,
    verdict: bool = False,
) -> CompileResult:
    """Run the pipeline on a YAML path, an already-parsed Document, or a plain mapping of Axolotl keys.

    `verdict`: this config is the whole run (`compile`), so it carries the stack verdict (rules/profile.py); a
    batch (lint over many files, a diff) says it once for all of them, or not at all (api.run_findings)."""
    from ..rules.profile import stack_verdict

    doc = load_document(config)
    result = CompileResult(file=doc.file, findings=list(doc.findings), source_text=doc.text or None)
    if doc.usable:
        _run(doc, options, result, session or Session())
        if verdict:
            result.findings += stack_verdict([result])
    result.findings = fmod.sort_findings(options.policy.apply(result.findings, doc))
    if result.report is not None:
        result.report = replace(result.report, findings=tuple(result.findings))
    return result


def _run(doc: Document, options: Options, result: CompileResult, session: Session) -> None:
    from ..pipeline.spec import AdapterSpec
    from ..rules import run_stage, run_startup
    from ..rules.context import Context

    start = front(doc, options, session)
    result.findings += start.findings
    selection = result.selection = start.selection
    if start.spec is None:
        if selection is not None and doc.usable:  # the schema refused adapter keys: the YAML-only checks still run
            gpu = options.gpu or options.policy.gpu
            result.findings += run_startup(Context(doc, AdapterSpec.model_construct(), selection, gpu=gpu))
        return
    result.spec, result.source = start.spec, start.source
    assert selection is not None  # front chooses the Axolotl release before it parses a spec
    ctx = Context(
        doc,
        start.spec,
        selection,
        serve=options.serve,
        allow_remote_code=options.allow_remote_code,
        coverage_threshold=options.policy.coverage_threshold,
        devices=options.devices or options.policy.devices,
        gpu=options.gpu or options.policy.gpu,
    )
    result.findings += run_stage("config", ctx)
    if start.skeleton is not None:
        ctx.skeleton = start.skeleton
        names = (name.rsplit(".", 1)[-1] for name in ctx.module_names)  # the walk the model rules share
        suffixes = frozenset(n for n in names if not n.isdigit())  # a ModuleList's indices name nothing
        result.stack_run = Run(start.skeleton.model_type, doc.values, suffixes)
        _compile_model(ctx, start, result, session)


def _compile_model(ctx: Any, start: Front, result: CompileResult, session: Session) -> None:
    from ..model_facts import adaptable
    from ..pipeline.adapter_file import adapter_file
    from ..pipeline.fields import key_for_message
    from ..pipeline.freezing import applies, freeze, record
    from ..pipeline.inject import InjectionError, inject
    from ..pipeline.loading import base_load
    from ..pipeline.memory import static_memory
    from ..pipeline.peftcfg import adapter_config_dict, rewrites, saved_config
    from ..pipeline.sharding import plan as sharding_plan
    from ..pipeline.sharding import yaml_dir
    from ..pipeline.tying import tied_head_params
    from ..rulebook.pipeline import PEFT_REFUSED
    from ..rules import peft_outcome, run_stage
    from .middle import lora_config_for

    doc, spec, skel, key, source = ctx.doc, ctx.spec, start.skeleton, start.key, start.source
    assert key is not None and source is not None  # front sets both with the skeleton
    ctx.skeleton = skel
    middle = lora_config_for(ctx, result.findings)
    result.findings += middle.findings
    plan, lora_config = middle.plan, middle.lora_config
    if lora_config is None:
        return
    result.lora_config, result.adapter_config = lora_config, adapter_config_dict(lora_config)
    candidates = adaptable(skel.model, lora_config.exclude_modules)
    frozen = applies(spec.unfrozen_parameters, spec.freeze_mm_modules, spec.rl, spec.merge_lora)
    try:
        inj = session.injection(key, lora_config, lambda: inject(skel.model, lora_config, parameters=frozen), frozen)
    except InjectionError as exc:
        session.discard(key)
        key = key_for_message(str(exc), spec)
        result.findings.append(
            PEFT_REFUSED.at(
                doc,
                f"PEFT refuses to apply this adapter to {skel.architecture}: {exc}",
                (key,),
                hint=f"change {key} so that it names modules this model has"
                if key.startswith("lora_target")
                else f"change {key}",
            )
        )
        return
    if inj.converted_to_parameters and spec.lora_dropout:
        result.findings.append(peft_outcome.fused_dropout(doc, spec.lora_dropout, inj.effective_target_parameters))
    result.findings += peft_outcome.peft_warnings(doc, spec, inj.warnings)
    result.adapter_config = saved_config(lora_config, inj.rewritten)
    freezing = freeze(inj.parameters, spec.unfrozen_parameters, spec.freeze_mm_modules) if frozen else None
    # the post-load freezing counts PEFT's parameters by name, the head's tied views among them; kept as they are
    tied = 0 if freezing else tied_head_params(skel.model, inj.modules, lora_config.ensure_weight_tying, ctx.profile)
    sharding = sharding_plan(doc.values, yaml_dir(doc.file))
    held = base_load(
        skel.model,
        doc.values,
        skel.model_type,
        ctx.profile.version,
        zero3=bool(sharding and sharding.by.endswith("ZeRO-3")),
    )
    result.report = Report(
        file=doc.file,
        model=ModelInfo(
            base_model=spec.base_model,
            model_type=skel.model_type,
            architecture=skel.architecture,
            loader=skel.loader,
            config_source=source.kind,
            is_multimodal=skel.is_multimodal,
            num_hidden_layers=skel.num_hidden_layers,
            num_parameters=skel.num_parameters,
        ),
        adapter=spec.adapter,
        target_modules=frozen_names(plan.target_modules),
        target_parameters=frozen_names(plan.target_parameters),
        linear_names=frozen_names(plan.linear_names),
        effective_target_modules=frozen_names(inj.effective_target_modules),
        effective_target_parameters=frozen_names(inj.effective_target_parameters),
        modules=tuple(inj.modules),
        modules_to_save=tuple(inj.modules_to_save),
        trainable_tokens=tuple(inj.trainable_tokens),
        trainable_params=freezing.trainable if freezing else inj.trainable_params - tied,
        all_params=inj.all_params - tied,
        peft_trainable_params=inj.trainable_params - tied,
        freezing=record(freezing, spec.unfrozen_parameters, spec.freeze_mm_modules) if freezing else None,
        candidates=tuple(Candidate(**c) for c in candidates),
        axolotl=build(AxolotlRecord, ctx.selection.record()),
        adapter_file=adapter_file(inj.tensors, doc.values, ctx.profile.version, held),
        coverage=coverage(inj.modules, ctx),
        static_memory=static_memory(
            skel.model, inj.tensors, doc.values, ctx.profile.version, held, sharding, skel.model_type, ctx.devices
        ),
        peft_rewrites=rewrites(lora_config, inj.rewritten, skel.model_type),
    )
    ctx.report, ctx.lora_config, ctx.adapter_config = result.report, lora_config, result.adapter_config
    ctx.freezing = freezing
    ctx.saved_modules_to_save = inj.saved_modules_to_save
    result.findings += run_stage("report", ctx)
    result.findings = peft_outcome.without_restated(result.findings)


def coverage(modules: list[WrappedModule], ctx: Any) -> Coverage:
    """The report's per-entry coverage (results/coverage.py) on this skeleton."""
    from ..results.coverage import coverage as of

    return of(
        ctx.spec,
        ctx.plan.linear_names,
        modules,
        ctx.module_names,
        ctx.module_classes,
        ctx.skeleton.num_hidden_layers,
        ctx.plan.fused_into,
    )
