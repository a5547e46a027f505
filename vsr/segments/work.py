"""The hidden work folder of a segmented run, and its journal.

``.OUTPUT.vsr-segments/`` beside the output holds:

- ``plan.json``: the plan and the fingerprint of everything that shapes the parts (the
  source's size and mtime, the cut points, the model, encoder and size options);
- ``part-NNNNN.nut``: segment ``NNNNN``'s encoded video alone (NUT keeps the source's
  timestamps exactly), written under a temporary name and renamed when complete;
- ``part-NNNNN.json``: its journal record, written (atomically) after the part: the
  fingerprint, frames written, bytes and SHA-256. A part without a record, or whose
  record or bytes disagree, is computed again.

One record file per part (not one shared journal) lets any number of nodes on a shared
filesystem finish parts at once without a lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from vsr.config import UpscaleConfig
from vsr.errors import MediaError
from vsr.models.weights import sha256_file
from vsr.output import atomic_write
from vsr.segments.plan import Plan

__all__ = ["WorkDir", "PartRecord", "fingerprint", "file_sha256"]

log = logging.getLogger(__name__)

PART_FORMAT = "nut"


def fingerprint(plan: Plan, cfg: UpscaleConfig) -> str:
    """A short hash of what decides a part's bytes: source identity, cut points, options
    that change the picture or the encoding (not the device, threads, queue size or paths)."""
    src = Path(plan.source)
    st = src.stat()
    shaping = {
        "source": [st.st_size, st.st_mtime_ns],
        "cuts": [s.start_pts for s in plan.segments],
        "model": asdict(cfg.model),
        "backend": [cfg.backend.name, dict(cfg.backend.options)],  # the backends' own options: precision ...
        "encode": [cfg.encode.codec, cfg.encode.crf, cfg.encode.preset, cfg.encode.pix_fmt,
                   list(cfg.encode.options)],
        "size": cfg.size, "deinterlace": cfg.deinterlace,
    }
    if plan.range is not None:  # the parts' timestamps count from their segment's start in it
        shaping["range"] = [str(plan.range.start), str(plan.range.end)]
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:16]


file_sha256 = sha256_file  # a part's checksum, computed as the shipped weights' are


@dataclass(frozen=True)
class PartRecord:
    """The journal record of one finished part."""

    index: int
    fingerprint: str
    frames: int
    bytes: int
    sha256: str


class WorkDir:
    """The work folder of the output ``dst``."""

    def __init__(self, dst: Path) -> None:
        self.dst = Path(dst)
        self.path = self.dst.parent / f".{self.dst.name}.vsr-segments"

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:05d}.{PART_FORMAT}"

    def record_path(self, index: int) -> Path:
        return self.path / f"part-{index:05d}.json"

    # -- plan ------------------------------------------------------------------------------------
    def read_plan(self) -> tuple[Plan, str] | None:
        """``(plan, fingerprint)`` saved by an earlier run, or None."""
        try:
            d = json.loads((self.path / "plan.json").read_text())
            return Plan.from_json(d["plan"]), d["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_plan(self, plan: Plan, print_: str) -> None:
        atomic_write(self.path / "plan.json",
                     json.dumps({"fingerprint": print_, "plan": plan.to_json()}, indent=1).encode())

    def start(self, plan: Plan, print_: str) -> Plan:
        """Open the folder for ``plan``: an earlier run's plan with the same fingerprint is
        kept (its parts are reused); one with another fingerprint is discarded with its parts."""
        old = self.read_plan()
        if old is not None and old[1] == print_:
            return old[0]
        if old is not None or self.path.exists():
            done = len(list(self.path.glob("part-*.json")))
            log.warning("%s: the options or the source changed since the interrupted run: its %d finished "
                        "segment(s) are discarded", self.dst.name, done)
            shutil.rmtree(self.path, ignore_errors=True)
        self.write_plan(plan, print_)
        return plan

    # -- parts -----------------------------------------------------------------------------------
    def record(self, index: int) -> PartRecord | None:
        try:
            return PartRecord(**json.loads(self.record_path(index).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save_record(self, rec: PartRecord) -> None:
        atomic_write(self.record_path(rec.index), json.dumps(asdict(rec)).encode())

    def problem(self, index: int, print_: str, frames: int | None = None, checksum: bool = True) -> str | None:
        """Why part ``index`` cannot be used (``missing``, ``corrupt`` ...), or None if it is sound.

        Args:
            frames: the packet count found in the part, when the caller has read it.
            checksum: recompute the part's SHA-256 and compare it with the record.
        """
        rec, part = self.record(index), self.part(index)
        if rec is None or not part.exists():
            return "missing"
        if rec.fingerprint != print_:
            return "made with other options"
        if part.stat().st_size != rec.bytes or (checksum and file_sha256(part) != rec.sha256):
            return "corrupt (its checksum does not match its journal record)"
        if frames is not None and frames != rec.frames:
            return f"corrupt ({frames} frames, its journal says {rec.frames})"
        return None

    def finished(self, plan: Plan, print_: str) -> list[int]:
        """Indices of the parts that are complete and sound (checksums verified)."""
        return [s.index for s in plan.segments if self.problem(s.index, print_) is None]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def part_error(dst: Path, index: int, count: int, why: str) -> MediaError:
    """The one line naming an unusable part."""
    return MediaError(f"{dst.name}: segment {index} (of {count}, counted from 0) is {why}; compute it again "
                      f"(vsr segments run ... --index {index}, or rerun the same vsr upscale command)")
