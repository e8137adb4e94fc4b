"""The compile result cache: same bytes on a hit, a miss on any change, never a wrong answer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import DATASETS_YAML

from lora_compiler import inputs
from lora_compiler.cli import cli
from lora_compiler.io import cache
from lora_compiler.pipeline.document import load_file


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_COMPILER_CACHE_DIR", str(tmp_path / "cache"))


def _config(model_dir, write_yaml, r=8):
    return write_yaml(
        f"base_model: {model_dir}\nadapter: lora\nlora_r: {r}\nlora_alpha: 16\nlora_target_linear: true\n"
        + DATASETS_YAML
    )


def _compile(cfg, out, *extra):
    res = CliRunner().invoke(cli, ["compile", str(cfg), "-o", str(out), *extra], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout, {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}


def _forge(entry, mutate):
    """Rewrite an entry the way someone without the key could: change it, recompute every public checksum."""
    import hashlib

    data = json.loads(entry.read_text())
    mutate(data["payload"])
    data["mac"] = hashlib.sha256(
        json.dumps({"key": data["key"], "payload": data["payload"]}, sort_keys=True).encode()
    ).hexdigest()
    entry.write_text(json.dumps(data))


def _entries(tmp_path):
    return sorted((tmp_path / "cache").glob("*.json"))


def test_hit_returns_the_same_bytes(model_dir, write_yaml, tmp_path):
    cfg = _config(model_dir("llama"), write_yaml)
    first = _compile(cfg, tmp_path / "a")
    assert len(_entries(tmp_path)) == 1
    assert _compile(cfg, tmp_path / "b") == first
    assert _compile(cfg, tmp_path / "c", "--no-cache") == first


def _counting(monkeypatch):
    """How many times compile really ran (a cache hit does not)."""
    import lora_compiler.api as api

    real, calls = api._compile_entry, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "_compile_entry", counted)
    return calls


def test_any_input_change_misses(model_dir, write_yaml, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    d = model_dir("llama")
    cfg = _config(d, write_yaml)
    _compile(cfg, tmp_path / "a")
    cfg.write_text(cfg.read_text().replace("lora_r: 8", "lora_r: 4"))  # the YAML
    out, files = _compile(cfg, tmp_path / "b")
    assert json.loads(files["adapter_config.json"])["r"] == 4
    config = json.loads((d / "config.json").read_text())  # the model config's content
    (d / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    _, files = _compile(cfg, tmp_path / "c")
    assert json.loads(files["targets.json"])["model"]["num_hidden_layers"] == 3
    assert len(calls) == 3
    _compile(cfg, tmp_path / "d")
    assert len(calls) == 3  # nothing changed: a hit
    real = inputs._dist  # a library upgrade
    monkeypatch.setattr(inputs, "_dist", lambda name: "99.0" if name == "peft" else real(name))
    _compile(cfg, tmp_path / "e")
    assert len(calls) == 4


def _options():
    from lora_compiler.engine.options import Options

    return Options()


def test_a_file_a_stage_starts_reading_is_checked_without_a_cache_edit(model_dir, write_yaml, tmp_path, monkeypatch):
    """The cache keeps no list of inputs: what a stage reads through read_bounded is recorded with the entry."""
    from lora_compiler.pipeline import sharding
    from lora_compiler.pipeline.document import read_bounded

    calls = _counting(monkeypatch)
    extra = tmp_path / "extra.json"
    extra.write_text("{}")
    real = sharding.plan
    monkeypatch.setattr(sharding, "plan", lambda values, folder: (read_bounded(extra, 100), real(values, folder))[1])
    cfg = _config(model_dir("llama"), write_yaml)
    first = _compile(cfg, tmp_path / "a")
    assert _compile(cfg, tmp_path / "b") == first and len(calls) == 1
    extra.write_text('{"changed": true}')
    assert _compile(cfg, tmp_path / "c") == first and len(calls) == 2
    assert _compile(cfg, tmp_path / "d") == first and len(calls) == 2


def test_a_changed_deepspeed_json_misses(model_dir, write_yaml, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    cfg = write_yaml(_config(model_dir("llama"), write_yaml).read_text() + f"deepspeed: {ds}\n")
    _, two = _compile(cfg, tmp_path / "a")
    ds.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    _, three = _compile(cfg, tmp_path / "b")
    assert len(calls) == 2
    assert "ZeRO-2" in two["targets.json"].decode() and "ZeRO-3" in three["targets.json"].decode()


def test_an_environment_variable_a_stage_consulted_is_checked(model_dir, write_yaml, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    cfg = _config(model_dir("llama"), write_yaml)
    _compile(cfg, tmp_path / "a")
    monkeypatch.setenv("LORA_COMPILER_AXOLOTL", "0.19")  # profiles.select reads it
    _, files = _compile(cfg, tmp_path / "b")
    assert len(calls) == 2 and json.loads(files["targets.json"])["axolotl"]["version"].startswith("0.19")


def test_a_run_that_read_what_cannot_be_checked_again_is_not_stored(model_dir, write_yaml, tmp_path, monkeypatch):
    from lora_compiler.pipeline import sharding

    real = sharding.plan
    monkeypatch.setattr(sharding, "plan", lambda *a: (inputs.untracked("the network"), real(*a))[1])
    _compile(_config(model_dir("llama"), write_yaml), tmp_path / "a")
    assert _entries(tmp_path) == []


@pytest.mark.parametrize("damage", ["garbage", "checksum", "truncated", "wrong-key"])
def test_corrupt_entry_is_a_miss_never_a_wrong_answer(model_dir, write_yaml, tmp_path, damage):
    cfg = _config(model_dir("llama"), write_yaml)
    good = _compile(cfg, tmp_path / "a")
    [entry] = _entries(tmp_path)
    data = json.loads(entry.read_text())
    if damage == "garbage":
        entry.write_bytes(b"\x00\xff not json")
    elif damage == "checksum":
        data["payload"]["files"]["adapter_config.json"] = '{"r": 999}'
        entry.write_text(json.dumps(data))
    elif damage == "truncated":
        entry.write_text(entry.read_text()[:50])
    else:
        data["key"] = "0" * 64
        entry.write_text(json.dumps(data))
    assert _compile(cfg, tmp_path / "b") == good


def test_failed_compiles_are_not_cached(model_dir, write_yaml, tmp_path):
    cfg = write_yaml(
        f"base_model: {model_dir('llama')}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_modules: [nope]\n"
        + DATASETS_YAML
    )
    assert CliRunner().invoke(cli, ["compile", str(cfg)]).exit_code == 1
    assert _entries(tmp_path) == []


def test_hit_does_not_import_torch(model_dir, write_yaml, tmp_path):
    cfg = _config(model_dir("llama"), write_yaml)
    _compile(cfg, tmp_path / "a")
    code = (
        "import sys\nfrom lora_compiler.cli import cli\n"
        f"try:\n    cli(['compile', {str(cfg)!r}, '-o', {str(tmp_path / 'b')!r}])\nexcept SystemExit as e:\n"
        "    assert e.code == 0\n"
        "assert not [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**__import__("os").environ}
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b" / "adapter_config.json").read_bytes() == (
        tmp_path / "a" / "adapter_config.json"
    ).read_bytes()


def test_a_forged_entry_cannot_turn_a_failure_into_success_or_write_outside(model_dir, write_yaml, tmp_path):
    cfg = _config(model_dir("llama"), write_yaml)
    good = _compile(cfg, tmp_path / "a")
    [entry] = _entries(tmp_path)

    def poison(payload):
        payload["files"]["../POISONED_OUTSIDE.txt"] = "planted"
        payload["files"]["adapter_config.json"] = '{"r": 999}'

    _forge(entry, poison)
    assert _compile(cfg, tmp_path / "b") == good
    assert not list(tmp_path.rglob("POISONED_OUTSIDE.txt"))


def test_an_entry_made_with_the_key_but_naming_a_path_is_still_refused(model_dir, write_yaml, tmp_path):
    cfg = _config(model_dir("llama"), write_yaml)
    good = _compile(cfg, tmp_path / "a")
    [entry] = _entries(tmp_path)
    data = json.loads(entry.read_text())
    data["payload"]["files"]["../POISONED_OUTSIDE.txt"] = "planted"
    secret = (tmp_path / "cache" / cache.KEY_FILE).read_bytes()
    data["mac"] = cache._mac(secret, data["key"], data["payload"])
    entry.write_text(json.dumps(data))
    assert _compile(cfg, tmp_path / "b") == good
    assert not list(tmp_path.rglob("POISONED_OUTSIDE.txt"))


def test_a_cache_dir_others_can_write_is_not_used(model_dir, write_yaml, tmp_path):
    cfg = _config(model_dir("llama"), write_yaml)
    (tmp_path / "cache").mkdir(mode=0o777)
    (tmp_path / "cache").chmod(0o777)
    _compile(cfg, tmp_path / "a")
    assert _entries(tmp_path) == []


def test_the_key_file_is_private_and_a_shared_secret_replaces_it(model_dir, write_yaml, tmp_path, monkeypatch):
    cfg = _config(model_dir("llama"), write_yaml)
    _compile(cfg, tmp_path / "a")
    assert (tmp_path / "cache" / cache.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700
    key = cache.compile_key(load_file(cfg), _options(), "text")
    assert cache.load(key, frozenset({"adapter_config.json", "targets.json", "report.md", "report.html"}))
    monkeypatch.setenv(cache.KEY_ENV, "a CI secret shared by the jobs of one project")
    assert cache.load(key, frozenset({"adapter_config.json"})) is None  # made with the other key: a miss


def test_a_changed_saved_adapter_misses(model_dir, write_yaml, tmp_path, monkeypatch):
    """lora_model_dir's files are recorded inputs: replacing the adapter re-checks it."""
    calls = _counting(monkeypatch)
    d = model_dir("llama")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16}))
    (adapter / "adapter_model.safetensors").write_bytes(len(b"{}").to_bytes(8, "little") + b"{}")
    cfg = write_yaml(
        f"base_model: {d}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
        f"lora_model_dir: {adapter}\n" + DATASETS_YAML
    )
    first = _compile(cfg, tmp_path / "a")
    assert _compile(cfg, tmp_path / "b") == first and len(calls) == 1
    (adapter / "adapter_model.safetensors").write_bytes(b"x" * 16)  # the weights: only their header is read
    assert CliRunner().invoke(cli, ["compile", str(cfg), "-o", str(tmp_path / "c")]).exit_code == 1
    (adapter / "adapter_model.safetensors").write_bytes(len(b"{}").to_bytes(8, "little") + b"{}")
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 16}))
    assert _compile(cfg, tmp_path / "d") != first and len(calls) == 3
