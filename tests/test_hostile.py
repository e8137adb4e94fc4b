"""Hostile input: bounded time and memory, clear findings, no code run, no network when offline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from lora_compiler.pipeline.compiler import Options, compile_document

# The README promises hostile input ends in under 2 s and 300 MB on a quiet machine. A test bounds time
# only with a 10x margin over the quiet figure: CI runs on a busy 2-core machine, where a flat 2 s bound
# measured 3.2 s (alias bomb) and 4.2 s (deep mapping) and failed. QUIET_S is each case's slowest of 7
# runs on a quiet 2-core machine (nothing else on the CPU; Python 3.11), in seconds inside the command
# as _RUNNER counts them, rounded up to 0.1 s. Per case rather than one flat bound: a regression that
# parsed the padded file's first 10 MB instead of refusing it takes ~10 s quiet, which a flat 20 s
# bound would let through and 100MB's 4 s does not.
QUIET_S = {"alias-bomb": 1.1, "deep-mapping": 1.3, "deep-nesting": 0.4, "100MB": 0.4, "binary": 0.4,
           "non-utf8": 0.4, "empty": 0.4, "directory": 0.4, "missing": 0.4}
TIME_MARGIN = 10
# Memory does not grow with load, so it keeps the promise: quiet peaks are 32-33 MB, 77 MB for the
# alias bomb and 76 MB for the deep mapping (3.9x under the bound), and an alias bomb expanded past
# the node cap would blow through it.
LIMIT_MB = 300

# Peak memory is VmHWM, this process image's own high-water mark: ru_maxrss would include the parent
# pytest's, which Linux carries across fork and exec.
_RUNNER = """
import re, sys, time
from lora_compiler.cli import cli
start = time.monotonic()
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
hwm = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
print(f"@@ {code} {time.monotonic() - start:.3f} {hwm:.1f}", file=sys.stderr)
"""


def _lint(path):
    """Run lint --no-model in a fresh process; return (exit code, seconds in the command, peak MB, output)."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER, "lint", "--no-model", str(path)], capture_output=True,
                          text=True, timeout=60)
    tail = proc.stderr.strip().splitlines()[-1].split()
    return int(tail[1]), float(tail[2]), float(tail[3]), proc.stdout + proc.stderr


def _bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefghi", "bcdefghij"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias-bomb": (lambda p: p.write_text(_bomb()), "yaml-too-complex"),
    "deep-nesting": (lambda p: p.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n"), "yaml-too-complex"),
    "deep-mapping": (lambda p: p.write_text("".join(" " * i + f"k{i}:\n" for i in range(1000))), "yaml-too-complex"),
    "100MB": (lambda p: p.write_bytes(b"# padding\n" * 10_500_000), "input-unreadable"),
    "binary": (lambda p: p.write_bytes(bytes(range(256)) * 100), "input-unreadable"),
    "non-utf8": (lambda p: p.write_bytes(b"base_model: \xff\xfe\n"), "input-unreadable"),
    "empty": (lambda p: p.write_text(""), "yaml-not-mapping"),
    "directory": (lambda p: p.mkdir(), "input-unreadable"),
    "missing": (lambda p: None, "input-unreadable"),
}


def test_every_hostile_case_has_a_quiet_figure():
    assert set(QUIET_S) == set(HOSTILE)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_file_ends_fast_in_bounded_memory_with_a_finding(kind, tmp_path):
    path = tmp_path / "hostile.yml"
    make, rule = HOSTILE[kind]
    make(path)
    code, seconds, peak_mb, output = _lint(path)
    assert code == 2, output
    assert f"[{rule}]" in output and "Traceback" not in output
    assert seconds < TIME_MARGIN * QUIET_S[kind], (seconds, QUIET_S[kind])
    assert peak_mb < LIMIT_MB, peak_mb


def test_nothing_touches_the_network_offline(monkeypatch, write_yaml):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cfg = write_yaml("base_model: some-org/not-cached\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n")
    result = compile_document(cfg, Options(offline=True))
    assert [f.rule for f in result.findings] == ["model-not-found"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert [f.rule for f in compile_document(cfg, Options()).findings] == ["model-not-found"]
    bundled = write_yaml("base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
                         "lora_target_linear: true\n", "bundled.yml")
    assert compile_document(bundled, Options(offline=True)).ok
    assert attempts == []


def _remote_code_model(tmp_path, marker):
    from transformers import LlamaConfig

    d = tmp_path / "remote-model"
    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=128).save_pretrained(d)
    config = json.loads((d / "config.json").read_text())
    config.update(model_type="evil_llama", architectures=["EvilForCausalLM"],
                  auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                            "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"})
    (d / "config.json").write_text(json.dumps(config))
    (d / "configuration_evil.py").write_text(
        f"open({str(marker)!r}, 'a').write('config imported\\n')\n"
        "from transformers import LlamaConfig\n\n\nclass EvilConfig(LlamaConfig):\n    model_type = 'evil_llama'\n")
    (d / "modeling_evil.py").write_text(
        f"open({str(marker)!r}, 'a').write('model imported\\n')\n"
        "from transformers import LlamaForCausalLM\nfrom .configuration_evil import EvilConfig\n\n\n"
        "class EvilForCausalLM(LlamaForCausalLM):\n    config_class = EvilConfig\n")
    return d


def test_remote_code_runs_only_with_the_command_line_flag(tmp_path, write_yaml, monkeypatch):
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    marker = tmp_path / "MARKER"
    model = _remote_code_model(tmp_path, marker)
    cfg = write_yaml(f"base_model: {model}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
                     "trust_remote_code: true\n")
    for command in (["compile", str(cfg), "--no-cache"], ["lint", str(cfg)], ["diff", str(cfg), str(cfg)],
                    ["diff", str(cfg), "--convention", "axolotl", "--convention", "peft-all-linear"]):
        res = CliRunner().invoke(cli, command)
        assert res.exit_code == 2 and "remote-code-required" in res.output, (command, res.output)
        assert not marker.exists()
    res = CliRunner().invoke(cli, ["compile", str(cfg), "--trust-remote-code", "--no-cache", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"]["architecture"] == "EvilForCausalLM"
    assert "model imported" in marker.read_text()


def _model_dir(tmp_path, body=None, link=None):
    d = tmp_path / "model"
    d.mkdir()
    if link:
        (d / "config.json").symlink_to(link)
    else:
        (d / "config.json").write_text(body)
    return d


@pytest.mark.parametrize("case", ["int-10001-digits", "hex-20000-digits", "config-not-json", "config-100000-deep",
                                  "model-type-list", "config-is-proc-environ", "rank-1e30"])
def test_issue_20_tracebacks_are_findings_with_exit_2_or_1(case, tmp_path, monkeypatch):
    """Reproduced by a hostile run: each raised a traceback (exit 1). Now a finding, and never a traceback."""
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base, keys = "meta-llama/Llama-3.2-1B", "adapter: lora\nlora_alpha: 16\nlora_target_linear: true\n"
    rank = "lora_r: 8\n"
    want = {"int-10001-digits": (2, "yaml-syntax"), "hex-20000-digits": (1, "schema"), "rank-1e30": (1, "schema")}
    if case == "int-10001-digits":
        rank = "lora_r: " + "9" * 10001 + "\n"
    elif case == "hex-20000-digits":
        rank = "lora_r: 0x" + "f" * 20000 + "\n"
    elif case == "rank-1e30":
        rank = f"lora_r: {10**30}\n"
    else:
        body = {"config-not-json": "{not json", "config-100000-deep": "[" * 100000 + "]" * 100000,
                "model-type-list": '{"model_type": ["llama"]}'}.get(case)
        base = str(_model_dir(tmp_path, body, "/proc/self/environ" if case == "config-is-proc-environ" else None))
        want[case] = (2, "model-config-invalid")
    cfg = tmp_path / "train.yml"
    cfg.write_text(f"base_model: {base}\n{keys}{rank}")
    res = CliRunner().invoke(cli, ["compile", str(cfg), "--no-cache"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    code, rule = want[case]
    assert res.exit_code == code and f"[{rule}]" in res.output, res.output[-400:]


def test_a_pyproject_with_tool_not_a_table_and_an_unwritable_lint_report_are_usage_errors(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    cfg = tmp_path / "train.yml"
    cfg.write_text("base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n")
    res = CliRunner().invoke(cli, ["lint", "--no-model", str(cfg), "-o", "/proc/nonexistent/x"])
    assert res.exit_code == 2 and "cannot write the report" in res.output and res.exception.__class__ is SystemExit
    (tmp_path / "pyproject.toml").write_text("tool = 1\n")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["lint", "--no-model", str(cfg)])
    assert res.exit_code == 2 and "'tool' must be a table" in res.output


def test_a_yaml_merge_override_is_not_a_duplicate_key():
    """`<<: *defaults` then `lora_r: 8` is standard YAML that PyYAML (so Axolotl) accepts."""
    from lora_compiler.pipeline.document import load_text

    doc = load_text("defaults: &d {lora_r: 4, lora_alpha: 8}\nadapter: lora\n<<: *d\nlora_r: 8\n", "t.yml")
    assert doc.findings == [] and doc.values["lora_r"] == 8 and doc.values["lora_alpha"] == 8
    twice = load_text("adapter: lora\nlora_r: 4\nlora_r: 8\n", "t.yml")
    assert [f.rule for f in twice.findings] == ["yaml-duplicate-key"]
