"""`export`: one YAML in, the same adapter as another trainer's config out, or a finding saying why not."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import AXOLOTL, OFFLINE, REMOTE, SERVE, Names, policy_for, trainer_names


@click.command("export")
@click.argument("config", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--to", "trainer", type=Names(trainer_names), required=True, help="The trainer whose config to write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "python"]),
    help="File format (default: the trainer's own: python for peft and unsloth, yaml for the others).",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the file into this directory instead of printing it.",
)
@click.option("--force", is_flag=True, help="Replace a different file of the same name in --output.")
@SERVE
@AXOLOTL
@OFFLINE
@REMOTE
def export_cmd(
    config: Path,
    trainer: str,
    fmt: str | None,
    out_dir: Path | None,
    force: bool,
    serve: str | None,
    axolotl: str | None,
    offline: bool,
    trust_remote_code: bool,
) -> None:
    """Export CONFIG (an Axolotl YAML) as a config for another trainer that trains the same modules.

    The export is checked on the model's meta skeleton: the trainer's own target rule must wrap the same
    modules with the same ranks and scaling. What the trainer cannot carry is a finding; when no faithful
    form exists nothing is written. Exit status: 0 exported, 1 findings that block the export or training,
    2 unusable input.
    """
    from ..api import export_job
    from ..engine.options import Options
    from ..export import formats_of
    from ..render.text import render_findings

    if fmt is not None and fmt not in formats_of(trainer):
        raise click.BadParameter(f"{trainer} is exported as {' or '.join(formats_of(trainer))}", param_hint="--format")
    options = Options(
        offline=offline, allow_remote_code=trust_remote_code, policy=policy_for(None), axolotl=axolotl, serve=serve
    )
    job = export_job(config, options, trainer, fmt, out_dir, force=force)
    if job.findings:
        click.echo(render_findings(list(job.findings)), err=True, nl=False)
    if job.written is not None:
        click.echo(f"wrote {job.written}", err=True)
    elif job.text is not None and job.exit_code == 0:
        click.echo(job.text, nl=False)
    sys.exit(job.exit_code)
