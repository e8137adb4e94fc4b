"""Axolotl's validators of one dataset entry (`axolotl/utils/schemas/datasets.py`), from the YAML alone.

validate_config turns each `datasets` entry into its model before the config is validated: DPODataset for
rl dpo/ipo/simpo, KTODataset for kto (neither has a validator), SyntheticDataset for type _synthetic, else
SFTDataset. A failing SFTDataset there stops the run; in test_datasets and pretraining_dataset the same
entry falls back to another member of the union instead (only the deprecation warnings remain), so the
refusals below read `datasets` alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...results.findings import Severity
from .validator import Found, Validator, Values, register

D = "utils/schemas/datasets.py:"
LEGACY = D + "SFTDataset.handle_legacy_message_fields, utils/schemas/utils.py:handle_legacy_message_fields_logic"
NOT_SFT = ("dpo", "ipo", "simpo", "kto")
LEGACY_FIELDS = (("message_field_role", "role"), ("message_field_content", "content"))
DS = "mlabonne/FineTome-100k"


def _built(v: Values, synthetic: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, entry) of each `datasets` entry validate_config builds a SyntheticDataset (type _synthetic) or,
    with `synthetic` false, an SFTDataset from."""
    block = v.get("datasets")
    if not block or not isinstance(block, list) or v.get("rl") in NOT_SFT:
        return
    for i, entry in enumerate(block):
        if isinstance(entry, dict) and (entry.get("type") == "_synthetic") == synthetic:
            yield i, entry


def _sft(v: Values) -> Iterator[tuple[int, dict[str, Any]]]:
    return _built(v, synthetic=False)


def _dicts(block: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, e) for i, e in enumerate(block) if isinstance(e, dict)] if isinstance(block, list) else []


def _conflict(entry: dict[str, Any]) -> tuple[str, str] | None:
    """handle_legacy_message_fields_logic's refusal: a legacy field that contradicts message_property_mappings."""
    mappings = entry.get("message_property_mappings")
    if not isinstance(mappings, dict):
        mappings = {}
    for legacy, prop in LEGACY_FIELDS:
        if legacy in entry and prop in mappings and mappings[prop] != entry[legacy]:
            return (
                f"Conflicting message {prop} fields: {legacy}='{entry[legacy]}' conflicts with "
                f"message_property_mappings.{prop}='{mappings[prop]}'",
                legacy,
            )
    return None


def legacy_conflict(v: Values) -> Found | None:
    for i, entry in _sft(v):
        found = _conflict(entry)
        if found:
            return found[0], ("datasets", i, found[1])
    return None


def legacy_fields(v: Values) -> Found | None:
    """The deprecation warning of message_field_role/_content, wherever an SFTDataset reads the entry."""
    lists = (
        ("datasets", [(i, e) for i, e in _sft(v) if not _conflict(e)]),
        *((key, _dicts(v.get(key))) for key in ("test_datasets", "pretraining_dataset")),
    )
    for key, entries in lists:
        for i, entry in entries:
            for legacy, prop in LEGACY_FIELDS:
                if legacy in entry:
                    return (
                        f"{legacy} is deprecated, use message_property_mappings instead. Example: "
                        f"message_property_mappings: {{{prop}: {entry[legacy]}}}",
                        (key, i, legacy),
                    )
    return None


def dataset_jinja_missing(v: Values) -> Found | None:
    for i, entry in _sft(v):
        if entry.get("chat_template") == "jinja" and not entry.get("chat_template_jinja"):
            return (
                "chat_template_jinja is required when chat_template is set to jinja",
                ("datasets", i, "chat_template"),
            )
    return None


def dataset_jinja_ignored(v: Values) -> Found | None:
    """A type chat_template entry without chat_template is pinned to tokenizer_default before its jinja is read."""
    for i, entry in _sft(v):
        if entry.get("type") == "chat_template" and not entry.get("chat_template") and entry.get("chat_template_jinja"):
            return (
                "a chat_template dataset without chat_template gets chat_template: tokenizer_default, so its "
                "chat_template_jinja is never used: the tokenizer's template formats this dataset",
                ("datasets", i, "chat_template_jinja"),
            )
    return None


def _int(entry: dict[str, Any], key: str, default: int) -> int | None:
    value = entry.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def synthetic_turns(v: Values) -> Found | None:
    """SyntheticDataset.validate_turns' refusals, with the input_fraction it fills for multi-turn rows."""
    for i, entry in _built(v, synthetic=True):
        low, high, length = _int(entry, "min_turns", 1), _int(entry, "max_turns", 1), _int(entry, "min_turn_length", 32)
        fraction = entry.get("input_fraction", 0.25 if high is not None and high > 1 else 0)
        size = entry.get("sequence_length")
        if low is None or high is None or length is None or not isinstance(fraction, (int, float)):
            continue
        if low > 1 and high <= low:
            return "max_turns must exceed min_turns for multi-turn data", ("datasets", i, "max_turns")
        per_turn = max(length, 2 if fraction > 0 else 1)
        if isinstance(size, int) and (high > 1 or fraction > 0) and size < per_turn * low:
            return f"sequence_length must be at least {per_turn} * min_turns", ("datasets", i, "sequence_length")
    return None


def synthetic_fraction(v: Values) -> Found | None:
    for i, entry in _built(v, synthetic=True):
        high = _int(entry, "max_turns", 1)
        if high is not None and high > 1 and "input_fraction" not in entry and not synthetic_turns(v):
            return (
                "multi-turn synthetic rows without input_fraction get input_fraction 0.25: a quarter of each turn's "
                "tokens is masked out of the loss",
                ("datasets", i, "max_turns"),
            )
    return None


SYNTH = {"path": "synthetic", "type": "_synthetic"}
VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-legacy-message-fields",
        "message_field_role/message_field_content in a dataset, deprecated for message_property_mappings.",
        LEGACY,
        legacy_fields,
        fix="Move the field names into message_property_mappings (role: ..., content: ...).",
        level=Severity.WARNING,
        refused={"datasets": [{"path": DS, "type": "chat_template", "message_field_role": "from"}]},
        accepted={"datasets": [{"path": DS, "type": "chat_template", "message_property_mappings": {"role": "from"}}]},
    ),
    Validator(
        "axolotl-legacy-message-fields-conflict",
        "message_field_role/message_field_content contradicting the dataset's message_property_mappings.",
        LEGACY,
        legacy_conflict,
        fix="Drop the legacy field and keep the mapping in message_property_mappings.",
        refused={
            "datasets": [
                {
                    "path": DS,
                    "type": "chat_template",
                    "message_field_role": "from",
                    "message_property_mappings": {"role": "speaker"},
                }
            ]
        },
        accepted={
            "datasets": [
                {
                    "path": DS,
                    "type": "chat_template",
                    "message_field_role": "from",
                    "message_property_mappings": {"role": "from"},
                }
            ]
        },
    ),
    Validator(
        "axolotl-dataset-chat-template-jinja-missing",
        "A dataset with chat_template: jinja and no chat_template_jinja.",
        D + "SFTDataset.check_chat_template_config",
        dataset_jinja_missing,
        fix="Give the dataset's template in chat_template_jinja, or name a built-in chat_template.",
        refused={"datasets": [{"path": DS, "type": "chat_template", "chat_template": "jinja"}]},
        accepted={
            "datasets": [
                {"path": DS, "type": "chat_template", "chat_template": "jinja", "chat_template_jinja": "{{ x }}"}
            ]
        },
    ),
    Validator(
        "axolotl-dataset-chat-template-jinja-ignored",
        "A chat_template dataset with chat_template_jinja but no chat_template: the jinja is ignored.",
        D + "SFTDataset.check_chat_template_config",
        dataset_jinja_ignored,
        fix="Add chat_template: jinja to the dataset so its chat_template_jinja is used.",
        level=Severity.INFO,
        refused={"datasets": [{"path": DS, "type": "chat_template", "chat_template_jinja": "{{ x }}"}]},
        accepted={
            "datasets": [
                {"path": DS, "type": "chat_template", "chat_template": "jinja", "chat_template_jinja": "{{ x }}"}
            ]
        },
    ),
    Validator(
        "axolotl-synthetic-turns",
        "A synthetic dataset whose turn counts or sequence_length cannot hold the turns it asks for.",
        D + "SyntheticDataset.validate_turns",
        synthetic_turns,
        fix="Make max_turns exceed min_turns, and sequence_length at least min_turn_length * min_turns.",
        since="0.21.0",
        refused={"datasets": [{**SYNTH, "min_turns": 2, "max_turns": 2}]},
        accepted={"datasets": [{**SYNTH, "min_turns": 2, "max_turns": 3, "input_fraction": 0.25}]},
    ),
    Validator(
        "axolotl-synthetic-input-fraction",
        "Multi-turn synthetic rows without input_fraction, which Axolotl sets to 0.25.",
        D + "SyntheticDataset.validate_turns",
        synthetic_fraction,
        fix="Write input_fraction (0 trains on every token, 0.25 keeps Axolotl's choice).",
        level=Severity.INFO,
        since="0.21.0",
        refused={"datasets": [{**SYNTH, "max_turns": 3}]},
        accepted={"datasets": [{**SYNTH, "max_turns": 3, "input_fraction": 0}]},
    ),
)

register(VALIDATORS)
