"""Every entry of every supported release's inventory (scripts/axolotl_inventory.py, from the wheels) is mirrored
by a rule or declared out of scope with a reason, so a new release's new or changed validators show up here."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lora_compiler.profiles import PROFILES
from lora_compiler.rules import by_id
from lora_compiler.rules.axolotl.inventory import UNMAPPED, mapping
from lora_compiler.rules.axolotl.validator import ALL, MIRRORED, SCOPE

PROFILES_DIR = Path(__file__).resolve().parents[2] / "lora_compiler" / "profiles"


@cache
def inventory(release: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PROFILES_DIR / f"axolotl_inventory-{release}.json").read_text("utf-8"))
    assert data["release"] == release
    return data["entries"]


def _inventoried(entry: str) -> bool:
    """Whether the entry's file is one the inventory lists (loaders/ and the like are not)."""
    path = entry.split(":")[0]
    return any(path == e.split(":")[0] for release in PROFILES for e in inventory(release))


@pytest.mark.parametrize("release", list(PROFILES))
def test_every_validator_and_raise_site_is_mirrored_or_out_of_scope(release: str) -> None:
    unmapped = sorted(
        e for e, to in mapping(release).items() if to == UNMAPPED and inventory(release)[e]["kind"] != "field"
    )
    assert unmapped == [], f"{len(unmapped)} entries of Axolotl {release} have no rule and no out-of-scope reason"


@pytest.mark.parametrize("release", list(PROFILES))
def test_every_schema_field_is_type_checked(release: str) -> None:
    unmapped = sorted(
        e for e, to in mapping(release).items() if to == UNMAPPED and inventory(release)[e]["kind"] == "field"
    )
    assert unmapped == []


def test_every_validator_names_entries_that_exist_in_each_release_it_runs_in() -> None:
    wrong = [
        (v.id, release, e)
        for v in ALL
        for release in PROFILES
        if v.runs_in(release)
        for e in v.entries
        if _inventoried(e) and e not in inventory(release)
    ]
    assert wrong == []


def test_out_of_scope_and_mirrored_entries_exist_and_name_real_rules() -> None:
    known = {e for release in PROFILES for e in inventory(release)}
    assert sorted(set(SCOPE) - known) == []
    assert sorted(set(MIRRORED) - known) == []
    assert set(MIRRORED.values()) <= set(by_id())
