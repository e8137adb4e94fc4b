"""`schema` and `rules`: what the tool knows, printed for editors, CI and docs."""

from __future__ import annotations

import click


@click.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the adapter keys (for editors and CI validation)."""
    import json

    from ..api import adapter_schema

    click.echo(json.dumps(adapter_schema(), indent=2))


@click.command("rules")
def rules_cmd() -> None:
    """Print every rule with its default level and documentation (markdown)."""
    from ..rules import rules_markdown

    click.echo(rules_markdown(), nl=False)
