"""vsr.target: target resolutions -> model scale and exact output size (pure arithmetic)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vsr.target import Target, display_size, parse_target, plan_target

ALL = (2, 3, 4)


@pytest.mark.parametrize("text, want", [
    ("2160p", Target(short_side=2160)), ("1440p", Target(short_side=1440)), ("1080P", Target(short_side=1080)),
    ("4k", Target(short_side=2160)), ("720p", Target(short_side=720)),
    ("1920x1080", Target(box=(1920, 1080))), (" 3840X2160 ", Target(box=(3840, 2160))),
])
def test_parse(text, want):
    assert parse_target(text) == want


@pytest.mark.parametrize("text", ["", "p", "0p", "-1080p", "1080", "1920x", "x1080", "0x10", "1080i", "big"])
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="expected a target"):
        parse_target(text)


def test_target_str_round_trips():
    for t in ("2160p", "1920x1080"):
        assert str(parse_target(t)) == t


def test_display_size_applies_sar_then_rotation():
    assert display_size(720, 576, Fraction(16, 15)) == (768, 576)
    assert display_size(1920, 1080, 1, 90) == (1080, 1920)
    assert display_size(1920, 1080, 1, 270) == (1080, 1920)
    assert display_size(1920, 1080, 1, 180) == (1920, 1080)
    assert display_size(100, 50, 0) == (100, 50)  # SAR 0 means unknown: square


@pytest.mark.parametrize("text, landscape", [
    ("1080p", (1920, 1080)), ("720p", (1280, 720)), ("1440p", (2560, 1440)), ("2160p", (3840, 2160)),
    ("4k", (3840, 2160)), ("8k", (7680, 4320)), ("480p", (854, 480)), ("1920x1080", (1920, 1080)),
])
def test_names_are_16_9_frames(text, landscape):
    t = parse_target(text)
    assert t.frame() == landscape
    assert t.frame(portrait=True) == (landscape if t.box else landscape[::-1])  # a box is never turned


def test_wide_films_fit_the_frame():
    """A 2.4:1 film fits the 16:9 frame: 3840x1600 at 4k, not 5184x2160 (the issue's numbers)."""
    p = plan_target(1920, 800, parse_target("4k"), ALL)
    assert (p.size, p.scale, p.reached) == ((3840, 1600), 2, True)
    q = plan_target(1280, 536, parse_target("1080p"), ALL)  # 2.39:1
    assert q.size == (1920, 804) and q.scale == 2
    scope = plan_target(720, 480, parse_target("2160p"), ALL, sar=Fraction(32, 27) * Fraction(4, 3))  # 2.37:1
    assert scope.size[0] == 3840 and scope.size[1] < 2160


def test_portrait_picture_fits_the_turned_frame():
    p = plan_target(720, 1280, parse_target("1080p"), ALL)  # 9:16 phone clip
    assert p.size == (1080, 1920) and p.display == (1080, 1920)
    tall = plan_target(400, 1200, parse_target("1080p"), ALL)  # 1:3, taller than 9:16: height-bound
    assert tall.size == (640, 1920)
    square = plan_target(500, 500, parse_target("1080p"), ALL)
    assert square.size == (1080, 1080)


def test_16_9_to_2160p():
    p = plan_target(1920, 1080, parse_target("2160p"), ALL)
    assert (p.size, p.display, p.scale, p.reached, p.at_target) == ((3840, 2160), (3840, 2160), 2, True, False)


def test_4_3_picks_the_smallest_scale_that_covers():
    p = plan_target(640, 480, parse_target("1080p"), ALL)
    assert p.size == (1440, 1080)  # 4:3 kept
    assert p.scale == 3  # x2 gives 1280x960, short of 1440x1080
    assert p.reached
    q = plan_target(640, 480, parse_target("1080p"), (2,))
    assert q.size == (1440, 1080) and q.scale == 2 and not q.reached


def test_box_fits_keeping_aspect():
    assert plan_target(640, 480, parse_target("1920x1080"), ALL).size == (1440, 1080)
    assert plan_target(1280, 720, parse_target("1920x1920"), ALL).size == (1920, 1080)
    assert plan_target(1280, 720, parse_target("3000x1080"), ALL).size == (1920, 1080)


def test_portrait_stored_frame():
    p = plan_target(1080, 1920, parse_target("2160p"), ALL)
    assert p.size == (2160, 3840) and p.display == (2160, 3840)


def test_rotated_frame_np_frame_turns_with_the_picture():
    """A 1920x1080 frame tagged rotation 90 displays as 1080x1920: 2160p fits it in 2160x3840 as shown."""
    p = plan_target(1920, 1080, parse_target("2160p"), ALL, rotation=90)
    assert p.size == (3840, 2160)  # stored, before rotation
    assert p.display == (2160, 3840)
    assert p.scale == 2


def test_rotated_frame_in_a_box_is_fitted_as_displayed():
    # displayed 1080x1920 (portrait) inside a landscape 3840x2160 box: 2160 high
    p = plan_target(1920, 1080, parse_target("3840x2160"), ALL, rotation=90)
    assert p.display == (1216, 2160)  # 1215 rounded to even
    assert p.size == (2160, 1216)
    # the same box turned fits exactly
    q = plan_target(1920, 1080, parse_target("2160x3840"), ALL, rotation=90)
    assert q.display == (2160, 3840) and q.size == (3840, 2160)


def test_anamorphic_sources_come_out_square_pixels():
    pal43 = plan_target(720, 576, parse_target("1080p"), ALL, sar=Fraction(16, 15))  # displays 768x576
    assert pal43.size == (1440, 1080) and pal43.scale == 2
    pal169 = plan_target(720, 576, parse_target("1080p"), ALL, sar=Fraction(64, 45))  # displays 1024x576
    assert pal169.size == (1920, 1080) and pal169.scale == 3  # x2 is 1440 wide, short of 1920
    ntsc169 = plan_target(720, 480, parse_target("2160p"), ALL, sar=Fraction(32, 27))  # 853.3x480
    assert ntsc169.size == (3840, 2160) and ntsc169.scale == 4 and not ntsc169.reached  # x4 is 2880 wide


def test_odd_sizes_round_to_the_chroma_subsampling():
    p = plan_target(101, 75, parse_target("1080p"), ALL, log2_chroma=(1, 1))
    assert p.size == (1454, 1080)  # 101 * 14.4 = 1454.4
    odd = plan_target(101, 75, parse_target("1081p"), ALL, log2_chroma=(1, 1))
    assert odd.size[0] % 2 == 0 and odd.size[1] % 2 == 0
    assert odd.size[1] == 1080  # even, and inside the 1922x1081 frame
    s422 = plan_target(101, 75, parse_target("1081p"), ALL, log2_chroma=(1, 0))
    assert s422.size[0] % 2 == 0 and s422.size[1] == 1081  # 4:2:2 subsamples only the width
    s444 = plan_target(101, 75, parse_target("1081p"), ALL, log2_chroma=(0, 0))
    assert s444.size == (1456, 1081)  # 101 * 1081 / 75 = 1455.7
    s411 = plan_target(101, 75, parse_target("1080p"), ALL, log2_chroma=(2, 0))
    assert s411.size[0] % 4 == 0


def test_box_is_never_exceeded_by_rounding():
    # 4:2:0 into an odd box: the even sizes stay inside it
    p = plan_target(64, 48, parse_target("101x75"), ALL)
    assert p.size[0] <= 101 and p.size[1] <= 75
    assert p.size[0] % 2 == 0 and p.size[1] % 2 == 0


def test_at_or_above_the_target():
    assert plan_target(3840, 2160, parse_target("1080p"), ALL).at_target
    assert plan_target(1920, 1080, parse_target("1080p"), ALL).at_target  # exactly there
    assert plan_target(1080, 1920, parse_target("1080p"), ALL).at_target  # portrait: short side 1080
    assert plan_target(1920, 1078, parse_target("1080p"), ALL).at_target  # fills the frame's width
    assert not plan_target(1918, 1078, parse_target("1080p"), ALL).at_target
    assert plan_target(1920, 800, parse_target("1080p"), ALL).at_target  # a 2.4:1 film fills 1920 wide
    assert plan_target(1920, 1080, parse_target("1920x1080"), ALL).at_target


@pytest.mark.parametrize("w, h", [(64, 48), (320, 240), (352, 288), (426, 240), (640, 360), (720, 404), (853, 480),
                                  (1000, 999), (99, 201), (1280, 544)])
@pytest.mark.parametrize("target", ["1080p", "1440p", "2160p", "1920x1080", "1080x1920", "3840x1600"])
@pytest.mark.parametrize("rotation", [0, 90])
def test_invariants(w, h, target, rotation):
    t = parse_target(target)
    p = plan_target(w, h, t, ALL, rotation=rotation)
    ow, oh = p.size
    assert ow % 2 == 0 and oh % 2 == 0
    # aspect kept to within the rounding of one side (each side is off by at most 1 px)
    assert abs(Fraction(ow, oh) - Fraction(w, h)) <= Fraction(ow + 1, oh - 1) - Fraction(ow, oh) + Fraction(1, 10**9)
    dw, dh = p.display
    bw, bh = t.frame(portrait=(h > w) != (rotation == 90))  # the picture's orientation as displayed
    assert dw <= bw and dh <= bh
    assert dw >= bw - 2 or dh >= bh - 2  # fills the frame on one side
    covering = [s for s in ALL if s * w >= ow and s * h >= oh]
    assert p.scale == (covering[0] if covering else max(ALL))
    assert p.reached == bool(covering)


def test_bad_arguments():
    with pytest.raises(ValueError):
        plan_target(64, 48, parse_target("1080p"), ())
    with pytest.raises(ValueError):
        plan_target(0, 48, parse_target("1080p"), ALL)
    with pytest.raises(ValueError):
        Target()
    with pytest.raises(ValueError):
        Target(short_side=1080, box=(1, 1))
