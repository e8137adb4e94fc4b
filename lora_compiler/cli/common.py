"""What every command shares: the --offline and --trust-remote-code options and the project policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..pipeline.policy import Policy

OFFLINE = click.option("--offline", is_flag=True, help="Never contact the Hugging Face Hub (HF_HUB_OFFLINE=1 does the same).")
REMOTE = click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow a model repository's own Python code to run when the YAML also sets trust_remote_code: true.",
)


def policy_for(policy_file: Path | None) -> Policy:
    """The rule levels from --config, else from the nearest pyproject.toml; a broken file is a usage error (exit 2)."""
    from ..pipeline.policy import Policy, PolicyError

    try:
        return Policy.from_file(policy_file) if policy_file else Policy.discover(Path.cwd())
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from None
