from pathlib import Path

import numpy as np
import pytest

from moscale.motion import features as F
from moscale.motion import quaternion as quat
from moscale.motion.skeleton import FACE_JOINTS, Skeleton

PARITY_FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "official_parity"


def reference_recovery(features: np.ndarray) -> np.ndarray:
    """moscale-architecture.md section 1.3, written out frame by frame in float64."""
    frames = len(features)
    positions = np.zeros((frames, 22, 3))
    theta, root_x, root_z = 0.0, 0.0, 0.0
    for t in range(frames):
        if t > 0:
            theta += features[t - 1, 0]
        # q = (cos theta, 0, sin theta, 0) is a turn by 2 theta about Y; q^-1 turns by -2 theta.
        c, s = np.cos(-2 * theta), np.sin(-2 * theta)
        inverse_yaw = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        if t > 0:
            step = inverse_yaw @ np.array([features[t - 1, 1], 0.0, features[t - 1, 2]])
            root_x += step[0]
            root_z += step[2]
        local = features[t, 4:67].reshape(21, 3) @ inverse_yaw.T
        positions[t, 0] = [root_x, features[t, 3], root_z]
        positions[t, 1:] = local + [root_x, 0.0, root_z]
    return positions


def test_slices_tile_the_feature_vector():
    slices = [F.ROOT_YAW_VEL, F.ROOT_XZ_VEL, F.ROOT_Y, F.RIC, F.ROT6D, F.LOCAL_VEL, F.FOOT_CONTACT]
    assert slices[0].start == 0 and slices[-1].stop == F.FEATURE_DIM == 263
    assert all(a.stop == b.start for a, b in zip(slices[:-1], slices[1:]))
    assert (F.RIC.start, F.ROT6D.start, F.LOCAL_VEL.start, F.FOOT_CONTACT.start) == (4, 67, 193, 259)


@pytest.mark.parametrize("motion_name", ["walk", "turning_walk"])
def test_round_trip_reproduces_canonical_positions(motion_name, request):
    motion = request.getfixturevalue(motion_name)
    features = F.extract_features(motion.positions, retarget=False)
    canonical = F.canonicalize(motion.positions, retarget=False)
    assert features.shape == (len(motion.positions) - 1, 263)
    recovered = F.recover_from_ric(features.astype(np.float32))
    assert recovered.dtype == np.float32
    assert np.max(np.abs(recovered - canonical[:-1])) < 1e-5


def test_canonical_positions_are_on_the_floor_centred_and_facing_forward(turning_walk):
    canonical = F.canonicalize(turning_walk.positions, retarget=False)
    assert canonical[..., 1].min() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(canonical[0, 0, [0, 2]], 0.0, atol=1e-12)
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    first = canonical[0]
    across = first[right_hip] - first[left_hip] + first[right_shoulder] - first[left_shoulder]
    forward = np.cross([0, 1, 0], across)
    assert (forward / np.linalg.norm(forward))[2] > 0.95
    # Rigid placement: pairwise distances within a frame are unchanged.
    np.testing.assert_allclose(np.linalg.norm(canonical[5, 3] - canonical[5, 17]),
                               np.linalg.norm(turning_walk.positions[5, 3] - turning_walk.positions[5, 17]))


def test_turning_motion_accumulates_a_full_turn(turning_walk):
    features = F.extract_features(turning_walk.positions, retarget=False)
    # Channel 0 holds half-angles of the rotation that turns the body back to +Z, so a turn
    # about +Y counts negative; the heading is smoothed (sigma 20 frames) and lags at the ends.
    assert np.sum(features[:, 0]) == pytest.approx(-np.pi, abs=0.5)
    assert np.all(np.abs(features[:, 0]) < 0.2)


def test_retargeting_gives_template_bone_lengths_and_round_trips(synthetic_walk):
    default = Skeleton.default()
    taller = Skeleton(default.joint_names, default.parents, default.offsets * 1.15)
    motion = synthetic_walk(frames=60, turns=0.5, skeleton=taller, seed=2)
    retargeted = F.retarget_to_template(motion.positions)
    bones = np.linalg.norm(retargeted[:, 1:] - retargeted[:, list(default.parents[1:])], axis=-1)
    np.testing.assert_allclose(bones, np.broadcast_to(default.bone_lengths[1:], bones.shape), atol=1e-12)
    features = F.extract_features(motion.positions)
    recovered = F.recover_from_ric(features)
    assert np.max(np.abs(recovered - F.canonicalize(motion.positions)[:-1])) < 1e-5
    assert not np.allclose(features, F.extract_features(motion.positions, retarget=False))


def test_recover_from_ric_matches_section_1_3(turning_walk):
    features = F.extract_features(turning_walk.positions, retarget=False)
    features[:, F.RIC] += np.random.default_rng(0).normal(scale=0.05, size=(len(features), 63))
    ours = F.recover_from_ric(features.astype(np.float32))
    expected = reference_recovery(features.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(ours - expected)) / np.max(np.abs(expected)) < 1e-5


def test_recover_from_ric_accepts_batch_dimensions(walk):
    features = F.extract_features(walk.positions, retarget=False).astype(np.float32)
    batch = np.stack([np.stack([features, 0.5 * features]), np.stack([features[::-1], features])])
    recovered = F.recover_from_ric(batch)
    assert recovered.shape == (2, 2, len(features), 22, 3)
    np.testing.assert_array_equal(recovered[1, 0], F.recover_from_ric(features[::-1]))
    heading, root = F.recover_root(batch)
    assert heading.shape == (2, 2, len(features), 4) and root.shape == (2, 2, len(features), 3)
    with pytest.raises(ValueError, match="263"):
        F.recover_from_ric(np.zeros((4, 262), dtype=np.float32))


@pytest.mark.skipif(not PARITY_FIXTURES.is_dir(), reason="official parity fixtures not present")
def test_recover_from_ric_matches_the_official_float32_output():
    for fixture in sorted(p for p in PARITY_FIXTURES.iterdir() if (p / "inputs.npz").is_file()):
        inputs, expected = np.load(fixture / "inputs.npz"), np.load(fixture / "expected.npz")
        joints = F.recover_from_ric(inputs["motion_raw"])
        for sample, length in enumerate(inputs["lengths"]):
            reference = expected["input_joints"][sample, :length]
            error = np.max(np.abs(joints[sample, :length] - reference)) / np.max(np.abs(reference))
            assert error < 1e-4, f"{fixture.name} sample {sample}: relative error {error:.2e}"


def test_rotation_slice_is_humanml3d_swing_ik():
    # A still rest pose facing +Z: the IK's root rotation is the identity, so each bone's
    # accumulated rotation along its chain must carry the raw direction onto the bone.
    from moscale.motion.skeleton import KINEMATIC_CHAINS, RAW_OFFSET_DIRECTIONS

    rest = Skeleton.default().rest_positions()
    features = F.extract_features(np.stack([rest, rest]), retarget=False)
    canonical = F.canonicalize(np.stack([rest, rest]), retarget=False)[0]
    rotations = features[0, F.ROT6D].reshape(21, 6)
    for chain in KINEMATIC_CHAINS:
        accumulated = np.eye(3)
        for parent, child in zip(chain[:-1], chain[1:]):
            accumulated = accumulated @ quat.cont6d_to_matrix(rotations[child - 1])
            bone = canonical[child] - canonical[parent]
            np.testing.assert_allclose(accumulated @ RAW_OFFSET_DIRECTIONS[child],
                                       bone / np.linalg.norm(bone), atol=1e-9)


def test_foot_contacts_and_velocities(walk):
    positions = walk.positions.copy()
    positions[:, [7, 10]] = positions[:1, [7, 10]]  # left foot planted (bones stretch; fine here)
    features = F.extract_features(positions, retarget=False)
    contacts = features[:, F.FOOT_CONTACT]
    assert np.all(contacts[:, :2] == 1.0)
    np.testing.assert_array_equal(contacts[:, 2:], F.foot_contacts(F.canonicalize(positions, retarget=False))[:, 2:])
    assert set(np.unique(contacts)) <= {0.0, 1.0}
    # Local velocities have the speed of the global ones (a rotation about Y keeps lengths).
    canonical = F.canonicalize(walk.positions, retarget=False)
    speeds = np.linalg.norm(np.diff(canonical, axis=0), axis=-1)
    local = np.linalg.norm(F.extract_features(walk.positions, retarget=False)[:, F.LOCAL_VEL].reshape(-1, 22, 3), axis=-1)
    np.testing.assert_allclose(local, speeds, atol=1e-12)


def test_bad_positions_are_rejected():
    with pytest.raises(ValueError, match="positions must be"):
        F.extract_features(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match="positions must be"):
        F.extract_features(np.zeros((1, 22, 3)))
    bad = np.random.default_rng(0).normal(size=(5, 22, 3))
    bad[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        F.extract_features(bad)


def test_normalizer_round_trip_and_loading(tmp_path):
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=263), rng.uniform(0.1, 2.0, size=263)
    np.save(tmp_path / "Mean.npy", mean)
    np.save(tmp_path / "Std.npy", std)
    normalizer = F.Normalizer.load(tmp_path)
    features = rng.normal(size=(7, 263)).astype(np.float32)
    normalized = normalizer.normalize(features)
    np.testing.assert_allclose(normalized, (features - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(normalizer.denormalize(normalized), features, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="Mean.npy"):
        F.Normalizer.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="shape"):
        F.Normalizer(mean[:10], std[:10])
    with pytest.raises(ValueError, match="positive"):
        F.Normalizer(mean, np.zeros(263))
