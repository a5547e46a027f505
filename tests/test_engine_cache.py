"""The TensorRT engine cache: keys, sidecars, atomic writes and folder rules (no TensorRT needed)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest

from vsr.backends import engine_cache
from vsr.backends.engine_cache import DEFAULT_MAX_SIZE, EngineCache, EngineKey, ShapeProfile, atomic_write, engine_dir

REPO = Path(__file__).resolve().parent.parent

KEY = EngineKey(
    model="espcn", scale=2, weights_sha256="a" * 64, onnx_sha256="b" * 64,
    profile=ShapeProfile.for_frames((64, 48), batch=2), precision="fp16", tensorrt="10.9.0.34",
    gpu="NVIDIA H100 80GB HBM3", compute_capability="9.0", cuda="12.8",
)


class FakeBuilder:
    """Stands in for the TensorRT build: returns bytes derived from the key, counts calls."""

    def __init__(self, key: EngineKey = KEY, delay: float = 0.0) -> None:
        self.key, self.delay, self.calls = key, delay, 0

    def __call__(self) -> bytes:
        self.calls += 1
        time.sleep(self.delay)
        return f"plan for {self.key.digest} #{self.calls}".encode()


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, ShapeProfile):
        n, h, w = value.max
        return replace(value, max=(n, h, w + 8))
    raise TypeError(type(value))


# --- keys -------------------------------------------------------------------------------


def test_digest_is_stable():
    # A literal: the hash must not change between processes, machines or releases unless
    # the key itself changes (then bump CACHE_FORMAT deliberately and update this).
    assert KEY.digest == "346672f03e726b81"
    assert KEY.stem == "espcn_x2-346672f03e726b81"
    assert EngineKey(**{f.name: getattr(KEY, f.name) for f in fields(EngineKey)}).digest == KEY.digest


@pytest.mark.parametrize("name", [f.name for f in fields(EngineKey)])
def test_every_field_changes_the_key(name):
    changed = replace(KEY, **{name: _other(getattr(KEY, name))})
    assert changed != KEY
    assert changed.digest != KEY.digest


@pytest.mark.parametrize("part", ["min", "opt", "max"])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_every_profile_dimension_changes_the_key(part, dim):
    shape = list(getattr(KEY.profile, part))
    shape[dim] += 1
    lo, mid, hi = (list(getattr(KEY.profile, p)) for p in ("min", "opt", "max"))
    new = {"min": lo, "opt": mid, "max": hi, part: shape}
    new["max"] = [max(a, b) for a, b in zip(new["max"], shape)]
    new["opt"] = [max(a, b) for a, b in zip(new["opt"], new["min"])]
    profile = ShapeProfile(*(tuple(new[p]) for p in ("min", "opt", "max")))
    assert replace(KEY, profile=profile).digest != KEY.digest


def test_key_dict_round_trip():
    again = EngineKey.from_dict(json.loads(json.dumps(KEY.to_dict())))
    assert again == KEY and again.digest == KEY.digest


def test_timing_cache_is_per_device_not_per_model(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.timing_cache_path(replace(KEY, model="fsrcnn", scale=3)) == cache.timing_cache_path(KEY)
    assert cache.timing_cache_path(replace(KEY, gpu="NVIDIA L4")) != cache.timing_cache_path(KEY)
    assert cache.timing_cache_path(replace(KEY, tensorrt="11.0.0")) != cache.timing_cache_path(KEY)


def test_shape_profile_for_frames():
    p = ShapeProfile.for_frames((1920, 1080), batch=4)
    assert p.min == (1, 1, 1) and p.opt == p.max == (4, 1080, 1920)  # (N, H, W): height first
    w, h = DEFAULT_MAX_SIZE
    assert ShapeProfile.for_frames().max == (1, h, w)
    assert p.accepts(1, 1080, 1920) and p.accepts(4, 7, 9)
    assert not p.accepts(1, 1081, 1920) and not p.accepts(5, 8, 8) and not p.accepts(1, 1920, 1080)
    with pytest.raises(ValueError):
        ShapeProfile(min=(1, 8, 8), opt=(1, 4, 8), max=(1, 16, 16))
    with pytest.raises(ValueError):
        ShapeProfile.for_frames((0, 10))


# --- lookup and build -------------------------------------------------------------------


def test_get_or_build_builds_once_then_loads(tmp_path):
    cache, build = EngineCache(tmp_path), FakeBuilder()
    data, built = cache.get_or_build(KEY, build)
    assert built and build.calls == 1
    again, built = cache.get_or_build(KEY, build)
    assert not built and build.calls == 1 and again == data
    assert cache.engine_path(KEY).read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        f"{KEY.stem}.engine", f"{KEY.stem}.json"]


def test_sidecar_describes_the_key_in_full(tmp_path):
    cache = EngineCache(tmp_path)
    data, _ = cache.get_or_build(KEY, FakeBuilder())
    meta = json.loads(cache.sidecar_path(KEY).read_text())
    assert EngineKey.from_dict(meta["key"]) == KEY
    assert meta["size"] == len(data) and len(meta["sha256"]) == 64
    (entry,) = cache.entries()
    assert entry.key == KEY and entry.path == cache.engine_path(KEY) and entry.size == len(data)


@pytest.mark.parametrize("field", ["gpu", "tensorrt", "weights_sha256", "profile"])
def test_mismatching_sidecar_forces_rebuild(tmp_path, field):
    """Same file name, different key in the sidecar (a hash collision, a hand-copied file,
    an older format): never trusted."""
    cache, build = EngineCache(tmp_path), FakeBuilder()
    cache.get_or_build(KEY, build)
    meta = json.loads(cache.sidecar_path(KEY).read_text())
    meta["key"] = replace(KEY, **{field: _other(getattr(KEY, field))}).to_dict()
    cache.sidecar_path(KEY).write_text(json.dumps(meta))
    _, built = cache.get_or_build(KEY, build)
    assert built and build.calls == 2
    assert EngineKey.from_dict(json.loads(cache.sidecar_path(KEY).read_text())["key"]) == KEY


@pytest.mark.parametrize("damage", ["engine bytes", "truncated engine", "no sidecar", "no engine", "garbage sidecar"])
def test_damaged_entry_forces_rebuild(tmp_path, damage):
    cache, build = EngineCache(tmp_path), FakeBuilder()
    data, _ = cache.get_or_build(KEY, build)
    engine, sidecar = cache.engine_path(KEY), cache.sidecar_path(KEY)
    if damage == "engine bytes":
        engine.write_bytes(data[:-1] + b"!")
    elif damage == "truncated engine":
        engine.write_bytes(data[: len(data) // 2])
    elif damage == "no sidecar":
        sidecar.unlink()
    elif damage == "no engine":
        engine.unlink()
    else:
        sidecar.write_text("{not json")
    assert cache.load(KEY) is None
    _, built = cache.get_or_build(KEY, build)
    assert built and cache.load(KEY) is not None


def test_failed_build_leaves_nothing(tmp_path):
    cache = EngineCache(tmp_path)

    def broken() -> bytes:
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError):
        cache.get_or_build(KEY, broken)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_remove(tmp_path):
    cache = EngineCache(tmp_path)
    cache.get_or_build(KEY, FakeBuilder())
    cache.remove(KEY)
    assert cache.load(KEY) is None and cache.entries() == []


def test_entries_report_unreadable_sidecars(tmp_path):
    cache = EngineCache(tmp_path)
    cache.get_or_build(KEY, FakeBuilder())
    (tmp_path / "stray.engine").write_bytes(b"x")
    by_name = {e.path.name: e for e in cache.entries()}
    assert by_name["stray.engine"].key is None and by_name[f"{KEY.stem}.engine"].key == KEY


@pytest.mark.skipif(os.name != "posix", reason="build lock uses fcntl.flock")
def test_concurrent_builders_build_once(tmp_path):
    """Two builders of the same engine (threads here; processes or farm nodes alike): one
    builds, the other waits for the lock and loads the result."""
    build = FakeBuilder(delay=0.5)
    results = []

    def worker() -> None:
        results.append(EngineCache(tmp_path).get_or_build(KEY, build))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert build.calls == 1
    assert sorted(built for _, built in results) == [False, True]
    assert results[0][0] == results[1][0]


# --- atomic writes ----------------------------------------------------------------------


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.engine"
    atomic_write(path, b"first")
    atomic_write(path, b"second version")
    assert path.read_bytes() == b"second version"
    assert [p.name for p in path.parent.iterdir()] == ["f.engine"]
    if os.name == "posix":  # readable by others as the umask allows (shared folders), not private
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_interrupted_write_keeps_old_file_and_no_partial(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "f.engine"
    atomic_write(path, b"old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(engine_cache.os, fail_at, boom)
    with pytest.raises(OSError):
        atomic_write(path, b"new and longer")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.engine"]


def test_interrupted_store_is_not_trusted(tmp_path, monkeypatch):
    """Crash between writing the engine and its sidecar: the old sidecar no longer matches."""
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"old engine")
    real = engine_cache.atomic_write
    calls = []

    def crash_on_sidecar(path, data):
        calls.append(path)
        if path.suffix == ".json":
            raise OSError("killed")
        real(path, data)

    monkeypatch.setattr(engine_cache, "atomic_write", crash_on_sidecar)
    with pytest.raises(OSError):
        cache.store(KEY, b"new engine")
    monkeypatch.undo()
    assert cache.load(KEY) is None  # engine is new, sidecar describes the old one
    assert not list(tmp_path.glob("*.tmp"))


# --- where the cache lives --------------------------------------------------------------


def test_dir_from_environment(tmp_path):
    assert engine_dir({"VSR_ENGINE_DIR": str(tmp_path / "e")}) == tmp_path / "e"
    assert engine_dir({"VSR_ENGINE_DIR": "~/eng"}) == Path("~/eng").expanduser()


def test_dir_in_a_checkout(tmp_path):
    (tmp_path / "vsr").mkdir()
    (tmp_path / "engines").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    assert engine_dir({}, package_dir=tmp_path / "vsr") == tmp_path / "engines"
    assert engine_dir({"VSR_ENGINE_DIR": "/x"}, package_dir=tmp_path / "vsr") == Path("/x")


@pytest.mark.parametrize("missing", ["engines", "pyproject.toml"])
def test_dir_in_an_installation_is_the_user_cache(tmp_path, monkeypatch, missing):
    site = tmp_path / "site-packages"
    (site / "vsr").mkdir(parents=True)
    if missing != "engines":
        (site / "engines").mkdir()
    if missing != "pyproject.toml":
        (site / "pyproject.toml").write_text("")
    assert engine_dir({"XDG_CACHE_HOME": str(tmp_path / "xdg")}, package_dir=site / "vsr") == (
        tmp_path / "xdg" / "vsr" / "engines")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert engine_dir({}, package_dir=site / "vsr") == tmp_path / "home" / ".cache" / "vsr" / "engines"


def test_this_checkout_uses_its_engines_folder():
    if not (REPO / "engines").is_dir():
        pytest.skip("not running from a checkout with engines/")
    assert engine_dir({}) == REPO / "engines"
    assert (REPO / "engines" / "README.md").is_file()


# --- CLI --------------------------------------------------------------------------------


def test_cli_engine_list(tmp_path, monkeypatch, capsys):
    from vsr.cli import main

    monkeypatch.setenv("VSR_ENGINE_DIR", str(tmp_path))
    EngineCache(tmp_path).get_or_build(KEY, FakeBuilder())
    assert main(["engine", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{KEY.stem}.engine" in out and "up to 64x48 batch 2" in out and KEY.gpu in out
