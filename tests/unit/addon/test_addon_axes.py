import numpy as np
import pytest
from expected_geometry import blender_from_model

from addon import axes
from addon import quaternion as quat


def test_model_forward_is_blender_minus_y_and_up_is_plus_z():
    np.testing.assert_allclose(axes.positions_to_blender([0, 0, 1]), [0, -1, 0])  # forward
    np.testing.assert_allclose(axes.positions_to_blender([0, 1, 0]), [0, 0, 1])   # up
    np.testing.assert_allclose(axes.positions_to_blender([1, 0, 0]), [1, 0, 0])   # the character's left
    assert np.linalg.det(axes.MODEL_TO_BLENDER) == pytest.approx(1.0)  # a rotation: no mirroring


def test_positions_round_trip_and_match_the_hand_written_rule():
    points = np.random.default_rng(0).normal(size=(10, 22, 3))
    np.testing.assert_allclose(axes.positions_to_blender(points), blender_from_model(points), atol=1e-15)
    np.testing.assert_allclose(axes.positions_to_model(axes.positions_to_blender(points)), points, atol=1e-15)


def test_rotations_convert_like_the_vectors_they_turn():
    rng = np.random.default_rng(1)
    q = quat.normalise(rng.normal(size=(50, 4)))
    v = rng.normal(size=(50, 3))
    turned_then_converted = axes.positions_to_blender(np.einsum("nij,nj->ni", quat.to_matrix(q), v))
    converted = axes.rotations_to_blender(q)
    converted_then_turned = np.einsum("nij,nj->ni", quat.to_matrix(converted), axes.positions_to_blender(v))
    np.testing.assert_allclose(converted_then_turned, turned_then_converted, atol=1e-12)
    back = axes.rotations_to_model(converted)
    np.testing.assert_allclose(quat.to_matrix(back), quat.to_matrix(q), atol=1e-12)


def test_a_blender_rig_takes_the_plain_conversion():
    turn = axes.model_to_armature(up=[0.05, 0.1, 0.6], left=[0.2, 0.01, 0.0])  # leaning a little
    np.testing.assert_allclose(turn, axes.MODEL_TO_BLENDER)


def test_a_y_up_import_and_a_backward_rig_get_their_own_frames():
    # Mixamo's FBX data: Y up, facing +Z, left +X, like model space (the object does the quarter turn).
    np.testing.assert_allclose(axes.model_to_armature(up=[0, 60.0, 3.0], left=[18.0, 0, 0]), np.eye(3))
    # A Z-up rig facing +Y: its left is -X.
    backward = axes.model_to_armature(up=[0, 0, 1.0], left=[-1.0, 0, 0])
    np.testing.assert_allclose(backward @ [0, 0, 1], [0, 1, 0])  # model forward -> +Y
    np.testing.assert_allclose(backward @ [0, 1, 0], [0, 0, 1])  # model up -> +Z
    assert np.linalg.det(backward) == pytest.approx(1.0)


def test_no_direction_is_refused():
    with pytest.raises(ValueError, match="direction"):
        axes.model_to_armature(up=[0, 0, 0], left=[1, 0, 0])
