import numpy as np
import pytest

from moscale.motion import quaternion as quat
from moscale.motion.skeleton import (
    DEFAULT_REST_OFFSETS, JOINT_NAMES, KINEMATIC_CHAINS, PARENTS, RAW_OFFSET_DIRECTIONS, Skeleton,
)


def test_tables_agree_with_each_other():
    assert len(JOINT_NAMES) == len(PARENTS) == 22
    for chain in KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert PARENTS[child] == parent
    np.testing.assert_allclose(np.linalg.norm(RAW_OFFSET_DIRECTIONS[1:], axis=-1), 1.0)
    # Left joints sit on +X, the character faces +Z.
    assert DEFAULT_REST_OFFSETS[JOINT_NAMES.index("left_hip"), 0] > 0
    assert DEFAULT_REST_OFFSETS[JOINT_NAMES.index("left_foot"), 2] > 0


def test_default_proportions_are_human():
    rest = Skeleton.default().rest_positions()
    pelvis_height = rest[0, 1] - rest[:, 1].min()
    assert 0.90 < pelvis_height < 0.97
    head_above_floor = rest[JOINT_NAMES.index("head"), 1] - rest[:, 1].min()
    assert 1.45 < head_above_floor < 1.65  # the head joint; the skull top is ~0.13 m higher
    arm_span = np.ptp(rest[:, 0])
    assert 1.2 < arm_span < 1.6


def test_forward_kinematics_of_identity_is_rest_pose_and_rotates_rigidly():
    skeleton = Skeleton.default()
    rotations = np.tile(quat.identity(), (3, 22, 1))
    root = np.array([[0, 0, 0], [1, 2, 3], [0, 0, 0]], dtype=float)
    rotations[2, 0] = quat.from_axis_angle([0, 1, 0], np.pi)
    positions = skeleton.forward_kinematics(rotations, root)
    np.testing.assert_allclose(positions[0], skeleton.rest_positions(), atol=1e-12)
    np.testing.assert_allclose(positions[1], skeleton.rest_positions() + root[1], atol=1e-12)
    turned = positions[2] * [-1, 1, -1]  # 180 degrees about Y
    np.testing.assert_allclose(turned, skeleton.rest_positions(), atol=1e-12)


def test_forward_kinematics_keeps_bone_lengths(walk):
    bones = walk.positions[:, 1:] - walk.positions[:, list(PARENTS[1:])]
    np.testing.assert_allclose(np.linalg.norm(bones, axis=-1),
                               np.broadcast_to(walk.skeleton.bone_lengths[1:], bones.shape[:-1]), atol=1e-12)


def test_skeleton_rejects_inconsistent_tables():
    with pytest.raises(ValueError, match="one parent and one offset"):
        Skeleton(JOINT_NAMES, PARENTS[:-1], DEFAULT_REST_OFFSETS)
    with pytest.raises(ValueError, match="parent must come before"):
        Skeleton(("a", "b"), (-1, 1), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="rotations must be"):
        Skeleton.default().forward_kinematics(np.zeros((4, 21, 4)), np.zeros((4, 3)))
