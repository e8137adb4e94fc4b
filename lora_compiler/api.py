"""The Python face of the command line: compile_config, compile_job, lint_files, adapter_schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .pipeline.compiler import CompileResult, Options
from .pipeline.compiler import compile_document as _compile
from .pipeline.policy import Policy
from .pipeline.session import Session
from .results.findings import Finding, Severity


def compile_config(
    config: str | Path | Mapping[str, Any], *, offline: bool = False, trust_remote_code: bool = False,
    policy: Policy | None = None, axolotl: str | None = None,
) -> CompileResult:
    """Compile a YAML path or a mapping of Axolotl keys; the result carries report, LoraConfig and findings.
    `axolotl` picks the release whose semantics apply (profiles.select: default the installed one, else the newest)."""
    return _compile(config, Options(offline=offline, allow_remote_code=trust_remote_code, policy=policy or Policy(),
                                    axolotl=axolotl))


@dataclass(frozen=True)
class CompileJob:
    """What `lora-compiler compile` did: what to print, the files written, and the exit status."""

    stdout: str
    exit_code: int
    written: tuple[str, ...] = ()  # file names written into the output directory
    problems: tuple[Finding, ...] = ()  # why the outputs could not be written


def compile_job(config: Path, options: Options, fmt: str, out_dir: Path | None = None, *, force: bool = False,
                use_cache: bool = True) -> CompileJob:
    """Compile (answered from the result cache when the inputs are unchanged) and write the outputs as one set."""
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
    key = cache.compile_key(doc, options, fmt) if use_cache else None
    entry = cache.load(key, OUTPUT_NAMES) if key else None
    if entry is None:
        entry = _compile_entry(doc, options, fmt)
        if key and entry.exit_code == 0:
            cache.store(key, entry)
    if out_dir is None or entry.exit_code != 0:
        return CompileJob(entry.stdout, entry.exit_code)
    try:
        write_all(out_dir, entry.files, force=force)
    except (OutputProtected, OSError) as exc:
        return CompileJob(entry.stdout, 2, problems=(_protected(out_dir, exc),))
    return CompileJob(entry.stdout, 0, tuple(sorted([*entry.files, MANIFEST_NAME])))


def _protected(out_dir: Path, exc: Exception) -> Finding:
    forceable = getattr(exc, "forceable", False)
    hint = "choose another --output directory" + (", or pass --force" if forceable else "")
    return Finding("output-protected", Severity.ERROR, str(exc), str(out_dir), hint=hint)


def _compile_entry(doc: Any, options: Options, fmt: str) -> Any:
    from .io.cache import Entry
    from .render import COMPILE_FORMATS

    result = _compile(doc, options)
    code = result.exit_code()
    files: dict[str, str] = {}
    if code == 0 and result.report is not None:
        from .render.outputs import render_files

        files = render_files(result)
    return Entry(files, COMPILE_FORMATS[fmt](result, False), code)


def lint_files(
    paths: Sequence[str | Path], options: Options = Options(),
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CompileResult]:
    """Check many configs in one process; each distinct model skeleton is built once for the batch.

    A directory stands for every *.yml / *.yaml below it (hidden folders skipped, the policy's
    `ignore` globs applied), as yamllint does."""
    paths = collect_configs(paths, options.policy)
    session = Session()
    results = []
    for i, path in enumerate(paths, start=1):
        results.append(_compile(path, options, session))
        if on_progress:
            on_progress(i, len(paths))
    return results


def collect_configs(paths: Sequence[str | Path], policy: Policy | None = None) -> list[Path]:
    """Files as given; directories expanded to their YAML files, sorted (an empty one stays, to be reported)."""
    out: list[Path] = []
    for given in map(Path, paths):
        if not given.is_dir():
            out.append(given)
            continue
        found = sorted(p for p in given.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(given).parts))
        found = [p for p in found if not (policy and policy.ignores(p))]
        out.extend(found or [given])
    return out


def adapter_schema() -> dict[str, Any]:
    """JSON Schema of the adapter keys, for editors; any other Axolotl key is allowed."""
    from .pipeline.spec import AdapterSpec

    schema = AdapterSpec.model_json_schema(by_alias=True)
    schema["additionalProperties"] = True
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://github.com/lora-compiler/lora-compiler/schemas/axolotl-lora.schema.json", **schema}


def __getattr__(name: str) -> Any:
    # load_lora is re-exported lazily: the runtime module is only needed by training code.
    if name == "load_lora":
        from .features.runtime import load_lora

        return load_lora
    raise AttributeError(name)
