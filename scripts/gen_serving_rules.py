"""Read vLLM's LoRA limits from its released wheel into lora_compiler/serving_rules.json.

    pip download --no-deps vllm==0.33.0 -d /tmp/engines
    python scripts/gen_serving_rules.py /tmp/engines/vllm-0.33.0-*.whl [OUT]

The wheel is opened as a zip and its files are parsed with `ast`; nothing of vLLM is imported (it needs a
GPU build of torch). Extracted: the allowed --max-lora-rank values and their default (vllm/config/lora.py,
MaxLoRARanks, LoRAConfig.max_lora_rank), and PEFTHelper's feature checks (vllm/lora/peft_helper.py,
_validate_features and _init_is_supported): the adapter_config.json fields it refuses, its message for each,
the modules_to_save it allows and the initialisations it accepts. tests/test_serving_rules.py compares the
committed table with what this extracts from the pinned wheel.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from pathlib import Path

LORA_CONFIG = "vllm/config/lora.py"
PEFT_HELPER = "vllm/lora/peft_helper.py"


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise LookupError(f"{cls}.{name}")


def _text(node: ast.AST) -> str:
    """A string or f-string as written, with each {expression} kept as {name}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values)
    if isinstance(node, ast.BinOp):
        return _text(node.left) + _text(node.right)
    return ast.unparse(node)


def ranks(source: str) -> dict:
    tree = ast.parse(source)
    allowed = default = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MaxLoRARanks" for t in node.targets):
            allowed = [e.value for e in node.value.slice.elts]  # Literal[1, 8, ...]
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "max_lora_rank":
            default = node.value.value
    if allowed is None or default is None:
        raise LookupError("MaxLoRARanks or LoRAConfig.max_lora_rank not found")
    return {"allowed": allowed, "default": default}


def features(source: str) -> dict:
    tree = ast.parse(source)
    checks, allowed_saved = [], None
    for node in _function(tree, "PEFTHelper", "_validate_features").body:
        if not isinstance(node, ast.If):
            continue
        test = node.test
        field = test.attr if isinstance(test, ast.Attribute) else None
        if isinstance(test, ast.UnaryOp) and isinstance(test.operand, ast.Call):
            field = "init_lora_weights"  # `if not self._init_is_supported():`
        appended = [c for c in ast.walk(node) if isinstance(c, ast.Call) and getattr(c.func, "attr", "") == "append"]
        if field == "modules_to_save":
            lists = [n for n in ast.walk(node) if isinstance(n, ast.List)]
            allowed_saved = [e.value for e in lists[0].elts]
        checks.append({"field": field, "message": re.sub(r"\s+", " ", _text(appended[0].args[0])).strip()})
    init = _function(tree, "PEFTHelper", "_init_is_supported")
    inits = [e.value for n in ast.walk(init) if isinstance(n, ast.Tuple) for e in n.elts
             if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return {"checks": checks, "modules_to_save_allowed": allowed_saved, "init_strings_allowed": inits,
            "source": f"{PEFT_HELPER} (PEFTHelper._validate_features, _init_is_supported)"}


def extract(wheel: Path) -> dict:
    version = re.search(r"vllm-([^-]+)-", wheel.name).group(1)
    with zipfile.ZipFile(wheel) as z:
        lora, helper = z.read(LORA_CONFIG).decode(), z.read(PEFT_HELPER).decode()
    return {"vllm": {"version": version, "max_lora_rank": {**ranks(lora), "source": f"{LORA_CONFIG} (MaxLoRARanks)"},
                     "peft_helper": features(helper)}}


def main() -> None:
    wheel = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[1] / "lora_compiler" / \
        "serving_rules.json"
    out.write_text(json.dumps(extract(wheel), indent=1) + "\n")
    print(f"{wheel.name} -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
