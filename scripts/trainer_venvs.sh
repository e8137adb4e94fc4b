#!/usr/bin/env bash
# One venv per trainer (their pins conflict), each with the CPU torch, so scripts/trainer_check.py can run
# the trainer's own parser and target selection on our exports (it needs nothing of lora-compiler's).
#   scripts/trainer_venvs.sh [DIR] [TRAINER ...]     DIR defaults to .trainer-venvs; trainers default to all
# Prints install seconds per trainer (the figures quoted in docs/trainers.md).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$here/.trainer-venvs}"; shift || true
trainers=("$@"); [ ${#trainers[@]} -gt 0 ] || trainers=(llamafactory trl torchtune ms-swift unsloth)
declare -A spec=(
  [llamafactory]="llamafactory==0.9.5"
  [trl]="trl==1.16.0 peft==0.21.2"
  [torchtune]="torchtune==0.6.1 torchao==0.14.1"
  [ms-swift]="ms-swift==4.6.0"
  [unsloth]="unsloth==2026.10.9 scipy"
)
mkdir -p "$dir"
for t in "${trainers[@]}"; do
  [ -n "${spec[$t]:-}" ] || { echo "unknown trainer: $t" >&2; exit 2; }
  start=$(date +%s)
  v="$dir/$t"
  [ -x "$v/bin/python" ] || python3 -m venv "$v"
  # torch first, from the CPU wheel; the constraint keeps a trainer's own requirement from pulling CUDA.
  echo "torch==2.13.0" > "$v/constraints.txt"
  "$here/scripts/install_torch.sh" 2.13.0 "$v/bin/python"
  # shellcheck disable=SC2086
  PIP_CONSTRAINT="$v/constraints.txt" "$v/bin/pip" install -q --disable-pip-version-check ${spec[$t]}
  # PyPI's torchvision does not load beside the CPU torch wheel ("operator torchvision::nms does not exist"),
  # and then transformers cannot import PreTrainedModel; nothing checked here needs it.
  "$v/bin/pip" uninstall -q -y torchvision 2>/dev/null || true
  echo "$t: installed in $(( $(date +%s) - start )) s"
done
