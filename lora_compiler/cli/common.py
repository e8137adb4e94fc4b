"""What every command shares: the --offline and --trust-remote-code options and the project policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..engine.policy import Policy

OFFLINE = click.option(
    "--offline", is_flag=True, help="Never contact the Hugging Face Hub (HF_HUB_OFFLINE=1 does the same)."
)
REMOTE = click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow a model repository's own Python code to run when the YAML also sets trust_remote_code: true.",
)


# lora_compiler.export.TRAINERS' names, here so that --help does not import the exporters
EXPORT_TRAINERS = ("llamafactory", "trl", "torchtune", "ms-swift", "unsloth", "peft")

AXOLOTL = click.option(
    "--axolotl",
    metavar="VERSION",
    callback=lambda ctx, param, value: _release(value),
    help="The Axolotl release whose semantics apply (0.19, 0.20 or 0.21). Default: the installed axolotl, else "
    "LORA_COMPILER_AXOLOTL or [tool.lora-compiler] axolotl, else the newest (0.21).",
)


DEVICES = click.option(
    "--devices",
    metavar="N",
    type=click.IntRange(min=1),
    multiple=True,
    help="Device count for the per-device memory of a YAML that shards (FSDP, DeepSpeed); repeat for several. "
    "Default: [tool.lora-compiler] devices, else 2, 4 and 8.",
)


SERVE = click.option(
    "--serve",
    metavar="ENGINE[@VERSION]",
    callback=lambda ctx, param, value: _engine(value),
    help="Also check that a serving engine loads the adapter as trained, and print its launch command: vllm or "
    "sglang, optionally @VERSION (default: the newest release with rules here: vllm 0.33.0, sglang 0.5.23).",
)


def _engine(value: str | None) -> str | None:
    """--serve checked against the engine tables: an unknown engine or release is a usage error (exit 2)."""
    from ..serving import ServeError, resolve

    try:
        return resolve(value) if value else None
    except ServeError as exc:
        raise click.BadParameter(str(exc)) from None


def _release(value: str | None) -> str | None:
    """--axolotl checked against the known profiles: an unknown release is a usage error (exit 2)."""
    from ..profiles import ProfileError, find

    try:
        return find(value).version if value else None
    except ProfileError as exc:
        raise click.BadParameter(str(exc)) from None


def policy_for(policy_file: Path | None) -> Policy:
    """The rule levels from --config, else from the nearest pyproject.toml; a broken file is a usage error (exit 2)."""
    from ..engine.policy import Policy, PolicyError

    try:
        return Policy.from_file(policy_file) if policy_file else Policy.discover(Path.cwd())
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from None
