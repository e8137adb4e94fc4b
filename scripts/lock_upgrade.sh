#!/usr/bin/env bash
# A real upgrade through the lock: lock on one stack, `lint --locked` on another (docs/lock.md).
#
#   scripts/lock_upgrade.sh OLD_PYTHON NEW_PYTHON
#   scripts/lock_upgrade.sh /work/main/.venv/bin/python /work/venvs/newest/bin/python
#
# Each python is a venv with lora-compiler's dependencies (this checkout is put first on PYTHONPATH). The stack
# probes (tests/stack_cases/) and a Llama fixture are locked with OLD_PYTHON in a temporary folder, then checked
# with NEW_PYTHON: when the two stacks sit on either side of PEFT 0.22, the Qwen2-MoE and partial-name probes must
# fail naming the PEFT change, and the Llama config must pass. Offline; about a minute.
set -euo pipefail
old=${1:?OLD_PYTHON}; new=${2:?NEW_PYTHON}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp "$repo"/tests/stack_cases/qwen2-moe-experts.yml "$repo"/tests/stack_cases/modules-to-save-partial-name.yml \
   "$repo"/fixtures/configs/llama-3.2-1b-lora.yml "$work"/
cp -r "$repo"/tests/stack_cases/models "$work"/
sed -i 's|tests/stack_cases/models|models|' "$work"/*.yml
cd "$work"
export PYTHONPATH="$repo" HF_HUB_OFFLINE=1
"$old" -m lora_compiler lock --offline ./*.yml
set +e
"$new" -m lora_compiler lint --locked --offline | tee lint.txt
code=${PIPESTATUS[0]}
set -e
grep -q "qwen2-moe-experts.yml: error \[lock-differs\].*PEFT 0.22 converts qwen2_moe experts" lint.txt
grep -q "modules-to-save-partial-name.yml: error \[lock-differs\].*PEFT 0.22 matches lora_modules_to_save" lint.txt
! grep -q "llama-3.2-1b-lora.yml: error" lint.txt
[ "$code" = 1 ]
echo "lock_upgrade: the PEFT 0.22 changes fail with their cause; the Llama config passes"
