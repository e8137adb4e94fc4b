"""Behaviour snapshot: every observable output of lora-compiler, as files, to prove a refactor changed nothing.

A refactor should leave every compile, lint, diff and survey output byte-identical. This script runs
them all offline and writes the results into OUTDIR; snapshot the code before and after the change and
compare the two directories.

    OUTDIR/compile/{fixtures,examples}/<stem>/  one `lora-compiler compile FILE -o DIR --offline
                                                --no-cache --format json` per YAML: command, exit_code,
                                                stdout, stderr, files (names and modes) and out/ (every
                                                file written: adapter_config.json, targets.json, ...)
    OUTDIR/lint/{fixtures,examples}/            `lint --format json --offline` over each batch
    OUTDIR/diff/{models,conventions}-{json,text}/  `diff` of one fixture across 3 models / 3 conventions
    OUTDIR/survey/                              `lora-compiler survey -o DIR` (~1 min; --no-survey)
    OUTDIR/SUMMARY.txt, OUTDIR/MANIFEST.txt     exit-code counts; sha256 of every file, sorted

Commands run in-process through click's CliRunner on the CLI group (torch imported once; a
subprocess per file costs ~8 s each); `--subprocess` runs the real CLI once per command instead, to
check that the two agree. Everything runs with HF_HUB_OFFLINE=1 and a fresh HF_HOME and
LORA_COMPILER_CACHE_DIR in a temp dir, cwd = the repository under test. The temp dir, the repository
and the examples dir are replaced in every output by <TMP>, <REPO> and <EXAMPLES>.

The code under test is whatever `import lora_compiler` finds; its repository (the parent of the
package) supplies fixtures/, the cwd and the bundled model configs (lora_compiler.bundled is pinned
to <repo>/fixtures, since the editable install would otherwise map it to the main checkout).

Baseline from the previous commit, then the working tree, then compare:

    git worktree add --detach /tmp/base HEAD~1
    cd /tmp/base && PYTHONPATH=/tmp/base /work/main/.venv/bin/python /work/main/scripts/behaviour_snapshot.py \\
        /tmp/snap_base --examples /work/shared/axolotl-examples
    cd /work/main && .venv/bin/python scripts/behaviour_snapshot.py /tmp/snap_new
    python scripts/behaviour_snapshot.py /tmp/snap_base --compare /tmp/snap_new   # or: diff -r A B
    git worktree remove /tmp/base

The script prints which lora_compiler it imported; check it names /tmp/base for the baseline.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCRIPT_REPO = Path(__file__).resolve().parents[1]
DIFF_CONFIG = "fixtures/configs/llama-3.2-1b-lora.yml"
DIFF_MODELS = ("meta-llama/Llama-3.2-1B", "Qwen/Qwen3-30B-A3B", "google/gemma-3-4b-it")
DIFF_CONVENTIONS = ("axolotl", "peft-all-linear", "llamafactory-all")
Capture = tuple[int, str, str]  # exit code, stdout, stderr


def import_under_test() -> Path:
    """Import lora_compiler, pin lora_compiler.bundled to its repository's fixtures/, return that repository."""
    import lora_compiler

    repo = Path(lora_compiler.__file__).resolve().parents[1]
    fixtures = repo / "fixtures"
    if not (fixtures / "configs").is_dir():
        sys.exit(f"{lora_compiler.__file__} is not in a source checkout (no {fixtures}/configs)")
    if "lora_compiler.bundled" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "lora_compiler.bundled", fixtures / "__init__.py", submodule_search_locations=[str(fixtures)]
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        lora_compiler.bundled = module  # type: ignore[attr-defined]
    return repo


class Runner:
    """Runs `lora-compiler ARGS` in-process (CliRunner) or as a subprocess; normalises what it captures."""

    def __init__(self, repo: Path, tmp: Path, examples: Path | None, subprocess_mode: bool) -> None:
        pairs = {str(tmp): "<TMP>", str(repo): "<REPO>"}
        if examples is not None:
            pairs[str(examples)] = "<EXAMPLES>"
        self.pairs = sorted(pairs.items(), key=lambda kv: -len(kv[0]))  # longest first
        self.subprocess_mode = subprocess_mode

    def norm(self, text: str) -> str:
        for old, new in self.pairs:
            text = text.replace(old, new)
        return text

    def __call__(self, args: list[str]) -> Capture:
        if self.subprocess_mode:
            p = subprocess.run([sys.executable, __file__, "--cli", *args], capture_output=True, text=True)
            code, out, err = p.returncode, p.stdout, p.stderr
        else:
            from click.testing import CliRunner

            from lora_compiler.cli import cli

            with warnings.catch_warnings():  # a fresh process would show each warning again
                warnings.onceregistry.clear()
                result = CliRunner().invoke(cli, args, prog_name="lora-compiler")
            code, out, err = result.exit_code, result.stdout, result.stderr
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                err += "".join(traceback.format_exception(*result.exc_info))  # what the interpreter prints
        return code, self.norm(out), self.norm(err)

    def save(self, where: Path, args: list[str], cap: Capture) -> None:
        where.mkdir(parents=True, exist_ok=True)
        (where / "command").write_text(self.norm(" ".join(["lora-compiler", *args])) + "\n")
        for name, value in zip(("exit_code", "stdout", "stderr"), (f"{cap[0]}\n", cap[1], cap[2])):
            (where / name).write_text(value)


def compile_all(run: Runner, configs: dict[str, list[Path]], tmp: Path, outdir: Path, jobs: int) -> list[str]:
    lines: list[str] = []
    for source, paths in configs.items():
        stems = [p.stem for p in paths]
        assert len(set(stems)) == len(stems), f"two {source} configs share a stem"

        def one(path: Path) -> Capture:
            return run(
                [
                    "compile",
                    str(path),
                    "-o",
                    str(tmp / "out" / source / path.stem),
                    "--offline",
                    "--no-cache",
                    "--format",
                    "json",
                ]
            )

        with ThreadPoolExecutor(jobs) as pool:
            caps = list(pool.map(one, paths))
        codes: collections.Counter[int] = collections.Counter()
        for path, cap in zip(paths, caps):
            where, written = outdir / "compile" / source / path.stem, tmp / "out" / source / path.stem
            run.save(
                where, ["compile", str(path), "-o", str(written), "--offline", "--no-cache", "--format", "json"], cap
            )
            listing = []
            for f in sorted(written.rglob("*")) if written.is_dir() else []:
                rel = f.relative_to(written)
                listing.append(f"{f.stat().st_mode & 0o7777:04o} {rel.as_posix()}{'/' if f.is_dir() else ''}\n")
                if f.is_file():
                    (where / "out" / rel).parent.mkdir(parents=True, exist_ok=True)
                    (where / "out" / rel).write_bytes(run.norm(f.read_text(encoding="utf-8")).encode())
            (where / "files").write_text("".join(listing))
            codes[cap[0]] += 1
        lines.append(
            f"compile {source}: {len(paths)} files, exit codes "
            + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items()))
        )
    return lines


def survey(repo: Path, tmp: Path, outdir: Path, run: Runner) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    p = subprocess.run(
        [sys.executable, "-m", "lora_compiler", "survey", "-o", str(tmp / "survey")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    where = outdir / "survey"
    where.mkdir(parents=True)
    # progress lines arrive in completion order (two workers): sorted
    run.save(
        where,
        ["(python -m lora_compiler survey -o DIR)"],
        (p.returncode, run.norm(p.stdout), "".join(sorted(run.norm(p.stderr).splitlines(True)))),
    )
    for f in sorted((tmp / "survey").glob("*")):
        shutil.copyfile(f, where / f.name)
    same = all((repo / "docs" / f.name).read_bytes() == f.read_bytes() for f in (tmp / "survey").glob("*"))
    return f"survey: exit code {p.returncode}, {'equal to' if same else 'DIFFERENT from'} the repository's docs/"


def manifest(root: Path) -> dict[str, str]:
    return {
        f.relative_to(root).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name != "MANIFEST.txt"
    }


def compare(a: Path, b: Path) -> int:
    ma, mb = manifest(a), manifest(b)
    only_a, only_b = sorted(ma.keys() - mb.keys()), sorted(mb.keys() - ma.keys())
    changed = sorted(k for k in ma.keys() & mb.keys() if ma[k] != mb[k])
    for name in only_a:
        print(f"only in {a}: {name}")
    for name in only_b:
        print(f"only in {b}: {name}")
    for name in changed:
        print(f"differs: {name}")
        old, new = (p.joinpath(name).read_text(errors="replace").splitlines(True) for p in (a, b))
        sys.stdout.writelines(list(difflib.unified_diff(old, new, f"a/{name}", f"b/{name}"))[:40])
    total = len(only_a) + len(only_b) + len(changed)
    print(f"{len(ma)} vs {len(mb)} files: " + ("identical" if not total else f"{total} differences"))
    return 1 if total else 0


def main() -> int:
    if sys.argv[1:2] == ["--cli"]:  # the real CLI, with the same imports as in-process (for --subprocess)
        import_under_test()
        from lora_compiler.cli import main as cli_main

        sys.argv = ["lora-compiler", *sys.argv[2:]]
        cli_main()
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--examples", type=Path, help="dir of Axolotl example YAMLs (default ../shared/axolotl-examples)")
    ap.add_argument("--force", action="store_true", help="replace OUTDIR's contents if it is not empty")
    ap.add_argument("--no-survey", action="store_true", help="skip the architecture survey (~1 minute)")
    ap.add_argument("--subprocess", action="store_true", help="one real CLI process per command (slow; parity check)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel compiles with --subprocess")
    ap.add_argument("--compare", type=Path, metavar="OTHER", help="compare snapshot OUTDIR with OTHER; run nothing")
    args = ap.parse_args()
    if args.compare:
        return compare(args.outdir, args.compare)
    outdir: Path = args.outdir.resolve()
    examples_arg: Path | None = args.examples.resolve() if args.examples else None
    if outdir.exists() and any(outdir.iterdir()):
        if not args.force:
            sys.exit(f"{outdir} is not empty (pass --force to replace it)")
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="behaviour-snapshot-")).resolve()
    os.environ.update(
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(tmp / "hf"),
        LORA_COMPILER_CACHE_DIR=str(tmp / "cache"),
    )
    os.environ.pop("HF_HUB_CACHE", None)
    try:
        started = time.monotonic()
        repo = import_under_test()
        import lora_compiler

        print(
            f"code under test: {lora_compiler.__file__} (bundled: {lora_compiler.bundled.__file__})",  # type: ignore[attr-defined]
            file=sys.stderr,
        )
        os.chdir(repo)
        candidates = (
            [examples_arg]
            if examples_arg
            else [repo.parent / "shared" / "axolotl-examples", SCRIPT_REPO.parent / "shared" / "axolotl-examples"]
        )
        examples = next((p.resolve() for p in candidates if p.is_dir()), None)
        run = Runner(repo, tmp, examples, args.subprocess)
        if not args.subprocess:
            import lora_compiler.cli
            import lora_compiler.engine.compiler
        configs = {"fixtures": sorted(Path("fixtures/configs").glob("*.y*ml"))}
        summary = []
        if examples is None:
            summary.append(f"examples: none found ({', '.join(map(str, candidates))}); skipped")
        else:
            configs["examples"] = sorted(p for p in examples.glob("*.y*ml"))
        timing = [f"import {time.monotonic() - started:.1f} s"]

        t = time.monotonic()
        summary += compile_all(run, configs, tmp, outdir, args.jobs if args.subprocess else 1)
        timing.append(f"compile {time.monotonic() - t:.1f} s")

        t = time.monotonic()
        for source, paths in configs.items():
            cmd = ["lint", "--format", "json", "--offline", *map(str, paths)]
            cap = run(cmd)
            run.save(outdir / "lint" / source, cmd, cap)
            summary.append(f"lint {source}: {len(paths)} files, exit code {cap[0]}")
        timing.append(f"lint {time.monotonic() - t:.1f} s")

        t = time.monotonic()
        for name, flag, values in (
            ("models", "--model", DIFF_MODELS),
            ("conventions", "--convention", DIFF_CONVENTIONS),
        ):
            for fmt in ("json", "text"):
                cmd = ["diff", DIFF_CONFIG, *[x for v in values for x in (flag, v)], "--format", fmt, "--offline"]
                cap = run(cmd)
                run.save(outdir / "diff" / f"{name}-{fmt}", cmd, cap)
                summary.append(f"diff {name} {fmt}: exit code {cap[0]}")
        timing.append(f"diff {time.monotonic() - t:.1f} s")

        if not args.no_survey:
            t = time.monotonic()
            summary.append(survey(repo, tmp, outdir, run))
            timing.append(f"survey {time.monotonic() - t:.1f} s")

        (outdir / "SUMMARY.txt").write_text("".join(f"{line}\n" for line in summary))
        (outdir / "MANIFEST.txt").write_text("".join(f"{h}  {n}\n" for n, h in manifest(outdir).items()))
        print("\n".join(summary), file=sys.stderr)
        print(f"wrote {outdir} in {time.monotonic() - started:.1f} s: " + ", ".join(timing), file=sys.stderr)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
