"""Nothing is lost: failures between write and rename, racing compiles, protected directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from lora_compiler.io import files
from lora_compiler.io.files import write_all

EXAMPLE = REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml"


def test_failure_at_any_rename_keeps_the_previous_pair(tmp_path, monkeypatch):
    write_all(tmp_path, {"adapter_config.json": "old-a", "targets.json": "old-t"})
    real_replace = os.replace
    for fail_at in (1, 2):
        calls = {"n": 0}

        def flaky(src, dst, _fail_at=fail_at):
            if str(dst).endswith((".json",)) and not str(src).endswith(".bak"):
                calls["n"] += 1
                if calls["n"] == _fail_at:
                    raise OSError("disk full (injected)")
            return real_replace(src, dst)

        monkeypatch.setattr(files.os, "replace", flaky)
        with pytest.raises(OSError, match="injected"):
            write_all(tmp_path, {"adapter_config.json": "new-a", "targets.json": "new-t"})
        monkeypatch.setattr(files.os, "replace", real_replace)
        assert (tmp_path / "adapter_config.json").read_text() == "old-a"
        assert (tmp_path / "targets.json").read_text() == "old-t"
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            ".lora-compiler.lock",
            "adapter_config.json",
            "lora-compiler.json",
            "targets.json",
        ]  # no temporary
        assert files.read_set(tmp_path) == {"adapter_config.json": b"old-a", "targets.json": b"old-t"}


def test_failure_while_staging_writes_nothing(tmp_path, monkeypatch):
    write_all(tmp_path, {"a.json": "old"})

    def broken(*args, **kwargs):
        raise OSError("no space (injected)")

    monkeypatch.setattr(files, "_stage", broken)
    with pytest.raises(OSError):
        write_all(tmp_path, {"a.json": "new", "b.json": "new"})
    assert (tmp_path / "a.json").read_text() == "old" and not (tmp_path / "b.json").exists()


def test_racing_compiles_leave_one_consistent_pair(tmp_path):
    out = tmp_path / "out"
    configs = []
    for r in (4, 8):
        cfg = tmp_path / f"r{r}.yml"
        cfg.write_text(EXAMPLE.read_text().replace("lora_r: 16", f"lora_r: {r}"))
        configs.append(cfg)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lora_compiler", "compile", str(c), "-o", str(out), "--offline"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for c in configs
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    adapter = json.loads((out / "adapter_config.json").read_text())
    targets = json.loads((out / "targets.json").read_text())
    assert adapter["r"] in (4, 8)
    assert {m["r"] for m in targets["modules"]} == {adapter["r"]}
    assert f"r={adapter['r']}/" in (out / "report.md").read_text()


def _compile_cli(args):
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    return CliRunner().invoke(
        cli, ["compile", str(REPO / "fixtures/configs/llama-3.2-1b-lora.yml"), "--offline", "--no-cache", *args]
    )


def test_a_base_model_folder_is_refused_before_any_work_and_left_as_it_was(tmp_path):
    model = tmp_path / "base"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"\0" * 16)
    before = sorted(p.name for p in model.iterdir())
    res = _compile_cli(["-o", str(model)])
    assert res.exit_code == 2
    assert "model.safetensors" in res.stderr and "--force" in res.stderr
    assert res.stdout == ""  # refused first: no compile summary printed before the error
    assert sorted(p.name for p in model.iterdir()) == before
    forced = _compile_cli(["-o", str(model), "--force"])
    assert forced.exit_code == 0 and (model / "adapter_config.json").is_file()


def test_output_on_a_regular_file_does_not_suggest_force(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    res = _compile_cli(["-o", str(target)])
    assert res.exit_code == 2 and "not a directory" in res.stderr and "--force" not in res.stderr
    assert target.read_text() == "mine"
