"""`diff`: target sets side by side, across models, conventions, configs or outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import OFFLINE, REMOTE, Derived, policy_for


def _convention_help() -> str:
    from ..features.conventions import CONVENTIONS
    from ..profiles.texts import listed

    return f"Select targets as {listed(list(CONVENTIONS), 'or')} does; repeat for one column each."


def _axolotl_help() -> str:
    from ..profiles import RELEASES

    return (
        f"Axolotl release whose semantics apply ({', '.join(p.minor for p in RELEASES)}); twice or more: the "
        "upgrade view, one column per release for the one CONFIG."
    )


@click.command("diff")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="MODEL",
    help="Compile the one CONFIG against this base model; repeat for one column per model.",
)
@click.option(
    "--convention",
    "conventions",
    multiple=True,
    metavar="NAME",
    cls=Derived,
    derive=_convention_help,
)
@click.option("--layers", is_flag=True, help="One row per module path (layer indices as ranges), not per module name.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "md", "json", "html"]),
    default="text",
    show_default=True,
    help="text for a terminal, md for a pull-request comment, json for tools, html to look at.",
)
@click.option(
    "--axolotl",
    "releases",
    multiple=True,
    metavar="VERSION",
    cls=Derived,
    derive=_axolotl_help,
)
@click.option("--exit-code", "check", is_flag=True, help="Exit 1 when the target sets differ, as git diff --exit-code.")
@OFFLINE
@REMOTE
def diff_cmd(
    inputs: tuple[Path, ...],
    models: tuple[str, ...],
    conventions: tuple[str, ...],
    layers: bool,
    fmt: str,
    releases: tuple[str, ...],
    check: bool,
    offline: bool,
    trust_remote_code: bool,
) -> None:
    """Compare LoRA target sets: one CONFIG across --model, --convention or --axolotl columns, or two inputs.

    An input is an Axolotl YAML (compiled), a compile output directory, a targets.json or an
    adapter_config.json. Exit status: 0 compared (or same targets with --exit-code), 1 target sets
    differ with --exit-code, 2 unusable input.
    """
    from ..engine.options import Options
    from ..features.diff import DiffUsageError, diff
    from ..render import DIFF_FORMATS

    options = Options(offline=offline, allow_remote_code=trust_remote_code, policy=policy_for(None))
    try:
        result = diff(
            list(inputs), models=models, conventions=conventions, options=options, layers=layers, releases=releases
        )
    except DiffUsageError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(DIFF_FORMATS[fmt](result, fmt == "text" and sys.stdout.isatty()), nl=False)
    sys.exit(result.exit_code(check))
