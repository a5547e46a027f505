"""tools.evaluate and tools.compare run end to end on a tiny image set."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vsr.models.weights import list_models

REPO = Path(__file__).resolve().parent.parent
SHIPPED = list_models()


@pytest.fixture()
def tiny_sets(shared_data: Path, tmp_path: Path) -> Path:
    """``val/``: a Set5-like folder (one 60x48 RGB crop) and a Set14-like one (one 48x48 gray crop)."""
    val = tmp_path / "val"
    (val / "A").mkdir(parents=True)
    (val / "B").mkdir()
    with Image.open(shared_data / "val" / "Set5" / "bird.png") as im:
        im.crop((100, 100, 160, 148)).save(val / "A" / "bird.png")
    with Image.open(shared_data / "val" / "Set14" / "bridge.png") as im:
        assert im.mode == "L"
        im.crop((200, 200, 249, 248)).save(val / "B" / "bridge.png")  # odd width: modcrop
    return val


@pytest.mark.skipif(not SHIPPED, reason="no shipped weights")
def test_evaluate_table(tiny_sets: Path, tmp_path: Path, capsys) -> None:
    from tools import evaluate

    spec = SHIPPED[0]
    out = tmp_path / "table.md"
    # the sets are found under val/ of --data-root (tiny_sets is DATA_ROOT/val)
    text = evaluate.main(["--model", spec.name, "--scale", str(spec.scale), "--data-root", str(tiny_sets.parent),
                          "--sets", "A", "B", "--out", str(out)])
    assert out.read_text() == text == capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("| model | scale | set | PSNR")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[:3] for r in rows] == [[spec.name, f"x{spec.scale}", "A"], [spec.name, f"x{spec.scale}", "B"]]
    for r in rows:
        net, bicubic, gain = float(r[3]), float(r[5]), float(r[7])
        assert 15 < bicubic < 60 and 0 < float(r[4]) <= 1
        assert gain == pytest.approx(net - bicubic, abs=0.011)


@pytest.mark.skipif(not SHIPPED, reason="no shipped weights")
def test_compare_sheet(tiny_sets: Path, tmp_path: Path) -> None:
    from tools import compare

    spec = SHIPPED[0]
    out = compare.main(["--image", str(tiny_sets / "A" / "bird.png"), "--scale", str(spec.scale),
                        "--model", spec.name, "--crop", "4,4,24", "--zoom", "2", "--backend", "torch",
                        "--out", str(tmp_path / "sheet.png")])
    with Image.open(out) as im:
        # thumbnail, HR, bicubic and one model: four 48 px panels with 8 px gaps
        assert im.size == (8 + 4 * (48 + 8), 22 + 48 + 8)


def test_data_root_is_the_option_else_the_environment_else_beside_the_repository(monkeypatch, tmp_path):
    from tools.paths import REPO, data_root

    monkeypatch.delenv("VSR_DATA_ROOT", raising=False)
    assert data_root() == REPO.parent / "shared" / "data"
    monkeypatch.setenv("VSR_DATA_ROOT", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "given") == tmp_path / "given"
