#!/usr/bin/env bash
# One venv per trainer (their pins conflict), each with the CPU torch, so scripts/trainer_check.py can run
# the trainer's own parser and target selection on our exports (it needs nothing of lora-compiler's).
#   scripts/trainer_venvs.sh [DIR] [TRAINER ...]     DIR defaults to .trainer-venvs; trainers default to all
# Run it in lora-compiler's environment: the trainers and what each venv installs are their declarations in
# lora_compiler/export (python -m lora_compiler.export), torch is constraints.txt's.
# Prints install seconds per trainer (the figures quoted in docs/trainers.md).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$here/.trainer-venvs}"; shift || true
py="${PYTHON:-python}"  # the Python that reads the declarations (lora_compiler importable from the repository)
trainers=("$@"); [ ${#trainers[@]} -gt 0 ] || mapfile -t trainers < <(cd "$here" && "$py" -m lora_compiler.export trainers)
torch_spec=$(grep -E '^torch==' "$here/constraints.txt")
mkdir -p "$dir"
for t in "${trainers[@]}"; do
  spec=$(cd "$here" && "$py" -m lora_compiler.export venv "$t" 2>/dev/null) || { echo "unknown trainer: $t" >&2; exit 2; }
  start=$(date +%s)
  v="$dir/$t"
  [ -x "$v/bin/python" ] || python3 -m venv "$v"
  # torch first, from the CPU wheel; the constraint keeps a trainer's own requirement from pulling CUDA.
  echo "$torch_spec" > "$v/constraints.txt"
  # --no-compile: a check imports a small part of what is installed; byte-compiling all of it costs more CPU.
  "$here/scripts/install_torch.sh" "${torch_spec#torch==}" "$v/bin/python" --no-compile
  # shellcheck disable=SC2086
  PIP_CONSTRAINT="$v/constraints.txt" "$v/bin/pip" install -q --no-compile --disable-pip-version-check $spec
  # PyPI's torchvision does not load beside the CPU torch wheel ("operator torchvision::nms does not exist"),
  # and then transformers cannot import PreTrainedModel; nothing checked here needs it.
  "$v/bin/pip" uninstall -q -y torchvision 2>/dev/null || true
  echo "$t: installed in $(( $(date +%s) - start )) s"
done
