#!/usr/bin/env bash
# Install lora-compiler (and with --test, its test tools) into the active Python environment.
# torch is installed first (scripts/install_torch.sh) so that a CPU-only machine gets the CPU build, not
# a multi-GB CUDA one; set LORA_COMPILER_TORCH_INDEX to use another index, or install torch yourself first.
set -euo pipefail
cd "$(dirname "$0")/.."

# --test adds the test tools; --stack 0.19 pins Axolotl 0.19.0's transformers/peft (constraints-axolotl-0.19.txt)
# instead of the default, Axolotl 0.21.0's (constraints.txt); --stack newest the newest libraries the suite runs
# on (constraints-newest.txt).
extras="" constraints="constraints.txt"
while [ $# -gt 0 ]; do
  case "$1" in
    --test) extras="[test]" ;;
    --stack) shift
             if [ "${1:-}" = newest ]; then constraints="constraints-newest.txt"
             else constraints="constraints-axolotl-${1:?--stack needs a release, e.g. 0.19, or newest}.txt"; fi
             [ -f "$constraints" ] || { echo "install.sh: no $constraints" >&2; exit 2; } ;;
    *) echo "install.sh: unknown argument $1 (use --test, --stack 0.19, --stack newest)" >&2; exit 2 ;;
  esac
  shift
done
torch_spec=$(grep -E '^torch==' "$constraints")

scripts/install_torch.sh "${torch_spec#torch==}" python
python -m pip install -c "$constraints" -e ".${extras}"
