"""Quaternion math on numpy arrays: (w, x, y, z) order, float64, any leading batch dims.

Conventions used everywhere in the motion package:
- a quaternion q rotates a column vector v as q * (0, v) * q^-1 (active rotation);
- multiply(a, b) applies b first, then a (same as matrix product A @ B);
- Euler angles are intrinsic and listed in application order from the outside in: order "ZYX"
  with angles (z, y, x) means R = Rz(z) @ Ry(y) @ Rx(x), which is what a BVH channel list
  "Zrotation Yrotation Xrotation" means.
"""

import numpy as np

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


def _array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def identity(shape: int | tuple[int, ...] = ()) -> np.ndarray:
    """Identity rotations of the given batch shape: [*shape, 4]."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    q = np.zeros(shape + (4,))
    q[..., 0] = 1.0
    return q


def normalize(q) -> np.ndarray:
    q = _array(q)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def multiply(a, b) -> np.ndarray:
    """Hamilton product a * b (b is applied first)."""
    a, b = _array(a), _array(b)
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


def conjugate(q) -> np.ndarray:
    return _array(q) * np.array([1.0, -1.0, -1.0, -1.0])


def inverse(q) -> np.ndarray:
    q = _array(q)
    return conjugate(q) / np.sum(q * q, axis=-1, keepdims=True)


def rotate(q, v) -> np.ndarray:
    """Rotate vectors v [..., 3] by unit quaternions q [..., 4] (broadcasting)."""
    q, v = _array(q), _array(v)
    w = q[..., :1]
    xyz = q[..., 1:]
    uv = np.cross(xyz, v)
    uuv = np.cross(xyz, uv)
    return v + 2.0 * (w * uv + uuv)


def between(u, v) -> np.ndarray:
    """Shortest-arc rotation taking direction u to direction v (lengths are ignored).

    Opposite directions have no unique shortest arc; we then turn 180 degrees about an axis
    perpendicular to u instead of returning NaN as the HumanML3D version does.
    """
    u, v = np.broadcast_arrays(_array(u), _array(v))
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    w = 1.0 + np.sum(u * v, axis=-1, keepdims=True)
    q = np.concatenate([w, np.cross(u, v)], axis=-1)
    opposite = w[..., 0] < 1e-9
    if np.any(opposite):
        helper = np.where(np.abs(u[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis = np.cross(u, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        q[opposite] = np.concatenate([np.zeros(axis.shape[:-1] + (1,)), axis], axis=-1)[opposite]
    return normalize(q)


def from_axis_angle(axis, angle) -> np.ndarray:
    """Rotation of `angle` radians about `axis` [..., 3] (normalised here)."""
    axis = _array(axis)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    half = 0.5 * _array(angle)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def angle_between(a, b) -> np.ndarray:
    """Rotation angle in radians of a^-1 * b, in [0, pi]; sign of either quaternion is ignored."""
    d = multiply(conjugate(a), b)
    return 2.0 * np.arctan2(np.linalg.norm(d[..., 1:], axis=-1), np.abs(d[..., 0]))


def to_matrix(q) -> np.ndarray:
    """[..., 4] -> [..., 3, 3]; works for non-unit q (scaled by 2/|q|^2, as HumanML3D does)."""
    q = _array(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    s = 2.0 / np.sum(q * q, axis=-1)
    rows = [
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    ]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def from_matrix(m) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (Shepperd's method)."""
    m = _array(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Each candidate divides by the component it solves for; pick the largest one for stability.
    diagonal = np.stack([m00 + m11 + m22, m00 - m11 - m22, -m00 + m11 - m22, -m00 - m11 + m22], -1)
    root = 0.5 * np.sqrt(np.maximum(1.0 + diagonal, 1e-12))  # |w|, |x|, |y|, |z| estimates
    quarter = 0.25 / root
    candidates = np.stack(
        [
            np.stack([root[..., 0], (m21 - m12) * quarter[..., 0], (m02 - m20) * quarter[..., 0],
                      (m10 - m01) * quarter[..., 0]], -1),
            np.stack([(m21 - m12) * quarter[..., 1], root[..., 1], (m01 + m10) * quarter[..., 1],
                      (m02 + m20) * quarter[..., 1]], -1),
            np.stack([(m02 - m20) * quarter[..., 2], (m01 + m10) * quarter[..., 2], root[..., 2],
                      (m12 + m21) * quarter[..., 2]], -1),
            np.stack([(m10 - m01) * quarter[..., 3], (m02 + m20) * quarter[..., 3],
                      (m12 + m21) * quarter[..., 3], root[..., 3]], -1),
        ],
        axis=-2,
    )
    best = np.argmax(diagonal, axis=-1)[..., None, None]
    q = np.take_along_axis(candidates, best, axis=-2)[..., 0, :]
    return normalize(q)


def to_cont6d(q) -> np.ndarray:
    """Continuous 6-D rotation (HumanML3D layout): first column then second column of R."""
    m = to_matrix(q)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def cont6d_to_matrix(d6) -> np.ndarray:
    """[..., 6] -> [..., 3, 3] by Gram-Schmidt, the same construction HumanML3D uses."""
    d6 = _array(d6)
    x = d6[..., 0:3] / np.linalg.norm(d6[..., 0:3], axis=-1, keepdims=True)
    z = np.cross(x, d6[..., 3:6])
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def from_cont6d(d6) -> np.ndarray:
    return from_matrix(cont6d_to_matrix(d6))


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation along the shorter arc; t broadcasts against the batch dims."""
    a, b = normalize(a), normalize(b)
    t = _array(t)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    close = sin_theta < 1e-6  # nearly identical: linear interpolation is exact enough
    safe = np.where(close, 1.0, sin_theta)
    wa = np.where(close, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(close, t, np.sin(t * theta) / safe)
    return normalize(wa * a + wb * b)


def make_continuous(q, axis: int = 0) -> np.ndarray:
    """Flip signs so that consecutive quaternions along `axis` (time) have a non-negative dot."""
    q = np.moveaxis(_array(q), axis, 0).copy()
    if len(q) > 1:
        flips = np.sum(q[1:] * q[:-1], axis=-1) < 0.0
        sign = np.where(np.cumsum(flips, axis=0) % 2 == 1, -1.0, 1.0)
        q[1:] *= sign[..., None]
    return np.moveaxis(q, 0, axis)


def _parse_order(order: str) -> tuple[int, int, int, bool]:
    order = order.upper()
    if len(order) != 3 or sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of 'XYZ', got {order!r}")
    i, j, k = (_AXIS_INDEX[c] for c in order)
    even = (j - i) % 3 == 1  # XYZ, YZX, ZXY are cyclic; the others are odd
    return i, j, k, even


def from_euler(angles, order: str) -> np.ndarray:
    """Euler angles in radians [..., 3], listed in `order` (see module docstring) -> quaternions."""
    i, j, k, _ = _parse_order(order)
    angles = _array(angles)
    axes = np.eye(3)
    q = from_axis_angle(axes[i], angles[..., 0])
    q = multiply(q, from_axis_angle(axes[j], angles[..., 1]))
    return multiply(q, from_axis_angle(axes[k], angles[..., 2]))


def to_euler(q, order: str) -> np.ndarray:
    """Unit quaternions -> Euler angles in radians [..., 3] listed in `order`.

    The middle angle lies in [-pi/2, pi/2]. At gimbal lock (middle angle at +-90 degrees) only the
    sum or difference of the outer angles is defined; we then put all of it in the first angle.
    """
    i, j, k, even = _parse_order(order)
    m = to_matrix(q)
    sign = 1.0 if even else -1.0
    sin_middle = sign * m[..., i, k]
    cos_middle = np.hypot(m[..., i, i], m[..., i, j])
    middle = np.arctan2(sin_middle, cos_middle)
    first = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    last = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    locked = cos_middle < 1e-6
    first_locked = np.arctan2(sign * m[..., k, j], m[..., j, j])
    first = np.where(locked, first_locked, first)
    last = np.where(locked, 0.0, last)
    return np.stack([first, middle, last], axis=-1)
