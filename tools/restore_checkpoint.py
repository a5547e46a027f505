"""Get a training checkpoint back out of git history, checked against its SHA-256.

The checkpoints the shipped weights came from (with their optimizer state) were committed
under ``tools/checkpoints/NAME/`` until they moved out of the tree; training now keeps its
checkpoints in ``~/.cache/vsr/checkpoints`` (:func:`tools.paths.checkpoint_root`). This
copies one from the last commit that holds them into that folder, so a stage can be
resumed or continued (``python -m tools.train --run-dir`` or ``--init``)::

    python -m tools.restore_checkpoint --list
    python -m tools.restore_checkpoint fsrcnn_x2_long      # -> ~/.cache/vsr/checkpoints/fsrcnn_x2_long/

It needs a clone with that history (not a shallow one: ``git fetch --unshallow``).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
from pathlib import Path

from tools.paths import REPO, checkpoint_root
from vsr.output import atomic_write

# the last commit that holds tools/checkpoints/ (also each shipped set's provenance "checkpoint_commit")
COMMIT = "fcda367e95b82adf73b524e39d7c68d9b9f70683"
CHECKSUMS = {
    "espcn_x2": "1588b6b03ceb25033d2db7c50c3f4f60bc21de385b8e5aeefd13205d4e6785fe",
    "espcn_x2_compressed": "6a05ae4606a716d02e407b90d5c4fe9d8b55e2f0ee0a00b544af50a7da571caa",
    "espcn_x2_compressed_s3": "81feed26ce549f7d0cd6f424fbbc96a57130e2c8b95f5ad33fd8d1a568c44398",
    "espcn_x2_long": "d25aa619a593b8f6c52a21b54051188272dffb83d1e2dac2482d16ed0fa47381",
    "espcn_x3": "a50a022534995489d88fecad3a4d659707762b0fc6d57df865cc1fa809db9817",
    "espcn_x3_compressed": "d5ae86e6daa6b2c7dbcf67f3a5cf21ddaf86df6de1dfe4a3f696f3388be952d0",
    "espcn_x3_long": "268c36996178280479641258f62feab00fea7a32bd57fb41ee2b98a8de38fa29",
    "espcn_x4": "fb9eb4b241b6a7843f5a73b6e1c3f198d44afa465e76246cdc09c07242a36769",
    "espcn_x4_compressed": "aa62629419bb72e63e0eccdc7195d9bcc3ddc3ce1d5eb602c8d2f0b230f4621a",
    "espcn_x4_long": "2f327d8983f8826d0518c5078f454b6d9df995a4ce178d41bd8f2a80182a67af",
    "fsrcnn_x2": "d9b70d32f9ce017b565db4824f167a10af9f5cf9205843df1d41cdd283e3e09a",
    "fsrcnn_x2_compressed": "66d886b48fa088f7a1c3aa596a8dc5cb5b80c7f3237cc93aa0767ef86bbb1f12",
    "fsrcnn_x2_compressed_s3": "ce87f6c16ea0e75d3132248ad4bf04d794407001bedb4f2d38789f0a7e472eb4",
    "fsrcnn_x2_long": "107bf1f333555548b84451802ceeaf8a887b9801ce4bd24524b2e4dbaf6cf3ac",
    "fsrcnn_x3": "068123506091c41bfb76fbec4676d92583e9daec7328ac0cad635e09efb0eaf8",
    "fsrcnn_x3_compressed": "326258b1769c7386b27280245a428255c538f552d8d1e87bc28849bf464dadc2",
    "fsrcnn_x3_long": "ebb23de27b7288c624f63c94ddd43a55071a13802fea46d73215f953324a9b75",
    "fsrcnn_x4": "1d6b5220fa15c32857df771df50b722e8ed815888dcdd52124d48cbe745e17f8",
    "fsrcnn_x4_compressed": "542e098faec121ec5363538ab35c4b2da8f3ff1f180a423abcb115bfce4b164a",
    "fsrcnn_x4_long": "0521a180c99fc09ebbba9b278ff185054ed0a4f079ff10b5796ee5713c573d92",
}


def read_from_history(name: str) -> bytes:
    """The bytes of ``tools/checkpoints/NAME/checkpoint.pt`` at :data:`COMMIT`, checked.

    Raises:
        SystemExit: unknown name, no such commit in this clone, or a checksum mismatch.
    """
    if name not in CHECKSUMS:
        raise SystemExit(f"no checkpoint named {name}; the names: python -m tools.restore_checkpoint --list")
    try:
        data = subprocess.run(["git", "show", f"{COMMIT}:tools/checkpoints/{name}/checkpoint.pt"], cwd=REPO,
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(f"commit {COMMIT[:12]} is not in this clone: restore needs a git checkout with the "
                         "history (git fetch --unshallow), or retrain the stage") from None
    if hashlib.sha256(data).hexdigest() != CHECKSUMS[name]:
        raise SystemExit(f"{name}: the checkpoint in commit {COMMIT[:12]} does not match its recorded SHA-256")
    return data


def restore(name: str, root: Path | None = None) -> Path:
    """Write checkpoint ``name`` to ``ROOT/NAME/checkpoint.pt`` (default root:
    :func:`tools.paths.checkpoint_root`) and return that path."""
    path = (root or checkpoint_root()) / name / "checkpoint.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, read_from_history(name))
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="checkpoint names, e.g. espcn_x2_long")
    ap.add_argument("--list", action="store_true", help="list the names and SHA-256 sums")
    ap.add_argument("--root", type=Path, help="folder to restore into (default: $VSR_CHECKPOINTS, else "
                    "~/.cache/vsr/checkpoints)")
    args = ap.parse_args(argv)
    if args.list or not args.names:
        for name, digest in CHECKSUMS.items():
            print(f"{name:24} {digest}")
        return
    for name in args.names:
        print(f"restored {restore(name, args.root)}")


if __name__ == "__main__":
    main()
