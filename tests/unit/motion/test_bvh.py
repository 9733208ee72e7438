import numpy as np
import pytest

from moscale.motion import quaternion as quat
from moscale.motion.bvh import ROTATION_ORDER, load_bvh, save_bvh
from moscale.motion.motion import Motion, load_motion, save_motion


@pytest.fixture
def motion(turning_walk):
    return Motion.from_positions(turning_walk.positions, metadata={"prompt": "turn"})


def test_round_trip_keeps_rotations_and_positions(motion, tmp_path):
    path = save_motion(tmp_path / "clip.bvh", motion)
    loaded = load_motion(path)
    assert loaded.joint_names == motion.joint_names and loaded.parents == motion.parents
    assert loaded.fps == pytest.approx(20.0) and loaded.frame_count == motion.frame_count
    np.testing.assert_allclose(loaded.rest_offsets, motion.rest_offsets, atol=1e-6)
    assert np.max(quat.angle_between(loaded.rotations, motion.rotations)) < 1e-6
    assert np.max(np.abs(loaded.positions - motion.positions)) < 1e-4
    np.testing.assert_allclose(loaded.root_translation, motion.root_translation, atol=1e-6)
    agreement = np.mean(loaded.foot_contacts == motion.foot_contacts)
    assert agreement > 0.98  # recomputed from positions rounded to micrometres


def test_file_layout_is_what_blender_expects(motion, tmp_path):
    text = save_bvh(tmp_path / "clip.bvh", motion).read_text()
    lines = text.splitlines()
    assert lines[0] == "HIERARCHY" and lines[1] == "ROOT pelvis"
    rotation_channels = " ".join(f"{axis}rotation" for axis in ROTATION_ORDER)
    assert f"CHANNELS 6 Xposition Yposition Zposition {rotation_channels}" in text
    assert text.count(f"CHANNELS 3 {rotation_channels}") == 21
    assert text.count("End Site") == 5  # feet, head, wrists
    assert "Frame Time: 0.05" in text and f"Frames: {motion.frame_count}" in text
    first_frame = np.array(lines[lines.index("Frame Time: 0.05") + 1].split(), dtype=float)
    assert first_frame.shape == (3 + 22 * 3,)
    # Metres, Y up: the root starts about a metre above the ground, not 100 (centimetres).
    assert 0.8 < first_frame[1] < 1.1


def test_reads_other_channel_orders_and_frame_rates(tmp_path):
    text = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 1 0 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333333
0 1 0 0 90 0 0 0 0
0 1 0 0 0 90 0 0 0
0 1 0 0 0 0 90 0 0
"""
    path = tmp_path / "other.bvh"
    path.write_text(text)
    loaded = load_bvh(path)
    assert loaded.fps == pytest.approx(30.0)
    # Frame 0: the root turns 90 degrees about Y (its first rotation channel is X, the arm's Y).
    np.testing.assert_allclose(loaded.rotations[0, 0], quat.from_axis_angle([0, 1, 0], np.pi / 2), atol=1e-12)
    np.testing.assert_allclose(loaded.positions[0, 1], [0, 1, -1], atol=1e-12)
    # Frame 1: the root turns 90 degrees about Z, which lifts the arm's tip onto +Y.
    np.testing.assert_allclose(loaded.positions[1, 1], [0, 2, 0], atol=1e-12)
    # Frame 2: the arm's first channel is its Y rotation.
    np.testing.assert_allclose(loaded.rotations[2, 1], quat.from_axis_angle([0, 1, 0], np.pi / 2), atol=1e-12)
    assert not loaded.foot_contacts.any()


def test_malformed_files_raise_clear_errors(tmp_path):
    path = tmp_path / "bad.bvh"
    path.write_text("HIERARCHY\nROOT hips\n{\n  OFFSET 0 0\n")
    with pytest.raises(ValueError, match="expected a number|ends early|expected 'CHANNELS'"):
        load_bvh(path)
    path.write_text("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n}\n"
                    "MOTION\nFrames: 2\nFrame Time: 0.05\n0 0 0\n")
    with pytest.raises(ValueError, match="ends early"):
        load_bvh(path)
    with pytest.raises(FileNotFoundError, match="nowhere.bvh"):
        load_bvh(tmp_path / "nowhere.bvh")
