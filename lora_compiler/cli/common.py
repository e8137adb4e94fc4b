"""What every command shares: the --offline and --trust-remote-code options and the project policy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..devices import Hardware
    from ..engine.policy import Policy

OFFLINE = click.option(
    "--offline", is_flag=True, help="Never contact the Hugging Face Hub (HF_HUB_OFFLINE=1 does the same)."
)
REMOTE = click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow a model repository's own Python code to run when the YAML also sets trust_remote_code: true.",
)


class Derived(click.Option):
    """An option whose help text is written from its registry (profiles, export, serving) when --help shows it,
    so that importing the CLI imports no registry and no text repeats what a declaration says."""

    def __init__(self, *args: Any, derive: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.derive = derive

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.derive()
        return super().get_help_record(ctx)


class Names(click.Choice):
    """click.Choice over a registry's names, read when a value or --help needs them."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self.names = names
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.names())

    @choices.setter
    def choices(self, value: Iterable[str]) -> None:
        """click.Choice.__init__ assigns them; the registry stays the one source."""


def trainer_names() -> list[str]:
    """The trainers `export --to` and `compile --export` write for (lora_compiler.export.TRAINERS)."""
    from ..export import TRAINERS

    return list(TRAINERS)


def _axolotl_help() -> str:
    from ..profiles import NEWEST
    from ..profiles.texts import minors

    return (
        f"The Axolotl release whose semantics apply ({minors()}). Default: the installed axolotl, else "
        f"LORA_COMPILER_AXOLOTL or [tool.lora-compiler] axolotl, else the newest ({NEWEST.minor})."
    )


AXOLOTL = click.option(
    "--axolotl",
    metavar="VERSION",
    callback=lambda ctx, param, value: _release(value),
    cls=Derived,
    derive=_axolotl_help,
)


DEVICES = click.option(
    "--devices",
    metavar="N",
    type=click.IntRange(min=1),
    multiple=True,
    help="Device count for the per-device memory of a YAML that shards (FSDP, DeepSpeed); repeat for several. "
    "Default: [tool.lora-compiler] devices, else 2, 4 and 8.",
)


def _gpu_help() -> str:
    from ..devices import names

    return (
        "The training device the GPU-dependent Axolotl start-up checks judge (bf16, fp8, compute capability, GPU "
        f"count): {', '.join(names())}; N x NAME for N of them (8xH100). Default: [tool.lora-compiler] gpu, else "
        "those checks are skipped (one info finding lists them)."
    )


GPU = click.option(
    "--gpu",
    metavar="[Nx]NAME",
    callback=lambda ctx, param, value: _device(value),
    cls=Derived,
    derive=_gpu_help,
)


def _device(value: str | None) -> Hardware | None:
    """--gpu checked against the device table: an unknown device is a usage error (exit 2)."""
    if not value:
        return None
    from ..devices import DeviceError, parse

    try:
        return parse(value)
    except DeviceError as exc:
        raise click.BadParameter(str(exc)) from None


def _serve_help() -> str:
    from ..profiles.texts import listed
    from ..serving import ENGINES, releases

    newest = ", ".join(f"{name} {releases(name)[-1]}" for name in ENGINES)
    return (
        "Also check that a serving engine loads the adapter as trained, and print its launch command: "
        f"{listed(list(ENGINES), 'or')}, optionally @VERSION (default: the newest release with rules here: {newest})."
    )


SERVE = click.option(
    "--serve",
    metavar="ENGINE[@VERSION]",
    callback=lambda ctx, param, value: _engine(value),
    cls=Derived,
    derive=_serve_help,
)


def _engine(value: str | None) -> str | None:
    """--serve checked against the engine tables: an unknown engine or release is a usage error (exit 2)."""
    if not value:
        return None  # no engine asked for: the serving tables are not even imported
    from ..serving import ServeError, resolve

    try:
        return resolve(value)
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
