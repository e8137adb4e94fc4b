"""Property: any YAML document compiles without an exception escaping, every finding is well formed
(a registered rule, a Severity, a message, a position inside the document or none), and the exit
code is the one its findings call for.

The default suite runs a short search; `pytest -m slow tests/acceptance/test_fuzz.py` runs 10,000 examples
(set FUZZ_EXAMPLES to change it).
"""

from __future__ import annotations

import os
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.engine.session import Session
from lora_compiler.pipeline.document import load_text
from lora_compiler.pipeline.spec import AdapterSpec
from lora_compiler.results.findings import Finding, Severity
from lora_compiler.rules import by_id

KEYS = sorted({f.alias or n for n, f in AdapterSpec.model_fields.items()} | {"peft", "datasets", "lora_targt_modules"})
NAMES = st.sampled_from(["q_proj", "v_proj", "down_proj", "lm_head", "embed_tokens", ".*", "(", "layers", "ℓ∞", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    NAMES,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(NAMES, st.text(max_size=8)), inner, max_size=4)
    ),
    max_leaves=12,
)
ADAPTER = st.fixed_dictionaries(
    {
        "adapter": st.sampled_from(["lora", "qlora", "ia3", None, 3]),
        "lora_r": st.one_of(st.integers(-2, 64), SCALARS),
        "lora_alpha": st.one_of(st.integers(-2, 64), SCALARS),
    },
    optional={k: VALUES for k in KEYS if k not in ("adapter", "lora_r", "lora_alpha")},
)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10000"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import AutoConfig

    d = tmp_path_factory.mktemp("fuzz") / "tiny"
    AutoConfig.for_model(
        "llama",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=64,
    ).save_pretrained(d)
    return str(d)


SESSION = Session()


# Line breaks as YAML (and so PyYAML's marks) count them: CRLF, CR, LF, NEL, LS, PS.
_YAML_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def _is_position(value: object) -> bool:
    return type(value) is int and value >= 1  # not a bool, not 0 (1-based)


def _check_finding(f: object, text: str, file: str) -> None:
    assert isinstance(f, Finding), f
    assert f.rule in by_id(), f"unregistered rule {f.rule!r}: {f}"
    assert isinstance(f.severity, Severity), f
    assert isinstance(f.message, str) and f.message.strip(), f
    assert f.hint is None or isinstance(f.hint, str), f
    assert f.file in (None, file), f
    assert f.line is None or _is_position(f.line), f
    assert f.column is None or (_is_position(f.column) and f.line is not None), f
    if f.line is not None and f.file is not None:
        # A line of the text (the empty one after a final line break counts: end-of-input errors point
        # there); a column at most one past the line's last character (where a missing ']' belongs).
        lines = _YAML_LINE_BREAK.split(text)
        assert f.line <= len(lines), (f, len(lines))
        if f.column is not None:
            assert f.column <= len(lines[f.line - 1]) + 1, (f, lines[f.line - 1])


def _expected_exit(findings: list[Finding], strict: bool) -> int:
    """The documented policy, restated: 2 when an error makes the input unusable, 1 for any other
    error (and, when strict, any warning), else 0."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if any(by_id()[f.rule].unusable for f in errors):
        return 2
    if errors or (strict and any(f.severity is Severity.WARNING for f in findings)):
        return 1
    return 0


def _check_document(text: str, base: str) -> None:
    doc = load_text(text, "fuzz.yml")
    if isinstance(doc.values, dict) and "base_model" not in doc.values:
        doc.values["base_model"] = base
    result = compile_document(doc, Options(offline=True), SESSION)  # an exception escaping fails the example
    for f in result.findings:
        _check_finding(f, text, "fuzz.yml")
    assert result.exit_code() == _expected_exit(result.findings, strict=False), result.findings
    assert result.exit_code(strict=True) == _expected_exit(result.findings, strict=True), result.findings
    if result.exit_code() == 0:
        assert result.report is not None and result.lora_config is not None


def _dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(ADAPTER)
def test_random_adapter_configs_never_crash(tiny_model, data):
    _check_document(_dump(data), tiny_model)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_random_text_never_crashes(tiny_model, text):
    _check_document(text, tiny_model)


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(ADAPTER.map(_dump), st.text(max_size=500), VALUES.map(_dump)))
def test_long_fuzz_run(tiny_model, text):
    _check_document(text, tiny_model)


@pytest.mark.parametrize(
    "bad",
    [
        Finding("no-such-rule", Severity.ERROR, "m", "fuzz.yml", 1, 1),
        Finding("schema", "error", "m", "fuzz.yml", 1, 1),  # type: ignore[arg-type]
        Finding("schema", Severity.ERROR, " ", "fuzz.yml", 1, 1),
        Finding("schema", Severity.ERROR, "m", "other.yml", 1, 1),
        Finding("schema", Severity.ERROR, "m", "fuzz.yml", 0, 1),
        Finding("schema", Severity.ERROR, "m", "fuzz.yml", 1, 0),
        Finding("schema", Severity.ERROR, "m", "fuzz.yml", True, 1),
        Finding("schema", Severity.ERROR, "m", "fuzz.yml", None, 3),
        Finding("schema", Severity.ERROR, "m", "fuzz.yml", 4, 1),  # past the empty line after the last break
        Finding("schema", Severity.ERROR, "m", "fuzz.yml", 1, 6),  # two past the end of 'a: 1'
    ],
    ids=lambda f: f"{f.rule}-{f.severity}-{f.message!r}-{f.file}-{f.line}-{f.column}",
)
def test_the_finding_checks_reject_malformed_findings(bad):
    text = "a: 1\r\nb: 2\n"
    _check_finding(Finding("schema", Severity.ERROR, "m", "fuzz.yml", 3, 1), text, "fuzz.yml")  # the final empty line
    _check_finding(Finding("schema", Severity.ERROR, "m", "fuzz.yml", 1, 5), text, "fuzz.yml")  # just past 'a: 1'
    with pytest.raises(AssertionError):
        _check_finding(bad, text, "fuzz.yml")


def test_the_exit_code_policy_restated():
    def f(rule: str, severity: Severity) -> Finding:
        return Finding(rule, severity, "m")

    assert _expected_exit([], strict=True) == 0
    assert _expected_exit([f("unknown-key", Severity.WARNING)], strict=False) == 0
    assert _expected_exit([f("unknown-key", Severity.WARNING)], strict=True) == 1
    assert _expected_exit([f("schema", Severity.ERROR)], strict=False) == 1
    assert _expected_exit([f("schema", Severity.ERROR), f("yaml-syntax", Severity.ERROR)], strict=False) == 2
