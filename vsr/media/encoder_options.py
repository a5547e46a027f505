"""The options an encoder is opened with: library banners kept quiet, and options it did not
take reported as FFmpeg reports them, in one line that names the vsr flag to change.

FFmpeg hands back the options an encoder did not use (``avcodec_open2``'s dictionary, which
PyAV leaves in ``CodecContext.options`` after ``open()``); the ``ffmpeg`` command line stops
with "Codec AVOption ... has not been used". vsr does the same, naming the flag that set it.
"""

from __future__ import annotations

import difflib
import logging
import os
from contextlib import contextmanager
from typing import Iterator

import av

from vsr.config import EncodeConfig
from vsr.errors import MediaError, UsageError

__all__ = ["PRESETS", "quiet_library_logs", "check_names", "check_unused", "open_failed"]

log = logging.getLogger(__name__)

_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                 "placebo")
# encoders whose preset is a name from a fixed list (checked before opening, so a typo fails in
# one line naming the choices instead of the encoder's own error)
PRESETS = {name: _X26X_PRESETS for name in ("libx264", "libx264rgb", "libx265")}
# names x264 and x265 check themselves, printing their complaint to stderr past FFmpeg's log level
_NAMES = {
    **{(name, "preset"): names for name, names in PRESETS.items()},
    ("libx264", "tune"): ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"),
    ("libx265", "tune"): ("psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation"),
    ("libx264", "profile"): ("baseline", "main", "high", "high10", "high422", "high444"),
}


def check_names(name: str, cfg: EncodeConfig) -> None:
    """Check x264's and x265's preset, tune and profile names given as ``-e KEY=VALUE``
    before the encoder sees them (``--preset`` is checked with the other settings).

    Raises:
        UsageError: an unknown name, with the valid ones.
    """
    for key, value in cfg.options:
        names = _NAMES.get((name, key))
        if value and names and value not in names and not (key == "tune" and "," in value):
            raise UsageError(f"-e {key}={value}: {name} has no {key} {value!r}; choose one of {', '.join(names)}")


@contextmanager
def quiet_library_logs(name: str, opts: dict[str, str]) -> Iterator[None]:
    """Keep x265's and SVT-AV1's banners (20-25 lines on stderr, written by the libraries
    themselves, past FFmpeg's log level) off unless INFO logging is on (``vsr -v``).

    ``opts`` gains x265's ``log-level=error`` (first, so ``-e x265-params=log-level=...`` wins);
    ``SVT_LOG=1`` (errors only) is set while the encoder opens, unless already set.
    """
    if log.isEnabledFor(logging.INFO):
        yield
        return
    if name == "libx265":
        params = opts.get("x265-params")
        opts["x265-params"] = "log-level=error" + (":" + params if params else "")
    if name != "libsvtav1" or "SVT_LOG" in os.environ:
        yield
        return
    os.environ["SVT_LOG"] = "1"
    try:
        yield
    finally:
        os.environ.pop("SVT_LOG", None)


def _known_options(cc: av.codec.context.CodecContext) -> list[str]:
    try:
        supported = cc.supported_options
        return [o.name for o in (*supported.private, *supported.generic)]
    except AttributeError:  # an older PyAV
        return []


def check_unused(name: str, cc: av.codec.context.CodecContext, cfg: EncodeConfig, crf_key: str | None) -> None:
    """Raise if the opened encoder ``cc`` left options unused.

    Args:
        name: the encoder's name.
        cc: the opened codec context (its ``options`` hold what the encoder did not take).
        cfg: the options the user gave (``-e``, ``--crf``, ``--preset``).
        crf_key: the option name ``--crf`` was given as, or None.

    Raises:
        UsageError: one line naming the flag, the option and, where there is one, the nearest
            option the encoder has.
    """
    unused = dict(cc.options or {})
    if not unused:
        return
    user = dict(cfg.options)
    key = next(iter(unused))
    if key in user:
        near = difflib.get_close_matches(key, _known_options(cc), n=1)
        hint = f"did you mean {near[0]!r}?" if near else "leave it out or check the encoder's documentation"
        raise UsageError(f"-e {key}={user[key]}: the {name} encoder has no option {key!r}; {hint}")
    if key == crf_key and cfg.crf is not None:
        raise UsageError(f"--crf {cfg.crf}: the {name} encoder has no constant-quality setting; leave out --crf")
    if key == "preset" and cfg.preset:
        raise UsageError(f"--preset {cfg.preset}: the {name} encoder has no presets; leave out --preset")
    raise UsageError(f"the {name} encoder did not take the option {key}={unused[key]}; choose another --codec")


def open_failed(name: str, opts: dict[str, str], cfg: EncodeConfig) -> MediaError:
    """The one-line error for an encoder that refused to open with ``opts`` (a bad preset, tune
    or profile name, a value out of range, a pixel format it does not take)."""
    given = [f"--preset {cfg.preset}"] if cfg.preset else []
    given += [f"--crf {cfg.crf}"] if cfg.crf is not None else []
    given += [f"--pix-fmt {cfg.pix_fmt}"] if cfg.pix_fmt else []
    given += [f"-e {k}={v}" for k, v in cfg.options]
    if not given:
        return MediaError(f"the {name} encoder could not open with its default settings; try another --codec")
    return MediaError(f"the {name} encoder refused its settings ({', '.join(given)}): check these names and "
                      "values against the encoder's documentation (vsr -v shows what it said)")
