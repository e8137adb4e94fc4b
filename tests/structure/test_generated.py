"""Every file generated from the code is current: `python scripts/generate.py --check`, in-process."""

from __future__ import annotations

import importlib.util

from conftest import REPO


def _generate():
    spec = importlib.util.spec_from_file_location("generate", REPO / "scripts" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_generated_file_is_stale():
    generate = _generate()
    stale = generate.stale(generate.generated())
    assert not stale, f"stale: {', '.join(stale)}; regenerate with: python scripts/generate.py"


def test_check_reports_a_stale_file_without_writing_it(tmp_path, monkeypatch, capsys):
    generate = _generate()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.md").write_text("old\n")
    monkeypatch.setattr(generate, "REPO", tmp_path)
    monkeypatch.setattr(generate, "GENERATORS", [("rules", generate.rules_pages, True)])
    assert generate.main(["--check"]) == 1
    assert "stale: docs/rules.md" in capsys.readouterr().err
    assert (tmp_path / "docs" / "rules.md").read_text() == "old\n"
    assert generate.main([]) == 0 and generate.main(["--check"]) == 0


def test_splice_replaces_only_the_marked_block(tmp_path, monkeypatch):
    generate = _generate()
    monkeypatch.setattr(generate, "REPO", tmp_path)
    page = "# Page\n<!-- generated: t -->\nold\n<!-- end generated: t -->\nafter\n"
    (tmp_path / "p.md").write_text(page)
    assert generate.splice("p.md", "t", "new") == page.replace("old", "new")


def test_the_default_run_covers_what_the_clis_print():
    """`lora-compiler rules` and `lora-compiler schema` print what generate.py writes."""
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    files = _generate().generated()
    assert CliRunner().invoke(cli, ["rules"]).output == files["docs/rules.md"]
    assert CliRunner().invoke(cli, ["schema"]).output == files["schemas/axolotl-lora.schema.json"]
