"""Find a model's config.json, never its weights: local directory, hub cache, bundled, then the Hub."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import inputs

CONFIG_NAME = "config.json"
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$")


@dataclass(frozen=True)
class ModelSource:
    """Where the model config came from; the directory holds config.json and nothing is run from it."""

    name: str
    kind: str  # local | hf-cache | bundled | hub
    config_dir: Path
    revision: str | None = None

    @property
    def revision_unverified(self) -> bool:
        """A bundled config stands in for a pinned revision it was not transcribed from (the Hub was not asked)."""
        return self.kind == "bundled" and self.revision not in (None, "main")


@dataclass
class ResolutionError(Exception):
    name: str
    tried: list[str] = field(default_factory=list)
    nearest: list[str] = field(default_factory=list)  # bundled or cached ids close to `name` (a typo?)
    offline_by: str | None = None  # "--offline", "HF_HUB_OFFLINE" or "unreachable": why the Hub was not asked

    def __str__(self) -> str:
        return f"model config for '{self.name}' not found; tried: " + "; ".join(self.tried)


def is_hub_id(name: str) -> bool:
    """A syntactically valid Hugging Face repo id (no path tricks such as '..' or '--')."""
    return bool(_REPO_ID.match(name)) and ".." not in name and "--" not in name


def is_revision(revision: str) -> bool:
    """A git branch, tag or commit that is safe as a path under the cache's refs/ and snapshots/.

    huggingface_hub writes refs/<revision> without checking it, so '../..' here would write outside the cache.
    """
    return (
        bool(revision)
        and ".." not in revision
        and "\\" not in revision
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in revision)
        and all(part and not part.startswith(".") for part in revision.split("/"))
    )


def offline_requested(offline: bool) -> bool:
    return offline or _offline_env()


def _offline_env() -> bool:
    return (inputs.env("HF_HUB_OFFLINE") or "").strip().lower() in {"1", "true", "yes", "on"}


def nearest_ids(name: str, cache: Path | None = None, n: int = 3) -> list[str]:
    """Bundled and hub-cached model ids that look like `name` (one or two letters off, case aside)."""
    import difflib

    known = set(bundled_names())
    root = cache if cache is not None else hub_cache_dir()
    if root.is_dir():
        known |= {d.name[len("models--") :].replace("--", "/") for d in root.glob("models--*") if d.is_dir()}
    by_lower = {k.lower(): k for k in known}
    scored = sorted(((difflib.SequenceMatcher(None, name.lower(), k).ratio(), k) for k in by_lower), reverse=True)
    best = scored[0][0] if scored else 0.0
    return [by_lower[k] for score, k in scored[:n] if score >= 0.85 and score >= best - 0.02]


def hub_cache_dir() -> Path:
    """The hub cache as huggingface_hub computes it, read from the environment at call time."""
    if hub := inputs.env("HF_HUB_CACHE"):
        return inputs.expanduser(hub)
    if home := inputs.env("HF_HOME"):
        return inputs.expanduser(home) / "hub"
    xdg = inputs.env("XDG_CACHE_HOME")
    base = inputs.expanduser(xdg) if xdg else Path(inputs.env("HOME") or Path.home()) / ".cache"
    return base / "huggingface" / "hub"


def bundled_models_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("lora_compiler.bundled") / "models"))


def bundled_names() -> list[str]:
    root = bundled_models_dir()
    return sorted(str(p.parent.relative_to(root)) for p in root.glob(f"*/*/{CONFIG_NAME}"))


def resolve(name: str, revision: str | None = None, offline: bool = False) -> ModelSource:
    """Return the first place that has `name`'s config.json, or raise naming every place tried."""
    tried: list[str] = []
    local = inputs.expanduser(name)
    if inputs.is_dir(local):
        if inputs.is_file(local / CONFIG_NAME):
            return ModelSource(name, "local", local.resolve(), revision)
        tried.append(f"local directory {local.resolve()} (no {CONFIG_NAME})")
    else:
        tried.append(f"local directory {local} (does not exist)")
    if not is_hub_id(name):
        tried.append("not a valid Hugging Face repo id, so no hub cache, bundled config or download")
        raise ResolutionError(name, tried)
    if revision is not None and not is_revision(revision):
        tried.append(
            f"revision {revision!r} is not a valid revision (branch, tag or commit), "
            "so no hub cache, bundled config or download"
        )
        raise ResolutionError(name, tried)

    cache = hub_cache_dir()
    cached = _from_cache(name, revision, cache)
    if cached:
        return ModelSource(name, "hf-cache", cached, revision)
    tried.append(f"hub cache {cache} (revision {revision or 'main'})")

    bundled = bundled_models_dir() / name / CONFIG_NAME
    pinned = revision not in (None, "main")
    if inputs.is_file(bundled) and not pinned:
        return ModelSource(name, "bundled", bundled.parent, revision)
    if not bundled.is_file():
        tried.append(f"bundled fixtures ({len(bundled_names())} model configs)")
    # a pinned revision asks the Hub first: the bundled copy is main's, and a nonexistent commit must fail
    by = ("--offline" if offline else "HF_HUB_OFFLINE") if offline_requested(offline) else None
    if not by:
        inputs.untracked("the Hub was asked")  # what it answers is not a file a later run can check
    unreachable = None if by else hub_unreachable()
    if (by or unreachable) and bundled.is_file():
        return ModelSource(name, "bundled", bundled.parent, revision)  # front warns: revision_unverified
    if by:
        tried.append(f"the Hub (skipped: {by})")
        raise ResolutionError(name, tried, nearest_ids(name, cache), by)
    if unreachable:
        tried.append(f"the Hub (unreachable: {unreachable})")
        raise ResolutionError(name, tried, nearest_ids(name, cache), offline_by="unreachable")
    try:
        return ModelSource(name, "hub", _download(name, revision, cache), revision)
    except Exception as exc:  # any network or hub error is a finding, never a traceback
        tried.append(f"the Hub ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        raise ResolutionError(name, tried, nearest_ids(name, cache)) from None


_HUB_PROBE: dict[str, str | None] = {}  # endpoint -> why it is unreachable (None: reachable), once per run
HUB_PROBE_SECONDS = 3.0


def hub_unreachable() -> str | None:
    """Why the Hub cannot be reached, from one short TCP connect per endpoint per process (a batch asks once).

    Without it, huggingface_hub retries a dead network five times per file (about 23 s each)."""
    import socket
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if endpoint not in _HUB_PROBE:
        url = urlparse(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY"):
            _HUB_PROBE[endpoint] = None  # through a proxy the direct connect proves nothing: let the client try
        else:
            try:
                socket.create_connection((url.hostname or "", port), timeout=HUB_PROBE_SECONDS).close()
                _HUB_PROBE[endpoint] = None
            except OSError as exc:
                _HUB_PROBE[endpoint] = f"{url.hostname}:{port}: {exc.strerror or type(exc).__name__}"
    return _HUB_PROBE[endpoint]


def _from_cache(name: str, revision: str | None, cache: Path) -> Path | None:
    """huggingface_hub's cache layout, read directly (no import): refs/<rev> names a snapshot."""
    repo = cache / ("models--" + name.replace("/", "--"))
    rev = revision or "main"
    ref = repo / "refs" / rev
    commit = inputs.content(ref, ref.read_bytes()).decode("utf-8").strip() if inputs.is_file(ref) else rev
    snapshot = repo / "snapshots" / commit
    return snapshot if inputs.is_file(snapshot / CONFIG_NAME) else None


def _download(name: str, revision: str | None, cache: Path) -> Path:
    """Fetch config.json alone (never weights) into the hub cache."""
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(name, CONFIG_NAME, revision=revision, cache_dir=str(cache))
    return Path(path).parent
