#!/usr/bin/env bash
# The trainer proof of `lora-compiler export`, in one command.
#   scripts/trainer_exports.sh [--check] [--ci] [--venvs DIR] [TRAINER ...]
# Trainers default to every one with a proof venv; --ci to those declared proved_in_ci (lora_compiler/export,
# read through `python -m lora_compiler.export` from the repository; PYTHON names another interpreter).
# Without --check: rewrite the export test set (scripts/trainer_golden.py, in the active environment), then run
# each trainer's own code on it in that trainer's venv (made by scripts/trainer_venvs.sh when missing) and
# record the answers in tests/trainer_facts/TRAINER.json, which the default suite checks.
# With --check (CI): rewrite nothing; run the trainers on the committed files and fail unless their answers
# equal the committed ones (the versions they ran with aside).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
check=0 ci=() venvs="$here/.trainer-venvs" trainers=()
py="${PYTHON:-python}"
declarations() { (cd "$here" && "$py" -m lora_compiler.export "$@"); }
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    --ci) ci=(--ci) ;;
    --venvs) shift; venvs="$1" ;;
    -*) echo "trainer_exports.sh: unknown option $1 (use --check, --ci, --venvs DIR)" >&2; exit 2 ;;
    *) trainers+=("$1") ;;
  esac
  shift
done
[ ${#trainers[@]} -gt 0 ] || mapfile -t trainers < <(declarations trainers "${ci[@]}")
facts="$here/tests/trainer_facts"
[ "$check" = 1 ] || "$py" "$here/scripts/trainer_golden.py"
for t in "${trainers[@]}"; do
  [ -x "$venvs/$t/bin/python" ] || PYTHON="$py" "$here/scripts/trainer_venvs.sh" "$venvs" "$t"
  start=$(date +%s)
  out="$facts/$t.json"; [ "$check" = 0 ] || out="$(mktemp)"
  package=$(declarations package "$t")
  "$venvs/$t/bin/python" "$here/scripts/trainer_check.py" "$t" "$facts" "$out" "$package" 2> "$venvs/$t.log" \
    || { tail -n 20 "$venvs/$t.log" >&2; exit 1; }
  if [ "$check" = 1 ]; then
    "$py" - "$out" "$facts/$t.json" <<'PY' || { echo "trainer_exports.sh: $t answers differ from tests/trainer_facts/$t.json" >&2; exit 1; }
import json, sys
fresh, kept = (json.load(open(p))["cases"] for p in sys.argv[1:])
bad = sorted(n for n in fresh.keys() | kept.keys() if fresh.get(n) != kept.get(n))
if bad:
    sys.exit(f"differ: {bad}")
PY
  fi
  echo "$t: checked in $(( $(date +%s) - start )) s" >&2
done
