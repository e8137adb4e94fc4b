"""Command line: parse arguments, call the API, pick a format, decide the exit code. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .version import __version__

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
              help="Write adapter_config.json, targets.json, report.md and report.html here.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What to print on stdout.")
@click.option("--force", is_flag=True, help="Write into a directory that already holds adapter weights.")
@click.option("--no-cache", is_flag=True, help="Compile again even if an identical compile is cached.")
@_OFFLINE
@_REMOTE
def compile_cmd(config: Path, out_dir: Path | None, fmt: str, force: bool, no_cache: bool, offline: bool,
                trust_remote_code: bool) -> None:
    """Compile CONFIG (an Axolotl YAML) into a PEFT adapter config and a targets report.

    Exit status: 0 compiled, 1 findings that would fail training, 2 unusable input.
    """
    from .api import compile_job
    from .formats.text import render_findings
    from .options import Options
    from .policy import Policy, PolicyError

    try:
        policy = Policy.discover(Path.cwd())
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from None
    options = Options(offline=offline, allow_remote_code=trust_remote_code, policy=policy)
    job = compile_job(config, options, fmt, out_dir, force=force, use_cache=not no_cache)
    if job.problems:
        click.echo(render_findings(job.problems), err=True, nl=False)
    click.echo(job.stdout, nl=False)
    if job.written:
        click.echo(f"wrote {', '.join(job.written)} to {out_dir}", err=True)
    sys.exit(job.exit_code)


@cli.command("lint")
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
              show_default=True, help="Output format.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of stdout.")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--no-model", is_flag=True, help="YAML, schema and cross-field rules only: no model, no torch import.")
@click.option("--serve", type=click.Choice(["vllm"]), help="Also check that a serving engine can load the adapter.")
@click.option("--config", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rule levels file (default: [tool.lora-compiler] in the nearest pyproject.toml).")
@_OFFLINE
@_REMOTE
def lint_cmd(configs: tuple[Path, ...], fmt: str, output: Path | None, strict: bool, no_model: bool,
             serve: str | None, policy_file: Path | None, offline: bool, trust_remote_code: bool) -> None:
    """Check Axolotl configs before training: findings as path:line:col, for people and CI.

    Exit status: 0 clean, 1 error findings (or warnings with --strict), 2 unusable input.
    """
    from .api import lint_files
    from .options import Options
    from .findings import exit_code
    from .formats import LINT_FORMATS
    from .policy import Policy, PolicyError

    try:
        policy = Policy.from_file(policy_file) if policy_file else Policy.discover(Path.cwd())
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from None
    options = Options(offline=offline, allow_remote_code=trust_remote_code, no_model=no_model, serve=serve,
                      policy=policy)
    progress = _Progress(enabled=fmt == "text" and output is None and sys.stderr.isatty())
    results = lint_files(list(configs), options, on_progress=progress)
    progress.done()
    text = LINT_FORMATS[fmt](results, fmt == "text" and output is None and sys.stdout.isatty(), strict)
    if output is not None:
        from .writers.files import write_text

        write_text(output, text)
    else:
        click.echo(text, nl=False)
    sys.exit(exit_code([f for r in results for f in r.findings], strict))


@cli.command("diff")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "models", multiple=True, metavar="MODEL",
              help="Compile the one CONFIG against this base model; repeat for one column per model.")
@click.option("--convention", "conventions", multiple=True, metavar="NAME",
              help="Select targets as axolotl, peft-all-linear or llamafactory-all does; repeat for one column each.")
@click.option("--layers", is_flag=True, help="One row per module path (layer indices as ranges), not per module name.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json", "html"]), default="text", show_default=True,
              help="text for a terminal, md for a pull-request comment, json for tools, html to look at.")
@click.option("--exit-code", "check", is_flag=True, help="Exit 1 when the target sets differ, as git diff --exit-code.")
@_OFFLINE
@_REMOTE
def diff_cmd(inputs: tuple[Path, ...], models: tuple[str, ...], conventions: tuple[str, ...], layers: bool,
             fmt: str, check: bool, offline: bool, trust_remote_code: bool) -> None:
    """Compare LoRA target sets: one CONFIG across --model or --convention columns, or two inputs.

    An input is an Axolotl YAML (compiled), a compile output directory, a targets.json or an
    adapter_config.json. Exit status: 0 compared (or same targets with --exit-code), 1 target sets
    differ with --exit-code, 2 unusable input.
    """
    from .diff import DiffUsageError, diff
    from .formats import DIFF_FORMATS
    from .options import Options
    from .policy import Policy, PolicyError

    try:
        options = Options(offline=offline, allow_remote_code=trust_remote_code, policy=Policy.discover(Path.cwd()))
        result = diff(list(inputs), models=models, conventions=conventions, options=options, layers=layers)
    except (DiffUsageError, PolicyError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(DIFF_FORMATS[fmt](result, fmt == "text" and sys.stdout.isatty()), nl=False)
    sys.exit(result.exit_code(check))


@cli.command("survey")
@click.option("--model-type", "model_types", multiple=True, metavar="TYPE",
              help="Survey only this model type (repeatable); default: every causal-LM and image-text-to-text type.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True,
              help="What to print on stdout.")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
@click.option("--timeout", type=click.FloatRange(min=1), default=180, show_default=True,
              help="Seconds one architecture may take before its worker is killed.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write families.md and families.json here (docs/ for the published survey).")
def survey_cmd(model_types: tuple[str, ...], fmt: str, jobs: int, timeout: float, out_dir: Path | None) -> None:
    """Survey transformers' architectures: what lora_target_linear wraps, Axolotl's way and PEFT's all-linear.

    Exit status: 0 every architecture surveyed or classified, 1 some failure is ours (our-bug), 2 bad arguments.
    """
    from .survey import run_survey
    from .survey_render import FORMATS, document, write

    try:
        result = run_survey(model_types or None, jobs=jobs, timeout=timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--model-type") from None
    doc = document(result.versions, result.rows)
    if out_dir is not None:
        write(doc, out_dir)
        click.echo(f"wrote {out_dir}/families.md, families.json", err=True)
    click.echo(FORMATS[fmt](doc), nl=False)
    sys.exit(1 if "our-bug" in doc["summary"]["failed"] else 0)


@cli.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the adapter keys (for editors and CI validation)."""
    import json

    from .api import adapter_schema

    click.echo(json.dumps(adapter_schema(), indent=2))


@cli.command("rules")
def rules_cmd() -> None:
    """Print every rule with its default level and documentation (markdown)."""
    from .rules import rules_markdown

    click.echo(rules_markdown(), nl=False)


class _Progress:
    """A one-line counter on a terminal, only once a run has taken more than two seconds."""

    def __init__(self, enabled: bool) -> None:
        import time

        self.enabled, self.start, self.shown = enabled, time.monotonic(), False

    def __call__(self, done: int, total: int) -> None:
        import time

        if self.enabled and time.monotonic() - self.start > 2:
            click.echo(f"\rchecked {done}/{total} configs", nl=False, err=True)
            self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)


def main() -> None:
    # Importing torch, transformers and peft leaves ~400,000 long-lived objects that the cyclic
    # collector would walk again and again (20-35% of a cold start) without ever freeing one. A
    # command is one short run whose garbage is dropped at exit, so collection waits until then;
    # freezing first keeps the interpreter's shutdown from walking them once more.
    import gc

    gc.disable()
    try:
        cli(prog_name="lora-compiler")
    finally:
        gc.freeze()
        gc.enable()
