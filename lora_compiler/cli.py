"""Command line: parse arguments, call the API, pick a format, decide the exit code. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

_OFFLINE = click.option("--offline", is_flag=True, help="Never contact the Hugging Face Hub (HF_HUB_OFFLINE=1 does the same).")
_REMOTE = click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow a model repository's own Python code to run when the YAML also sets trust_remote_code: true.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lora-compiler")
def cli() -> None:
    """Know what an Axolotl LoRA config will train before any weights are loaded."""


@cli.command("compile")
@click.argument("config", type=click.Path(dir_okay=True, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Write adapter_config.json, targets.json and report.md here.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What to print on stdout.")
@click.option("--force", is_flag=True, help="Write into a directory that already holds adapter weights.")
@_OFFLINE
@_REMOTE
def compile_cmd(config: Path, out_dir: Path | None, fmt: str, force: bool, offline: bool, trust_remote_code: bool) -> None:
    """Compile CONFIG (an Axolotl YAML) into a PEFT adapter config and a targets report.

    Exit status: 0 compiled, 1 findings that would fail training, 2 unusable input.
    """
    from .api import compile_config
    from .findings import EXIT_UNUSABLE, Finding, Severity
    from .formats import COMPILE_FORMATS

    result = compile_config(config, offline=offline, trust_remote_code=trust_remote_code)
    code = result.exit_code()
    if out_dir is not None and code == 0 and result.report is not None:
        from .writers.files import OutputProtected, write_all
        from .writers.outputs import render_files

        try:
            write_all(out_dir, render_files(result), force=force)
        except (OutputProtected, OSError) as exc:
            result.findings.append(Finding("output-protected", Severity.ERROR, str(exc), str(out_dir),
                                           hint="choose another --output directory, or pass --force"))
            code = EXIT_UNUSABLE
    click.echo(COMPILE_FORMATS[fmt](result, fmt == "text" and sys.stdout.isatty()), nl=False)
    if out_dir is not None and code == 0:
        click.echo(f"wrote {out_dir}/adapter_config.json, targets.json, report.md", err=True)
    sys.exit(code)


def main() -> None:
    cli(prog_name="lora-compiler")
