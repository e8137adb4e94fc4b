"""The real Axolotl releases' answers on axolotl-field-type's differential, re-linted: lint agrees with each.

tests/axolotl_facts/types-RELEASE.json (scripts/axolotl_type_variants.py, run in each release's own venv) holds,
for every field Axolotl can reach from a YAML, a value of the wrong type, one of the right type and, for numbers
and booleans, the right value as pydantic's lax mode converts it (a string), each merged onto EXAMPLE_BASE, with
whether the real validate_config refused it, where and why. The rule must refuse what Axolotl refuses by type
(and what it fails on before the type check), and nothing it accepts or refuses only for another reason (a
validator's own message about a value of the right type). No Axolotl is needed here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lora_compiler import profiles
from lora_compiler.rules.axolotl.types import problems

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from axolotl_type_variants import Maker, merged  # noqa: E402  (the differential's own variants and merge)

RELEASES = tuple(profiles.PROFILES)
BASE = json.loads((ROOT / "tests" / "axolotl_facts" / "types-base.json").read_text())
FACTS = {r: json.loads((ROOT / "tests" / "axolotl_facts" / f"types-{r}.json").read_text()) for r in RELEASES}
# pydantic's error types for a value of the wrong type (the rest, value_error and assertion_error, are validators')
TYPE_ERRORS = set(
    "string_type string_too_short string_too_long string_pattern_mismatch string_unicode int_type int_parsing "
    "int_from_float int_parsing_size float_type float_parsing finite_number bool_type bool_parsing literal_error enum "
    "list_type dict_type tuple_type model_type model_attributes_type too_short too_long missing greater_than "
    "greater_than_equal less_than less_than_equal multiple_of none_required is_instance_of".split()
)


CRASHES = {"TypeError", "AttributeError", "KeyError", "IndexError"}  # a validator of mode before meeting a raw value


def axolotl_says(record: dict[str, Any]) -> str:
    """'accepted'; 'type' (pydantic refused the value's type); 'crash' (a validator of mode before failed on the raw
    value, before any type check); 'validator' (a validator's own check refused); 'environment' (the plugin's
    library is not installed in that venv, or it needs the network)."""
    if record["refused"] is None or (record["error"] or "").startswith("CalledProcessError"):
        return "environment"
    if not record["refused"]:
        return "accepted"
    code = record["error"].split(":", 1)[0]
    return "type" if code in TYPE_ERRORS else "crash" if code in CRASHES else "validator"


def disagreements(release: str) -> dict[str, str]:
    """Variant -> what differs. A wrong value Axolotl refuses or crashes on must be refused; a value Axolotl accepts
    must be accepted; a right value a validator refuses for its own reason must not be refused by type."""
    found = {}
    for name, record in FACTS[release].items():
        said = axolotl_says(record)
        lint = problems(merged(BASE, record["config"]), release)
        paths = [p.path for p in lint]
        if said == "accepted" and lint:
            found[name] = f"lint refuses at {paths[0]}, Axolotl accepts"
        elif said in ("type", "crash") and not lint:
            found[name] = f"Axolotl refuses ({record['error']}), lint accepts"
        elif said == "validator" and lint and not name.endswith(("|wrong", "|case")):
            found[name] = f"Axolotl's validator refuses ({record['error']}), lint refuses by type at {paths[0]}"
        elif (
            said == "type" and record["loc"] and not any(p[: len(record["loc"])] == tuple(record["loc"]) for p in paths)
        ):
            found[name] = f"Axolotl refuses at {record['loc']}, lint at {paths}"  # lint: at that value, or inside it
    return found


@pytest.mark.parametrize("release", RELEASES)
def test_lint_agrees_with_the_real_release_on_every_variant(release: str) -> None:
    assert disagreements(release) == {}


@pytest.mark.parametrize("release", RELEASES)
def test_the_recorded_variants_are_those_of_the_release_s_table(release: str) -> None:
    """Every field of the table has its variants (make checks it), and none was recorded for an older table."""
    made = json.loads(json.dumps(Maker(release).variants()))  # as recorded: JSON, so mapping keys are strings
    assert {name: record["config"] for name, record in FACTS[release].items()} == made
    assert sum(1 for r in FACTS[release].values() if axolotl_says(r) == "type") > 600
