import numpy as np
import pytest

from moscale.motion import quaternion as quat
from moscale.motion.ik import skeleton_from_positions, solve_ik
from moscale.motion.skeleton import DEFAULT_REST_OFFSETS, JOINT_NAMES, PARENTS, Skeleton


def fk_error(positions, skeleton):
    rotations, root = solve_ik(positions, skeleton)
    return np.linalg.norm(skeleton.forward_kinematics(rotations, root) - positions, axis=-1), rotations


def per_frame_change(rotations):
    return quat.angle_between(rotations[1:], rotations[:-1])  # [T-1, J] radians


@pytest.mark.parametrize("motion_name", ["walk", "turning_walk"])
def test_fk_of_solution_reproduces_input(motion_name, request):
    motion = request.getfixturevalue(motion_name)
    error, rotations = fk_error(motion.positions, motion.skeleton)
    assert error.mean() < 1e-3 and error.max() < 1e-6
    np.testing.assert_allclose(np.linalg.norm(rotations, axis=-1), 1.0, atol=1e-12)
    assert np.all(np.sum(rotations[1:] * rotations[:-1], axis=-1) >= 0)  # sign-continuous


def test_skeleton_from_positions_fits_other_proportions(synthetic_walk):
    default = Skeleton.default()
    scale = np.random.default_rng(0).uniform(0.8, 1.25, size=(22, 1))
    other = Skeleton(default.joint_names, default.parents, default.offsets * scale)
    motion = synthetic_walk(frames=60, turns=0.3, skeleton=other)
    fitted = skeleton_from_positions(motion.positions)
    np.testing.assert_allclose(fitted.bone_lengths, other.bone_lengths, atol=1e-9)
    error, _ = fk_error(motion.positions, fitted)
    assert error.mean() < 1e-3 and error.max() < 1e-6
    # On a skeleton with the wrong proportions FK cannot match, which the fit above fixes.
    wrong, _ = fk_error(motion.positions, default)
    assert wrong.mean() > 1e-2


def test_pose_and_twist_follow_the_body(synthetic_walk):
    # Hinge-only knees and elbows: their bend axes pin down the twist of thighs and upper arms,
    # so every limb's global rotation is recovered exactly, as are pelvis and chest (hips and
    # collars fix them). The spine's twist is shared out differently, so it is not compared.
    # The legs are made planar (no X in knee, ankle and foot offsets) so that bending about X is
    # a true hinge for them; the default arms already lie in the XZ plane.
    offsets = DEFAULT_REST_OFFSETS.copy()
    offsets[[4, 5, 7, 8, 10, 11], 0] = 0.0
    skeleton = Skeleton(JOINT_NAMES, PARENTS, offsets)
    motion = synthetic_walk(frames=60, turns=0.7, wobble=0.0, skeleton=skeleton)
    rotations, _ = solve_ik(motion.positions, motion.skeleton)
    solved = motion.skeleton.global_rotations(rotations)
    truth = motion.skeleton.global_rotations(motion.rotations)
    exact = [0, 9, 1, 2, 4, 5, 7, 8, 16, 17, 18, 19]
    assert np.max(quat.angle_between(solved[:, exact], truth[:, exact])) < 1e-6


def test_no_flips_while_turning_around(turning_walk):
    rotations, _ = solve_ik(turning_walk.positions, turning_walk.skeleton)
    solved_global = turning_walk.skeleton.global_rotations(rotations)
    true_global = turning_walk.skeleton.global_rotations(turning_walk.rotations)
    limit = per_frame_change(true_global).max() + np.radians(10)
    assert per_frame_change(solved_global).max() < limit
    assert per_frame_change(rotations).max() < limit
    # The root follows the full turn: its heading ends where it started, facing +Z again.
    forward = quat.rotate(solved_global[:, 0], [0.0, 0.0, 1.0])
    heading = np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))
    assert heading[-1] - heading[0] == pytest.approx(2 * np.pi, abs=0.5)


def test_facing_backwards_matches_facing_forwards(walk):
    # Turning the whole motion 180 degrees about Y must turn the root the same way and leave all
    # other local rotations unchanged (MoMask's IK flips here).
    turn = quat.from_axis_angle([0.0, 1.0, 0.0], np.pi)
    forwards, _ = solve_ik(walk.positions, walk.skeleton)
    backwards, _ = solve_ik(quat.rotate(turn, walk.positions), walk.skeleton)
    assert np.max(quat.angle_between(backwards[:, 1:], forwards[:, 1:])) < 1e-6
    assert np.max(quat.angle_between(backwards[:, 0], quat.multiply(turn, forwards[:, 0]))) < 1e-6


def test_straight_limbs_stay_finite_and_smooth():
    # A skeleton whose legs and arms are perfectly straight at rest, slowly bending from and back
    # to straight: the bend plane vanishes, the twist must not jump.
    offsets = DEFAULT_REST_OFFSETS.copy()
    for upper, middle, end in ((1, 4, 7), (2, 5, 8), (16, 18, 20), (17, 19, 21)):
        direction = offsets[middle] / np.linalg.norm(offsets[middle])
        offsets[end] = direction * np.linalg.norm(offsets[end])
    skeleton = Skeleton(JOINT_NAMES, PARENTS, offsets)
    frames = 60
    bend = 0.6 * np.maximum(0.0, np.sin(np.linspace(-np.pi, 2 * np.pi, frames)))
    rotations = np.tile(quat.identity(), (frames, 22, 1))
    for knee in (4, 5):
        rotations[:, knee] = quat.from_axis_angle([1.0, 0.0, 0.0], bend)
    rotations[:, 18] = quat.from_axis_angle([0.0, -1.0, 0.0], bend)
    rotations[:, 0] = quat.from_axis_angle([0.0, 1.0, 0.0], np.linspace(0, 3, frames))
    positions = skeleton.forward_kinematics(rotations, np.tile([0.0, 1.0, 0.0], (frames, 1)))
    error, solved = fk_error(positions, skeleton)
    assert np.all(np.isfinite(solved)) and error.max() < 1e-9
    assert per_frame_change(solved).max() < np.radians(8)


def test_bad_inputs_raise_clear_errors(walk):
    with pytest.raises(ValueError, match=r"\[frames, 22, 3\]"):
        solve_ik(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match=r"\[frames, 22, 3\]"):
        solve_ik(np.zeros((22, 3)))
    bad = walk.positions.copy()
    bad[3, 5, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        solve_ik(bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        skeleton_from_positions(np.full((4, 22, 3), np.nan))
    collapsed = walk.positions.copy()
    collapsed[2, 4] = collapsed[2, 1]
    with pytest.raises(ValueError, match="left_knee.*frame 2"):
        solve_ik(collapsed)
    other = Skeleton(("a", "b"), (-1, 0), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="22-joint"):
        solve_ik(walk.positions, other)
