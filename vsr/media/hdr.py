"""HDR10 static metadata: read from decoded frames' side data, written as encoder parameters."""

from __future__ import annotations

import struct
import av

from vsr.frames import Hdr10

__all__ = ["Hdr10", "read_hdr10", "encoder_options"]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def read_hdr10(frame: av.VideoFrame) -> Hdr10 | None:
    """HDR10 metadata from a frame's side data (AVMasteringDisplayMetadata, AVContentLightMetadata)."""
    prim = white = lum = None
    cll = fall = 0
    found = False
    for sd in frame.side_data:
        name = getattr(sd.type, "name", str(sd.type))
        raw = bytes(sd)
        if name == "MASTERING_DISPLAY_METADATA" and len(raw) >= 88:
            v = struct.unpack_from("<20i", raw)  # 3 primaries x (x,y), white (x,y), min, max as num/den; 2 flags
            r = [_ratio(v[i], v[i + 1]) for i in range(0, 20, 2)]
            has_prim, has_lum = struct.unpack_from("<2i", raw, 80)
            if has_prim:
                prim = ((r[0], r[1]), (r[2], r[3]), (r[4], r[5]))
                white = (r[6], r[7])
            if has_lum:
                lum = (r[9], r[8])
            found = True
        elif name == "CONTENT_LIGHT_LEVEL" and len(raw) >= 8:
            cll, fall = struct.unpack_from("<2I", raw)
            found = True
    return Hdr10(prim, white, lum, cll, fall) if found else None


def encoder_options(codec: str, hdr: Hdr10 | None) -> dict[str, str]:
    """Encoder private options that carry HDR10 metadata into the bitstream (x265, SVT-AV1).

    Other encoders get none (colour tags still travel through the codec context).
    """
    if hdr is None:
        return {}
    if codec == "libx265":
        parts = ["hdr10=1", "repeat-headers=1"]
        if hdr.primaries and hdr.white and hdr.luminance:
            (rx, ry), (gx, gy), (bx, by) = hdr.primaries

            def c(v: float) -> int:
                return round(v * 50000)

            parts.append(
                f"master-display=G({c(gx)},{c(gy)})B({c(bx)},{c(by)})R({c(rx)},{c(ry)})"
                f"WP({c(hdr.white[0])},{c(hdr.white[1])})"
                f"L({round(hdr.luminance[0] * 10000)},{round(hdr.luminance[1] * 10000)})"
            )
        if hdr.max_cll or hdr.max_fall:
            parts.append(f"max-cll={hdr.max_cll},{hdr.max_fall}")
        return {"x265-params": ":".join(parts)}
    if codec == "libsvtav1":
        parts = []
        if hdr.primaries and hdr.white and hdr.luminance:
            (rx, ry), (gx, gy), (bx, by) = hdr.primaries
            parts.append(
                f"mastering-display=G({gx:.4f},{gy:.4f})B({bx:.4f},{by:.4f})R({rx:.4f},{ry:.4f})"
                f"WP({hdr.white[0]:.4f},{hdr.white[1]:.4f})L({hdr.luminance[0]:.4f},{hdr.luminance[1]:.4f})"
            )
        if hdr.max_cll or hdr.max_fall:
            parts.append(f"content-light={hdr.max_cll},{hdr.max_fall}")
        return {"svtav1-params": ":".join(parts)} if parts else {}
    return {}
