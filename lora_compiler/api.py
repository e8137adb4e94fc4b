"""The Python face of the command line: compile_config, compile_job, lint_files, adapter_schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .engine.compiler import CompileResult, Options
from .engine.compiler import compile_document as _compile
from .engine.policy import Policy
from .engine.session import Session
from .results.findings import Finding
from .rulebook.pipeline import OUTPUT_PROTECTED


def compile_config(
    config: str | Path | Mapping[str, Any],
    *,
    offline: bool = False,
    trust_remote_code: bool = False,
    policy: Policy | None = None,
    axolotl: str | None = None,
) -> CompileResult:
    """Compile a YAML path or a mapping of Axolotl keys; the result carries report, LoraConfig and findings.
    `axolotl` picks the release whose semantics apply (profiles.select: default the installed one, else the newest)."""
    return _compile(
        config,
        Options(offline=offline, allow_remote_code=trust_remote_code, policy=policy or Policy(), axolotl=axolotl),
    )


@dataclass(frozen=True)
class CompileJob:
    """What `lora-compiler compile` did: what to print, the files written, and the exit status."""

    stdout: str
    exit_code: int
    written: tuple[str, ...] = ()  # file names written into the output directory
    problems: tuple[Finding, ...] = ()  # why the outputs could not be written


def compile_job(
    config: Path,
    options: Options,
    fmt: str,
    out_dir: Path | None = None,
    *,
    force: bool = False,
    use_cache: bool = True,
    export: tuple[str, str | None] | None = None,
) -> CompileJob:
    """Compile (answered from the result cache when the inputs are unchanged) and write the outputs as one set.

    `export` (trainer, format) adds that trainer's config to the set; an export that is refused writes
    nothing at all. Exports are not cached: their findings are printed with each run."""
    from . import inputs
    from .io import cache
    from .io.files import MANIFEST_NAME, OutputProtected, check_writable, write_all
    from .pipeline.document import load_file
    from .render.outputs import OUTPUT_NAMES

    if out_dir is not None:
        try:  # the destination first: no compile for a result that cannot be written
            check_writable(out_dir, force)
        except OutputProtected as exc:
            return CompileJob("", 2, problems=(_protected(out_dir, exc),))
    doc = load_file(config)  # parsed once: the cache key and the compile read the same Document
    key = cache.compile_key(doc, options, fmt) if use_cache and export is None else None
    entry = cache.load(key, OUTPUT_NAMES) if key else None
    problems: tuple[Finding, ...] = ()
    if entry is None:
        with inputs.recording() as read:  # every stage records what it reads: the entry is valid while that holds
            entry, problems = _compile_entry(doc, options, fmt, export)
        if key and entry.exit_code == 0 and not read.untracked:
            cache.store(key, replace(entry, inputs=read.inputs))
    if out_dir is None or entry.exit_code != 0:
        return CompileJob(entry.stdout, entry.exit_code, problems=problems)
    try:
        write_all(out_dir, entry.files, force=force)
    except (OutputProtected, OSError) as exc:
        return CompileJob(entry.stdout, 2, problems=(*problems, _protected(out_dir, exc)))
    return CompileJob(entry.stdout, 0, tuple(sorted([*entry.files, MANIFEST_NAME])), problems)


def _protected(out_dir: Path, exc: Exception) -> Finding:
    forceable = getattr(exc, "forceable", False)
    hint = "choose another --output directory" + (", or pass --force" if forceable else "")
    return OUTPUT_PROTECTED.finding(str(exc), str(out_dir), hint=hint)


def _compile_entry(
    doc: Any, options: Options, fmt: str, export: tuple[str, str | None] | None
) -> tuple[Any, tuple[Finding, ...]]:
    """The cache entry of one compile, and the findings of its export (if asked for one)."""
    from .io.cache import Entry
    from .render import COMPILE_FORMATS

    session = Session()
    result = _compile(doc, options, session, verdict=True)
    code = result.exit_code()
    files: dict[str, str] = {}
    stdout = COMPILE_FORMATS[fmt](result, False)
    if code != 0 or result.report is None:
        return Entry(files, stdout, code), ()
    from .render.outputs import render_files

    files = render_files(result)
    if export is None:
        return Entry(files, stdout, code), ()
    done = _export(doc, options, session, result, *export)
    if done.text is None:
        return Entry({}, stdout, _exit_code(done.findings)), done.findings
    return Entry({**files, done.filename: done.text}, stdout, code), done.findings


@dataclass(frozen=True)
class ExportJob:
    """What `lora-compiler export` did: the file's text (None: refused), where it went, findings, exit status."""

    text: str | None
    filename: str | None
    exit_code: int
    findings: tuple[Finding, ...] = ()
    written: Path | None = None


def export_job(
    config: Path,
    options: Options,
    trainer: str,
    fmt: str | None = None,
    out_dir: Path | None = None,
    *,
    force: bool = False,
) -> ExportJob:
    """Compile CONFIG, then export it for `trainer`; with out_dir, write the one file there (never over
    a different file without `force`)."""
    from .io.files import write_text
    from .pipeline.document import load_file

    doc = load_file(config)
    session = Session()
    result = _compile(doc, options, session)
    if result.exit_code() != 0 or result.report is None:
        return ExportJob(None, None, result.exit_code() or 2, tuple(result.findings))
    done = _export(doc, options, session, result, trainer, fmt)
    findings = (*result.findings, *done.findings)
    if done.text is None:
        return ExportJob(None, done.filename, _exit_code(findings), findings)
    if out_dir is None:
        return ExportJob(done.text, done.filename, 0, findings)
    path = out_dir / done.filename
    if not force and (path.is_symlink() or path.exists()) and not _holds(path, done.text):
        problem = OUTPUT_PROTECTED.finding(
            f"{path} exists and differs from this export",
            str(out_dir),
            hint="choose another --output directory, or pass --force to replace it",
        )
        return ExportJob(done.text, done.filename, 2, (*findings, problem))
    try:
        write_text(path, done.text)
    except OSError as exc:
        return ExportJob(done.text, done.filename, 2, (*findings, _protected(out_dir, exc)))
    return ExportJob(done.text, done.filename, 0, findings, path)


def _export(doc: Any, options: Options, session: Session, result: CompileResult, trainer: str, fmt: str | None) -> Any:
    """export.export on the skeleton this compile ran on (the session still holds it)."""
    from .engine.front import front
    from .export import export, subject_of

    start = front(doc, options, session)
    return export(subject_of(result, start.skeleton.model, doc), trainer, fmt)


def _holds(path: Path, text: str) -> bool:
    """`path` is a regular file with exactly `text` in it (writing it again changes nothing)."""
    from .pipeline.document import read_bounded

    try:
        return path.is_file() and not path.is_symlink() and read_bounded(path, len(text.encode()) + 1) == text.encode()
    except (OSError, ValueError):
        return False


def _exit_code(findings: Sequence[Finding]) -> int:
    from .results.findings import exit_code

    return exit_code(findings)


def lint_files(
    paths: Sequence[str | Path],
    options: Options = Options(),
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CompileResult]:
    """Check many configs in one process; each distinct model skeleton is built once for the batch.

    A directory stands for every *.yml / *.yaml below it (hidden folders skipped, the policy's
    `ignore` globs applied), as yamllint does. The stack verdict is the batch's, not each file's: run_findings."""
    paths = collect_configs(paths, options.policy)
    session = Session()
    results = []
    for i, path in enumerate(paths, start=1):
        results.append(_compile(path, options, session))
        if on_progress:
            on_progress(i, len(paths))
    return results


def run_findings(results: Sequence[CompileResult], options: Options = Options()) -> list[Finding]:
    """What a batch says once rather than per file: the stack verdict (rules/profile.py), at the policy's levels."""
    from .rules.profile import stack_verdict

    return options.policy.apply(stack_verdict(results), None)


def collect_configs(paths: Sequence[str | Path], policy: Policy | None = None) -> list[Path]:
    """Files as given; directories expanded to their YAML files, sorted (an empty one stays, to be reported)."""
    out: list[Path] = []
    for given in map(Path, paths):
        if not given.is_dir():
            out.append(given)
            continue
        found = sorted(
            p
            for p in given.rglob("*")
            if p.suffix in (".yml", ".yaml")
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(given).parts)
        )
        found = [p for p in found if not (policy and policy.ignores(p))]
        out.extend(found or [given])
    return out


def adapter_schema() -> dict[str, Any]:
    """JSON Schema of the adapter keys, for editors; any other Axolotl key is allowed."""
    from .pipeline.spec import AdapterSpec

    schema = AdapterSpec.model_json_schema(by_alias=True)
    schema["additionalProperties"] = True
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/lora-compiler/lora-compiler/schemas/axolotl-lora.schema.json",
        **schema,
    }


def __getattr__(name: str) -> Any:
    # load_lora is re-exported lazily: the runtime module is only needed by training code.
    if name == "load_lora":
        from .features.runtime import load_lora

        return load_lora
    raise AttributeError(name)
