#!/usr/bin/env bash
# Install torch==VERSION into the Python given (default: python), the CPU build on a machine without an
# NVIDIA driver: PyTorch's CPU wheel index is asked as well as PyPI (pip prefers the +cpu build) when it
# answers; set LORA_COMPILER_TORCH_INDEX to use another index. Nothing happens if torch already imports.
#   scripts/install_torch.sh 2.13.0 [PYTHON [PIP-OPTION ...]]
set -euo pipefail
spec="torch==${1:?usage: install_torch.sh VERSION [PYTHON [PIP-OPTION ...]]}"
py="${2:-python}"
shift; shift || true
pip_options=("$@")
"$py" -c "import torch" >/dev/null 2>&1 && exit 0
if command -v nvidia-smi >/dev/null 2>&1; then
  exec "$py" -m pip install -q "${pip_options[@]}" "$spec"
fi
index="${LORA_COMPILER_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
# Ask the CPU index only when it answers, so a machine with a local wheel or a mirror stays quick.
if "$py" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=5)" "$index" >/dev/null 2>&1; then
  exec "$py" -m pip install -q "${pip_options[@]}" "$spec" --extra-index-url "$index"
fi
echo "install_torch.sh: $index is unreachable; installing $spec from the configured indexes" >&2
exec "$py" -m pip install -q "${pip_options[@]}" "$spec"
