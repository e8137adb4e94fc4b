"""Command line: one module per command parses arguments, calls the API, picks a renderer, decides the exit code.

Nothing else happens here: the work is in `api`, the text in `render`.
"""

from __future__ import annotations

import sys

import click

from ..version import __version__
from . import compile, diff, export, info, lint, lock, survey


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lora-compiler")
def cli() -> None:
    """Know what an Axolotl LoRA config will train before any weights are loaded."""


for _command in (
    compile.compile_cmd,
    export.export_cmd,
    lint.lint_cmd,
    lock.lock_cmd,
    diff.diff_cmd,
    survey.survey_cmd,
    info.schema_cmd,
    info.rules_cmd,
):
    cli.add_command(_command)


class _Interrupted(BaseException):
    """Ctrl-C, raised past click (which would turn KeyboardInterrupt into exit 1) and past `except Exception`."""


def _interrupt(signum: int, frame: object) -> None:
    raise _Interrupted


def main() -> None:
    # Importing torch, transformers and peft leaves ~400,000 long-lived objects that the cyclic
    # collector would walk again and again (20-35% of a cold start) without ever freeing one. A
    # command is one short run whose garbage is dropped at exit, so collection waits until then;
    # freezing first keeps the interpreter's shutdown from walking them once more.
    import gc
    import signal

    gc.disable()
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        cli(prog_name="lora-compiler")
    except _Interrupted:
        # 130 (128 + SIGINT), as shells report it: not 1, which means "findings would fail training".
        # Outputs are written as one staged set, so an interrupted run leaves none half-written.
        click.echo("\nlora-compiler: interrupted", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)
        gc.freeze()
        gc.enable()
