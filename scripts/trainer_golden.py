"""Write the export test set: tests/trainer_facts/cases.json and golden/<case>/<file> (tests/trainer_cases.py).

    python scripts/trainer_golden.py

Then run scripts/trainer_check.py in each trainer's venv (scripts/trainer_exports.sh does both), so the
recorded answers judge the files as they are now.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from trainer_cases import CONFIGS, FACTS, case_name, run_case


def main() -> None:
    golden = FACTS / "golden"
    shutil.rmtree(golden, ignore_errors=True)
    cases = {}
    for path in CONFIGS:
        record, texts = run_case(path)
        cases[case_name(path)] = record
        for file, text in texts.items():
            (golden / case_name(path)).mkdir(parents=True, exist_ok=True)
            (golden / case_name(path) / file).write_text(text)
        print(
            f"{case_name(path)}: "
            + ", ".join(f"{t}={'refused' if e.get('refused') else 'ok'}" for t, e in record["exports"].items()),
            file=sys.stderr,
        )
    (FACTS / "cases.json").write_text(json.dumps({"cases": cases}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
