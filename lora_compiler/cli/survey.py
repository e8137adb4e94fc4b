"""`survey`: what lora_target_linear wraps on every architecture transformers ships."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("survey")
@click.option(
    "--model-type",
    "model_types",
    multiple=True,
    metavar="TYPE",
    help="Survey only this model type (repeatable); default: every causal-LM and image-text-to-text type.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "md"]),
    default="text",
    show_default=True,
    help="What to print on stdout.",
)
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=180,
    show_default=True,
    help="Seconds one architecture may take before its worker is killed.",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write families.md and families.json here (docs/ for the published survey).",
)
def survey_cmd(model_types: tuple[str, ...], fmt: str, jobs: int, timeout: float, out_dir: Path | None) -> None:
    """Survey transformers' architectures: what lora_target_linear wraps, Axolotl's way and PEFT's all-linear.

    Exit status: 0 every architecture surveyed or classified, 1 some failure is ours (our-bug), 2 bad arguments.
    """
    from ..features.survey import run_survey
    from ..io.files import write_text
    from ..render.survey import FORMATS, document, files

    try:
        # a long run: each architecture's outcome on stderr as it arrives (stdout keeps the table)
        result = run_survey(
            model_types or None,
            jobs=jobs,
            timeout=timeout,
            progress=lambda row: click.echo(f"{row['model_type']}: {row['status']}", err=True),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--model-type") from None
    doc = document(result.versions, result.rows)
    if out_dir is not None:
        for name, text in files(doc).items():
            write_text(out_dir / name, text)
        click.echo(f"wrote {out_dir}/families.md, families.json", err=True)
    click.echo(FORMATS[fmt](doc), nl=False)
    sys.exit(1 if "our-bug" in doc["summary"]["failed"] else 0)
