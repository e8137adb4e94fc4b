"""`python -c CODE ARGS...` as a fork of a long-lived server that has already imported the heavy modules.

A hostile case's child used to pay 3-4 CPU seconds importing torch, transformers and peft before doing a
few tenths of a second of work. A server imports them once per pytest worker (or benchmark) and forks one
child per run: the child is still its own process, running the real code on the real files with its own
argv, cwd and environment; it only skips the import. The server forks only; it never runs a command, so
every child starts from freshly imported modules, not from state a previous run left behind.

What a forked child shares with a fresh `python -c CODE ARGS...`:
- sys.argv ('-c', *args), the cwd, the whole environment (os.environ and the C environment, with what
  the imports set in it, as torch._dynamo's TORCHINDUCTOR_CACHE_DIR, set again), stdin from
  /dev/null, stdout and stderr into their own files, a fresh __main__, '' first on sys.path, exit codes
  (sys.exit(n), 1 and a traceback for an uncaught exception, atexit handlers run at the end);
- import-time constants. Libraries freeze some variables when imported (huggingface_hub: HF_HOME ->
  HF_HUB_CACHE, HF_TOKEN_PATH ...; transformers: HF_MODULES_CACHE; accelerate: its config path), and the
  working directory (multiprocessing's ORIGINAL_DIR, a transformers path). The server runs with the very
  environment of its requests except the `per_run` variables (per-case directories), which it sets to
  sentinel paths, in a sentinel working directory. Once imported, it searches everything the garbage
  collector reaches for the sentinel: each copy found must be a str or a Path held by a dict (a module's
  globals, an instance's or a cache's), a list, a function's defaults or an object's __dict__, and each
  child rewrites those to its own directories before it runs (`sites` lists them: 35 with torch,
  transformers and peft). A copy anywhere else (a tuple, a set, a class attribute, bytes) cannot be
  rewritten faithfully: that server then forks nothing (`strays` says where) and `run` returns None, as
  it does for a request whose environment differs from the server's in any variable outside `per_run`,
  or whose cwd holds a module that would shadow an imported one. On None the caller runs a fresh
  process. tests/acceptance/test_forkserver.py checks, against a fresh process, every module constant that
  mentions a case's directories.

What differs, and how callers measure around it:
- CPU: a forked child's resource usage starts at zero (Linux), so its CPU seconds are the run's own work;
  `import_cpu_s` is what the server paid for the imports, for comparing with fresh-process figures.
- Memory: after fork, a child's VmHWM starts at the child's own resident set (the server's pages it has
  mapped), not at the server's peak, and grows with the run; compare a run's peak with a reference run
  forked from the same server (tests/acceptance/test_hostile_cases.py compares with an honest lint's).
- Warnings and output printed while importing went to the server's log, once, not to each child.
- What a module drew at random when imported (transformers' SESSION_ID, the str hash seed) is the
  server's, shared by its children; the `random` module is reseeded in each child as after any fork.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Completed:
    """A forked child's outcome, as subprocess.run(capture_output=True, text=True) would give it."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float  # the child's own user + system time (wait4)
    maxrss_mb: float  # the child's peak resident set (wait4's ru_maxrss)


class ForkServer:
    """One server process: `preload` imported under `env` (with `per_run` variables set to sentinels)."""

    def __init__(self, preload: Sequence[str], env: Mapping[str, str], per_run: Sequence[str] = ()) -> None:
        self.preload, self.per_run = tuple(preload), tuple(per_run)
        self._dir = Path(tempfile.mkdtemp(prefix="lora-compiler-forkserver-"))
        self.sentinel = str(self._dir / f"sentinel-{secrets.token_hex(6)}")
        self.env = {**env, **{var: f"{self.sentinel}/{var}" for var in self.per_run}}
        self._log_path = self._dir / "server.log"
        cwd = Path(self.sentinel, CWD)  # the working directory is frozen at import too (a module's ORIGINAL_DIR)
        cwd.mkdir(parents=True)
        config = {"preload": self.preload, "per_run": self.per_run, "sentinel": self.sentinel}
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, __file__, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=cwd,
            )
        ready = self._reply()
        self.pid: int = ready["pid"]
        self.import_cpu_s: float = ready["import_cpu_s"]
        self.rss_mb: float = ready["rss_mb"]
        self.sites: list[str] = ready["sites"]
        self.strays: list[str] = ready["strays"]
        self._modules = frozenset(ready["top_level_modules"])
        self._runs = 0
        atexit.register(self.close)

    def matches(self, env: Mapping[str, str]) -> bool:
        """Whether a run under `env` sees what a fresh process would: equal outside `per_run`, all of it set."""
        if any(var not in env for var in self.per_run):
            return False
        return {k: v for k, v in env.items() if k not in self.per_run} == {
            k: v for k, v in self.env.items() if k not in self.per_run
        }

    def shadowed(self, cwd: Path) -> list[str]:
        """Imported top-level modules that `cwd` (first on a fresh process's sys.path) would have replaced."""
        names = set()
        for entry in os.listdir(cwd):
            stem, _, suffix = entry.partition(".")
            if suffix in ("py", "pyc") or (suffix.endswith("so") and suffix) or (cwd / entry / "__init__.py").exists():
                names.add(stem)
        return sorted(names & self._modules)

    def run(
        self, code: str, args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120
    ) -> Completed | None:
        """`python -c code *args` in a forked child, or None when a fork would not be faithful (see module doc)."""
        cwd = Path(cwd)
        if self.strays or not self.matches(env) or self.shadowed(cwd):
            return None
        self._runs += 1
        out, err = self._dir / f"{self._runs}.out", self._dir / f"{self._runs}.err"
        request = {"code": code, "args": list(args), "env": dict(env), "cwd": str(cwd), "timeout": timeout}
        request.update(stdout=str(out), stderr=str(err))
        self._send(request)
        reply = self._reply()
        stdout, stderr = (p.read_text(encoding="utf-8", errors="replace") for p in (out, err))
        out.unlink()
        err.unlink()
        argv = [sys.executable, "-c", code, *args]
        if reply["timed_out"]:
            raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
        return Completed(argv, reply["returncode"], stdout, stderr, reply["cpu_s"], reply["maxrss_mb"])

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc.stdout.close()  # type: ignore[union-attr]
        shutil.rmtree(self._dir, ignore_errors=True)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._proc.stdin.write(json.dumps(message).encode() + b"\n")  # type: ignore[union-attr]
            self._proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            self._died()

    def _reply(self) -> dict[str, Any]:
        line = self._proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self._died()
        return json.loads(line)

    def _died(self) -> None:
        self._proc.wait(timeout=30)
        log = self._log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"the fork server (preload {self.preload}) exited {self._proc.returncode}:\n{log}")


_SHARED: dict[tuple[str, ...], ForkServer] = {}
CWD = "cwd"  # the server runs in SENTINEL/cwd: a child rewrites that prefix to its own working directory


def shared(preload: Sequence[str], env: Mapping[str, str], per_run: Sequence[str]) -> ForkServer:
    """This process's server for `preload`, started on first use and again if the environment moved under it."""
    key = tuple(preload)
    server = _SHARED.get(key)
    if server is None or server.per_run != tuple(per_run) or not server.matches(env):
        if server is not None:
            server.close()
        server = _SHARED[key] = ForkServer(preload, env, per_run)
    return server


# The server side: started as `python -c _BOOT this-file config`, so sys.path[0] is '' as in `python -c`.
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__forkserver__')"


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _copies(sentinel: str, skip: set[int]) -> tuple[list[tuple[str, Any, Any, Any, str]], list[str]]:
    """Every reachable copy of `sentinel`: the sites a child can rewrite, and where the others are.

    A site is (kind, holder, key, template, label), the template a str or Path that holds the sentinel:
    "item" a dict's value (module globals, instance and other dicts), "key" a dict's key, "index" a list's
    item, "default" a function's positional default, "attr" an attribute in an object's __dict__.
    Anything else that holds it (a tuple, a set, a class attribute, bytes, a C object) is a stray.
    """
    import gc
    import types
    from pathlib import PurePath

    modules = {id(m.__dict__): name for name, m in list(sys.modules.items()) if isinstance(m, types.ModuleType)}
    marked = sentinel.encode()
    sites: list[tuple[str, Any, Any, Any, str]] = []
    strays: list[str] = []

    def holds(value: object) -> bool:  # type() only: isinstance and getattr run lazy modules' __getattr__
        kind = type(value)
        if kind is str or issubclass(kind, PurePath):
            return sentinel in str(value)
        return issubclass(kind, (bytes, bytearray)) and marked in value  # type: ignore[operator]

    def rewritable(value: object) -> bool:
        return type(value) is str or issubclass(type(value), PurePath)

    def named(obj: object) -> str:
        if id(obj) in modules:
            return modules[id(obj)]
        if type(obj) is types.FunctionType:
            return f"{obj.__module__}.{obj.__qualname__}"
        name = obj.__dict__.get("__qualname__", "") if type(obj) is type else ""
        return f"a {type(obj).__name__} {name}".rstrip()

    def value(holder: Any, kind: str, key: Any, item: object, label: str) -> None:
        """One value found in a holder: a site, a stray, or an untracked container to look into."""
        if holds(item):
            if rewritable(item) and kind:
                sites.append((kind, holder, key, item, label))
            else:
                strays.append(f"{label} (a {type(item).__name__})")
        elif type(item) in (dict, list, tuple, set, frozenset) and not gc.is_tracked(item) and id(item) not in skip:
            container(item, label)  # holds atomic values only, so the garbage collector does not list it

    def container(obj: Any, label: str) -> None:
        if type(obj) is dict:
            for key, item in list(dict.items(obj)):
                if holds(key):
                    if rewritable(key):
                        sites.append(("key", obj, key, key, f"{label} key"))
                    else:
                        strays.append(f"{label} (a {type(key).__name__} key)")
                value(obj, "item", key, item, f"{label}.{key}" if id(obj) in modules else label)
        elif type(obj) is list:
            for i, item in enumerate(obj):
                value(obj, "index", i, item, f"{label}[{i}]")
        else:
            for item in obj:
                value(obj, "", None, item, f"{label} (in a {type(obj).__name__})")

    helpers = (holds, rewritable, named, value, container)
    skip = skip | {id(sites), id(strays)} | {id(cell) for f in helpers for cell in f.__closure__ or ()}
    gc.collect()
    for obj in gc.get_objects():
        kind = type(obj)
        if id(obj) in skip or kind is types.FrameType or issubclass(kind, PurePath):
            continue  # frames are transient; a Path is looked at as a value, where it is held
        if kind in (dict, list, tuple, set, frozenset):
            container(obj, named(obj))
            continue
        refs = gc.get_referents(obj)
        if kind is types.FunctionType:
            defaults, keywords = obj.__defaults__ or (), obj.__kwdefaults__
            for i, item in enumerate(defaults):
                value(obj, "default", i, item, f"{named(obj)} default #{i}")
            if keywords:
                container(keywords, f"{named(obj)} keyword default")
            refs = [r for r in refs if r is not obj.__defaults__ and r is not keywords]
        attrs: dict[str, Any] = {}
        if any(holds(r) for r in refs) and kind is not type and "__dict__" in dir(kind):
            try:
                attrs = object.__getattribute__(obj, "__dict__")
            except AttributeError:
                attrs = {}
        for ref in refs:
            names = [k for k, v in attrs.items() if v is ref] if holds(ref) else []
            for name in names:
                value(obj, "attr", name, ref, f"{named(obj)}.{name}")
            if not names:
                value(obj, "", None, ref, named(obj))
    return sites, sorted(set(strays))


def _rewrite(sites: list[tuple[str, Any, Any, Any, str]], values: dict[str, str], sentinel: str) -> None:
    """Replace each site's sentinel prefixes (SENTINEL/NAME) with this run's values."""
    for kind, holder, key, template, _ in sites:
        text = str(template)
        for name, value in values.items():
            text = text.replace(f"{sentinel}/{name}", value)
        new = type(template)(text)
        if kind == "item":
            holder[key] = new
        elif kind == "key":
            holder[new] = holder.pop(key)
        elif kind == "index":
            holder[key] = new
        elif kind == "default":
            holder.__defaults__ = (*holder.__defaults__[:key], new, *holder.__defaults__[key + 1 :])
        else:  # "attr"
            object.__getattribute__(holder, "__dict__")[key] = new


def _serve(config: dict[str, Any]) -> None:
    import importlib
    import resource

    requests, replies = os.fdopen(os.dup(0), "rb"), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)  # what the imports print goes to the log, not into the protocol

    def reply(message: dict[str, Any]) -> None:
        os.write(replies, json.dumps(message).encode() + b"\n")

    environ = dict(os.environ)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for name in config["preload"]:
        importlib.import_module(name)
    after = resource.getrusage(resource.RUSAGE_SELF)
    # What importing did to the environment (torch._dynamo sets TORCHINDUCTOR_CACHE_DIR), which a fresh
    # process's imports would do again: a child applies it over its own environment.
    config["set"] = {k: v for k, v in os.environ.items() if environ.get(k) != v}
    config["unset"] = [k for k in environ if k not in os.environ]
    import_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    import posix

    # Not constants: the server's own arguments and environment (a child gets its own), and the import
    # system's finder for the server's working directory (a child drops it and makes its own, as a fresh
    # process would on its first import from there).
    finders = [f for path, f in sys.path_importer_cache.items() if config["sentinel"] in path]
    own = (sys.argv, getattr(sys, "orig_argv", None), os.environ._data, posix.environ, config, sys.path_importer_cache)
    skip = {id(x) for x in (*own, *finders, *config.values())}
    sites, strays = _copies(config["sentinel"], skip)
    reply(
        {
            "pid": os.getpid(),
            "import_cpu_s": import_cpu,
            "rss_mb": _status_mb("VmRSS"),
            "sites": sorted(label for *_, label in sites),
            "strays": strays,
            "top_level_modules": sorted({name.partition(".")[0] for name in sys.modules}),
        }
    )
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, sites, config, (requests.fileno(), replies))
        deadline, timed_out = time.monotonic() + request["timeout"], False
        while True:
            done, status, rusage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status, rusage = os.wait4(pid, 0)
                timed_out = True
                break
            time.sleep(0.005)
        reply(
            {
                "returncode": os.waitstatus_to_exitcode(status),
                "timed_out": timed_out,
                "cpu_s": rusage.ru_utime + rusage.ru_stime,
                "maxrss_mb": rusage.ru_maxrss / 1024,
            }
        )


def _child(request: dict[str, Any], sites: list[Any], config: dict[str, Any], protocol: tuple[int, int]) -> None:
    """Become `python -c code *args` in cwd under env; never returns."""
    status = 70
    try:
        import atexit as _atexit
        import builtins
        import traceback
        import types

        for fd in protocol:
            os.close(fd)
        env = request["env"]
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(env)
        values = {CWD: request["cwd"], **{var: env[var] for var in config["per_run"]}}
        for key, value in config["set"].items():
            for name, own in values.items():
                value = value.replace(f"{config['sentinel']}/{name}", own)
            os.environ[key] = value
        for key in config["unset"]:
            os.environ.pop(key, None)
        for path in [p for p in sys.path_importer_cache if config["sentinel"] in p]:
            del sys.path_importer_cache[path]
        _rewrite(sites, values, config["sentinel"])
        out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        sys.argv = ["-c", *request["args"]]
        sys.path[0] = ""
        sys.modules.pop("__forkserver__", None)
        server_main = sys.modules["__main__"]  # a `python -c` main too: its dunders are a fresh one's
        main = types.ModuleType("__main__")
        for name, value in vars(server_main).items():
            if name.startswith("__") and name.endswith("__"):
                setattr(main, name, value)
        main.__builtins__ = builtins  # type: ignore[attr-defined]
        sys.modules["__main__"] = main
        if sys.modules.get("__mp_main__") is server_main:  # multiprocessing's alias of __main__
            sys.modules["__mp_main__"] = main
        try:
            exec(compile(request["code"], "<string>", "exec"), main.__dict__)
            status = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                status = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                status = 1
        except BaseException as exc:  # the traceback python -c prints: from <string> down
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)  # type: ignore[union-attr]
            status = 1
        _atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)


if __name__ == "__forkserver__":
    _serve(json.loads(sys.argv[2]))
