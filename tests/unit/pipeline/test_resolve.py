"""Where a model's config.json comes from: local directory, hub cache, bundled fixtures, then the Hub.

In-process tests call lora_compiler.pipeline.source.resolve() against hub caches built in tmp_path. The
Hub itself is exercised end to end: the real CLI runs in a subprocess against a fake Hub served
over loopback HTTP (tests/hubfake.py), so the test sees exactly which requests huggingface_hub makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATASETS_YAML
from hubfake import COMMIT_A, COMMIT_B, TINY_LLAMA_CONFIG, FakeHub, add_cache_entry, cache_repo_dir

import lora_compiler.pipeline.source as resolve_mod
from lora_compiler.pipeline.source import ResolutionError, resolve

BUNDLED = "meta-llama/Llama-3.2-1B"
NOT_BUNDLED = "fake-org/tiny-llama"
CACHE_ENV = (
    "HF_HUB_CACHE",
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)
SUBPROCESS_TIMEOUT = 120


@pytest.fixture(autouse=True)
def isolated_hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's real hub cache or offline setting; the default cache is empty."""
    for var in CACHE_ENV:
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # '~' and the ~/.cache default stay inside tmp_path
    monkeypatch.chdir(tmp_path)
    return cache


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if resolve() tries to reach the Hub."""

    def _fail(*args: object, **kwargs: object) -> Path:
        pytest.fail(f"resolve() tried to download from the Hub: {args!r}")

    monkeypatch.setattr(resolve_mod, "_download", _fail)


def _config(marker: int) -> dict:
    """A tiny config whose num_hidden_layers tells the test which copy was picked."""
    return {**TINY_LLAMA_CONFIG, "num_hidden_layers": marker}


def _layers(config_dir: Path) -> int:
    return json.loads((config_dir / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"]


# 1. local directory ------------------------------------------------------------------------------


def test_local_directory_wins_over_bundled_config_of_same_name(tmp_path: Path, no_download: None) -> None:
    local = tmp_path / BUNDLED  # ./meta-llama/Llama-3.2-1B relative to the tmp cwd
    local.mkdir(parents=True)
    (local / "config.json").write_text(json.dumps(_config(3)), encoding="utf-8")

    source = resolve(BUNDLED)

    assert source.kind == "local"
    assert source.config_dir == local.resolve()
    assert _layers(source.config_dir) == 3


def test_local_directory_without_config_json_falls_through_to_bundled(tmp_path: Path, no_download: None) -> None:
    (tmp_path / BUNDLED).mkdir(parents=True)  # same name, but no config.json in it

    source = resolve(BUNDLED, offline=True)

    assert source.kind == "bundled"


# 2. hub cache ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_var, cache_subpath",
    [
        ("HF_HUB_CACHE", ""),
        ("HF_HOME", "hub"),
        ("XDG_CACHE_HOME", "huggingface/hub"),
        ("HOME", ".cache/huggingface/hub"),  # the default when none of the above is set
    ],
)
def test_hub_cache_found_through_each_cache_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: None, env_var: str, cache_subpath: str
) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    root = tmp_path / "cache-root"
    cache = root / cache_subpath if cache_subpath else root
    snapshot = add_cache_entry(cache, NOT_BUNDLED, _config(5))
    monkeypatch.setenv(env_var, str(root))

    source = resolve(NOT_BUNDLED)

    assert source.kind == "hf-cache"
    assert source.config_dir == snapshot
    assert _layers(source.config_dir) == 5


def test_hub_cache_prefers_hf_hub_cache_over_hf_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_hf_env: Path, no_download: None
) -> None:
    wanted = add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5))
    add_cache_entry(tmp_path / "hf-home" / "hub", NOT_BUNDLED, _config(7))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))

    assert resolve(NOT_BUNDLED).config_dir == wanted


def test_hub_cache_used_with_hf_hub_offline(
    monkeypatch: pytest.MonkeyPatch, isolated_hf_env: Path, no_download: None
) -> None:
    snapshot = add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    source = resolve(NOT_BUNDLED)

    assert (source.kind, source.config_dir) == ("hf-cache", snapshot)


def test_hub_cache_revision_as_branch_name_follows_refs(isolated_hf_env: Path, no_download: None) -> None:
    add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5), commit=COMMIT_A, refs=("main",))
    v1 = add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(6), commit=COMMIT_B, refs=("v1",))

    source = resolve(NOT_BUNDLED, revision="v1", offline=True)

    assert (source.kind, source.config_dir, source.revision) == ("hf-cache", v1, "v1")
    assert _layers(source.config_dir) == 6
    assert _layers(resolve(NOT_BUNDLED, offline=True).config_dir) == 5  # no revision means main


def test_hub_cache_revision_as_commit_hash_uses_snapshot_directly(isolated_hf_env: Path, no_download: None) -> None:
    add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5), commit=COMMIT_A, refs=("main",))
    pinned = add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(6), commit=COMMIT_B, refs=())

    source = resolve(NOT_BUNDLED, revision=COMMIT_B, offline=True)

    assert (source.kind, source.config_dir) == ("hf-cache", pinned)


def test_hub_cache_unknown_revision_is_not_found_offline(isolated_hf_env: Path, no_download: None) -> None:
    add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5))

    with pytest.raises(ResolutionError) as info:
        resolve(NOT_BUNDLED, revision="v2", offline=True)

    assert "(revision v2)" in str(info.value)


def test_hub_cache_beats_bundled_config_for_bundled_name(isolated_hf_env: Path, no_download: None) -> None:
    snapshot = add_cache_entry(isolated_hf_env, BUNDLED, _config(5))

    source = resolve(BUNDLED, offline=True)

    assert (source.kind, source.config_dir) == ("hf-cache", snapshot)


# 3. bundled --------------------------------------------------------------------------------------


def test_bundled_config_used_with_empty_cache_offline(no_download: None) -> None:
    source = resolve(BUNDLED, offline=True)

    assert source.kind == "bundled"
    assert source.config_dir.parts[-2:] == ("meta-llama", "Llama-3.2-1B")
    assert (source.config_dir / "config.json").is_file()


# 4. not found offline ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "HF_HUB_OFFLINE"])
def test_not_found_offline_names_every_place_tried(
    monkeypatch: pytest.MonkeyPatch, isolated_hf_env: Path, no_download: None, how: str
) -> None:
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(ResolutionError) as info:
        resolve(NOT_BUNDLED, offline=(how == "flag"))

    message = str(info.value)
    assert NOT_BUNDLED in message
    assert "local directory" in message
    assert f"hub cache {isolated_hf_env}" in message
    assert "bundled fixtures (" in message and BUNDLED not in message  # counted, not listed (a new user's report)
    by = "--offline" if how == "flag" else "HF_HUB_OFFLINE"
    assert info.value.tried[-1] == f"the Hub (skipped: {by})" and info.value.offline_by == by


# 5. path tricks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../etc",
        "/etc",
        "foo/../bar",
        "a--b/c",
        "org/name/extra",
        "org/na me",
        "org/name;rm",
        "-org/name",
        "org/",
        "~/org",
    ],
)
def test_path_tricks_raise_without_touching_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_hf_env: Path, no_download: None, name: str
) -> None:
    # cwd two levels deep, so '../../etc' lands on a tmp path that does not exist
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    (deep / "bar").mkdir()  # 'foo/../bar' must not reach this through a missing 'foo'
    (deep / "bar" / "config.json").write_text(json.dumps(_config(9)), encoding="utf-8")
    # A hub cache entry under the folder name this string would map to must not be picked up either.
    add_cache_entry(isolated_hf_env, name.lstrip("/"), _config(9))

    with pytest.raises(ResolutionError) as info:
        resolve(name, offline=False)

    assert "not a valid Hugging Face repo id" in str(info.value)


def test_path_trick_resolves_only_to_a_real_directory(tmp_path: Path, no_download: None) -> None:
    """'foo/../bar' is a local path; when it is a real directory with config.json it is that directory."""
    (tmp_path / "foo").mkdir()
    (tmp_path / "bar").mkdir()
    (tmp_path / "bar" / "config.json").write_text(json.dumps(_config(9)), encoding="utf-8")

    source = resolve("foo/../bar")

    assert (source.kind, source.config_dir) == ("local", (tmp_path / "bar").resolve())


@pytest.mark.parametrize(
    "revision",
    [
        "../../../escaped",
        "..",
        "main/../../x",
        "/abs/ref",
        "v1/",
        "a//b",
        ".hidden",
        "v1\\..\\x",
        "v1\nmain",
        "",
    ],
)
def test_revision_path_tricks_raise_without_touching_cache_or_network(
    isolated_hf_env: Path, no_download: None, revision: str
) -> None:
    add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5))

    with pytest.raises(ResolutionError) as info:
        resolve(NOT_BUNDLED, revision=revision, offline=False)

    assert "not a valid revision" in str(info.value)


@pytest.mark.parametrize("revision", ["main", "v1.0", "refs/pr/1", "release_2024-01", COMMIT_B])
def test_ordinary_revisions_are_accepted(isolated_hf_env: Path, no_download: None, revision: str) -> None:
    ref = () if revision == COMMIT_B else (revision,)
    snapshot = add_cache_entry(isolated_hf_env, NOT_BUNDLED, _config(5), commit=COMMIT_B, refs=ref)

    assert resolve(NOT_BUNDLED, revision=revision).config_dir == snapshot


# 6-7. the Hub, through the real CLI against a fake Hub on loopback --------------------------------


def _write_yaml(path: Path, base_model: str, extra: str = "") -> Path:
    path.write_text(
        f"base_model: {base_model}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
        f"{DATASETS_YAML}{extra}",
        encoding="utf-8",
    )
    return path


def _cli_env(endpoint: str, cache: Path, hf_home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))
        and k.lower() not in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    }
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HUB_CACHE=str(cache),
        HF_HOME=str(hf_home),  # no token or other user state from the real HF_HOME
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_ETAG_TIMEOUT="10",
        HF_HUB_DOWNLOAD_TIMEOUT="10",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lora_compiler", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


@pytest.fixture
def fake_hub():
    body = json.dumps(TINY_LLAMA_CONFIG).encode()
    with FakeHub({NOT_BUNDLED: {"config.json": body}}, commit=COMMIT_A) as hub:
        yield hub


def test_hub_download_fetches_only_config_json_then_offline_finds_it_in_cache(
    tmp_path: Path, isolated_hf_env: Path, fake_hub: FakeHub
) -> None:
    config = _write_yaml(tmp_path / "tiny.yml", NOT_BUNDLED)
    assert fake_hub.endpoint.startswith("http://127.0.0.1:")
    env = _cli_env(fake_hub.endpoint, isolated_hf_env, tmp_path / "hf-home")

    first = _run_cli(["compile", str(config), "-o", str(tmp_path / "out1")], env, tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    targets = json.loads((tmp_path / "out1" / "targets.json").read_text(encoding="utf-8"))
    assert targets["model"]["config_source"] == "hub"
    assert targets["model"]["num_hidden_layers"] == 2
    paths = fake_hub.paths
    print("requests to the fake Hub:", fake_hub.requests)
    assert paths, "the CLI never contacted the fake Hub"
    assert {method for method, _ in fake_hub.requests} <= {"HEAD", "GET"}, fake_hub.requests
    assert all(p.endswith("/config.json") for p in paths), paths
    assert all(p == f"/{NOT_BUNDLED}/resolve/main/config.json" for p in paths), paths
    # only config.json landed in the cache, under the commit the Hub reported
    snapshot = cache_repo_dir(isolated_hf_env, NOT_BUNDLED) / "snapshots"
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*")) == [
        COMMIT_A,
        f"{COMMIT_A}/config.json",
    ]

    second = _run_cli(["compile", str(config), "-o", str(tmp_path / "out2"), "--offline"], env, tmp_path)

    assert second.returncode == 0, second.stdout + second.stderr
    targets = json.loads((tmp_path / "out2" / "targets.json").read_text(encoding="utf-8"))
    assert targets["model"]["config_source"] == "hf-cache"
    assert fake_hub.paths == paths, "the --offline run contacted the Hub"


def test_hf_hub_offline_env_skips_hub_and_exits_2(tmp_path: Path, isolated_hf_env: Path, fake_hub: FakeHub) -> None:
    config = _write_yaml(tmp_path / "tiny.yml", NOT_BUNDLED)
    env = _cli_env(fake_hub.endpoint, isolated_hf_env, tmp_path / "hf-home", HF_HUB_OFFLINE="1")

    result = _run_cli(["compile", str(config)], env, tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "skipped: HF_HUB_OFFLINE" in result.stdout + result.stderr
    assert fake_hub.requests == []


def test_revision_path_trick_never_reaches_the_hub_or_writes_outside_the_cache(
    tmp_path: Path, isolated_hf_env: Path
) -> None:
    """huggingface_hub stores refs/<revision> unchecked, so '../../../escaped' would be written next to the cache."""
    body = json.dumps(TINY_LLAMA_CONFIG).encode()
    # refs/ is three levels below tmp_path: tmp_path/hub-cache/models--fake-org--tiny-llama/refs
    config = _write_yaml(tmp_path / "tiny.yml", NOT_BUNDLED, 'revision_of_model: "../../../escaped"\n')
    with FakeHub({NOT_BUNDLED: {"config.json": body}}, any_revision=True) as hub:
        env = _cli_env(hub.endpoint, isolated_hf_env, tmp_path / "hf-home")
        result = _run_cli(["compile", str(config)], env, tmp_path)
        requests = list(hub.requests)

    assert not (tmp_path / "escaped").exists()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not a valid revision" in result.stdout + result.stderr
    assert requests == []


# a new user's misspelling, and a hint that matches why the Hub was not asked ---------------------


def test_a_misspelt_bundled_id_gets_did_you_mean(no_download: None) -> None:
    from lora_compiler.engine.front import source_of
    from lora_compiler.pipeline.document import load_text
    from lora_compiler.pipeline.spec import parse_spec

    doc = load_text("base_model: meta-llama/Lama-3.2-1B\nadapter: lora\n", "train.yml")
    _, (finding,) = source_of(doc, parse_spec(doc)[0], offline=True)
    assert finding.hint == "did you mean 'meta-llama/Llama-3.2-1B'?"
    assert (finding.line, finding.column) == (1, 13)
    assert "bundled fixtures (" in finding.message and "Llama-3.1-405B" not in finding.message  # no id list


def test_a_misspelt_cached_id_gets_did_you_mean(isolated_hf_env: Path, no_download: None) -> None:
    add_cache_entry(isolated_hf_env, "fake-org/tiny-llama", _config(1))
    with pytest.raises(ResolutionError) as err:
        resolve("fake-org/tiny-lama", offline=True)
    assert err.value.nearest == ["fake-org/tiny-llama"]


@pytest.mark.parametrize("flag, env, says", [(True, None, "drop --offline"), (False, "1", "unset HF_HUB_OFFLINE")])
def test_the_hint_names_what_kept_the_hub_out(
    flag: bool, env: str | None, says: str, monkeypatch: pytest.MonkeyPatch, no_download: None
) -> None:
    from lora_compiler.engine.front import _not_found_hint

    if env:
        monkeypatch.setenv("HF_HUB_OFFLINE", env)
    with pytest.raises(ResolutionError) as err:
        resolve("nobody/nothing-like-it", offline=flag)
    assert says in _not_found_hint(err.value) and not err.value.nearest


def test_an_unreachable_hub_is_asked_once_per_run_and_the_hint_says_so(
    monkeypatch: pytest.MonkeyPatch, no_download: None
) -> None:
    """A dead network cost a new user 23.5 s per model (five retries); one short connect now answers the batch."""
    import socket

    from lora_compiler.engine.front import _not_found_hint

    calls: list[tuple[object, ...]] = []

    def refuse(address: object, timeout: float | None = None) -> None:
        calls.append((address, timeout))
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(resolve_mod, "_HUB_PROBE", {})
    for name in ("nobody/one", "nobody/two"):
        with pytest.raises(ResolutionError) as err:
            resolve(name)
        assert err.value.offline_by == "unreachable"
        assert err.value.tried[-1] == "the Hub (unreachable: huggingface.co:443: Network is unreachable)"
    assert calls == [(("huggingface.co", 443), resolve_mod.HUB_PROBE_SECONDS)]
    assert "pass --offline" in _not_found_hint(err.value)
