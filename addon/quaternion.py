"""Quaternion maths on numpy arrays, (w, x, y, z) order, any leading batch dimensions.

The add-on's own small copy (Blender's Python has numpy but not the backend): q rotates a column
vector like its matrix does, and multiply(a, b) applies b first, like the matrix product A @ B.
Blender's `rotation_quaternion` uses the same (w, x, y, z) order and convention.
"""

import numpy as np


def normalise(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def multiply(a, b) -> np.ndarray:
    """Hamilton product a * b (b is applied first)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def inverse(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0]) / np.sum(q * q, axis=-1, keepdims=True)


def to_matrix(q) -> np.ndarray:
    """Unit quaternions [..., 4] -> rotation matrices [..., 3, 3]."""
    w, x, y, z = np.moveaxis(normalise(q), -1, 0)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ]
    return np.stack(rows, axis=-1).reshape(w.shape + (3, 3))


def from_matrix(m) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (Shepperd's method).

    Each of w, x, y, z can be solved from the diagonal; dividing by the largest one keeps the
    result accurate near 180-degree turns, where w is close to zero.
    """
    m = np.asarray(m, dtype=np.float64)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    trace = np.stack([m00 + m11 + m22, m00 - m11 - m22, m11 - m00 - m22, m22 - m00 - m11], -1)
    big = 0.5 * np.sqrt(np.maximum(1.0 + trace, 1e-12))  # |w|, |x|, |y|, |z|
    quarter = 0.25 / big
    candidates = np.stack(
        [
            np.stack([big[..., 0], (m21 - m12) * quarter[..., 0], (m02 - m20) * quarter[..., 0],
                      (m10 - m01) * quarter[..., 0]], -1),
            np.stack([(m21 - m12) * quarter[..., 1], big[..., 1], (m01 + m10) * quarter[..., 1],
                      (m02 + m20) * quarter[..., 1]], -1),
            np.stack([(m02 - m20) * quarter[..., 2], (m01 + m10) * quarter[..., 2], big[..., 2],
                      (m12 + m21) * quarter[..., 2]], -1),
            np.stack([(m10 - m01) * quarter[..., 3], (m02 + m20) * quarter[..., 3],
                      (m12 + m21) * quarter[..., 3], big[..., 3]], -1),
        ],
        axis=-2,
    )
    best = np.argmax(trace, axis=-1)[..., None, None]
    return normalise(np.take_along_axis(candidates, best, axis=-2)[..., 0, :])


def between(u, v) -> np.ndarray:
    """Shortest-arc rotation taking direction u to direction v (lengths ignored).

    Opposite directions have no unique shortest arc; we then turn half a circle about an axis
    perpendicular to u rather than return NaN.
    """
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    w = 1.0 + np.sum(u * v, axis=-1, keepdims=True)
    q = np.concatenate([w, np.cross(u, v)], axis=-1)
    opposite = w[..., 0] < 1e-9
    if np.any(opposite):
        helper = np.where(np.abs(u[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis = np.cross(u, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        half_turn = np.concatenate([np.zeros(axis.shape[:-1] + (1,)), axis], axis=-1)
        q[opposite] = half_turn[opposite]
    return normalise(q)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation from a (t = 0) to b (t = 1) along the shorter arc."""
    a, b = normalise(a), normalise(b)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)  # q and -q are the same rotation; take the near one
    theta = np.arccos(np.clip(np.abs(dot), 0.0, 1.0))
    sin_theta = np.sin(theta)
    close = sin_theta < 1e-6  # (nearly) the same rotation: linear blend is exact enough
    safe = np.where(close, 1.0, sin_theta)
    weight_a = np.where(close, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    weight_b = np.where(close, t, np.sin(t * theta) / safe)
    return normalise(weight_a * a + weight_b * b)


def make_continuous(q, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` (time) so neighbours have a non-negative dot product.

    F-curves interpolate each component linearly or by Bezier; a sign flip between two keys of
    the same rotation would swing the bone through a full turn.
    """
    q = np.moveaxis(np.asarray(q, dtype=np.float64), axis, 0).copy()
    if len(q) > 1:
        flips = np.sum(q[1:] * q[:-1], axis=-1) < 0.0
        sign = np.where(np.cumsum(flips, axis=0) % 2 == 1, -1.0, 1.0)
        q[1:] *= sign[..., None]
    return np.moveaxis(q, 0, axis)
