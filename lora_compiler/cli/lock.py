"""`lock`: record what each config trains on this stack in lora-compiler.lock (features/lock.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import AXOLOTL, OFFLINE, REMOTE, policy_for


@click.command("lock")
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--lock-file",
    "lock_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("lora-compiler.lock"),
    show_default=True,
    help="The lock file to write (configs it already holds and CONFIGS do not name are kept).",
)
@click.option("--force", is_flag=True, help="Replace a file that is not a lora-compiler lock.")
@AXOLOTL
@OFFLINE
@REMOTE
def lock_cmd(
    configs: tuple[Path, ...],
    lock_file: Path,
    force: bool,
    axolotl: str | None,
    offline: bool,
    trust_remote_code: bool,
) -> None:
    """Record what each CONFIG trains on the installed libraries: the Axolotl release, the libraries' versions,
    the targets, the wrapped modules, the trained count, the adapter file's bytes and the findings.

    `lint --locked` then fails when the configs would train anything else (after a dependency update or an
    edit). Exit status: 0 written, 2 unusable input or a lock that cannot be written.
    """
    from ..api import lint_files
    from ..engine.options import Options
    from ..features.lock import LockError, write

    options = Options(offline=offline, allow_remote_code=trust_remote_code, policy=policy_for(None), axolotl=axolotl)
    results = lint_files(list(configs), options)
    unusable = [r for r in results if r.exit_code() == 2]
    if unusable:
        from ..render.text import render_findings

        click.echo(render_findings([f for r in unusable for f in r.findings]), nl=False, err=True)
        raise click.UsageError("unusable configs cannot be locked: " + ", ".join(str(r.file) for r in unusable))
    try:
        entries = write(lock_file, results, force)
    except LockError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"locked {len(results)} config{'s' if len(results) != 1 else ''} in {lock_file} ({len(entries)} in all)")
    sys.exit(0)
