import json

import numpy as np
import pytest

from moscale.motion import quaternion as quat
from moscale.motion.motion import (
    Motion, foot_contacts_from_positions, load_json, load_motion, load_npz, save_json, save_motion,
)
from moscale.motion.skeleton import JOINT_NAMES


@pytest.fixture
def motion(turning_walk):
    return Motion.from_positions(turning_walk.positions, metadata={"prompt": "a person turns", "seed": 7})


def assert_same_motion(a: Motion, b: Motion, atol=1e-12):
    assert a.fps == b.fps and a.joint_names == b.joint_names and a.parents == b.parents
    assert a.metadata == b.metadata
    np.testing.assert_allclose(a.rest_offsets, b.rest_offsets, atol=atol)
    np.testing.assert_allclose(a.rotations, b.rotations, atol=atol)
    np.testing.assert_allclose(a.root_translation, b.root_translation, atol=atol)
    np.testing.assert_allclose(a.positions, b.positions, atol=atol)
    np.testing.assert_array_equal(a.foot_contacts, b.foot_contacts)


def test_from_positions_solves_a_consistent_motion(motion, turning_walk):
    assert motion.frame_count == 120 and motion.fps == 20.0
    assert motion.joint_names == list(JOINT_NAMES)
    assert motion.foot_contacts.shape == (120, 4) and motion.foot_contacts.dtype == bool
    fk = motion.skeleton.forward_kinematics(motion.rotations, motion.root_translation)
    assert np.linalg.norm(fk - turning_walk.positions, axis=-1).mean() < 1e-3
    np.testing.assert_allclose(np.linalg.norm(motion.rotations, axis=-1), 1.0, atol=1e-12)


def test_foot_contacts_follow_humanml3d_rule_and_fps():
    positions = np.zeros((5, 22, 3))
    positions[:, 7, 0] = [0.0, 0.01, 0.02, 0.2, 0.4]  # left ankle: still, still, then fast
    contacts = foot_contacts_from_positions(positions, JOINT_NAMES, fps=20.0)
    np.testing.assert_array_equal(contacts[:, 0], [True, True, False, False, False])
    assert contacts[:, 1:].all()
    # At 40 fps the same per-frame steps are twice the speed: 0.01 m/frame is still slow enough,
    # a 0.04 m/frame step (1.6 m/s) is not.
    positions[:, 7, 0] = [0.0, 0.01, 0.05, 0.06, 0.07]
    np.testing.assert_array_equal(foot_contacts_from_positions(positions, JOINT_NAMES, 40.0)[:, 0],
                                  [True, False, True, True, True])


@pytest.mark.parametrize("suffix", [".npz", ".json", ".NPZ"])
def test_lossless_round_trips(motion, tmp_path, suffix):
    path = save_motion(tmp_path / f"clip{suffix}", motion)
    assert path.is_file()
    assert_same_motion(load_motion(path), motion)


def test_json_is_readable_and_versioned(motion, tmp_path):
    document = json.loads(save_json(tmp_path / "clip.json", motion).read_text())
    assert document["format"] == "moscale.motion" and document["version"] == 1
    assert document["metadata"]["prompt"] == "a person turns"
    document["version"] = 99
    (tmp_path / "future.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="version 99"):
        load_json(tmp_path / "future.json")


def test_validate_reports_what_is_wrong(motion):
    def broken(**changes):
        fields = dict(motion.__dict__)
        fields.update(changes)
        return Motion(**fields)

    with pytest.raises(ValueError, match=r"rotations must have shape \(120, 22, 4\)"):
        broken(rotations=motion.rotations[:, :21]).validate()
    with pytest.raises(ValueError, match="positions must have shape"):
        broken(positions=motion.positions[:-1]).validate()
    nan_positions = motion.positions.copy()
    nan_positions[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="positions contains NaN"):
        broken(positions=nan_positions).validate()
    with pytest.raises(ValueError, match="unit quaternions"):
        broken(rotations=motion.rotations * 1.1).validate()
    with pytest.raises(ValueError, match="fps"):
        broken(fps=0.0).validate()
    with pytest.raises(ValueError, match="JSON"):
        broken(metadata={"seed": np.arange(3)}).validate()
    with pytest.raises(ValueError, match=r"\[frames, 22, 3\]"):
        Motion.from_positions(np.zeros((10, 24, 3)))
    with pytest.raises(ValueError, match="NaN"):
        Motion.from_positions(np.full((10, 22, 3), np.nan))


def test_unknown_extension_and_missing_files(motion, tmp_path):
    with pytest.raises(ValueError, match=r"Unknown motion file extension '\.fbx'.*\.npz, \.json, \.bvh"):
        save_motion(tmp_path / "clip.fbx", motion)
    with pytest.raises(ValueError, match="Unknown motion file extension"):
        load_motion(tmp_path / "clip")
    for name in ("missing.npz", "missing.json", "missing.bvh"):
        with pytest.raises(FileNotFoundError, match=name):
            load_motion(tmp_path / name)
    np.savez(tmp_path / "other.npz", values=np.zeros(3))
    with pytest.raises(ValueError, match="not a MoScale motion file"):
        load_npz(tmp_path / "other.npz")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_json(tmp_path / "bad.json")


def test_sign_continuity_survives_a_full_turn(motion):
    dots = np.sum(motion.rotations[1:] * motion.rotations[:-1], axis=-1)
    assert np.all(dots >= 0)
    assert np.max(quat.angle_between(motion.rotations[1:], motion.rotations[:-1])) < np.radians(45)
