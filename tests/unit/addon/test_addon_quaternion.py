import numpy as np
import pytest
from expected_geometry import quaternion_matrix

from addon import quaternion as quat


def random_quaternions(count, seed=0):
    return quat.normalise(np.random.default_rng(seed).normal(size=(count, 4)))


def angle_between(a, b):
    """Rotation angle of a^-1 b in radians, ignoring sign."""
    d = quat.multiply(quat.inverse(a), b)
    return 2 * np.arctan2(np.linalg.norm(d[..., 1:], axis=-1), np.abs(d[..., 0]))


def test_to_matrix_is_the_textbook_rotation_and_products_match():
    a, b = random_quaternions(50, 1), random_quaternions(50, 2)
    np.testing.assert_allclose(quat.to_matrix(a), quaternion_matrix(a), atol=1e-12)
    np.testing.assert_allclose(quat.to_matrix(quat.multiply(a, b)), quat.to_matrix(a) @ quat.to_matrix(b),
                               atol=1e-12)


def test_inverse_gives_identity_also_for_non_unit_quaternions():
    q = np.random.default_rng(3).normal(size=(20, 4)) * 3
    product = quat.multiply(q, quat.inverse(q))
    np.testing.assert_allclose(product, np.tile([1.0, 0, 0, 0], (20, 1)), atol=1e-12)


def test_matrix_round_trip_including_half_turns():
    q = random_quaternions(500, 4)
    axes = np.random.default_rng(5).normal(size=(20, 3))
    half_turns = quat.normalise(np.concatenate([np.zeros((20, 1)), axes], -1))
    q = np.concatenate([q, half_turns, [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]])
    back = quat.from_matrix(quat.to_matrix(q))
    np.testing.assert_allclose(angle_between(q, back), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(back, axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("u, v", [
    ([1.0, 0, 0], [0, 1.0, 0]),
    ([0, 0, 2.0], [0, 0, 5.0]),      # parallel: identity
    ([0.3, -1.0, 0.2], [-0.3, 1.0, -0.2]),  # opposite: a half turn, not NaN
    ([1.0, 0, 0], [-1.0, 0, 0]),
])
def test_between_turns_u_onto_v(u, v):
    q = quat.between(u, v)
    turned = quat.to_matrix(q) @ np.asarray(u)
    np.testing.assert_allclose(turned / np.linalg.norm(turned), np.asarray(v) / np.linalg.norm(v), atol=1e-9)


def test_between_is_the_shortest_arc_batched():
    rng = np.random.default_rng(6)
    u, v = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    q = quat.between(u, v)
    cosine = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    identity = np.tile([1.0, 0, 0, 0], (100, 1))
    np.testing.assert_allclose(angle_between(identity, q), np.arccos(cosine), atol=1e-9)


def test_slerp_ends_midpoint_and_shorter_arc():
    a, b = random_quaternions(100, 7), random_quaternions(100, 8)
    np.testing.assert_allclose(quat.slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(angle_between(quat.slerp(a, b, 1.0), b), 0.0, atol=1e-7)
    middle = quat.slerp(a, b, 0.5)
    np.testing.assert_allclose(angle_between(a, middle), 0.5 * angle_between(a, b), atol=1e-9)
    # -b is the same rotation as b: the path must not change.
    np.testing.assert_allclose(angle_between(quat.slerp(a, -b, 0.3), quat.slerp(a, b, 0.3)), 0.0, atol=1e-7)
    # Nearly equal rotations stay finite.
    np.testing.assert_allclose(quat.slerp(a, a, 0.4), a, atol=1e-12)


def test_make_continuous_removes_sign_flips_and_keeps_rotations():
    t = np.linspace(0, 4 * np.pi, 200)
    q = np.stack([np.cos(t / 2), np.sin(t / 2), 0 * t, 0 * t], -1)  # two full turns about X
    flipped = q * np.where(np.random.default_rng(9).random(200) < 0.5, -1.0, 1.0)[:, None]
    smooth = quat.make_continuous(flipped)
    assert np.all(np.sum(smooth[1:] * smooth[:-1], -1) > 0)
    np.testing.assert_allclose(quat.to_matrix(smooth), quat.to_matrix(q), atol=1e-12)
    batched = quat.make_continuous(np.stack([flipped, -flipped], axis=1), axis=0)
    assert np.all(np.sum(batched[1:] * batched[:-1], -1) > 0)
