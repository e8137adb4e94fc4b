"""The recorder of what a run read (lora_compiler/inputs.py): a record stays valid exactly while its inputs do."""

from __future__ import annotations

from lora_compiler import inputs
from lora_compiler.pipeline.document import read_bounded


def test_a_record_holds_until_a_read_file_changes(tmp_path) -> None:
    f = tmp_path / "a.json"
    f.write_text("{}")
    with inputs.recording() as record:
        read_bounded(f, 100)
    assert inputs.unchanged(record.inputs)
    f.write_text("[]")
    assert not inputs.unchanged(record.inputs)


def test_a_file_probed_absent_that_appears_changes_the_record(tmp_path) -> None:
    with inputs.recording() as record:
        assert not inputs.is_file(tmp_path / "later.json")
    (tmp_path / "later.json").write_text("{}")
    assert not inputs.unchanged(record.inputs)


def test_a_relative_path_ties_the_record_to_the_working_directory(tmp_path, monkeypatch) -> None:
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "ds.json").write_text("{}")
    monkeypatch.chdir(tmp_path / "one")
    with inputs.recording() as record:
        read_bounded("ds.json", 100)
    monkeypatch.chdir(tmp_path / "two")  # same name, same bytes, another file
    assert not inputs.unchanged(record.inputs)


def test_a_home_relative_path_depends_on_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with inputs.recording() as record:
        assert inputs.expanduser("~/x") == tmp_path / "x"
    monkeypatch.setenv("HOME", str(tmp_path / "other"))
    assert not inputs.unchanged(record.inputs)


def test_reads_outside_a_recording_are_not_kept(tmp_path) -> None:
    (tmp_path / "a").write_text("x")
    read_bounded(tmp_path / "a", 10)
    with inputs.recording() as record:
        pass
    assert record.inputs == {} and record.untracked == []
