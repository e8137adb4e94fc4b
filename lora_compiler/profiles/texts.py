"""Texts derived from the release profiles: the constraints files, the docs table, release lists for help texts.

scripts/generate.py writes them (the constraints files, and the table into docs/axolotl-releases.md between its
`generated: releases` markers); tests/structure/test_generated.py holds the committed copies equal to these, so a release
is named in one declaration (its profiles/ module) and nowhere by hand.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from . import NEWEST, RELEASES
from .profile import Profile
from .stack import NEWEST_TESTED


def listed(words: Sequence[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c' (or 'or'): a list as a sentence says it."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def minors(last: str = "or") -> str:
    """'0.19, 0.20 or 0.21': the releases as --axolotl is usually given them."""
    return listed([p.minor for p in RELEASES], last)


def constraints_file(profile: Profile) -> str | None:
    """The constraints file that installs a release's stack (None: scripts/install.sh has none for it)."""
    if profile is NEWEST:
        return "constraints.txt"
    return f"constraints-axolotl-{profile.minor}.txt" if profile.own_stack else None


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=108, initial_indent="# ", subsequent_indent="# ")


def constraints_text(profile: Profile) -> str:
    """The pins scripts/install.sh applies for a release: torch, then the transformers and peft it requires."""
    if profile is NEWEST:
        others = [p for p in RELEASES if p is not NEWEST and p.own_stack]
        head = (
            f"Versions the test suite and the committed reports are pinned to: what {profile.name} installs (its "
            "Requires-Dist pins transformers and peft). scripts/install.sh applies them; the package itself accepts "
            "the ranges in pyproject.toml."
            + "".join(f" {p.name}'s stack: {constraints_file(p)} (install.sh --stack {p.minor})." for p in others)
        )
    else:
        head = (
            f"What {profile.name} installs: scripts/install.sh --stack {profile.minor} (the suite then judges with "
            f"the {profile.minor} profile)."
        )
    pins = [f"torch=={profile.torch}", f"transformers=={profile.transformers}", f"peft=={profile.peft}"]
    return "\n".join([*_comment(head), *pins]) + "\n"


def constraints_files() -> dict[str, str]:
    """Every constraints file at the repository root, by name: the newest release's, each own_stack one's, and the
    newest libraries the suite also runs on."""
    files = {name: constraints_text(p) for p in RELEASES if (name := constraints_file(p))}
    return {**files, "constraints-newest.txt": newest_text()}


def newest_text() -> str:
    """constraints-newest.txt: the newest transformers and peft the suite is run on (profiles/stack.py)."""
    head = (
        "The newest libraries the test suite also runs on (.ci/run's second pass): scripts/install.sh --stack newest. "
        f"Compiles then judge with {NEWEST.name}'s semantics on these libraries, as a user who upgraded would."
    )
    return "\n".join([*_comment(head), *(f"{name}=={version}" for name, version in NEWEST_TESTED.items())]) + "\n"


def docs_table() -> str:
    """The table of profiles in docs/axolotl-releases.md: what each release pins and what differs in it."""
    rows = [
        "| release | transformers | peft | torch | adapters | tied-head LoRA | key tree | install its stack |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in RELEASES:
        file = constraints_file(p)
        install = "—" if file is None else "`scripts/install.sh`" if p is NEWEST else f"`--stack {p.minor}`"
        rows.append(
            f"| {p.version} | {p.transformers} | {p.peft} | {p.torch} | {', '.join(p.adapters)} "
            f"| {'yes' if p.ties_lora_output_embeddings else 'no'} "
            f"| `lora_compiler/{p.keys}` | {install} |"
        )
    return "\n".join(rows) + "\n"
