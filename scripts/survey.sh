#!/usr/bin/env sh
# Regenerate docs/families.md and docs/families.json: every causal-LM and image-text-to-text
# architecture of the installed transformers (~2 minutes on 2 cores). Extra arguments go to the survey
# (e.g. --jobs 4, --timeout 300); commit the result together with the pinned versions it names.
set -eu
cd "$(dirname "$0")/.."
exec lora-compiler survey -o docs/ "$@"
