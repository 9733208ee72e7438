import numpy as np
import pytest

from moscale.motion import quaternion as quat

ORDERS = ["XYZ", "YZX", "ZXY", "XZY", "YXZ", "ZYX"]


def random_quaternions(count, seed=0):
    return quat.normalize(np.random.default_rng(seed).normal(size=(count, 4)))


def test_multiply_matches_matrix_product():
    a, b = random_quaternions(50, 1), random_quaternions(50, 2)
    np.testing.assert_allclose(
        quat.to_matrix(quat.multiply(a, b)), quat.to_matrix(a) @ quat.to_matrix(b), atol=1e-12
    )


def test_rotate_matches_matrix_and_inverse_undoes_it():
    q = random_quaternions(50)
    v = np.random.default_rng(3).normal(size=(50, 3))
    rotated = quat.rotate(q, v)
    np.testing.assert_allclose(rotated, np.einsum("nij,nj->ni", quat.to_matrix(q), v), atol=1e-12)
    np.testing.assert_allclose(quat.rotate(quat.inverse(q), rotated), v, atol=1e-12)


def test_matrix_round_trip_and_sign_continuity():
    q = random_quaternions(200)
    back = quat.from_matrix(quat.to_matrix(q))
    assert np.allclose(np.abs(np.sum(back * q, axis=-1)), 1.0, atol=1e-12)
    smooth = quat.slerp(q[:1], q[1:2], np.linspace(0, 1, 30))  # [30, 4]
    noisy = smooth * np.where(np.arange(30) % 3 == 0, -1.0, 1.0)[:, None]
    continuous = quat.make_continuous(noisy)
    assert np.all(np.sum(continuous[1:] * continuous[:-1], axis=-1) >= 0)
    assert np.allclose(np.abs(continuous), np.abs(smooth))


def test_between_maps_u_to_v_including_opposite_vectors():
    rng = np.random.default_rng(5)
    u, v = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    u[0], v[0] = [0, 0, 1], [0, 0, -1]
    u[1], v[1] = [1, 0, 0], [-2, 0, 0]
    q = quat.between(u, v)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(quat.rotate(q, unit(u)), unit(v), atol=1e-12)
    assert np.all(np.isfinite(q))


def test_axis_angle_and_angle_between():
    q = quat.from_axis_angle([0, 1, 0], np.pi / 2)
    np.testing.assert_allclose(quat.rotate(q, [0, 0, 1]), [1, 0, 0], atol=1e-12)
    assert quat.angle_between(quat.identity(), q) == pytest.approx(np.pi / 2)
    assert quat.angle_between(q, -q) == pytest.approx(0.0)


def test_slerp_endpoints_and_midpoint():
    a = quat.identity()
    b = quat.from_axis_angle([1, 0, 0], 1.0)
    np.testing.assert_allclose(quat.slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(quat.slerp(a, b, 1.0), b, atol=1e-12)
    np.testing.assert_allclose(quat.slerp(a, -b, 0.5), quat.from_axis_angle([1, 0, 0], 0.5), atol=1e-12)


def test_cont6d_round_trip_and_layout():
    q = random_quaternions(100)
    six = quat.to_cont6d(q)
    np.testing.assert_allclose(six[:, :3], quat.to_matrix(q)[:, :, 0])
    np.testing.assert_allclose(six[:, 3:], quat.to_matrix(q)[:, :, 1])
    assert np.all(quat.angle_between(quat.from_cont6d(six), q) < 1e-7)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_round_trip(order):
    rng = np.random.default_rng(6)
    angles = np.stack([rng.uniform(-np.pi, np.pi, 500), rng.uniform(-1.5, 1.5, 500),
                       rng.uniform(-np.pi, np.pi, 500)], -1)
    q = quat.from_euler(angles, order)
    np.testing.assert_allclose(quat.to_euler(q, order), angles, atol=1e-9)
    q = random_quaternions(500, 7)
    assert np.max(quat.angle_between(quat.from_euler(quat.to_euler(q, order), order), q)) < 1e-9


@pytest.mark.parametrize("order", ORDERS)
def test_euler_near_gimbal_lock(order):
    rng = np.random.default_rng(8)
    middle = np.concatenate([np.full(50, np.pi / 2), np.full(50, -np.pi / 2),
                             np.pi / 2 - np.logspace(-12, -3, 50), -np.pi / 2 + np.logspace(-12, -3, 50)])
    angles = np.stack([rng.uniform(-3, 3, 200), middle, rng.uniform(-3, 3, 200)], -1)
    q = quat.from_euler(angles, order)
    back = quat.to_euler(q, order)
    assert np.all(np.isfinite(back))
    assert np.max(quat.angle_between(quat.from_euler(back, order), q)) < 1e-5


def test_euler_order_meaning():
    # "ZYX" means R = Rz @ Ry @ Rx: x is applied first.
    angles = np.array([0.3, -0.2, 0.7])
    expected = quat.multiply(quat.multiply(quat.from_axis_angle([0, 0, 1], 0.3),
                                           quat.from_axis_angle([0, 1, 0], -0.2)),
                             quat.from_axis_angle([1, 0, 0], 0.7))
    np.testing.assert_allclose(quat.from_euler(angles, "ZYX"), expected, atol=1e-12)
    with pytest.raises(ValueError, match="permutation"):
        quat.from_euler(angles, "XXY")
