"""The Python face of the command line: compile_config, lint_files, adapter_schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .compiler import CompileResult, Options
from .compiler import compile_config as _compile
from .policy import Policy
from .session import Session


def compile_config(
    config: str | Path | Mapping[str, Any], *, offline: bool = False, trust_remote_code: bool = False,
    policy: Policy | None = None,
) -> CompileResult:
    """Compile a YAML path or a mapping of Axolotl keys; the result carries report, LoraConfig and findings."""
    return _compile(config, Options(offline=offline, allow_remote_code=trust_remote_code, policy=policy or Policy()))


def lint_files(
    paths: Sequence[str | Path], options: Options = Options(),
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CompileResult]:
    """Check many configs in one process; each distinct model skeleton is built once for the batch."""
    session = Session()
    results = []
    for i, path in enumerate(paths, start=1):
        results.append(_compile(path, options, session))
        if on_progress:
            on_progress(i, len(paths))
    return results


def adapter_schema() -> dict[str, Any]:
    """JSON Schema of the adapter keys, for editors; any other Axolotl key is allowed."""
    from .spec import AdapterSpec

    schema = AdapterSpec.model_json_schema(by_alias=True)
    schema["additionalProperties"] = True
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://github.com/lora-compiler/lora-compiler/schemas/axolotl-lora.schema.json", **schema}


def __getattr__(name: str) -> Any:
    # load_lora is re-exported lazily: the runtime module is only needed by training code.
    if name == "load_lora":
        from .runtime import load_lora

        return load_lora
    raise AttributeError(name)
