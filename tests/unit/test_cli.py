"""The `moscale` command line end to end with the shipped default checkpoint."""

import json

import numpy as np
import pytest

from moscale.cli import main
from moscale.motion.motion import load_motion


@pytest.mark.parametrize("suffix", [".bvh", ".npz", ".json"])
def test_generate_writes_each_format(tmp_path, suffix):
    out = tmp_path / f"walk{suffix}"
    assert main(["generate", "a person walks forward", "--seconds", "3", "--schedule", "1,1,1,1",
                 "--seed", "4", "--out", str(out)]) == 0
    motion = load_motion(out)
    assert motion.frame_count == 60 and motion.fps == 20
    assert np.isfinite(motion.positions).all()


def test_variations_edit_and_extend(tmp_path, capsys):
    base = tmp_path / "take.npz"
    assert main(["generate", "a person jumps", "--frames", "62", "--variations", "2", "--schedule", "1,1,1,1",
                 "--out", str(base)]) == 0
    assert "rounded" in capsys.readouterr().out
    first, second = load_motion(tmp_path / "take_01.npz"), load_motion(tmp_path / "take_02.npz")
    assert first.frame_count == 64 and first.metadata["seed"] == 0 and second.metadata["seed"] == 1
    edited = tmp_path / "edited.json"
    assert main(["edit", str(tmp_path / "take_01.npz"), "a person kicks", "--start", "20", "--end", "40",
                 "--schedule", "1,1,1,1", "--out", str(edited)]) == 0
    result = load_motion(edited)
    np.testing.assert_allclose(result.positions[:20], first.positions[:20], atol=1e-9)
    assert json.loads(edited.read_text())["metadata"]["edited_range"] == [20, 40]
    longer = tmp_path / "longer.bvh"
    assert main(["extend", str(tmp_path / "take_02.npz"), "a person runs", "--seconds", "2",
                 "--schedule", "1,1,1,1", "--out", str(longer)]) == 0
    assert load_motion(longer).frame_count == 64 + 40


def test_bad_requests_exit_with_a_message(tmp_path, capsys):
    assert main(["generate", "x", "--frames", "8", "--out", str(tmp_path / "a.bvh")]) == 2
    assert "too short" in capsys.readouterr().err
    assert main(["generate", "x", "--seconds", "3", "--out", str(tmp_path / "a.fbx")]) == 2
    assert "fbx" in capsys.readouterr().err
    assert main(["edit", str(tmp_path / "missing.npz"), "x", "--start", "1", "--end", "5",
                 "--out", str(tmp_path / "b.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "x", "--schedule", "one,two", "--out", str(tmp_path / "c.npz")])


def test_info_prints_the_model_card(capsys):
    assert main(["info"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["limits"]["max_frames_per_pass"] == 196 and card["fps"] == 20


def test_int8_generation_writes_the_same_length(tmp_path):
    paths = {}
    for precision in ("fp32", "int8"):
        paths[precision] = tmp_path / f"{precision}.npz"
        assert main(["generate", "a person walks forward", "--seconds", "3", "--schedule", "1,1,1,1",
                     "--temperature", "0.000001", "--precision", precision, "--out", str(paths[precision])]) == 0
    fp32, int8 = load_motion(paths["fp32"]), load_motion(paths["int8"])
    assert int8.frame_count == fp32.frame_count and np.isfinite(int8.positions).all()
