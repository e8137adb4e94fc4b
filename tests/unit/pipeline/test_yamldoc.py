"""Safe YAML loading with positions: every failure is a finding, never an exception."""

from __future__ import annotations

from lora_compiler.pipeline.document import load_file, load_text


def test_positions_of_keys_and_values_are_one_based():
    doc = load_text("base_model: x\npeft:\n  loftq_config:\n    loftq_bits: 4\n", "a.yml")
    assert doc.key_pos[("base_model",)] == (1, 1)
    assert doc.value_pos[("base_model",)] == (1, 13)
    assert doc.key_pos[("peft", "loftq_config", "loftq_bits")] == (4, 5)
    assert doc.values["peft"]["loftq_config"]["loftq_bits"] == 4


def test_duplicate_key_is_an_error_at_the_second_definition():
    doc = load_text("lora_r: 8\nadapter: lora\nlora_r: 16\n", "a.yml")
    [f] = doc.findings
    assert (f.rule, f.line, f.column) == ("yaml-duplicate-key", 3, 1)
    assert "line 1" in f.message
    assert doc.values["lora_r"] == 16 and doc.usable


def test_syntax_error_has_position():
    doc = load_text("adapter: lora\nlora_r: [8\n", "a.yml")
    [f] = doc.findings
    assert f.rule == "yaml-syntax" and f.line == 3 and not doc.usable


def test_top_level_list_is_not_a_config():
    doc = load_text("- a\n- b\n", "a.yml")
    assert [f.rule for f in doc.findings] == ["yaml-not-mapping"]


def test_empty_file_is_not_a_config(tmp_path):
    p = tmp_path / "e.yml"
    p.write_text("")
    assert [f.rule for f in load_file(p).findings] == ["yaml-not-mapping"]


def test_alias_bomb_is_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
    )
    doc = load_text(bomb, "bomb.yml")
    assert [f.rule for f in doc.findings] == ["yaml-too-complex"]


def test_merge_keys_are_resolved():
    doc = load_text("base: &b\n  lora_r: 8\ncfg:\n  <<: *b\n  lora_alpha: 16\n", "m.yml")
    assert doc.values["cfg"] == {"lora_r": 8, "lora_alpha": 16}


def test_python_tags_are_not_constructed():
    doc = load_text("x: !!python/object/apply:os.system ['true']\n", "evil.yml")
    assert doc.findings and doc.findings[0].rule == "yaml-syntax"


def test_binary_non_utf8_missing_and_directory_inputs(tmp_path):
    binary = tmp_path / "b.yml"
    binary.write_bytes(b"\x00\x01\x02")
    latin = tmp_path / "l.yml"
    latin.write_bytes("adapter: l\xf6ra\n".encode("latin-1"))
    for path in (binary, latin, tmp_path / "missing.yml", tmp_path):
        [f] = load_file(path).findings
        assert f.rule == "input-unreadable", path


def test_a_syntax_error_names_where_the_unclosed_bracket_opened_as_well_as_where_parsing_stopped():
    doc = load_text("base_model: x\nadapter: lora\nlora_target_modules: [q_proj,\nlora_r: 8\nlora_alpha: 16\n", "t.yml")
    (f,) = doc.findings
    assert (f.rule, f.line, f.column) == ("yaml-syntax", 5, 11)
    assert "began at line 3, column 22" in f.message and "line 3" in f.hint
