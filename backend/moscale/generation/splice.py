"""Joining generated frames to a context motion: rigid re-anchoring of root and heading, seam blending.

All positions are (T, 22, 3) in model space (metres, Y up). The context is never modified outside
the frames being replaced.
"""

from __future__ import annotations

import numpy as np

# face joints of the 22-joint skeleton: right hip, left hip, right shoulder, left shoulder
_R_HIP, _L_HIP, _R_SHOULDER, _L_SHOULDER = 2, 1, 17, 16


def heading(positions: np.ndarray) -> np.ndarray:
    """(T, 22, 3) -> (T,) yaw angle of the facing direction about +Y (0 when facing +Z)."""
    across = (positions[:, _R_HIP] - positions[:, _L_HIP]) + (positions[:, _R_SHOULDER] - positions[:, _L_SHOULDER])
    # forward = up x across, projected on the ground plane
    forward_x, forward_z = -across[:, 2], across[:, 0]
    return np.arctan2(forward_x, forward_z)


def rotate_y(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, z = points[..., 0], points[..., 2]
    out = points.copy()
    out[..., 0] = c * x + s * z
    out[..., 2] = -s * x + c * z
    return out


def anchor(moving: np.ndarray, moving_frame: int, target: np.ndarray, target_frame: int) -> np.ndarray:
    """Rotate `moving` about Y and shift it on the ground so that its root and heading at
    `moving_frame` coincide with `target`'s at `target_frame` (heights are left as generated)."""
    turn = heading(target[target_frame:target_frame + 1])[0] - heading(moving[moving_frame:moving_frame + 1])[0]
    turned = rotate_y(moving, turn)
    shift = target[target_frame, 0] - turned[moving_frame, 0]
    shift[1] = 0.0
    return turned + shift


def seam_weights(count: int, blend: int) -> np.ndarray:
    """1 at the seam fading to 0 over `blend` frames (smoothstep), for `count` frames."""
    i = np.arange(count, dtype=np.float64)
    t = np.clip((i + 1) / max(blend, 1), 0.0, 1.0)
    return 1.0 - t * t * (3 - 2 * t)


def splice(context: np.ndarray, generated: np.ndarray, start: int, end: int, blend: int = 8) -> np.ndarray:
    """Replace context[start:end] with generated[start:end] (same time indices and world frame).

    At each seam the generated frames are offset to continue the context. The offset has a root
    part (ground-plane shift of the whole body), spread linearly over the range so the motion lands
    where the context continues with no world-space jump, and a pose part that fades out over
    `blend` frames inside the range.
    """
    out = context.astype(np.float64).copy()
    n = end - start
    if n <= 0:
        return out
    offset = np.zeros((n,) + context.shape[1:])
    seams = []
    if start > 0:
        seams.append((context[start - 1] - generated[start - 1], seam_weights(n, blend)))
    if end < len(context):
        seams.append((context[end] - generated[end], seam_weights(n, blend)[::-1]))
    roots = [np.array([d[0, 0], 0.0, d[0, 2]]) for d, _ in seams]
    if len(roots) == 2:
        ramp = ((np.arange(n) + 1) / (n + 1))[:, None, None]
        offset += roots[0] * (1 - ramp) + roots[1] * ramp
    elif roots:
        offset += roots[0]
    for (difference, weights), root in zip(seams, roots):
        offset += weights[:, None, None] * (difference - root)
    out[start:end] = generated[start:end] + offset
    return out
