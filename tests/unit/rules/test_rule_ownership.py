"""A rule owns everything about its findings: id, level, stage, exit class, docs and check.

Findings are made only through rule objects (rulebook/registry.py): no raise site retypes a rule id or
picks a level, every rule raised is declared and documented, and the exit code follows the rule.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.engine.policy import Policy
from lora_compiler.results.findings import Severity, exit_code
from lora_compiler.rules import Rule, Stage, by_id, restore
from lora_compiler.rules import adapter as adapter_rules
from lora_compiler.rules.docs import pages

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "lora_compiler"
MACHINERY = PACKAGE / "rulebook" / "registry.py"  # the one place a Finding is constructed
POLICY = PACKAGE / "pipeline" / "policy.py"  # project levels override a finding's level: the one other place
CASE = REPO / "tests" / "cases" / "bad" / "qlora-without-4bit.yml"


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _calls(tree: ast.Module) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def test_findings_are_constructed_only_by_the_rule_machinery() -> None:
    wrong = [
        f"{p.relative_to(REPO)}:{c.lineno}"
        for p, tree in _sources()
        if p != MACHINERY
        for c in _calls(tree)
        if _name(c) == "Finding"
    ]
    assert not wrong, f"Finding(...) built outside rulebook/registry.py: {wrong}"


def test_no_raise_site_chooses_a_level() -> None:
    """No `severity=` or `level=` beside a finding's message: the rule (or its declared other level) decides."""
    wrong = [
        f"{p.relative_to(REPO)}:{c.lineno}"
        for p, tree in _sources()
        if p not in (MACHINERY, POLICY)
        for c in _calls(tree)
        if _name(c) in {"at", "finding"} and any(k.arg in {"severity", "level"} for k in c.keywords)
    ]
    assert not wrong


def test_no_finding_is_made_from_a_string_literal_rule_id() -> None:
    """No call but the one declaring a rule takes its id as a string literal (SkeletonError, at, finding, ...)."""
    ids = set(by_id())
    wrong = [
        f"{p.relative_to(REPO)}:{c.lineno} {arg.value!r}"
        for p, tree in _sources()
        for c in _calls(tree)
        if _name(c) not in {"rule", "Validator", "command"}  # click's command("schema") names a command
        for arg in (*c.args, *(k.value for k in c.keywords))
        if isinstance(arg, ast.Constant) and arg.value in ids
    ]
    assert not wrong, f"use the rule object (RULE.at, RULE.finding) instead: {wrong}"


def _bound(p: Path, tree: ast.Module, name: str) -> object:
    """What `name` is in module `p`: its own global, else what an import (lazy ones too) binds it to."""
    dotted = ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    module = importlib.import_module(dotted)
    if hasattr(module, name):
        return getattr(module, name)
    package = dotted if p.name == "__init__.py" else dotted.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            source = importlib.import_module("." * node.level + (node.module or ""), package)
            return getattr(source, next(a.name for a in node.names if (a.asname or a.name) == name))
    return None


def test_every_rule_used_is_declared_and_every_declared_rule_is_used() -> None:
    """Each upper-case name a module reads that is a Rule is a registered one; every registered rule is read
    somewhere besides its declaration (the start-up validators' rules through their table)."""
    from lora_compiler.rules.axolotl.validator import ALL as VALIDATORS

    registered = set(map(id, by_id().values()))
    used = {v.id for v in VALIDATORS}
    for p, tree in _sources():
        if p.name == "__main__.py":
            continue  # runs the CLI on import
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for name in sorted(n for n in names if n.isupper()):
            held = _bound(p, tree, name)
            if isinstance(held, Rule):
                assert id(held) in registered, f"{p.name}: {name}"
                used.add(held.id)
    assert used == set(by_id())


def test_rules_with_a_stage_to_run_have_a_check_and_raised_ones_none() -> None:
    for r in by_id().values():
        assert (r.check is not None) == (r.stage is not Stage.RAISED), r.id


def test_every_rule_is_documented_in_sections() -> None:
    for r in by_id().values():
        assert r.summary.endswith("."), r.id
        assert len(r.docs.what) > 40 and len(r.docs.why) > 20 and len(r.docs.fix) > 15, r.id
        assert r.level not in r.other_levels, r.id


def test_committed_rule_docs_equal_the_generated_ones() -> None:
    generated = pages()
    assert set(generated) == {"docs/rules.md"} | {f"docs/rules/{i}.md" for i in by_id()}
    on_disk = {p.relative_to(REPO).as_posix() for p in (REPO / "docs" / "rules").glob("*.md")} | {"docs/rules.md"}
    assert on_disk == set(generated), "stale or missing pages in docs/rules/"
    stale = [rel for rel, text in generated.items() if (REPO / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate from lora_compiler.rules.docs.pages() (scripts/generate.py): {stale}"


def test_another_level_must_be_declared_by_the_rule() -> None:
    rule = adapter_rules.QLORA_QUANTIZATION
    with pytest.raises(ValueError):
        rule.at_level(Severity.WARNING)
    assert adapter_rules.TRUST_REMOTE_CODE.at_level(Severity.INFO).level is Severity.INFO


def _lint(policy: Policy = Policy()) -> list:
    return compile_document(CASE, Options(no_model=True, policy=policy)).findings


def test_exit_class_and_level_follow_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert exit_code(_lint()) == 1
    unusable = dataclasses.replace(adapter_rules.QLORA_QUANTIZATION, unusable=True)
    monkeypatch.setattr(adapter_rules, "QLORA_QUANTIZATION", unusable)
    found = _lint()
    assert [f.rule for f in found] == ["qlora-quantization"] and exit_code(found) == 2
    # unusable input cannot be silenced by a project policy
    assert exit_code(_lint(Policy(levels={"qlora-quantization": "off"}))) == 2
    monkeypatch.setattr(adapter_rules, "QLORA_QUANTIZATION", dataclasses.replace(unusable, level=Severity.WARNING))
    found = _lint()
    assert [f.severity for f in found] == [Severity.WARNING] and exit_code(found) == 0


def test_a_finding_read_back_from_json_recovers_its_exit_class() -> None:
    made = by_id()["yaml-syntax"].finding("YAML syntax error", "a.yml", 1, 1)
    back = restore(made.to_dict())
    assert back == made and back.unusable and exit_code([back]) == 2
    assert not restore(by_id()["schema"].finding("bad", "a.yml").to_dict()).unusable
