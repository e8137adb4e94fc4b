"""What the trainer proof's scripts ask of the trainer declarations, one answer per line (lora_compiler.export).

    python -m lora_compiler.export trainers [--ci]   # trainers with a proof venv (--ci: those .ci/run proves)
    python -m lora_compiler.export venv TRAINER      # the pip requirements of its proof venv, space-separated
    python -m lora_compiler.export package TRAINER   # its distribution, whose version the proof records

scripts/trainer_venvs.sh and scripts/trainer_exports.sh read these instead of keeping their own lists.
"""

from __future__ import annotations

import argparse
import sys

from . import TRAINERS


def answer(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m lora_compiler.export")
    sub = parser.add_subparsers(dest="query", required=True)
    sub.add_parser("trainers").add_argument("--ci", action="store_true")
    for query in ("venv", "package"):
        sub.add_parser(query).add_argument("trainer", choices=[n for n, t in TRAINERS.items() if t.requirements])
    args = parser.parse_args(argv)
    if args.query == "trainers":
        return [n for n, t in TRAINERS.items() if t.requirements and (t.proved_in_ci or not args.ci)]
    trainer = TRAINERS[args.trainer]
    return [" ".join(trainer.requirements) if args.query == "venv" else trainer.package]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{line}\n" for line in answer(sys.argv[1:])))
