"""`lint`: findings as path:line:col for people and CI; exit codes from the findings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import AXOLOTL, DEVICES, GPU, OFFLINE, REMOTE, SERVE, policy_for

if TYPE_CHECKING:
    from ..devices import Hardware
    from ..engine.compiler import CompileResult
    from ..results.diff import PairDiff


@click.command("lint")
@click.argument("configs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github", "sarif"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--no-model", is_flag=True, help="YAML, schema and cross-field rules only: no model, no torch import.")
@click.option(
    "--config",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rule levels file (default: [tool.lora-compiler] in the nearest pyproject.toml).",
)
@click.option(
    "--with-axolotl",
    is_flag=True,
    help="Also run the installed Axolotl's own start-up check (prepare_plugins, validate_config, normalize_config; "
    "on the --gpu device, default one H100; offline, only Axolotl's own plugins) in a child process, and report "
    "where it and the rules disagree (axolotl-disagrees).",
)
@click.option(
    "--locked",
    is_flag=True,
    help="Also fail (lock-differs) when a config trains anything else than the lock records, and print the "
    "difference; without CONFIGS, every config the lock holds.",
)
@click.option(
    "--lock-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("lora-compiler.lock"),
    show_default=True,
    help="The lock --locked compares with (written by `lora-compiler lock`).",
)
@SERVE
@DEVICES
@GPU
@AXOLOTL
@OFFLINE
@REMOTE
def lint_cmd(
    configs: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    strict: bool,
    no_model: bool,
    serve: str | None,
    devices: tuple[int, ...],
    gpu: Hardware | None,
    policy_file: Path | None,
    axolotl: str | None,
    offline: bool,
    trust_remote_code: bool,
    with_axolotl: bool,
    locked: bool,
    lock_file: Path,
) -> None:
    """Check Axolotl configs before training: findings as path:line:col, for people and CI.

    Exit status: 0 clean, 1 error findings (or warnings with --strict, or a config that differs from the lock
    with --locked), 2 unusable input.
    """
    from ..api import lint_files, run_findings
    from ..engine.options import Options
    from ..render import LINT_FORMATS
    from ..results.findings import exit_code

    if no_model and serve:
        raise click.UsageError("--serve checks the adapter PEFT builds on the model: it cannot run with --no-model")
    if not configs and not locked:
        raise click.UsageError("give the configs to check (files or folders), or --locked to check the lock's")
    lock = _read_lock(lock_file) if locked else None
    if lock is not None and not configs:
        configs = tuple(lock_file.parent / name for name in sorted(lock))
    policy = policy_for(policy_file)
    if with_axolotl:
        from ..devices import parse
        from ..features.with_axolotl import DEFAULT_GPU

        axolotl = _installed_release(axolotl)
        gpu = gpu or policy.gpu or parse(DEFAULT_GPU)  # both sides judge the same device
    options = Options(
        offline=offline,
        allow_remote_code=trust_remote_code,
        no_model=no_model,
        serve=serve,
        policy=policy,
        axolotl=axolotl,
        devices=tuple(sorted(set(devices))),
        gpu=gpu,
    )
    progress = _Progress(enabled=fmt == "text" and output is None and sys.stderr.isatty())
    results = lint_files(list(configs), options, on_progress=progress)
    progress.done()
    if with_axolotl:
        from ..features.with_axolotl import Unavailable, cross_check

        try:
            cross_check(results, options)
        except Unavailable as exc:
            raise click.UsageError(f"--with-axolotl: {exc}") from None
    diffs = _check_lock(results, lock, lock_file) if lock is not None else []
    run = run_findings(results, options)
    color = fmt == "text" and output is None and sys.stdout.isatty()
    text = LINT_FORMATS[fmt](results, color, strict, run)
    if fmt == "text" and diffs:
        from ..render import DIFF_FORMATS

        text += "".join("\n" + DIFF_FORMATS["text"](d, color) for d in diffs)
    if output is not None:
        from ..io.files import write_text

        try:
            write_text(output, text)
        except OSError as exc:
            raise click.UsageError(f"cannot write the report to {output}: {exc.strerror or exc}") from None
    else:
        click.echo(text, nl=False)
    sys.exit(exit_code([f for r in results for f in r.findings] + run, strict))


def _read_lock(lock_file: Path) -> dict[str, dict[str, Any]]:
    from ..features.lock import LockError, read

    try:
        return read(lock_file)
    except LockError as exc:
        raise click.UsageError(str(exc)) from None


def _check_lock(results: list[CompileResult], lock: dict[str, dict[str, Any]], lock_file: Path) -> list[PairDiff]:
    """Each result against its lock entry: a lock-differs finding joins its findings; the diffs to print."""
    from ..features.lock import check, key

    diffs = []
    for r in results:
        if r.file is None or r.exit_code() == 2:
            continue
        name = key(Path(r.file), lock_file)
        done = check(r, lock.get(name), name)
        if done.finding is not None:
            r.findings.append(done.finding)
        if done.diff is not None:
            diffs.append(done.diff)
    return diffs


def _installed_release(asked: str | None) -> str:
    """The release whose rules apply beside the installed Axolotl: its own (another one asked for is a usage error)."""
    from ..features.with_axolotl import installed
    from ..profiles import ProfileError, find

    version = installed()
    if version is None:
        raise click.UsageError(
            f"--with-axolotl runs the installed Axolotl, and none is installed in this Python ({sys.executable}): "
            "install axolotl beside lora-compiler, or drop --with-axolotl"
        )
    try:
        release = find(version).version
    except ProfileError as exc:
        raise click.UsageError(f"--with-axolotl: {exc}") from None
    if asked and asked != release:
        raise click.UsageError(
            f"--with-axolotl runs the installed Axolotl {version}; --axolotl {asked} asks for another"
        )
    return release


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
