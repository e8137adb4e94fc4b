#!/usr/bin/env bash
# Differential against a real Axolotl release (not part of the default test suite; ~5 min the first time).
#
#   AXOLOTL=0.21.0 scripts/axolotl_differential.sh [--install] [EXAMPLES_DIR]   (AXOLOTL defaults to 0.21.0;
#   --install only makes the venv)
#
# 1. installs that axolotl into its own venv ($AXOLOTL_VENV, default .venv-axolotl-$AXOLOTL): Python 3.11
#    for 0.19 (torch 2.13.0, the CPU build where one is reachable), Python 3.12 for 0.20 and 0.21
#    (PYENV_VERSION=3.12.1; torch 2.13.0 from the configured index, which may be a CUDA build: it runs on
#    the CPU), without the GPU-only packages it lists (triton, xformers, liger-kernel, fla-core,
#    flash-linear-attention), if it is not there yet;
# 2. regenerates tests/axolotl_variants/ and asks the real Axolotl about each variant and each example
#    config (validate_config, normalize_config, load_lora, get_peft_model on the meta skeleton, train.py's
#    freezing): scripts/axolotl_truth.py;
# 3. compiles the same configs with lora-compiler, installed into that venv with --no-deps so it runs on the
#    release's own transformers and peft, under the same release's profile, and compares: scripts/axolotl_compare.py, which writes the real tool's answers to
#    tests/axolotl_facts/axolotl-$AXOLOTL*.json (the default suite checks them).
# Exit 1 when lora-compiler and Axolotl disagree anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
release="${AXOLOTL:-0.21.0}"
venv="${AXOLOTL_VENV:-.venv-axolotl-$release}"
install_only=""; if [ "${1:-}" = "--install" ]; then install_only=1; shift; fi
examples="${1:-../shared/axolotl-examples}"
out="${TMPDIR:-/tmp}/axolotl-differential-$release"
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import axolotl" 2>/dev/null; then
  case "$release" in
    0.19.*) python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv" ;;
    *) PYENV_VERSION=3.12.1 python3.12 -m venv "$venv" ;;
  esac
  "$venv/bin/pip" install -q "torch==2.13.0"
  echo "torch==2.13.0" > "$out/constraints.txt"
  "$venv/bin/pip" install -q -c "$out/constraints.txt" --no-deps "axolotl==$release"
  "$venv/bin/pip" download -q --no-deps "axolotl==$release" -d "$out/wheel"
  "$venv/bin/python" - "$out" "$release" <<'PY'
import sys, zipfile, glob
from email.parser import Parser
whl = glob.glob(f"{sys.argv[1]}/wheel/axolotl-{sys.argv[2]}-*.whl")[0]
meta = next(n for n in zipfile.ZipFile(whl).namelist() if n.endswith("METADATA"))
reqs = Parser().parsestr(zipfile.ZipFile(whl).read(meta).decode()).get_all("Requires-Dist")
gpu_only = ("triton", "xformers", "liger-kernel", "fla-core", "flash-linear-attention")
keep = [r.split(";")[0] for r in reqs if "extra ==" not in r and not r.startswith(gpu_only)]
open(f"{sys.argv[1]}/requirements.txt", "w").write("\n".join(keep) + "\n")
PY
  "$venv/bin/pip" install -q -c "$out/constraints.txt" -r "$out/requirements.txt"
fi

# lora-compiler itself runs in the same venv, on that release's own transformers and peft (--no-deps keeps them)
"$venv/bin/pip" install -q --no-deps -e . 2>/dev/null || "$venv/bin/pip" install -q --no-deps -e .
[ -n "$install_only" ] && exit 0
"$venv/bin/python" scripts/axolotl_variants.py
"$venv/bin/python" scripts/axolotl_truth.py --models fixtures/models "$out/variants.jsonl" tests/axolotl_variants/*.yml
status=0
"$venv/bin/python" scripts/axolotl_compare.py "$out/variants.jsonl" --axolotl "$release" \
  --facts "tests/axolotl_facts/axolotl-$release.json" || status=1
if [ -d "$examples" ]; then
  "$venv/bin/python" scripts/axolotl_truth.py --models fixtures/models "$out/examples.jsonl" "$examples"/*.y*ml
  "$venv/bin/python" scripts/axolotl_compare.py "$out/examples.jsonl" --axolotl "$release" \
    --facts "tests/axolotl_facts/axolotl-$release-examples.json" || status=1
fi
exit $status
