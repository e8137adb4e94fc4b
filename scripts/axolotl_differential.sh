#!/usr/bin/env bash
# Differential against the real Axolotl 0.19.0 (not part of the default test suite; ~5 min the first time).
#
#   scripts/axolotl_differential.sh [EXAMPLES_DIR]
#
# 1. installs axolotl 0.19.0 into its own Python 3.11 venv ($AXOLOTL_VENV, default .venv-axolotl-0.19)
#    beside torch 2.13.0 (CPU), without the GPU-only packages it lists (triton, xformers, liger-kernel,
#    fla-core, flash-linear-attention), if it is not there yet;
# 2. regenerates tests/axolotl_variants/ and asks the real Axolotl about each variant and each example
#    config (validate_config, normalize_config, load_lora, get_peft_model on the meta skeleton, train.py's
#    freezing): scripts/axolotl_truth.py;
# 3. compiles the same configs with lora-compiler (the active venv) and compares: scripts/axolotl_compare.py,
#    which writes the real tool's answers to tests/axolotl_facts/ (the default suite checks them).
# Exit 1 when lora-compiler and Axolotl disagree anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${AXOLOTL_VENV:-.venv-axolotl-0.19}"
examples="${1:-../shared/axolotl-examples}"
out="${TMPDIR:-/tmp}/axolotl-differential"
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import axolotl" 2>/dev/null; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==2.13.0"
  echo "torch==2.13.0" > "$out/constraints.txt"
  "$venv/bin/pip" install -q -c "$out/constraints.txt" --no-deps "axolotl==0.19.0"
  "$venv/bin/pip" download -q --no-deps "axolotl==0.19.0" -d "$out/wheel"
  "$venv/bin/python" - "$out" <<'PY'
import sys, zipfile, glob
from email.parser import Parser
whl = glob.glob(f"{sys.argv[1]}/wheel/axolotl-0.19.0-*.whl")[0]
meta = next(n for n in zipfile.ZipFile(whl).namelist() if n.endswith("METADATA"))
reqs = Parser().parsestr(zipfile.ZipFile(whl).read(meta).decode()).get_all("Requires-Dist")
gpu_only = ("triton", "xformers", "liger-kernel", "fla-core", "flash-linear-attention")
keep = [r.split(";")[0] for r in reqs if "extra ==" not in r and not r.startswith(gpu_only)]
open(f"{sys.argv[1]}/requirements.txt", "w").write("\n".join(keep) + "\n")
PY
  "$venv/bin/pip" install -q -c "$out/constraints.txt" -r "$out/requirements.txt"
fi

python scripts/axolotl_variants.py
"$venv/bin/python" scripts/axolotl_truth.py --models fixtures/models "$out/variants.jsonl" tests/axolotl_variants/*.yml
status=0
python scripts/axolotl_compare.py "$out/variants.jsonl" --facts tests/axolotl_facts/axolotl-0.19.0.json || status=1
if [ -d "$examples" ]; then
  "$venv/bin/python" scripts/axolotl_truth.py --models fixtures/models "$out/examples.jsonl" "$examples"/*.y*ml
  python scripts/axolotl_compare.py "$out/examples.jsonl" --facts tests/axolotl_facts/axolotl-0.19.0-examples.json || status=1
fi
exit $status
