"""Test helpers: a Hugging Face hub cache laid out on disk, and a tiny fake Hub over loopback HTTP.

The fake Hub answers what huggingface_hub's hf_hub_download asks for: HEAD then GET on
/{repo_id}/resolve/{revision}/{filename}, with the ETag, X-Repo-Commit and Content-Length headers
that get_hf_file_metadata requires. Every request (method and path) is recorded.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40

# A tiny Llama: the skeleton and PEFT injection take well under a second on it.
TINY_LLAMA_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
}


def cache_repo_dir(cache: Path, repo_id: str) -> Path:
    """The folder huggingface_hub uses for a model repo inside a hub cache."""
    return cache / ("models--" + repo_id.replace("/", "--"))


def add_cache_entry(
    cache: Path,
    repo_id: str,
    config: Mapping[str, Any],
    commit: str = COMMIT_A,
    refs: tuple[str, ...] = ("main",),
) -> Path:
    """Write snapshots/<commit>/config.json (and refs/<ref> -> commit); return the snapshot directory."""
    repo = cache_repo_dir(cache, repo_id)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for ref in refs:
        ref_file = repo / "refs" / ref
        ref_file.parent.mkdir(parents=True, exist_ok=True)
        ref_file.write_text(commit, encoding="utf-8")  # no trailing newline, as huggingface_hub writes it
    return snapshot


class FakeHub:
    """Serve {repo_id: {filename: bytes}} on 127.0.0.1 at an ephemeral port; use as a context manager."""

    def __init__(
        self, repos: Mapping[str, Mapping[str, bytes]], commit: str = COMMIT_A, any_revision: bool = False
    ) -> None:
        """any_revision: answer every revision string with `commit`, as a careless mirror might."""
        self.repos = {repo: dict(files) for repo, files in repos.items()}
        self.commit = commit
        self.any_revision = any_revision
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [path for _, path in self.requests]

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "FakeHub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()  # returns once serve_forever has stopped (it polls every 0.05 s)
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def _lookup(self, path: str) -> bytes | None:
        """/{org}/{name}/resolve/{revision}/{filename} -> file bytes, or None."""
        parts = [unquote(p) for p in urlsplit(path).path.split("/")[1:]]
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        repo_id, revision, filename = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
        if not self.any_revision and revision not in ("main", self.commit):
            return None
        return self.repos.get(repo_id, {}).get(filename)


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # bound every socket read, so a stuck client cannot hang teardown

        def _answer(self, send_body: bool) -> None:
            hub._record(self.command, self.path)
            body = hub._lookup(self.path)
            if body is None:
                message = b"Entry not found"
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                if send_body:
                    self.wfile.write(message)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"' + hashlib.sha1(body).hexdigest() + '"')
            self.send_header("X-Repo-Commit", hub.commit)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _refuse(self) -> None:
            hub._record(self.command, self.path)
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
