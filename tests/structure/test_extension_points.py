"""Every Axolotl release, trainer and serving engine is declared once, and everything that names one agrees.

The declarations: lora_compiler/profiles/axolotl_X_Y.py (profiles.RELEASES), lora_compiler/export/<trainer>.py
(export.TRAINERS) and lora_compiler/serving/<engine>.py (serving.ENGINES). Files derived from them (constraints,
the docs table of profiles, CLI help) must equal what the declarations produce; files that name them by hand
(docs, scripts, tests, .ci/run) may name only declared ones, at their declared versions, and no literal list
may enumerate a registry instead of reading it.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lora_compiler import export, profiles, serving
from lora_compiler.cli import cli
from lora_compiler.export import TRAINERS
from lora_compiler.export.__main__ import answer
from lora_compiler.features.conventions import CONVENTIONS
from lora_compiler.profiles import texts
from lora_compiler.serving import ENGINES

ROOT = Path(__file__).resolve().parents[2]
PROVED = [name for name, trainer in TRAINERS.items() if trainer.requirements]  # trainers with a proof venv
TEXT_FILES = sorted(
    [
        *(p for d in ("lora_compiler", "tests", "scripts", "benchmarks", "docs") for p in (ROOT / d).rglob("*.*")),
        *(ROOT / name for name in ("README.md", "CONTRIBUTING.md", "pyproject.toml", ".ci/run")),
        *ROOT.glob("constraints*.txt"),
    ]
)
TEXT_FILES = [p for p in TEXT_FILES if p.is_file() and p.suffix in {".py", ".md", ".sh", ".txt", ".toml", ".yml", ""}]
# how files name a release: "Axolotl 0.21", --axolotl 0.19, --stack 0.19, axolotl = "0.21", axolotl-0.21.0.json,
# axolotl=0.19.0 (lint-options), AXOLOTL=0.21.0 (scripts/axolotl_differential.sh), .venv-axolotl-0.21.0
RELEASE_MENTION = re.compile(
    r"(?:\bAxolotl |--axolotl[ =]v?|--stack |\baxolotl = \"|\baxolotl[-=_]|\bAXOLOTL=|\.venv-axolotl-)"
    r"(\d+\.\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


def _help(*command: str) -> str:
    return " ".join(CliRunner().invoke(cli, [*command, "--help"], terminal_width=10_000).output.split())


def _option_help(command: str, option: str) -> str:
    """The help text of one option of `command`, as --help renders it (whitespace collapsed)."""
    text = _help(command)
    text = text[text.index("Options:") :]
    start = text.index(f"{option} ")
    following = re.search(r" --?[a-z][\w-]* ", text[start + len(option) + 1 :])
    return text[start : start + len(option) + 1 + following.start()] if following else text[start:]


def _declared(package: object, attribute: str) -> list[object]:
    """The `attribute` of every module of `package` that declares one."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):  # type: ignore[attr-defined]
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, attribute):
            found.append(getattr(module, attribute))
    return found


# --- Axolotl releases -----------------------------------------------------------------------------------------


def test_every_release_module_is_in_the_registry_oldest_first() -> None:
    assert sorted(_declared(profiles, "PROFILE"), key=lambda p: p.version) == list(profiles.RELEASES)
    versions = [tuple(map(int, p.version.split("."))) for p in profiles.RELEASES]
    assert versions == sorted(versions) and profiles.NEWEST is profiles.RELEASES[-1]


def test_the_constraints_files_are_the_ones_the_profiles_produce() -> None:
    committed = {p.name: p.read_text() for p in ROOT.glob("constraints*.txt")}
    assert committed == texts.constraints_files(), "regenerate: scripts/generate.py"


def test_the_constraints_pin_what_the_release_pins() -> None:
    """Read back the way scripts/install.sh reads them (one NAME==VERSION per line)."""
    for profile in profiles.RELEASES:
        name = texts.constraints_file(profile)
        if name is None:
            continue
        pins = dict(line.split("==") for line in (ROOT / name).read_text().splitlines() if "==" in line)
        assert pins == {"torch": profile.torch, "transformers": profile.transformers, "peft": profile.peft}


def test_the_docs_page_shows_the_table_the_profiles_produce() -> None:
    text = (ROOT / "docs" / "axolotl-releases.md").read_text()
    assert f"<!-- generated: releases -->\n{texts.docs_table()}<!-- end generated: releases -->" in text
    assert all(f"| {p.version} | {p.transformers} | {p.peft} |" in text for p in profiles.RELEASES)


def test_every_key_tree_belongs_to_a_profile_and_says_its_release() -> None:
    trees = sorted((ROOT / "lora_compiler" / "profiles").glob("axolotl_keys-*.json"))
    assert [f"profiles/{p.name}" for p in trees] == sorted(p.keys for p in profiles.RELEASES)
    for profile in profiles.RELEASES:
        assert json.loads((ROOT / "lora_compiler" / profile.keys).read_text())["axolotl"] == profile.version


def test_every_release_has_the_real_release_s_recorded_answers_and_no_other_does() -> None:
    recorded = {p.name for p in (ROOT / "tests" / "axolotl_facts").glob("axolotl-*.json")}
    assert recorded == {f"axolotl-{p.version}{kind}.json" for p in profiles.RELEASES for kind in ("", "-examples")}


@pytest.mark.parametrize("command", ["compile", "lint", "export"])
def test_the_axolotl_option_names_every_release_and_the_newest_as_default(command: str) -> None:
    minors = [p.minor for p in profiles.RELEASES]
    assert f"({texts.listed(minors, 'or')}). Default:" in _option_help(command, "--axolotl")
    assert _option_help(command, "--axolotl").endswith(f"else the newest ({profiles.NEWEST.minor}).")


def test_diff_s_axolotl_option_names_every_release() -> None:
    assert f"({', '.join(p.minor for p in profiles.RELEASES)}); twice or more" in _option_help("diff", "--axolotl")


def test_every_release_named_anywhere_has_a_profile() -> None:
    """Docs, scripts, tests, help and rule texts: every release they name maps to a profile (find())."""
    named: dict[str, set[str]] = {}
    for path in TEXT_FILES:
        for match in RELEASE_MENTION.finditer(path.read_text(errors="replace")):
            named.setdefault(match.group(1), set()).add(str(path.relative_to(ROOT)))
    unknown = {v: sorted(where) for v, where in named.items() if profiles.find_or_none(v) is None}
    assert not unknown
    assert {profiles.find(v).version for v in named} == set(profiles.PROFILES)  # the scan sees each release named


# --- trainers -------------------------------------------------------------------------------------------------


def test_every_trainer_module_is_in_the_registry() -> None:
    assert {id(t) for t in _declared(export, "TRAINER")} == {id(t) for t in TRAINERS.values()}


def test_the_cli_offers_exactly_the_registered_trainers_in_their_order() -> None:
    choices = "[" + "|".join(TRAINERS) + "]"
    assert f"--to {choices}" in _help("export") and f"--export {choices}" in _help("compile")


def test_every_trainer_convention_is_offered_by_diff_and_named_in_its_help() -> None:
    own = [t.convention.name for t in TRAINERS.values() if t.convention]
    assert [c for c in CONVENTIONS if c in own] == own
    assert f"as {texts.listed(list(CONVENTIONS), 'or')} does;" in _option_help("diff", "--convention")


def test_every_proved_trainer_has_a_proof_function_and_recorded_answers() -> None:
    tree = ast.parse((ROOT / "scripts" / "trainer_check.py").read_text())
    checks = next(n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "CHECKS")
    assert isinstance(checks, ast.Dict)
    assert [ast.literal_eval(k) for k in checks.keys if k is not None] == PROVED
    assert {p.stem for p in (ROOT / "tests" / "trainer_facts").glob("*.json")} == {*PROVED, "cases"}


def test_ci_proves_the_trainers_declared_proved_in_ci_by_asking_the_registry() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^[^#\n]*scripts/trainer_exports\.sh --check --ci\b", ci, re.M)
    assert answer(["trainers", "--ci"]) == [n for n in PROVED if TRAINERS[n].proved_in_ci]
    assert answer(["venv", "trl"]) == [" ".join(TRAINERS["trl"].requirements)]


def test_no_script_keeps_its_own_list_of_trainers() -> None:
    for path in [*(ROOT / "scripts").glob("*.sh"), ROOT / ".ci" / "run"]:
        for line in path.read_text().splitlines():
            assert len({n for n in TRAINERS if re.search(rf"\b{re.escape(n)}\b", line)}) < 2, (path.name, line)


def test_every_trainer_named_with_a_version_is_named_at_its_declared_version() -> None:
    for trainer in TRAINERS.values():
        if trainer.version is None:
            continue
        pattern = re.compile(rf"(?:{re.escape(trainer.label)} |\b{re.escape(trainer.package)}==)(\d[\w.]*\d)")
        seen = {m.group(1) for path in TEXT_FILES for m in pattern.finditer(path.read_text(errors="replace"))}
        assert seen == {trainer.version}, trainer.name


# --- serving engines ------------------------------------------------------------------------------------------


def test_every_engine_module_is_in_the_registry() -> None:
    assert {id(e) for e in _declared(serving, "ENGINE")} == {id(e) for e in ENGINES.values()}


def test_every_table_belongs_to_an_engine_and_says_its_engine_and_release() -> None:
    tables = sorted((ROOT / "lora_compiler" / "serving").glob("*.json"))
    assert {p.stem.split("-")[0] for p in tables} == set(ENGINES)
    for path in tables:
        engine, _, version = path.stem.partition("-")
        rules = json.loads(path.read_text())
        assert (rules["engine"], rules["version"]) == (engine, version)


def test_every_engine_s_extractor_is_a_script_with_an_extract_function() -> None:
    for engine in ENGINES.values():
        tree = ast.parse((ROOT / "scripts" / f"{engine.extractor}.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "extract" for n in tree.body), engine.name


def test_the_serve_option_names_every_engine_and_its_newest_table() -> None:
    text = _option_help("lint", "--serve")
    assert f"launch command: {texts.listed(list(ENGINES), 'or')}, optionally @VERSION" in text
    assert all(f"{name} {serving.releases(name)[-1]}" in text for name in ENGINES)


# --- no enumeration by hand -----------------------------------------------------------------------------------

# A literal that lists every member of a registry is a copy of it. The one allowed: the proof functions of
# scripts/trainer_check.py, which runs in a trainer's venv without lora-compiler (its keys are checked above).
ALLOWED = {("scripts/trainer_check.py", "trainer")}


def _members() -> dict[str, set[str]]:
    releases = {p.version for p in profiles.RELEASES}
    return {
        "release": releases,
        "release minor": {p.minor for p in profiles.RELEASES},
        "trainer": set(PROVED),
        "engine": set(ENGINES),
        "convention": set(CONVENTIONS),
    }


@pytest.mark.parametrize(
    "path", sorted(p for d in ("lora_compiler", "tests", "scripts") for p in (ROOT / d).rglob("*.py")), ids=str
)
def test_no_literal_enumerates_a_registry(path: Path) -> None:
    where = str(path.relative_to(ROOT))
    for node in ast.walk(ast.parse(path.read_text())):
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if not isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)) or not items:
            continue
        names = {e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        for kind, members in _members().items():
            if len(members) > 1 and members <= names and (where, kind) not in ALLOWED:
                pytest.fail(f"{where}:{node.lineno} lists every {kind}: read the registry instead")
