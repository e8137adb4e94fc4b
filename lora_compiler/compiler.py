"""The pipeline: document -> spec -> model source -> skeleton -> targets -> LoraConfig -> report.

Each stage takes the previous stage's value; rules run after the stage that gives them what they
check (config, model, report). A stage that cannot produce its value records a finding and the
pipeline stops there, so a result always carries every finding seen so far. compile and lint
both run this one function; they differ only in what they do with the result.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import findings as fmod
from .findings import Finding, Severity
from .options import Options
from .report import ModelInfo, Report
from .resolve import ModelSource, ResolutionError, resolve
from .session import Session
from .spec import AdapterSpec, parse_spec
from .yamldoc import Document, load_file

SUPPORTED_ADAPTERS = ("lora", "qlora")


@dataclass
class CompileResult:
    file: str | None
    findings: list[Finding] = field(default_factory=list)
    spec: AdapterSpec | None = None
    source: ModelSource | None = None
    report: Report | None = None
    lora_config: Any = None  # peft.LoraConfig, as Axolotl's load_lora(config_only=True) returns it

    @property
    def ok(self) -> bool:
        return self.report is not None and not fmod.has_errors(self.findings)

    def exit_code(self, strict: bool = False) -> int:
        return fmod.exit_code(self.findings, strict)


def load_document(config: str | Path | Mapping[str, Any] | Document) -> Document:
    if isinstance(config, Document):
        return config
    if isinstance(config, Mapping):
        return Document(file=None, values=dict(config))  # type: ignore[arg-type]
    return load_file(config)


def compile_config(config: str | Path | Mapping[str, Any] | Document, options: Options = Options(),
                   session: Session | None = None) -> CompileResult:
    """Run the pipeline on a YAML path, an already-parsed Document, or a plain mapping of Axolotl keys."""
    doc = load_document(config)
    result = CompileResult(file=doc.file, findings=list(doc.findings))
    if doc.usable:
        _run(doc, options, result, session or Session())
    result.findings = fmod.sort_findings(options.policy.apply(result.findings, doc))
    if result.report is not None:
        result.report.findings = result.findings
    return result


def _run(doc: Document, options: Options, result: CompileResult, session: Session) -> None:
    from .rules import run_stage
    from .rules.context import Context

    spec, problems = parse_spec(doc)
    result.findings += problems
    if spec is None:
        return
    if options.model:
        spec = spec.model_copy(update={"base_model": options.model, "base_model_config": None})
    result.spec = spec
    ctx = Context(doc, spec, serve=options.serve, allow_remote_code=options.allow_remote_code)
    result.findings += run_stage("config", ctx)
    if options.no_model or not adapter_ok(doc, spec, result):
        return
    source = _resolve(doc, spec, options, result)
    if source is None:
        return
    result.source = source
    _build(ctx, source, options, result, session)


def adapter_ok(doc: Document, spec: AdapterSpec, result: CompileResult) -> bool:
    if spec.adapter is None:
        result.findings.append(doc.finding(
            "adapter-missing", "no 'adapter' key: this config trains the full model, so there is no adapter to compile",
            ("adapter",), hint="add 'adapter: lora' (or qlora)"))
        return False
    if spec.adapter not in SUPPORTED_ADAPTERS:
        result.findings.append(doc.finding(
            "adapter-unsupported", f"adapter '{spec.adapter}' is not supported by lora-compiler (only lora and qlora)",
            ("adapter",), hint="use 'adapter: lora' or 'adapter: qlora'", prefer_value=True))
        return False
    return True


def _resolve(doc: Document, spec: AdapterSpec, options: Options, result: CompileResult) -> ModelSource | None:
    key = "base_model_config" if spec.base_model_config else "base_model"
    name = spec.model_config_name
    if not name:
        result.findings.append(doc.finding("model-not-found", "no base_model given", ("base_model",),
                                           hint="set base_model to a Hugging Face repo id or a local directory"))
        return None
    try:
        return resolve(name, spec.revision_of_model, offline=options.offline)
    except ResolutionError as exc:
        result.findings.append(doc.finding(
            "model-not-found", str(exc), (key,), prefer_value=True,
            hint="use a local directory with config.json, a cached or bundled model id, or drop --offline"))
        return None


def _build(ctx: Any, source: ModelSource, options: Options, result: CompileResult, session: Session) -> None:
    from .inject import InjectionError, inject
    from .peftcfg import PeftConfigError, build_lora_config, key_for_message
    from .rules import run_stage
    from .skeleton import SkeletonError, build
    from .targets import plan_targets

    doc, spec = ctx.doc, ctx.spec
    key = session.key(source, spec, options.allow_remote_code)
    try:
        skel = session.skeleton(key, lambda: build(source, spec, options.allow_remote_code))
    except SkeletonError as exc:
        result.findings.append(doc.finding(exc.rule, str(exc), (exc.key or "base_model",), hint=exc.hint))
        return
    ctx.skeleton = skel
    ctx.plan = plan = plan_targets(spec.lora_target_modules, spec.lora_target_linear, spec.lora_target_parameters,
                                   skel.model)
    result.findings += run_stage("model", ctx)
    if fmod.has_errors(result.findings):
        return  # PEFT would only restate these errors less clearly, and nothing will be written
    try:
        lora_config = build_lora_config(spec, plan, skel.architecture)
    except PeftConfigError as exc:
        result.findings.append(doc.finding("peft-config", str(exc), (exc.key or "adapter",),
                                           hint="change the named key so PEFT accepts it"))
        return
    result.lora_config = lora_config
    candidates = _candidates(skel.model, lora_config.exclude_modules)
    try:
        inj = session.injection(key, lora_config, lambda: inject(skel.model, lora_config))
    except InjectionError as exc:
        session.discard(key)
        key = key_for_message(str(exc), spec)
        result.findings.append(doc.finding(
            "peft-refused", f"PEFT refuses to apply this adapter to {skel.architecture}: {exc}", (key,),
            hint=f"change {key} so that it names modules this model has" if key.startswith("lora_target")
            else f"change {key}"))
        return
    if inj.converted_to_parameters and spec.lora_dropout:
        result.findings.append(doc.finding(
            "moe-fused-dropout",
            f"PEFT turns the MoE expert targets into fused parameter targets ({', '.join(inj.effective_target_parameters or [])}), "
            f"where lora_dropout {spec.lora_dropout:g} cannot apply; Axolotl applies it to the other layers only",
            ("lora_dropout",), Severity.WARNING, hint="set lora_dropout: 0 to make this explicit"))
    for text in inj.warnings:
        about = key_for_message(text, spec)
        result.findings.append(doc.finding("peft-warning", f"PEFT: {text}",
                                           (about if (about,) in doc.key_pos else "adapter",), Severity.WARNING))
    result.report = Report(
        file=doc.file,
        model=ModelInfo(
            base_model=spec.base_model, model_type=skel.model_type, architecture=skel.architecture,
            loader=skel.loader, config_source=source.kind, is_multimodal=skel.is_multimodal,
            num_hidden_layers=skel.num_hidden_layers, num_parameters=skel.num_parameters,
        ),
        adapter=spec.adapter,
        target_modules=plan.target_modules,
        target_parameters=plan.target_parameters,
        linear_names=plan.linear_names,
        effective_target_modules=inj.effective_target_modules,
        effective_target_parameters=inj.effective_target_parameters,
        modules=[asdict(m) for m in inj.modules],
        modules_to_save=[asdict(m) for m in inj.modules_to_save],
        trainable_tokens=[asdict(m) for m in inj.trainable_tokens],
        trainable_params=inj.trainable_params,
        all_params=inj.all_params,
        candidates=candidates,
    )
    ctx.report, ctx.lora_config = result.report, lora_config
    result.findings += run_stage("report", ctx)
    result.findings = _without_restated_peft_warnings(result.findings)


def _candidates(model: Any, exclude: list[str] | set[str] | str | None) -> list[dict[str, Any]]:
    """Every module and fused expert parameter LoRA could wrap, in model order, wrapped or not.

    targets.json's modules list only what PEFT wrapped; the layer map needs the rest to draw its
    "not targeted" and "excluded" cells. `excluded` is PEFT's exclude_modules test (a full-match
    regex string, or names matched as the whole name or its dotted suffix).
    """
    from .targets import is_linear_like

    def excluded(name: str) -> bool:
        if isinstance(exclude, str):
            return re.fullmatch(exclude, name) is not None
        return any(name == e or name.endswith(f".{e}") for e in exclude or ())

    out: list[dict[str, Any]] = []
    for name, module in model.named_modules():
        cls = type(module).__name__
        if is_linear_like(module) or cls == "Conv1D":
            if cls == "Conv1D":  # transformers' Conv1D keeps its weight as (in, out)
                fin, fout = module.weight.shape
            else:
                fin, fout = getattr(module, "in_features", None), getattr(module, "out_features", None)
            out.append({"name": name, "type": cls, "kind": "module",
                        "in_features": int(fin) if isinstance(fin, int) else None,
                        "out_features": int(fout) if isinstance(fout, int) else None,
                        "num_experts": None, "excluded": excluded(name)})
        for pname, param in module.named_parameters(recurse=False):
            full = f"{name}.{pname}" if name else pname
            if param.dim() == 3 and ".experts." in f".{full}":  # fused MoE experts (transformers 5)
                out.append({"name": full, "type": f"{cls}.{pname}", "kind": "parameter",
                            "in_features": int(param.shape[2]), "out_features": int(param.shape[1]),
                            "num_experts": int(param.shape[0]), "excluded": excluded(full)})
    return out


def _without_restated_peft_warnings(findings: list[Finding]) -> list[Finding]:
    """Drop a PEFT warning about a key that one of our rules already explains better."""
    def top(f: Finding) -> str:
        return (f.key or "").split(".")[0]

    explained = {top(f) for f in findings if f.rule != "peft-warning" and f.key}
    return [f for f in findings if f.rule != "peft-warning" or top(f) not in explained]
