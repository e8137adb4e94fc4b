"""The plugins Axolotl ships: what each `plugins:` entry does in each release (as the real 0.19, 0.20 and 0.21
venvs load them), that a plugin's rules run only while it is registered, and that a third-party plugin is
reported as unchecked, never imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.profiles import PROFILES
from lora_compiler.results.findings import Severity
from lora_compiler.rules.axolotl.plugins import PLUGINS, listed, outcome
from lora_compiler.rules.axolotl.validator import example

# entry -> what load_plugin does in each release, oldest first (None: it loads), checked in each release's venv
LOADS = {
    "axolotl.integrations.liger.LigerPlugin": (None, None, None),
    "axolotl.integrations.liger.plugin.LigerPlugin": (None, None, None),
    "liger.LigerPlugin": (None, None, None),
    "axolotl.integrations.liger:LigerPlugin": ("broken", "broken", None),
    "axolotl.integrations.ligr.LigerPlugin": ("missing", "missing", "missing"),
    "axolotl.integrations.liger.LigerPlugn": ("broken", "broken", "broken"),
    "axolotl.integrations.swanlab.plugin.SwanLabPlugin": ("missing", "missing", "missing"),
    "axolotl.integrations.nebius.NebiusCompletionPlugin": ("missing", "broken", "broken"),
    "axolotl.integrations.nebius.completion.NebiusCompletionPlugin": ("missing", None, None),
    "axolotl.integrations.mixlora.MixLoraPlugin": ("missing", None, None),
    "axolotl.integrations.coreweave.CoreWeavePlugin": ("missing", "missing", None),
    "axolotl.integrations.baseten.BasetenPlugin": ("missing", "broken", "broken"),
    "axolotl.utils.Foo": ("broken", "broken", "broken"),
    "axolotl.integrations.base.BasePlugin": (None, None, None),  # the do-nothing base class loads
    "axolotl.integrations.base.Foo": ("broken", "broken", "broken"),
    "liger": ("broken", "broken", "broken"),
    "my_pkg.plugins.MyPlugin": (None, None, None),  # not Axolotl's to judge
}


@pytest.mark.parametrize("entry", list(LOADS))
def test_what_each_entry_does_in_each_release(entry: str) -> None:
    got = tuple((outcome(entry, r) or (None,))[0] for r in PROFILES)
    assert got == LOADS[entry]


def _lint(keys: dict, release: str, tmp_path: Path) -> list:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(example(keys), sort_keys=False))
    return compile_document(path, Options(offline=True, no_model=True, axolotl=release)).findings


def test_an_unloadable_plugin_is_skipped_with_an_error_log_before_0_21_and_refused_since(tmp_path: Path) -> None:
    keys = {"plugins": ["axolotl.integrations.swanlab.plugin.SwanLabPlugin"]}
    levels = {r: [f.severity for f in _lint(keys, r, tmp_path) if f.rule == "axolotl-plugin-unknown"] for r in PROFILES}
    assert list(levels.values()) == [[Severity.WARNING], [Severity.WARNING], [Severity.ERROR]]
    (found,) = [f for f in _lint(keys, "0.21.0", tmp_path) if f.rule == "axolotl-plugin-unknown"]
    assert found.key == "plugins.0" and "did you mean axolotl.integrations.swanlab.SwanLabPlugin?" in found.message


def test_a_misspelt_class_is_refused_in_every_release_once(tmp_path: Path) -> None:
    keys = {"plugins": ["axolotl.integrations.liger.LigerPlugn"]}
    for release in PROFILES:
        found = [f.rule for f in _lint(keys, release, tmp_path) if f.rule.startswith("axolotl-plugin")]
        assert found == ["axolotl-plugin-unknown"], release


def test_what_normalize_reports_is_not_reported_twice(tmp_path: Path) -> None:
    for name in ("LigerPlugin", "axolotl.integrations.ligr.LigerPlugin", "axolotl.integrations.liger:LigerPlugin"):
        found = [f.rule for f in _lint({"plugins": [name]}, "0.20.0", tmp_path) if f.rule.startswith("axolotl-plugin")]
        assert len(found) == 1 and found != ["axolotl-plugin-unknown"], (name, found)


def test_a_plugins_rules_run_only_while_it_is_listed(tmp_path: Path) -> None:
    keys = {"liger_use_token_scaling": True}
    assert not [f for f in _lint(keys, "0.21.0", tmp_path) if f.rule == "axolotl-liger-token-scaling"]
    for name in (
        "axolotl.integrations.liger.LigerPlugin",
        "liger.LigerPlugin",
        "axolotl.integrations.liger:LigerPlugin",
    ):
        found = _lint({**keys, "plugins": [name]}, "0.21.0", tmp_path)
        assert [f.rule for f in found if f.rule == "axolotl-liger-token-scaling"], name


def test_built_in_plugins_need_no_listing_where_the_release_registers_them(tmp_path: Path) -> None:
    capacity = {"expert_parallel_token_capacity": 0}
    fired = {
        r: [f.rule for f in _lint(capacity, r, tmp_path) if f.rule.startswith("axolotl-expert")]
        for r in (
            "0.20.0",
            "0.21.0",
        )
    }
    assert fired == {"0.20.0": [], "0.21.0": ["axolotl-expert-parallel-sizes"]}
    ring = {"context_parallel": {"size": 4, "ring_size": 3}}
    fired = {
        r: [f.rule for f in _lint(ring, r, tmp_path) if f.rule == "axolotl-context-parallel-degrees"]
        for r in (
            "0.19.0",
            "0.20.0",
        )
    }
    assert fired == {"0.19.0": [], "0.20.0": ["axolotl-context-parallel-degrees"]}


def test_a_third_party_plugin_is_unchecked_and_never_imported(tmp_path: Path) -> None:
    keys = {"plugins": ["lc_test_plugin_never_imported.Plugin"]}
    found = _lint(keys, "0.21.0", tmp_path)
    assert [(f.rule, f.severity, f.key) for f in found if f.rule.startswith("axolotl-plugin")] == [
        ("axolotl-plugin-unchecked", Severity.INFO, "plugins.0")
    ]
    assert "lc_test_plugin_never_imported" not in sys.modules


def test_every_shipped_plugin_is_listed_by_its_own_name() -> None:
    for plugin in PLUGINS:
        assert listed({"plugins": [plugin.path]}, plugin.package), plugin.path
        assert not listed({"plugins": [plugin.path + "X"]}, plugin.package)
