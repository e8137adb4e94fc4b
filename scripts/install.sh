#!/usr/bin/env bash
# Install lora-compiler (and with --test, its test tools) into the active Python environment.
# torch is installed first so that a CPU-only machine gets the CPU build, not a multi-GB CUDA one:
# without an NVIDIA driver it asks PyTorch's CPU wheel index as well as PyPI (pip prefers the
# +cpu build); set LORA_COMPILER_TORCH_INDEX to use another index, or install torch yourself first.
set -euo pipefail
cd "$(dirname "$0")/.."

# --test adds the test tools; --stack 0.19 pins Axolotl 0.19.0's transformers/peft (constraints-axolotl-0.19.txt)
# instead of the default, Axolotl 0.21.0's (constraints.txt).
extras="" constraints="constraints.txt"
while [ $# -gt 0 ]; do
  case "$1" in
    --test) extras="[test]" ;;
    --stack) shift; constraints="constraints-axolotl-${1:?--stack needs a release, e.g. 0.19}.txt"
             [ -f "$constraints" ] || { echo "install.sh: no $constraints" >&2; exit 2; } ;;
    *) echo "install.sh: unknown argument $1 (use --test, --stack 0.19)" >&2; exit 2 ;;
  esac
  shift
done
torch_spec=$(grep -E '^torch==' "$constraints")

if ! python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    python -m pip install "$torch_spec"
  else
    index="${LORA_COMPILER_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
    # Ask the CPU index only when it answers, so a machine with a local wheel or a mirror stays quick.
    if python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=5)" "$index" >/dev/null 2>&1; then
      python -m pip install "$torch_spec" --extra-index-url "$index"
    else
      echo "install.sh: $index is unreachable; installing $torch_spec from the configured indexes" >&2
      python -m pip install "$torch_spec"
    fi
  fi
fi
python -m pip install -c "$constraints" -e ".${extras}"
