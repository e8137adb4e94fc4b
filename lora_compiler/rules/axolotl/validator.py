"""One Axolotl start-up validator as data, and the rule each group of them becomes.

A `Validator` restates one validator (or raise site) of Axolotl's source: the condition in YAML keys,
the level Axolotl gives it (refused: error, deprecated but accepted: warning, a silent rewrite that
changes training: info), the releases that run this form, and a refused and an accepted example. The
`source` names the inventory entries it covers (`path:Qualname` inside the axolotl package, as
scripts/axolotl_inventory.py writes them), so tests can prove that every entry of every release's
inventory is mirrored or declared out of scope. Area modules in this package declare their validators
and call `register` once; validators sharing an id become one rule with one form per release.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...devices import DEVICES, Hardware
from ...results.findings import Finding, Severity
from ...rulebook.registry import Docs, Rule, Stage, rule
from ..context import Context

Values = Mapping[str, Any]
Found = tuple[str, Any]  # (Axolotl's message, the YAML key or key path it blames)
Check = Callable[[Values], Found | None]
LEVEL_WORDS = {
    Severity.ERROR: "refuses the config at start-up",
    Severity.WARNING: "accepts the config but warns at start-up",
    Severity.INFO: "silently rewrites the config at start-up",
}
OLDEST = "0.19.0"
# The minimal config every release accepts, which each example is merged onto (a key set to None is dropped).
EXAMPLE_BASE: Mapping[str, Any] = {
    "base_model": "meta-llama/Llama-3.2-1B",
    "adapter": "lora",
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_target_linear": True,
    "datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}],
    "micro_batch_size": 1,
    "gradient_accumulation_steps": 1,
    "num_epochs": 1,
    "learning_rate": 0.0002,
    "sequence_len": 512,
    "output_dir": "./outputs/out",
}


class _Null:
    """An example value written as an explicit YAML null (a None drops the key instead)."""

    def __repr__(self) -> str:
        return "NULL"


NULL: Any = _Null()


def example(keys: Mapping[str, Any]) -> dict[str, Any]:
    """EXAMPLE_BASE with `keys` merged in at the top level (None drops a key, NULL writes `key: null`)."""
    merged = {**EXAMPLE_BASE, **keys}
    return {k: None if v is NULL else v for k, v in merged.items() if v is not None}


def release_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Validator:
    id: str  # the rule id (stable across releases, so the upgrade view can match findings)
    summary: str  # one sentence, ending with a period
    source: str  # inventory entries it mirrors, ", "-separated: "utils/schemas/validation.py:Mixin.check_x"
    check: Check
    fix: str  # how to make the finding go away (the first form's is the rule's)
    level: Severity = Severity.ERROR
    since: str = OLDEST  # the first release that runs this form
    until: str | None = None  # the first release that no longer runs it
    # Examples, each merged onto a minimal valid config (tests and the differential run them): `refused`
    # makes this form fire, `accepted` is a near miss that does not.
    refused: Mapping[str, Any] = field(default_factory=dict)
    accepted: Mapping[str, Any] = field(default_factory=dict)
    # A form that judges the GPU Axolotl starts on: its check reads `capabilities` as validate_config gives it
    # (devices.Hardware.capabilities), runs only when the run declares a device (--gpu, policy gpu), and its
    # examples run on this one ("T4", "2xH100"). None: the YAML alone decides.
    device: str | None = None

    def runs_in(self, version: str) -> bool:
        v = release_key(version)
        return release_key(self.since) <= v and (self.until is None or v < release_key(self.until))

    @property
    def entries(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.source.split(",") if part.strip())


def when(cond: Callable[[Values], Any], message: str, key: Any) -> Check:
    """A check that blames `key` (or key(v)) with Axolotl's `message` whenever `cond` holds."""

    def check(v: Values) -> Found | None:
        return (message, key(v) if callable(key) else key) if cond(v) else None

    return check


def where(entry: str) -> str:
    """An inventory entry as docs show it: `axolotl/utils/schemas/validation.py Mixin.check_x`."""
    path, _, name = entry.partition(":")
    return f"axolotl/{path} {name}".strip()


ALL: list[Validator] = []  # every registered validator, in registration order
RULES: dict[str, Rule] = {}


def register(validators: Iterable[Validator]) -> None:
    """Declare one rule per id for these validators (a module's whole table, called once at import)."""
    table = list(validators)
    ALL.extend(table)
    for rule_id in dict.fromkeys(v.id for v in table):
        _declare([v for v in table if v.id == rule_id])


def _declare(forms: list[Validator]) -> None:
    from ...profiles import PROFILES

    first = forms[0]
    releases = [p for p in PROFILES if any(v.runs_in(p) for v in forms)]
    levels = tuple(dict.fromkeys(v.level for v in forms if v.level is not first.level))
    files = "; ".join(dict.fromkeys(where(e) for v in forms for e in v.entries))
    declared = rule(
        first.id,
        first.level,
        Stage.CONFIG,
        first.summary,
        Docs(
            what=f"Axolotl {', '.join(releases)} {LEVEL_WORDS[first.level]} (`{files}`), before any model is "
            + (
                "loaded, judging the GPU it starts on; lint says so for the declared training device (`--gpu`, "
                "`gpu` under `[tool.lora-compiler]`), and without one lists it in axolotl-gpu-undeclared."
                if first.device
                else "loaded; lint says so from the YAML alone."
            ),
            why={
                Severity.ERROR: "The run stops at start-up, after the job was scheduled, before any training step.",
                Severity.WARNING: "The run starts, but Axolotl says the setting is deprecated or ignored; a later "
                "release refuses or drops it.",
                Severity.INFO: "What trains differs from what the YAML says, without a word in the training log.",
            }[first.level],
            fix=first.fix,
            source=files,
        ),
        other_levels=levels,
    )
    RULES[first.id] = declared

    @declared.checks
    def check(ctx: Context) -> Iterable[Finding]:
        for validator in forms:
            if not validator.runs_in(ctx.profile.version) or (validator.device and ctx.gpu is None):
                continue
            found = validator.check(on(ctx.doc.values, ctx.gpu) if validator.device else ctx.doc.values)
            if found:
                message, key = found
                said = {
                    Severity.ERROR: "Axolotl refuses this config at start-up",
                    Severity.WARNING: "Axolotl warns at start-up",
                    Severity.INFO: "Axolotl rewrites this config at start-up",
                }[validator.level] + (f" on {ctx.gpu}" if validator.device else "")
                yield declared.at_level(validator.level).at(
                    ctx.doc,
                    f"{said}: {message}",
                    key,
                    hint=f"see {where(validator.entries[0]).split()[0]}",
                )
                return


def on(values: Values, gpu: Hardware | None) -> Values:
    """The YAML as Axolotl's validators see it on `gpu`: validate_config adds (or overwrites) `capabilities`."""
    return {**values, "capabilities": gpu.capabilities() if gpu else {}}


# Every GPU of the table, alone, then as two: what a check that judges the GPU could meet (cpu is declared, not
# guessed: lint would otherwise list bf16: true on every config).
PROBES = tuple(Hardware(d, n) for n in (1, 2) for d in DEVICES if d.sm is not None)

GPU_UNDECLARED = rule(
    "axolotl-gpu-undeclared",
    Severity.INFO,
    Stage.CONFIG,
    "Start-up checks that judge the GPU were skipped: no training device was declared.",
    Docs(
        what="Some of Axolotl's start-up checks judge the GPU it starts on (bf16 and fp8 support, the compute "
        "capability, the GPU count). Without a declared device lint cannot run them; when the YAML sets what one "
        "of them would refuse or warn about on some device of the table, one finding lists them.",
        why="A setting the GPU decides passes lint and then stops, or warns, on the machine that trains.",
        fix='Declare the training device: `--gpu H100` (or `--gpu 8xH100`), or `gpu = "H100"` under '
        "`[tool.lora-compiler]`; `--gpu cpu` for a machine without CUDA.",
        source="axolotl/utils/schemas/config.py AxolotlConfigWCapabilities; axolotl/cli/config.py gpu_capabilities",
    ),
)


@GPU_UNDECLARED.checks
def gpu_undeclared(ctx: Context) -> Iterable[Finding]:
    if ctx.gpu is not None:
        return
    skipped: dict[str, list[Hardware]] = {}  # rule id -> the probes it fires on
    first: Any = None  # the key the first skipped check blames
    for validator in ALL:
        if not validator.device or not validator.runs_in(ctx.profile.version):
            continue
        for gpu in PROBES:
            found = validator.check(on(ctx.doc.values, gpu))
            if found:
                first = found[1] if first is None else first
                skipped.setdefault(validator.id, []).append(gpu)
    if skipped:
        listed = "; ".join(f"{rule_id} ({_where(fired)})" for rule_id, fired in skipped.items())
        yield GPU_UNDECLARED.at(
            ctx.doc,
            "no training device declared, so lint skipped the Axolotl start-up checks that judge the GPU; on some "
            f"GPUs this YAML meets {listed}",
            first,
            hint="declare the device with --gpu NAME (or gpu under [tool.lora-compiler])",
        )


def _where(fired: list[Hardware]) -> str:
    """The devices a skipped check fires on, in a few words: "T4", "more than one GPU", "A100-80GB, L4 and 4 more"."""
    alone = [g.device.name for g in fired if g.count == 1]
    if not alone:
        return "more than one GPU"
    if len(alone) == len(PROBES) // 2:
        return "every GPU"
    return ", ".join(alone[:3]) + (f" and {len(alone) - 3} more" if len(alone) > 3 else "")


# Inventory entries no rule mirrors, each with the reason lint cannot judge it from the YAML and a model's
# config.json. Area modules declare their own with `out_of_scope`.
REASONS = {
    "gpu": "needs the GPU's capabilities or count at run time",
    "dataset": "needs the dataset's contents",
    "network": "needs the network",
    "weights": "needs the model's weights",
    "environment": "needs the run's environment (installed packages, environment variables, files)",
    "no-effect": "rewrites nothing that changes what is trained, and refuses nothing",
}
SCOPE: dict[str, str] = {}


def out_of_scope(entries: Mapping[str, str]) -> None:
    """Declare inventory entries (path:Qualname) no rule mirrors, each with a key of REASONS."""
    for entry, reason in entries.items():
        if reason not in REASONS:
            raise ValueError(f"{entry}: unknown reason {reason!r}")
        SCOPE[entry] = reason


# Inventory entries a rule other than a Validator mirrors (the field-type rule, the key rule), by rule id.
MIRRORED: dict[str, str] = {}


def mirrored_by(rule_id: str, entries: Iterable[str]) -> None:
    """Declare that `rule_id` (not a Validator's) mirrors these inventory entries (path:Qualname)."""
    for entry in entries:
        MIRRORED[entry] = rule_id


def blocks_adapter(finding: Finding) -> bool:
    """Whether an error stops the compile before the LoraConfig. A start-up refusal about the rest of the run
    (datasets, evaluation, distribution) leaves the adapter well defined, so the report still says what it
    trains; one about a key the LoraConfig is built from (pipeline/fields.py) blocks it, as PEFT would only
    restate it less clearly."""
    from ...pipeline.fields import FIELDS

    if finding.rule not in RULES and finding.rule not in MIRRORED.values():
        return True
    top = (finding.key or "").split(".")[0]
    return top in {f.key.split(".")[0] for f in FIELDS if f.key} | {"lora_target_linear", "lora_model_dir"}


def refuses(rule_id: str) -> bool:
    """Whether an error of this rule is a refusal Axolotl makes at start-up: its validators' rules, and `schema`
    (the adapter keys' types, which Axolotl's pydantic models check too)."""
    return rule_id.startswith("axolotl-") or rule_id == "schema"
