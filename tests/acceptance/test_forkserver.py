"""The fork server behind the hostile replay (tests/forkserver.py): a forked child is a faithful `python -c`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import forkserver
import pytest
from hostile_replay import CASES, HEAVY, LIGHT, PER_CASE, _env, replay

# Prints what a `python -c` program can see of how it was started; exits 3.
SEEN = """
import os, sys, __main__
print(sys.argv, os.getcwd(), sys.path[0] == "", __name__, __main__.__dict__ is globals())
print(os.environ["HF_HOME"], os.environ.get("HF_HUB_OFFLINE"), "torch" in sys.modules)
print("to stderr", file=sys.stderr)
import atexit
atexit.register(print, "atexit ran")
sys.exit(3)
"""

# Every module-level constant of every imported module, after importing what the torch server imports,
# and the environment as those imports left it.
CONSTANTS = """
import json, os, sys, types
from pathlib import PurePath
for name in sys.argv[1:]:
    __import__(name)
seen = {}
for module_name, module in sorted(sys.modules.items()):
    if isinstance(module, types.ModuleType):
        for key, value in list(vars(module).items()):
            if type(value) in (str, bytes, int, float, bool, type(None)) or isinstance(value, PurePath):
                seen[f"{module_name}.{key}"] = repr(value)
seen.update({f"os.environ[{key!r}]": repr(value) for key, value in os.environ.items()})
print(json.dumps(seen))
"""


def _case_env(case: Path) -> dict[str, str]:
    """A hostile case's environment, its directories made (a library may look at them when imported)."""
    env = _env(case, {})
    for var in PER_CASE:
        Path(env[var]).mkdir(parents=True, exist_ok=True)
    return env


def _fresh(code: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_a_forked_child_sees_the_argv_cwd_environment_and_exit_of_python_c(tmp_path: Path) -> None:
    env = _case_env(tmp_path)
    server = forkserver.shared(LIGHT, env, PER_CASE)
    forked = server.run(SEEN, ["a", "--b"], env, tmp_path)
    fresh = _fresh(SEEN, ["a", "--b"], env, tmp_path)
    assert forked is not None
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert forked.returncode == 3 and str(tmp_path / ".hf") in forked.stdout and "atexit ran" in forked.stdout
    for code in ("raise ValueError('boom')", "import sys; sys.exit('bye')", "print('done')"):
        forked, fresh = server.run(code, [], env, tmp_path), _fresh(code, [], env, tmp_path)
        assert forked is not None
        assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_forked_child_has_the_import_time_constants_a_fresh_process_has_of_its_directories(tmp_path: Path) -> None:
    """huggingface_hub, transformers and accelerate freeze HF_HOME, HF_MODULES_CACHE and the working directory
    into constants when imported; a child forked from the torch server holds the values a fresh process would,
    and nothing of the server's own directories. (Other constants differ between any two fresh processes:
    addresses, start times, set orders under hash randomization.)"""
    env = _case_env(tmp_path)
    server = forkserver.shared(HEAVY, env, PER_CASE)
    forked = server.run(CONSTANTS, list(HEAVY), env, tmp_path)
    fresh = _fresh(CONSTANTS, list(HEAVY), env, tmp_path)
    assert forked is not None and forked.returncode == 0 == fresh.returncode, (forked, fresh.stderr)
    ours, theirs = json.loads(forked.stdout), json.loads(fresh.stdout)
    mentions = {key: value for key, value in theirs.items() if str(tmp_path) in value}
    assert {key: value for key, value in ours.items() if str(tmp_path) in value} == mentions
    assert mentions["huggingface_hub.constants.HF_HUB_CACHE"] == repr(str(tmp_path / ".hf" / "hub"))
    assert mentions["transformers.utils.hub.HF_MODULES_CACHE"] == repr(str(tmp_path / ".modules"))
    assert mentions["multiprocessing.process.ORIGINAL_DIR"] == repr(str(tmp_path))
    environ = {key: value for key, value in theirs.items() if key.startswith("os.environ[")}
    assert {key: value for key, value in ours.items() if key.startswith("os.environ[")} == environ
    assert "os.environ['TORCHINDUCTOR_CACHE_DIR']" in environ  # set by torch._dynamo's import, in both
    assert [key for key, value in ours.items() if server.sentinel in value] == []
    assert len(ours) > 10000 and abs(len(ours) - len(theirs)) < 0.01 * len(theirs)  # the same modules were read


def test_the_torch_server_can_rewrite_every_copy_of_a_case_directory_and_hostile_runs_fork_from_it(
    tmp_path: Path,
) -> None:
    server = forkserver.shared(HEAVY, _case_env(tmp_path), PER_CASE)
    assert server.strays == []
    assert {"huggingface_hub.constants.HF_HUB_CACHE", "transformers.utils.hub.HF_MODULES_CACHE"} <= set(server.sites)
    model_case = next(c for c in CASES if c.name == "model-type-list")
    yaml_case = next(c for c in CASES if c.name == "yaml-python-tag")
    runs = [run for case in (model_case, yaml_case) for run in replay(case, tmp_path)[1]]
    assert [run.forked for run in runs] == [True, True]
    assert runs[0].import_cpu_s == server.import_cpu_s  # the torch import was paid by the server, once
    assert not runs[1].torch  # the YAML-only run forked from the server without torch and did not import it


def test_a_request_a_fork_would_not_serve_faithfully_gets_none(tmp_path: Path) -> None:
    env = _case_env(tmp_path)
    server = forkserver.shared(LIGHT, env, PER_CASE)
    assert "torch" not in server._modules and "click" in server._modules
    assert server.run("pass", [], {**env, "SOME_SETTING": "1"}, tmp_path) is None  # read at import, maybe
    assert server.run("pass", [], {k: v for k, v in env.items() if k != "HF_HOME"}, tmp_path) is None
    shadowing = tmp_path / "shadow"
    shadowing.mkdir()
    (shadowing / "click.py").write_text("raise SystemExit('the case directory shadows click')\n")
    assert server.run("pass", [], env, shadowing) is None  # a fresh process would import this click.py
    assert server.run("print('ok')", [], env, tmp_path).stdout == "ok\n"  # type: ignore[union-attr]


def test_a_run_past_its_timeout_is_killed_and_the_server_serves_the_next(tmp_path: Path) -> None:
    env = _case_env(tmp_path)
    server = forkserver.shared(LIGHT, env, PER_CASE)
    with pytest.raises(subprocess.TimeoutExpired):
        server.run("import time; time.sleep(60)", [], env, tmp_path, timeout=0.5)
    assert server.run("print('next')", [], env, tmp_path).stdout == "next\n"  # type: ignore[union-attr]
