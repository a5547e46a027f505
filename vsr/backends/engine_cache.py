"""A folder of built TensorRT engines, keyed by everything that makes an engine valid.

Pure Python (no TensorRT, no GPU), so the cache logic is tested on any machine.

Layout of the folder (see ``engines/README.md``)::

    espcn_x2-1a2b3c4d5e6f7a8b.engine   serialised engine (a TensorRT plan)
    espcn_x2-1a2b3c4d5e6f7a8b.json     sidecar: the full key, the engine's size and SHA-256
    espcn_x2-1a2b3c4d5e6f7a8b.lock     held while one process builds that engine
    timing-0f1e2d3c4b5a6978.cache      TensorRT timing cache, one per (TensorRT, GPU, CUDA)

The 16 hex digits are a hash of the key. A lookup trusts nothing but the sidecar: its
key must equal the wanted key field for field and the engine file must match the
recorded checksum, otherwise the engine is rebuilt (never silently reused). Files are
written under a temporary name in the same folder and renamed into place, so readers
(other processes, other render-farm nodes sharing the folder) never see half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from vsr.output import atomic_write

__all__ = ["ShapeProfile", "EngineKey", "EngineCache", "CacheEntry", "engine_dir", "DEFAULT_MAX_SIZE"]

log = logging.getLogger(__name__)

#: Largest luma (width, height) an engine accepts when no ``max_size`` is configured.
DEFAULT_MAX_SIZE = (1920, 1088)

#: Bumped when the cache layout or the key's meaning changes; old entries then rebuild.
CACHE_FORMAT = 1

Shape = tuple[int, int, int]  # (N, H, W) of the (N, 1, H, W) luma input


@dataclass(frozen=True)
class ShapeProfile:
    """The input shapes an engine accepts: ``(N, H, W)`` of the ``(N, 1, H, W)`` luma.

    TensorRT tunes its kernels for ``opt`` and accepts anything between ``min`` and
    ``max`` in every dimension.
    """

    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self) -> None:
        for lo, mid, hi in zip(self.min, self.opt, self.max):
            if not 1 <= lo <= mid <= hi:
                raise ValueError(f"bad shape profile {self}: need 1 <= min <= opt <= max in every dimension")

    @classmethod
    def for_frames(cls, max_size: tuple[int, int] | None = None, batch: int = 1) -> "ShapeProfile":
        """The profile vsr builds for ``batch`` frames of at most ``max_size`` = (width, height).

        Anything from a single 1x1 tile up to ``batch`` full frames runs; kernels are
        tuned for the largest. ``vsr engine build`` and ``--backend tensorrt`` both use
        this, so a prebuilt engine is found again with the same ``--max-size``/``--batch``.
        """
        width, height = max_size or DEFAULT_MAX_SIZE
        if width < 1 or height < 1 or batch < 1:
            raise ValueError(f"bad engine size {width}x{height} batch {batch}")
        return cls(min=(1, 1, 1), opt=(batch, height, width), max=(batch, height, width))

    def accepts(self, n: int, h: int, w: int) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.min, (n, h, w), self.max))


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine's validity depends on; two equal keys mean interchangeable engines.

    Attributes:
        model: architecture, e.g. ``"espcn"``.
        scale: upscaling factor.
        weights_sha256: SHA-256 of the weights (``ModelSpec.sha256`` for shipped weights).
        onnx_sha256: SHA-256 of the exported ONNX graph (catches exporter changes).
        profile: input shape range.
        precision: compute precision inside the graph (``"fp16"``).
        tensorrt: TensorRT version, e.g. ``"10.9.0.34"``.
        gpu: GPU name, e.g. ``"NVIDIA H100 80GB HBM3"``.
        compute_capability: e.g. ``"9.0"``.
        cuda: CUDA runtime version, e.g. ``"12.8"``.
        format: cache format version (:data:`CACHE_FORMAT`).
    """

    model: str
    scale: int
    weights_sha256: str
    onnx_sha256: str
    profile: ShapeProfile
    precision: str
    tensorrt: str
    gpu: str
    compute_capability: str
    cuda: str
    format: int = field(default=CACHE_FORMAT)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EngineKey":
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: not a key of this format.
        """
        p = d["profile"]
        profile = ShapeProfile(*(tuple(int(v) for v in p[k]) for k in ("min", "opt", "max")))
        return cls(**{**d, "profile": profile})

    @property
    def digest(self) -> str:
        """16 hex digits identifying the key (stable across processes, machines and Python versions)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def stem(self) -> str:
        """File name without extension, e.g. ``espcn_x2-1a2b3c4d5e6f7a8b``."""
        return f"{self.model}_x{self.scale}-{self.digest}"

    @property
    def device_digest(self) -> str:
        """16 hex digits for what a timing cache depends on: TensorRT, GPU and CUDA."""
        blob = json.dumps([self.tensorrt, self.gpu, self.compute_capability, self.cuda])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CacheEntry:
    """An engine found in the folder, as its sidecar describes it."""

    path: Path
    key: EngineKey | None  # None: the sidecar is unreadable or of another format
    size: int
    created: str


def engine_dir(env: Mapping[str, str] | None = None, package_dir: Path | None = None) -> Path:
    """Where engines are cached.

    1. ``$VSR_ENGINE_DIR`` when set;
    2. the checkout's ``engines/`` folder when vsr runs from a source checkout (the
       folder above the ``vsr`` package holds ``engines/`` and ``pyproject.toml``);
    3. the user cache: ``$XDG_CACHE_HOME/vsr/engines``, else ``~/.cache/vsr/engines``.

    Args:
        env: environment (default ``os.environ``).
        package_dir: the ``vsr`` package folder (default: this installation's).
    """
    env = os.environ if env is None else env
    if env.get("VSR_ENGINE_DIR"):
        return Path(env["VSR_ENGINE_DIR"]).expanduser()
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    root = package_dir.parent
    if (root / "engines").is_dir() and (root / "pyproject.toml").is_file():
        return root / "engines"
    cache_home = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache_home).expanduser() / "vsr" / "engines"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _build_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (``flock``) while building, so concurrent
    processes build once and the others reuse the result. After ``timeout`` seconds
    without the lock, go on anyway: the atomic renames keep that safe, only slower.
    Without ``fcntl`` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        deadline = time.monotonic() + timeout
        locked = False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except OSError:
                if time.monotonic() >= deadline:
                    log.warning("%s is still locked after %.0f s; building anyway", path, timeout)
                    break
                time.sleep(0.2)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class EngineCache:
    """Built engines in a folder, looked up by :class:`EngineKey`.

    Args:
        directory: the folder (default: :func:`engine_dir`); created on first write.
        lock_timeout: seconds to wait for another process building the same engine.
    """

    def __init__(self, directory: Path | str | None = None, lock_timeout: float = 600.0) -> None:
        self.directory = Path(directory) if directory is not None else engine_dir()
        self.lock_timeout = lock_timeout

    def engine_path(self, key: EngineKey) -> Path:
        return self.directory / f"{key.stem}.engine"

    def sidecar_path(self, key: EngineKey) -> Path:
        return self.directory / f"{key.stem}.json"

    def timing_cache_path(self, key: EngineKey) -> Path:
        """The TensorRT timing cache shared by every engine of this TensorRT, GPU and CUDA."""
        return self.directory / f"timing-{key.device_digest}.cache"

    def load(self, key: EngineKey) -> bytes | None:
        """The engine for ``key``, or None when it is missing or does not match.

        It matches when the sidecar's key equals ``key`` field for field and the engine
        file has the size and SHA-256 the sidecar records.
        """
        sidecar, engine = self.sidecar_path(key), self.engine_path(key)
        try:
            meta = json.loads(sidecar.read_text())
            data = engine.read_bytes()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable cached engine %s: %s", engine, e)
            return None
        if not isinstance(meta, dict) or meta.get("key") != key.to_dict():
            log.warning("cached engine %s was built for another configuration; rebuilding", engine)
            return None
        if meta.get("size") != len(data) or meta.get("sha256") != _sha256(data):
            log.warning("cached engine %s does not match its checksum; rebuilding", engine)
            return None
        return data

    def store(self, key: EngineKey, data: bytes) -> Path:
        """Write an engine and its sidecar atomically; returns the engine's path."""
        meta = {
            "key": key.to_dict(),
            "size": len(data),
            "sha256": _sha256(data),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        path = self.engine_path(key)
        # Engine first, then sidecar: a reader that sees the new sidecar also sees the
        # new engine; any other interleaving fails the checksum and rebuilds.
        atomic_write(path, data)
        atomic_write(self.sidecar_path(key), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        return path

    def get_or_build(self, key: EngineKey, build: Callable[[], bytes]) -> tuple[bytes, bool]:
        """The cached engine for ``key``, building and storing it first if needed.

        Args:
            key: what the engine must match.
            build: makes the serialised engine (called at most once, under the build lock).

        Returns:
            ``(engine bytes, built)`` where ``built`` tells whether ``build`` ran.
        """
        data = self.load(key)
        if data is not None:
            return data, False
        with _build_lock(self.directory / f"{key.stem}.lock", self.lock_timeout):
            data = self.load(key)  # another process may have built it while we waited
            if data is not None:
                return data, False
            data = bytes(build())
            self.store(key, data)
            return data, True

    def remove(self, key: EngineKey) -> None:
        """Forget the engine for ``key`` (sidecar first, so no reader trusts a half-removed entry)."""
        for path in (self.sidecar_path(key), self.engine_path(key)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def entries(self) -> list[CacheEntry]:
        """Every engine in the folder with its sidecar's key, sorted by file name."""
        out = []
        for engine in sorted(self.directory.glob("*.engine")):
            key, created = None, ""
            try:
                meta = json.loads(engine.with_suffix(".json").read_text())
                created = str(meta.get("created", ""))
                key = EngineKey.from_dict(meta["key"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
            out.append(CacheEntry(engine, key, engine.stat().st_size, created))
        return out
