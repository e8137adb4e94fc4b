"""Survey every causal-LM and image-text-to-text architecture of the installed transformers.

For each model type: transformers' default config, shrunk (the first of lora_compiler.features.shrink's
candidates that builds), built on the meta device with the class Axolotl would choose, then
`lora_target_linear` resolved the two ways users meet it: Axolotl's name list (through the
compiler's own pipeline) and PEFT's "all-linear". A row says what each convention wraps, which
towers it reaches, which expert weights no module name can reach, and, when the model cannot be
surveyed, why (one classified line).

Each architecture runs in a worker process with a time budget: a crash, a hang or a leak in one
model's code never stops the survey, and two workers use both cores.
"""

from __future__ import annotations

import copy
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..model_facts import (
    conv1d_names,
    is_fused_expert,
    is_linear_like,
    module_classes,
    output_layer_name,
    tower_kind,
)
from ..rulebook.pipeline import MODEL_CONFIG_INVALID
from .survey_configs import candidates

Row = dict[str, Any]

CAUSAL_LM, IMAGE_TEXT = "causal-lm", "image-text-to-text"
FAILURE_CLASSES = ("needs-remote-code", "needs-optional-package", "transformers-bug", "our-bug")
DEFAULT_TIMEOUT, DEFAULT_JOBS, TASKS_PER_WORKER = 180.0, 2, 12
# Composite configs transformers has no default for: the sub-models their checkpoints use.
SUB_MODELS = {
    "vision-encoder-decoder": {"encoder": "vit", "decoder": "gpt2"},
    "musicgen": {"text_encoder": "t5", "audio_encoder": "encodec", "decoder": "musicgen_decoder"},
    "musicgen_melody": {"text_encoder": "t5", "audio_encoder": "encodec", "decoder": "musicgen_melody_decoder"},
}
_NUMBERED = re.compile(r"^(.*?)\.(\d+)(?:\.|$)")
_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_SET_REPR = re.compile(r"\{('[^'{}]*'(?:, '[^'{}]*')*)\}")
_PACKAGE = ("pip install", "requires the", "no module named", "is not installed")


@dataclass
class Survey:
    versions: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per model type, in its worker


def library_versions() -> dict[str, str]:
    """The versions a survey's content depends on (they head docs/families.md): the libraries, and the Axolotl
    release whose lora_target_linear rule it applies."""
    from importlib.metadata import version

    from ..profiles import select

    return {**{name: version(name) for name in ("transformers", "peft", "torch")}, "axolotl": select().profile.version}


def model_types() -> dict[str, list[str]]:
    """Every model type of the two mappings, with the mappings it appears in."""
    from transformers.models.auto import modeling_auto as auto

    found: dict[str, list[str]] = defaultdict(list)
    for mapping, names in (
        (CAUSAL_LM, auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES),
        (IMAGE_TEXT, auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES),
    ):
        for model_type in names:
            found[model_type].append(mapping)
    return dict(sorted(found.items()))


# --- one architecture (runs in a worker) ---------------------------------------------------------


class SurveyFailure(Exception):
    def __init__(self, cls: str, reason: str) -> None:
        super().__init__(reason)
        self.cls, self.reason = cls, reason


def survey_one(model_type: str, mappings: list[str]) -> Row:
    """One row; never raises: a failure becomes the row's classified reason."""
    row: Row = {"model_type": model_type, "mappings": mappings, "status": "ok", "failure": None}
    try:
        row.update(_survey(model_type, mappings == [CAUSAL_LM]))
    except SurveyFailure as exc:
        row.update(status="failed", failure={"class": exc.cls, "reason": exc.reason})
    except Exception as exc:  # a crash outside the classified stages is ours to fix
        row.update(status="failed", failure={"class": "our-bug", "reason": _line(exc)})
    return row


def _survey(model_type: str, causal_only: bool) -> Row:
    from ..pipeline.inject import inject
    from ..pipeline.peftcfg import build_lora_config
    from ..pipeline.targets import plan_targets
    from ..profiles import select

    skel, how = _default_skeleton(model_type, causal_only)
    model = skel.model
    spare = copy.deepcopy(model)  # all-linear gets its own copy: injection consumes a model
    classes = module_classes(model)
    profile = select().profile
    plan = plan_targets(None, True, None, model, profile)
    names = plan.linear_names or []
    structure, linear_paths = _structure(model, classes, names)
    head, dropped = output_layer_name(model), profile.embedding_layers(model_type)[1]
    adaptable = linear_paths - {head}
    row: Row = {
        "loader": skel.loader,
        "architecture": skel.architecture,
        **how,
        "layers": skel.num_hidden_layers,
        **structure,
        "output_layer": head,
        "axolotl_drops": dropped,
        "output_collision": _collision(head, names, dropped, structure["linear"]),
    }
    if names:
        apply = lambda: inject(model, build_lora_config(_spec(model_type), plan, skel.architecture))  # noqa: E731
        row["axolotl"] = {"target_modules": names, **_convention(apply, adaptable, classes)}
    else:
        row["axolotl"] = {"target_modules": [], "error": "lora_target_linear finds no Linear layers"}
    row["all_linear"] = _convention(lambda: inject(spare, _all_linear_config(skel.architecture)), adaptable, classes)
    return row


def _spec(model_type: str) -> Any:
    from ..pipeline.spec import AdapterSpec

    return AdapterSpec(base_model=model_type, adapter="lora", lora_target_linear=True, lora_r=8, lora_alpha=16)


def _all_linear_config(architecture: str) -> Any:
    from peft import LoraConfig

    from ..pipeline.fields import task_type_for

    return LoraConfig(target_modules="all-linear", r=8, lora_alpha=16, task_type=task_type_for(architecture))


def _default_skeleton(model_type: str, causal_only: bool) -> tuple[Any, Row]:
    """The meta skeleton from the smallest config that builds, with how that config was made."""
    from transformers import AutoConfig

    from ..pipeline.skeleton import SkeletonError, build_from_config

    subs = SUB_MODELS.get(model_type, {})
    try:
        default = AutoConfig.for_model(model_type, **{k: AutoConfig.for_model(v).to_dict() for k, v in subs.items()})
    except Exception as exc:
        raise SurveyFailure(_classify(_line(exc), "transformers-bug"), f"default config: {_line(exc)}") from None
    errors: list[str] = []
    for level, config, repaired in candidates(default.to_dict(), causal_only):
        try:
            skel = build_from_config(_config_object(config, model_type), _spec(model_type))
        except SkeletonError as exc:
            errors.append(_line(exc))
            continue
        repaired = [f"{k}={v}" for k, v in subs.items()] + repaired
        return skel, {"config": level, "repaired": repaired, "shrink_error": errors[0] if errors else None}
    # the last candidate is transformers' default config as shipped: building it is transformers' job
    raise SurveyFailure(_classify(errors[-1], "transformers-bug"), errors[-1])


def _config_object(config: dict[str, Any], model_type: str) -> Any:
    """The transformers config of a dict, as from_pretrained reads a config.json (a broken one: SkeletonError)."""
    from transformers import CONFIG_MAPPING

    from ..pipeline.skeleton import SkeletonError

    try:
        made = CONFIG_MAPPING[config["model_type"]].from_dict(dict(config))
    except Exception as exc:
        raise SkeletonError(MODEL_CONFIG_INVALID, f"transformers cannot read the config: {_line(exc)}") from None
    made._name_or_path = model_type
    return made


def _classify(message: str, otherwise: str) -> str:
    low = message.lower()
    if "trust_remote_code" in low or "auto_map" in low:
        return "needs-remote-code"
    if any(s in low for s in _PACKAGE):
        return "needs-optional-package"
    return otherwise


# --- what the skeleton holds and what each convention wraps --------------------------------------


def _structure(model: Any, classes: dict[str, str], names: list[str]) -> tuple[Row, set[str]]:
    """Linear-like modules by last name (per layer, total, towers), Conv1D names, fused 3D expert
    weights, and Axolotl's names that also end a non-Linear module's path (PEFT tries to wrap it)."""

    per_block: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    towers, clashes = defaultdict(set), defaultdict(set)
    paths: set[str] = set()
    fused: set[str] = set()
    for path, module in model.named_modules():
        name = path.rsplit(".", 1)[-1]
        fused |= {f"{name}.{p}" for p, w in module.named_parameters(recurse=False) if is_fused_expert(path, module, w)}
        if path and not is_linear_like(module):
            if name in names:
                clashes[name].add(type(module).__name__)
            continue
        if path:
            paths.add(path)
            total[name] += 1
            towers[name].add(tower_kind(path, classes))
            if block := _NUMBERED.match(path):
                per_block[block.group(0)][name] += 1
    linear = {
        n: {
            "per_layer": max((c[n] for c in per_block.values()), default=0),
            "total": total[n],
            "towers": sorted(towers[n]),
        }
        for n in sorted(total)
    }
    return {
        "linear": linear,
        "conv1d": conv1d_names(model),
        "fused_experts": sorted(fused),
        "name_clashes": {n: sorted(clashes[n]) for n in sorted(clashes)},
    }, paths


def _collision(head: str | None, names: list[str], dropped: str, linear: Row) -> str | None:
    """Where the output layer and Axolotl's name list disagree."""
    if head is None:
        return None
    suffix = head.rsplit(".", 1)[-1]
    if suffix in names:
        return f"output layer '{head}' is in Axolotl's names (Axolotl drops '{dropped}')"
    if dropped != suffix and dropped in linear:
        return f"Axolotl drops '{dropped}', which is not the output layer '{head}'"
    return None


def _convention(apply: Callable[[], Any], adaptable: set[str], classes: dict[str, str]) -> Row:
    """What one convention wraps on the skeleton, or PEFT's refusal."""
    try:
        inj = apply()
    except Exception as exc:
        return {"error": _line(exc)}
    modules = [m for m in inj.modules if m.kind == "module"]
    wrapped = {m.name for m in modules}
    return {
        "wrapped": len(modules),
        "wrapped_names": sorted({m.name.rsplit(".", 1)[-1] for m in modules}),
        "target_parameters": sorted(inj.effective_target_parameters or []),
        "wrapped_parameters": len(inj.modules) - len(modules),
        "unadapted": sorted({p.rsplit(".", 1)[-1] for p in adaptable - wrapped}),
        "towers": sorted({tower_kind(m.name, classes) for m in inj.modules} - {"text"}),
        "error": None,
    }


def _line(exc: BaseException | str) -> str:
    """First line of a message, without what changes between runs (addresses, set order)."""
    text = (exc if isinstance(exc, str) else str(exc)).strip() or type(exc).__name__
    text = _SET_REPR.sub(lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text.splitlines()[0])
    return _MEMORY_ADDRESS.sub("", text)[:240]


# --- the pool ------------------------------------------------------------------------------------


def _serve(conn: Any) -> None:
    """Worker loop: a model type in, its row out, until told to stop."""
    import warnings

    import torch
    from transformers.utils import logging

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    logging.set_verbosity_error()
    while (task := conn.recv()) is not None:
        start = time.perf_counter()
        row = survey_one(*task)
        conn.send((row, time.perf_counter() - start))


@dataclass
class _Worker:
    process: Any
    conn: Any
    task: tuple[str, list[str]] | None = None
    deadline: float = 0.0
    done: int = 0

    def stop(self, hung: bool) -> None:
        """Ask an idle worker to exit; kill a hung one (our own child, by its handle)."""
        if not hung:
            self.conn.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_survey(
    only: Iterable[str] | None = None,
    jobs: int = DEFAULT_JOBS,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[Row], None] | None = None,
) -> Survey:
    """Survey `only` these model types (default: all) with `jobs` workers and `timeout` seconds each.

    Workers are started from a fork server, which imports the caller's main module: a script calling
    this needs the usual `if __name__ == "__main__":` guard."""
    import multiprocessing
    import multiprocessing.connection

    known = model_types()
    wanted = sorted(set(only)) if only is not None else list(known)
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise ValueError(f"not in the causal-LM or image-text-to-text mapping: {', '.join(unknown)}")
    # forkserver: workers start from a clean process that imported torch once, not from the caller
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "transformers", "peft", "lora_compiler.features.survey"])
    tasks = [(t, known[t]) for t in reversed(wanted)]
    survey = Survey(library_versions())
    rows: dict[str, Row] = {}
    workers: list[_Worker] = []

    def finish(worker: _Worker, row: Row, seconds: float, hung: bool = False) -> None:
        rows[row["model_type"]], survey.seconds[row["model_type"]], worker.task = row, round(seconds, 2), None
        worker.done += 1
        if progress:
            progress(row)
        if hung or worker.done >= TASKS_PER_WORKER:  # a fresh worker also bounds imported model code
            workers.remove(worker)
            worker.stop(hung)

    try:
        while tasks or any(w.task for w in workers):
            while tasks and len(workers) < max(jobs, 1):
                parent, child = ctx.Pipe()
                workers.append(_Worker(ctx.Process(target=_serve, args=(child,), daemon=True), parent))
                workers[-1].process.start()
                child.close()
            for worker in workers:
                if worker.task is None and tasks:
                    worker.task, worker.deadline = tasks.pop(), time.monotonic() + timeout
                    worker.conn.send(worker.task)
            busy = [w for w in workers if w.task]
            wait = max(min(w.deadline for w in busy) - time.monotonic(), 0.0)
            ready = multiprocessing.connection.wait([w.conn for w in busy], timeout=wait)
            for worker in busy:
                model_type, mappings = worker.task  # type: ignore[misc]
                started = worker.deadline - timeout
                if worker.conn in ready:
                    try:
                        finish(worker, *worker.conn.recv())
                        continue
                    except (EOFError, OSError):
                        reason = f"worker died (exit code {worker.process.exitcode}) building the model"
                elif time.monotonic() < worker.deadline:
                    continue
                else:
                    reason = f"no result within {timeout:g} s"
                row = {
                    "model_type": model_type,
                    "mappings": mappings,
                    "status": "failed",
                    "failure": {"class": "our-bug", "reason": reason},
                }
                finish(worker, row, time.monotonic() - started, hung=True)
    finally:
        for worker in workers:
            worker.stop(hung=bool(worker.task))
    survey.rows = [rows[t] for t in sorted(rows)]
    return survey
