"""The child process of `lint --with-axolotl`: the installed Axolotl's own start-up check of each config.

Run by features/with_axolotl.py as `python -I -c <this file's source> RESULT.json`, with the request on stdin:
{"configs": [paths], "capabilities": {...}, "sys_path": [...]} (sys_path: extra import paths, for tests).
It imports nothing of lora-compiler. For each YAML, as `axolotl train` does before it loads anything:
yaml.safe_load, prepare_plugins, validate_config (the capabilities given, the installed torch's version),
normalize_config; it writes one verdict per config to RESULT.json.

It never runs code the YAML names: `plugins:` entries outside axolotl.integrations are dropped (and said
so), plugins registered through other packages' entry points are not loaded, NeMo Gym's register hook
(which clones a repository and starts servers) is not run, and normalize_config, which loads the model's
config.json, is skipped when the YAML asks for the model repository's own code (trust_remote_code) or names
a config class by import path (cls_model_config). The environment is offline (set by the parent).
"""

import json
import sys
import traceback
from typing import Any

PREFIX = "axolotl.integrations."
# What normalize_config raises when the model's config.json cannot be had offline or a package is missing:
# the environment's, not a verdict on the YAML.
UNAVAILABLE = (OSError, ImportError, ConnectionError, TimeoutError)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _errors(exc: BaseException) -> list[dict[str, Any]]:
    """pydantic's ValidationError.errors() (duck-typed: no pydantic import), as loc and message pairs."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return []
    try:
        return [{"loc": [_jsonable(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors()]
    except Exception:  # (an exception that only looks like a ValidationError)
        return []


def _failure(stage: str, exc: BaseException, verdict: str = "refused") -> dict[str, Any]:
    return {
        "verdict": verdict,
        "stage": stage,
        "type": type(exc).__name__,
        "message": str(exc),
        "errors": _errors(exc),
    }


def _only_builtin_entry_points() -> None:
    """0.21+ registers plugins from every distribution's `axolotl.plugins` entry points: keep Axolotl's own."""
    try:
        import axolotl.integrations.base as base
    except ImportError:
        return
    found = getattr(base, "entry_points", None)
    if found is None:
        return

    def axolotl_only(**kwargs: Any) -> list[Any]:
        return [p for p in found(**kwargs) if str(getattr(p, "value", "")).startswith(PREFIX)]

    base.entry_points = axolotl_only
    reset = getattr(base, "reset_plugin_entry_points_cache", None)
    if callable(reset):
        reset()


def _quiet_nemo_gym(notes: list[str]) -> None:
    try:
        from axolotl.integrations.nemo_gym.plugin import NemoGymPlugin
    except ImportError:
        return
    NemoGymPlugin.register = lambda self, cfg: None
    notes.append("NeMo Gym's register hook (it clones a repository and starts servers) was not run")


def judge(path: str, capabilities: dict[str, Any], env_capabilities: dict[str, Any]) -> dict[str, Any]:
    import yaml
    from axolotl.integrations.base import PluginManager
    from axolotl.utils.config import normalize_config, prepare_plugins, validate_config
    from axolotl.utils.dict import DictDefault

    notes: list[str] = []
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        return {"verdict": "not-run", "stage": "load", "message": "the YAML is not a mapping", "notes": notes}
    plugins, dropped = raw.get("plugins"), []
    if isinstance(plugins, list):
        kept = [p for p in plugins if isinstance(p, str) and p.startswith(PREFIX)]
        dropped = [str(p) for p in plugins if p not in kept]
        for p in dropped:
            notes.append(f"plugin {p} was not loaded: only Axolotl's own plugins (axolotl.integrations.*) are")
        if any(p.startswith(PREFIX + "nemo_gym") for p in kept):
            _quiet_nemo_gym(notes)
        raw["plugins"] = kept
    PluginManager._instance = None  # a fresh `axolotl train` per config
    cfg = DictDefault(raw)
    cfg.axolotl_config_path = path
    stage = "prepare_plugins"
    try:
        prepare_plugins(cfg)
        stage = "validate_config"
        cfg = validate_config(cfg, capabilities=dict(capabilities), env_capabilities=dict(env_capabilities))
    except Exception as exc:  # (whatever stops the start-up is a refusal)
        return {**_failure(stage, exc), "notes": notes, "dropped": dropped}
    remote = cfg.get("trust_remote_code") or "." in str(cfg.get("cls_model_config") or "")
    if remote:
        notes.append(
            "normalize_config was not run: it would load the model's own code (trust_remote_code or a "
            "cls_model_config import path)"
        )
        return {"verdict": "accepted", "stage": "validate_config", "notes": notes, "dropped": dropped}
    try:
        normalize_config(cfg)
    except UNAVAILABLE as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        notes.append(
            f"normalize_config could not run offline (the model's config.json?): {type(exc).__name__}: {first}"
        )
        return {"verdict": "accepted", "stage": "validate_config", "notes": notes, "dropped": dropped}
    except Exception as exc:
        return {**_failure("normalize_config", exc), "notes": notes, "dropped": dropped}
    return {"verdict": "accepted", "stage": "normalize_config", "notes": notes, "dropped": dropped}


def torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch").split("+")[0]
    except PackageNotFoundError:
        return "0"


def main() -> None:
    request = json.load(sys.stdin)
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # never the working directory's modules
    sys.path[:0] = list(request.get("sys_path") or [])
    out: dict[str, Any] = {"results": {}}
    try:
        from importlib.metadata import PackageNotFoundError, version

        import axolotl.utils.config  # noqa: F401

        try:
            out["axolotl"] = version("axolotl")
        except PackageNotFoundError:
            out["axolotl"] = None
        _only_builtin_entry_points()
    except Exception as exc:
        out["error"] = f"cannot import Axolotl: {type(exc).__name__}: {exc}"
        configs = []
    else:
        configs = request["configs"]
    env = {"torch_version": torch_version()}
    for path in configs:
        try:
            out["results"][path] = judge(path, request["capabilities"], env)
        except Exception as exc:  # (a config the child could not even load)
            out["results"][path] = {**_failure("load", exc, "not-run"), "trace": traceback.format_exc()[-2000:]}
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
