"""`compile`: one YAML in, a PEFT adapter config and a targets report out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import AXOLOTL, DEVICES, GPU, OFFLINE, REMOTE, SERVE, Names, policy_for, trainer_names

if TYPE_CHECKING:
    from ..devices import Hardware


@click.command("compile")
@click.argument("config", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Write adapter_config.json, targets.json, report.md and report.html here.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="What to print on stdout.",
)
@click.option("--force", is_flag=True, help="Write into a directory that already holds adapter weights.")
@click.option("--no-cache", is_flag=True, help="Compile again even if an identical compile is cached.")
@click.option(
    "--export",
    "export",
    type=Names(trainer_names),
    help="Also write this trainer's config into --output (lora-compiler export, in its default format).",
)
@SERVE
@DEVICES
@GPU
@AXOLOTL
@OFFLINE
@REMOTE
def compile_cmd(
    config: Path,
    out_dir: Path | None,
    fmt: str,
    force: bool,
    no_cache: bool,
    export: str | None,
    serve: str | None,
    devices: tuple[int, ...],
    gpu: Hardware | None,
    axolotl: str | None,
    offline: bool,
    trust_remote_code: bool,
) -> None:
    """Compile CONFIG (an Axolotl YAML) into a PEFT adapter config and a targets report.

    Exit status: 0 compiled, 1 findings that would fail training, 2 unusable input.
    """
    from ..api import compile_job
    from ..engine.options import Options
    from ..render.text import render_findings

    if export and out_dir is None:
        raise click.UsageError("--export writes beside adapter_config.json: give --output too")
    policy = policy_for(None)
    options = Options(
        offline=offline,
        allow_remote_code=trust_remote_code,
        policy=policy,
        axolotl=axolotl,
        serve=serve,
        devices=tuple(sorted(set(devices))),
        gpu=gpu,
    )
    job = compile_job(
        config, options, fmt, out_dir, force=force, use_cache=not no_cache, export=(export, None) if export else None
    )
    if job.problems:
        click.echo(render_findings(job.problems), err=True, nl=False)
    click.echo(job.stdout, nl=False)
    if job.written:
        click.echo(f"wrote {', '.join(job.written)} to {out_dir}", err=True)
    sys.exit(job.exit_code)
