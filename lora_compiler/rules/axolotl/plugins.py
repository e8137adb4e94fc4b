"""The plugins Axolotl ships, what `plugins:` entries load, and the rules that say when one does not.

Axolotl merges a plugin's pydantic args (and their validators) into its config model only while the plugin
is registered: when `plugins:` names it, or when the release registers it without being asked (0.20+:
context parallelism; 0.21: expert parallelism too). So every plugin rule here and in plugins_*.py checks
`listed(v, package)` first. `outcome` restates what integrations/base.py load_plugin and
PluginManager.register do with a name that does not load: 0.19 and 0.20 log "Failed to load plugin" and
train without it when the module is missing, and crash on anything else; 0.21 requires every configured
plugin and refuses the config. normalize.py reports a name without a dot and a package the release does not
ship; axolotl-plugin-unknown here every other failure (a misspelt class or submodule, a module of Axolotl's
that holds no plugin). A plugin outside Axolotl's package is never imported: lint only says it cannot
check it (axolotl-plugin-unchecked).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from ...profiles import NEWEST
from ...results.findings import Finding, Severity
from ...rulebook.registry import Docs, Stage, rule
from ..context import Context
from .validator import OLDEST, Check, Found, Validator, Values, out_of_scope, register, release_key

PREFIX = "axolotl.integrations."


@dataclass(frozen=True)
class Plugin:
    package: str  # axolotl.integrations.<package>
    cls: str
    home: str | None = "plugin"  # the submodule defining cls (None: the package's __init__)
    exported: bool = True  # the package's __init__ re-exports cls, so `<package>.<cls>` loads too
    since: str = OLDEST  # no release has dropped a plugin yet

    @property
    def path(self) -> str:
        """The name `plugins:` lists it by (through its package, unless only its submodule exports it)."""
        return (
            f"{PREFIX}{self.package}.{self.cls}" if self.exported else f"{PREFIX}{self.package}.{self.home}.{self.cls}"
        )

    def ships_in(self, release: str) -> bool:
        return release_key(self.since) <= release_key(release)


# Every plugin class under axolotl/integrations/ (checked by loading each name in the 0.19-0.21 venvs).
PLUGINS = (
    Plugin("context_parallel", "ContextParallelPlugin", since="0.20.0"),
    Plugin("coreweave", "CoreWeavePlugin", since="0.21.0"),
    Plugin("cut_cross_entropy", "CutCrossEntropyPlugin", None),
    Plugin("densemixer", "DenseMixerPlugin"),
    Plugin("diffusion", "DiffusionPlugin"),
    Plugin("diffusion_decision", "DiffusionDecisionPlugin", since="0.21.0"),
    Plugin("expert_parallel", "ExpertParallelPlugin"),
    Plugin("fla_sm120_shim", "FlaSm120ShimPlugin", None, since="0.20.0"),
    Plugin("grokfast", "GrokfastPlugin", None),
    Plugin("hatchery", "HatcheryPlugin"),
    Plugin("kd", "KDPlugin", None),
    Plugin("kernels", "KernelsPlugin"),
    Plugin("liger", "LigerPlugin"),
    Plugin("llm_compressor", "LLMCompressorPlugin"),
    Plugin("lm_eval", "LMEvalPlugin", None),
    Plugin("mixlora", "MixLoraPlugin", since="0.20.0"),
    Plugin("mora", "MoraPlugin"),
    Plugin("nebius", "NebiusCompletionPlugin", "completion", exported=False, since="0.20.0"),
    Plugin("nemo_gym", "NemoGymPlugin"),
    Plugin("spectrum", "SpectrumPlugin", None),
    Plugin("swanlab", "SwanLabPlugin", "plugins"),
)
BY_PACKAGE = {p.package: p for p in PLUGINS}
# Integration modules that hold no plugin class (the plugin base, cloud launchers): a class named there fails.
PACKAGES_WITHOUT_PLUGIN = {"base": OLDEST, "config": OLDEST, "baseten": "0.20.0", "modal": "0.20.0"}
# The axolotl package's own top-level modules (all three releases): a class looked up there is not found.
AXOLOTL_MODULES = {
    *("cli", "common", "convert", "core", "datasets", "evaluate", "integrations", "kernels", "loaders"),
    *("logging_config", "model_support", "models", "monkeypatch", "processing_strategies", "prompt_strategies"),
    *("prompt_tokenizers", "prompters", "telemetry", "train", "utils"),
}


def _split(entry: str, release: str) -> tuple[str, str] | None:
    """load_plugin's (module, class) for an entry; None where it fails to split (a name without a dot)."""
    if ":" in entry and release_key(release) >= (0, 21):
        module, _, cls = entry.partition(":")
        return module, cls
    return (entry.rsplit(".", 1)[0], entry.rsplit(".", 1)[1]) if "." in entry else None


def _packages(release: str) -> set[str]:
    shipped = {p.package for p in PLUGINS if p.ships_in(release)}
    return shipped | {n for n, since in PACKAGES_WITHOUT_PLUGIN.items() if release_key(release) >= release_key(since)}


def axolotl_module(module: str, release: str) -> str | None:
    """The module path inside axolotl.integrations an entry's module resolves to (load_plugin retries a
    module it cannot import under axolotl.integrations.); None for a module outside Axolotl's package."""
    if module.startswith(PREFIX):
        return module[len(PREFIX) :]
    if module == "axolotl" or module.startswith("axolotl."):
        return "?" + module  # inside axolotl, but no integration: never a plugin
    return module if module.split(".")[0] in _packages(release) else None


def outcome(entry: Any, release: str) -> tuple[str, str] | None:
    """How load_plugin fails on one entry in `release`: ("missing", why) when the module is not found,
    ("broken", why) for any other failure; None when it loads, or when it is not Axolotl's to judge."""
    if not isinstance(entry, str):
        return None  # a wrong type is the type rule's
    split = _split(entry, release)
    if split is None:
        return "broken", "not enough values to unpack (expected 2, got 1)"
    module, cls = split
    inside = axolotl_module(module, release)
    if inside is None:
        return None
    if inside.startswith("?"):  # inside axolotl: its top-level modules import, deeper ones lint does not list
        exists = module == "axolotl" or module.split(".", 1)[1] in AXOLOTL_MODULES
        return (
            ("broken", f"module '{module}' has no attribute '{cls}'")
            if exists
            else ("missing", f"No module named '{module}'")
        )
    package, _, sub = inside.partition(".")
    if package not in _packages(release):
        return "missing", f"No module named '{module}'"
    if (inside, cls) == ("base", "BasePlugin"):
        return None  # the do-nothing base class loads as a plugin
    plugin = BY_PACKAGE.get(package)
    if sub and (plugin is None or sub != plugin.home):
        # A submodule other than the plugin's own: lint does not list them, and a misspelt one is the usual case.
        return "missing", f"No module named '{module}'"
    ok = plugin is not None and plugin.ships_in(release) and cls == plugin.cls and (bool(sub) or plugin.exported)
    return None if ok else ("broken", f"module '{PREFIX}{inside}' has no attribute '{cls}'")


def suggestion(entry: str, release: str) -> str:
    names = [p.path for p in PLUGINS if p.ships_in(release)]
    close = difflib.get_close_matches(entry, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def whole(x: Any) -> TypeGuard[int]:
    """An int as pydantic's int fields take it from YAML (a bool is not one)."""
    return isinstance(x, int) and not isinstance(x, bool)


def number(x: Any) -> TypeGuard[int | float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def entries(v: Values) -> list[Any]:
    plugins = v.get("plugins")
    return plugins if isinstance(plugins, list) else []


def listed(v: Values, package: str) -> bool:
    """`plugins:` names this package's plugin in a form that loads it (full, submodule, short or `module:Class`)."""
    plugin = BY_PACKAGE[package]
    for entry in entries(v):
        if not isinstance(entry, str):
            continue
        module, cls = (
            entry.partition(":")[::2] if ":" in entry else (entry.rpartition(".")[0], entry.rpartition(".")[2])
        )
        inside = module[len(PREFIX) :] if module.startswith(PREFIX) else module
        if cls == plugin.cls and inside in (package if plugin.exported else None, f"{package}.{plugin.home}"):
            return True
    return False


def gated(package: str, check: Check) -> Check:
    """`check`, run only while the plugin of `package` is registered through `plugins:`."""

    def run(v: Values) -> Found | None:
        return check(v) if listed(v, package) else None

    return run


def third_party(v: Values) -> Iterator[tuple[int, str]]:
    """(index, entry) of each `plugins:` entry outside Axolotl's package, as the newest release resolves it."""
    for i, entry in enumerate(entries(v)):
        if isinstance(entry, str) and "." in entry.replace(":", "."):
            module = entry.partition(":")[0] if ":" in entry else entry.rsplit(".", 1)[0]
            if axolotl_module(module, NEWEST.version) is None:
                yield i, entry


def _reported_by_normalize(entry: str, release: str) -> bool:
    """normalize.py's axolotl-plugin-name (no dot; `module:Class` before 0.21) and axolotl-plugin-missing (a
    package the release does not ship) already report this entry: this rule takes every other failure."""
    from . import normalize

    one = {"plugins": [entry]}
    new = release_key(release) >= (0, 21)
    return bool(normalize.unsplittable_plugin(entry_points=new)(one) or normalize.missing_plugin(release)(one))


def _failing(kind: str | None, release: str) -> Check:
    """The first entry whose load fails in `release` (of `kind`: "missing" / "broken"; None: either)."""

    def check(v: Values) -> Found | None:
        for i, entry in enumerate(entries(v)):
            found = outcome(entry, release)
            if not found or (kind is not None and found[0] != kind) or _reported_by_normalize(entry, release):
                continue
            if release_key(release) >= (0, 21):
                message = f"Could not load required plugin '{entry}': {found[1]}"
            elif found[0] == "missing":
                message = f"Failed to load plugin: {entry} (Error: {found[1]}); training continues without it"
            else:
                message = found[1]
            return message + suggestion(entry, release), ("plugins", i)
        return None

    return check


_SOURCE = "integrations/base.py:load_plugin, integrations/base.py:PluginManager.register"
_FIX = (
    "Name a plugin the release ships: "
    + ", ".join(p.path + ("" if p.since == OLDEST else f" ({p.since.rsplit('.', 1)[0]}+)") for p in PLUGINS)
    + "; or drop the entry."
)
_MISSING = {"plugins": ["axolotl.integrations.swanlab.plugin.SwanLabPlugin"]}
_BROKEN = {"plugins": ["axolotl.integrations.liger.LigerPlugn"]}
_GOOD = {"plugins": ["axolotl.integrations.liger.plugin.LigerPlugin"]}


def _forms() -> Iterable[Validator]:
    for release, until in (("0.19.0", "0.20.0"), ("0.20.0", "0.21.0")):
        yield Validator(
            "axolotl-plugin-unknown",
            "A `plugins:` entry in a module Axolotl ships that names no plugin there (a misspelt class or submodule).",
            _SOURCE,
            _failing("broken", release),
            fix=_FIX,
            since=release,
            until=until,
            refused=_BROKEN,
            accepted=_GOOD,
        )
        yield Validator(
            "axolotl-plugin-unknown",
            "A `plugins:` entry in a module Axolotl ships that names no plugin there (a misspelt class or submodule).",
            _SOURCE,
            _failing("missing", release),
            fix=_FIX,
            level=Severity.WARNING,
            since=release,
            until=until,
            refused=_MISSING,
            accepted=_GOOD,
        )
    yield Validator(
        "axolotl-plugin-unknown",
        "A `plugins:` entry in a module Axolotl ships that names no plugin there (a misspelt class or submodule).",
        _SOURCE,
        _failing(None, "0.21.0"),
        fix=_FIX,
        since="0.21.0",
        refused=_MISSING,
        accepted=_GOOD,
    )


register(_forms())
# Plugin validators that judge nothing in the training YAML: the cloud launchers' own YAML (`axolotl cloud`,
# `--cloud FILE`) and an alias that names the same MoRA variant.
out_of_scope(
    {
        "integrations/coreweave/cloud_args.py:CoreWeaveCloudConfig._validate_cks": "environment",
        "integrations/coreweave/cloud_args.py:CoreWeaveCloudConfig.validate_job": "environment",
        "integrations/modal/args.py:ModalImageConfig.registry_source": "environment",
        "integrations/nebius/args.py:NebiusCloudConfig.validate_environment": "environment",
        "integrations/nebius/args.py:NebiusCloudConfig.validate_resources": "environment",
        "integrations/nebius/args.py:NebiusVolume.validate_paths": "environment",
        "integrations/mora/args.py:MoraConfig.normalize_mora_type": "no-effect",
    }
)


AXOLOTL_PLUGIN_UNCHECKED = rule(
    "axolotl-plugin-unchecked",
    Severity.INFO,
    Stage.CONFIG,
    "A plugin from outside Axolotl's package: lint does not check its settings.",
    Docs(
        what="""A `plugins:` entry whose module is not under axolotl.integrations (nor the short form of one of
      Axolotl's plugins) is third-party code: Axolotl imports it at start-up and merges its own validators
      into the config model. lint never imports it, so it checks none of that plugin's settings, and
      `lint --with-axolotl` leaves it out too.""",
        why="Its validators can still refuse the config at start-up, and nothing here would have said so.",
        fix="Nothing to change if the plugin is meant; check its settings with the plugin's own documentation.",
        source="axolotl/integrations/base.py load_plugin",
    ),
)


@AXOLOTL_PLUGIN_UNCHECKED.checks
def unchecked(ctx: Context) -> Iterable[Finding]:
    for i, entry in third_party(ctx.doc.values):
        yield AXOLOTL_PLUGIN_UNCHECKED.at(
            ctx.doc,
            f"plugin {entry} is not one Axolotl ships: lint does not import it or check its settings",
            ("plugins", i),
            hint="its own validators run when Axolotl starts",
        )
