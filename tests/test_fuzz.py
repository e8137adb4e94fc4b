"""Property: any YAML document ends in exit 0, 1 or 2 with findings; never a traceback or a hang.

The default suite runs a short search; `pytest -m slow tests/test_fuzz.py` runs 10,000 examples
(set FUZZ_EXAMPLES to change it).
"""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_compiler.compiler import Options, compile_config
from lora_compiler.findings import Finding
from lora_compiler.session import Session
from lora_compiler.spec import AdapterSpec
from lora_compiler.yamldoc import load_text

KEYS = sorted({f.alias or n for n, f in AdapterSpec.model_fields.items()} | {"peft", "datasets", "lora_targt_modules"})
NAMES = st.sampled_from(["q_proj", "v_proj", "down_proj", "lm_head", "embed_tokens", ".*", "(", "layers", "ℓ∞", ""])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), NAMES,
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.one_of(NAMES, st.text(max_size=8)), inner, max_size=4)),
                      max_leaves=12)
ADAPTER = st.fixed_dictionaries(
    {"adapter": st.sampled_from(["lora", "qlora", "ia3", None, 3]), "lora_r": st.one_of(st.integers(-2, 64), SCALARS),
     "lora_alpha": st.one_of(st.integers(-2, 64), SCALARS)},
    optional={k: VALUES for k in KEYS if k not in ("adapter", "lora_r", "lora_alpha")},
)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10000"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import AutoConfig

    d = tmp_path_factory.mktemp("fuzz") / "tiny"
    AutoConfig.for_model("llama", hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=64).save_pretrained(d)
    return str(d)


SESSION = Session()


def _check_document(text: str, base: str) -> None:
    doc = load_text(text, "fuzz.yml")
    if isinstance(doc.values, dict) and "base_model" not in doc.values:
        doc.values["base_model"] = base
    result = compile_config(doc, Options(offline=True), SESSION)
    assert result.exit_code() in (0, 1, 2)
    assert all(isinstance(f, Finding) for f in result.findings)
    if result.exit_code() == 0:
        assert result.report is not None and result.lora_config is not None


def _dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
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
