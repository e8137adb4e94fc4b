"""Every architecture transformers has: one layer of each kind answers as the whole model does.

The slow sweep (`python -m pytest -m slow tests/unit/pipeline/test_stacks_sweep.py`, about 70 s on 2 cores)
builds each causal-LM and image-text-to-text architecture the survey can build, from the same small
configs, and compares the collapsed injection with the whole-model one for Axolotl's
lora_target_linear names, with and without modules_to_save. Architectures whose config names no
layer but still are not collapsed (shared blocks, nothing to collapse) are injected whole both
ways; the sweep counts them so the comparison is known to have exercised the collapse.
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import needs_modern_stack

from lora_compiler.model_facts import output_layer_name
from lora_compiler.pipeline.inject import InjectionError, _Snapshot, inject, injected_config
from lora_compiler.pipeline.peftcfg import build_lora_config
from lora_compiler.pipeline.stacks import collapse
from lora_compiler.pipeline.targets import plan_targets
from lora_compiler.profiles import NEWEST


@pytest.mark.slow
@needs_modern_stack
def test_collapsed_injection_equals_whole_model_for_every_architecture() -> None:
    from lora_compiler.features import survey

    seen: Counter[str] = Counter()
    for model_type, mappings in survey.model_types().items():
        try:
            skeleton, _ = survey._default_skeleton(model_type, mappings == [survey.CAUSAL_LM])
        except survey.SurveyFailure:
            seen["not buildable"] += 1
            continue
        model = skeleton.model
        plan = plan_targets(None, True, None, model, NEWEST)
        if not plan.linear_names:
            seen["no linear names"] += 1
            continue
        head = output_layer_name(model)
        for extra in ({}, {"lora_modules_to_save": [head]} if head else {}):
            spec = survey._spec(model_type).model_copy(update=extra)
            lora_config = build_lora_config(spec, plan, skeleton.architecture)
            snapshot = _Snapshot(model)
            collapsed = collapse(model, injected_config(lora_config))
            snapshot.restore()
            try:
                whole = inject(model, lora_config, collapse_stacks=False)
            except InjectionError as exc:
                with pytest.raises(InjectionError) as again:
                    inject(model, lora_config)
                assert str(again.value) == str(exc), model_type
                seen["refused by PEFT"] += 1
                continue
            assert inject(model, lora_config) == whole, (model_type, extra)
            seen["collapsed" if collapsed else "whole"] += 1
    print(dict(seen))
    assert seen["collapsed"] >= 150, seen
