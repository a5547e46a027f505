"""FFmpeg's muxers and its log level, asked of PyAV (imported lazily: the pipeline and the CLI
use this without loading PyAV until they need it), and the check of an output path."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from vsr.errors import MediaError, OutputExistsError, UsageError

__all__ = ["output_suffixes", "muxer_for", "check_paths", "check_codec_fits", "set_ffmpeg_log_level", "nvidia_codecs"]


@lru_cache(maxsize=1)
def output_suffixes() -> frozenset[str]:
    """File suffixes (lower case, no dot) that some FFmpeg muxer claims."""
    import av

    out = set()
    for name in av.formats_available:
        try:
            fmt = av.ContainerFormat(name, "w")
        except (ValueError, av.error.FFmpegError):
            continue
        out.update(e.lower() for e in fmt.extensions)
    return frozenset(out)


def set_ffmpeg_log_level(verbose: int) -> None:
    """FFmpeg's own messages: ``INFO`` for ``-v``, ``VERBOSE`` for ``-vv``."""
    import av.logging

    av.logging.set_level(av.logging.VERBOSE if verbose > 1 else av.logging.INFO)


def nvidia_codecs() -> dict[str, list[str]]:
    """``{"nvenc": [...], "nvdec": [...]}``: the NVENC encoders and NVDEC (cuvid) decoders in
    PyAV's FFmpeg build (present in the build does not mean the GPU has the hardware)."""
    import av

    codecs = av.codecs_available
    return {"nvenc": sorted(c for c in codecs if c.endswith("_nvenc")),
            "nvdec": sorted(c for c in codecs if c.endswith("_cuvid"))}


def muxer_for(dst: Path) -> str:
    """The FFmpeg muxer name FFmpeg guesses from ``dst``'s suffix (``matroska`` for ``.mkv``).

    Raises:
        MediaError: no muxer claims the suffix.
    """
    import av

    try:  # PyAV opens the file only when writing starts: this path is never created
        with av.open(f"/nonexistent-vsr-dir/x{dst.suffix}", "w") as probe:
            return probe.format.name
    except (ValueError, av.error.FFmpegError) as e:
        raise MediaError(f"{dst}: FFmpeg knows no container for the suffix {dst.suffix or '(none)'!r}") from e


def check_paths(src: Path | None, dst: Path, overwrite: bool) -> None:
    """Refuse output == input and an existing output without ``overwrite``.

    ``src`` None: the input is no file (stdin, a URL).

    Raises:
        UsageError: ``dst`` is the input, a directory, or has a suffix FFmpeg has no container for.
        OutputExistsError: ``dst`` exists and ``overwrite`` is False.
    """
    if src is not None and (src.resolve() == dst.resolve()
                            or (dst.exists() and src.exists() and os.path.samefile(src, dst))):
        raise UsageError(f"{dst}: output is the input file; choose another output name")
    if dst.is_dir():
        raise UsageError(f"{dst}: is a directory; give an output file name")
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: already exists (use --overwrite to replace it)")
    if dst.suffix.lower().lstrip(".") not in output_suffixes():
        raise UsageError(f"{dst}: FFmpeg knows no container for the suffix {dst.suffix or '(none)'!r}; "
                         "use .mkv, .mp4, .mov, .webm, .ts ...")


# Encoded video a muxer of PyAV's FFmpeg cannot write readably: its mov muxer refuses AV1 ("only
# supported in MP4 and AVIF"), and its MPEG-TS muxer writes AV1 as a private data stream that no
# demuxer reads back as video. Muxer name -> (codec family, how to name the container, what fits).
_NO_ROOM = {"mov": ("av1", ".mov", ".mp4 or .mkv"), "mpegts": ("av1", "MPEG-TS (.ts)", ".mp4, .mkv or .webm")}


def check_codec_fits(codec: str | None, muxer: str | None) -> None:
    """Refuse, before any work, an encoder whose video the output container cannot carry.

    Args:
        codec: the encoder's name (``libsvtav1``, ``av1_nvenc`` ...); None: picked per source,
            always one the container holds.
        muxer: the output's FFmpeg muxer name (:func:`muxer_for`); None: not known yet.

    Raises:
        UsageError: one line naming the containers that do hold it.
    """
    family, where, fits = _NO_ROOM.get(muxer or "", ("", "", ""))
    if codec and family and family in codec:
        raise UsageError(f"{family.upper()} video ({codec}) cannot go into {where} with this FFmpeg; write "
                         f"{fits} instead, or choose another --codec")
