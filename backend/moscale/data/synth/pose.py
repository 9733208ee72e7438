"""Pose tracks for procedural motion: joint angles per frame, the neutral stance, keyframes, FK.

Angles are authored per joint as (x, y, z) radians and turned into the local rotation
Rx(x) @ Rz(z) @ Ry(y) @ BASE[j]. BASE lowers the T-pose arms to hang at the sides, so with this
one convention a limb reads the same everywhere: x is flexion (negative swings a hanging arm or
leg forward, positive bends a knee back or the spine forward), z raises a limb sideways (positive
towards +X, the character's left) and y twists about the limb. Elbows bend about y
(negative on the left). Mirroring a pose swaps left and right joints and negates y and z, since
rotations are pseudovectors under the X reflection.
"""

from dataclasses import dataclass

import numpy as np

from moscale.motion import quaternion as quat
from moscale.motion.skeleton import FPS, JOINT_COUNT, JOINT_NAMES, Skeleton

J = {name: index for index, name in enumerate(JOINT_NAMES)}
SKELETON = Skeleton.default()
AXES = np.eye(3)

# Height of the pelvis above the floor with straight legs and flat feet (the toes are lowest).
STRAIGHT_LEG_HEIGHT = -float(SKELETON.rest_positions()[:, 1].min())
# The standing pelvis height we use: knees slightly soft, which also keeps the leg IK in reach.
STAND_HEIGHT = STRAIGHT_LEG_HEIGHT - 0.03

_MIRROR_INDEX = [
    J[name.replace("left_", "#").replace("right_", "left_").replace("#", "right_")]
    for name in JOINT_NAMES
]
_MIRROR_SIGN = np.array([1.0, -1.0, -1.0])

BASE = quat.identity(JOINT_COUNT)
BASE[J["left_shoulder"]] = quat.from_axis_angle(AXES[2], -np.pi / 2)
BASE[J["right_shoulder"]] = quat.from_axis_angle(AXES[2], np.pi / 2)


def mirror(angles: np.ndarray) -> np.ndarray:
    """The left/right mirror image of angles [..., 22, 3]."""
    return angles[..., _MIRROR_INDEX, :] * _MIRROR_SIGN


def side_sign(side: str) -> float:
    """+1 for the left side (+X), -1 for the right."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return 1.0 if side == "left" else -1.0


def local_rotations(angles: np.ndarray) -> np.ndarray:
    """Angles [..., 22, 3] -> local joint rotations [..., 22, 4] (see the module docstring)."""
    qx = quat.from_axis_angle(AXES[0], angles[..., 0])
    qy = quat.from_axis_angle(AXES[1], angles[..., 1])
    qz = quat.from_axis_angle(AXES[2], angles[..., 2])
    return quat.multiply(quat.multiply(quat.multiply(qx, qz), qy), BASE)


def yaw(angle) -> np.ndarray:
    """Rotation about +Y (positive turns the character to its left, counter-clockwise from above)."""
    return quat.from_axis_angle(AXES[1], np.asarray(angle, dtype=np.float64))


def arm(side: str, flex=0.0, abduct=0.0, twist=0.0, elbow=0.0, shrug=0.0) -> np.ndarray:
    """Angles [..., 22, 3] (zero elsewhere) posing one arm from hanging: flex raises it forward,
    abduct raises it sideways, twist turns the elbow's bend outwards (so with the arm raised
    sideways a bent forearm points up), elbow bends the forearm and
    shrug lifts the collar. Parameters are scalars or arrays of one shape (e.g. per frame)."""
    flex, abduct, twist, elbow, shrug = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                              for v in (flex, abduct, twist, elbow, shrug)))
    angles = np.zeros(flex.shape + (JOINT_COUNT, 3))
    zero = np.zeros_like(flex)
    angles[..., J["left_shoulder"], :] = np.stack([-flex, twist, abduct], axis=-1)
    angles[..., J["left_elbow"], :] = np.stack([zero, -elbow, zero], axis=-1)
    angles[..., J["left_collar"], :] = np.stack([zero, zero, shrug], axis=-1)
    return angles if side_sign(side) > 0 else mirror(angles)


def offsets(**joints) -> np.ndarray:
    """Angles [22, 3] with the named joints set and zero elsewhere, to add to a pose."""
    angles = np.zeros((JOINT_COUNT, 3))
    for name, value in joints.items():
        angles[J[name]] = value
    return angles


def leg(side: str, hip=0.0, knee=0.0, ankle=0.0, hip_out=0.0) -> np.ndarray:
    """Angles [22, 3] (zero elsewhere) for one leg: hip flexion (negative lifts the thigh
    forward), knee bend, ankle (positive points the toe), hip abduction (outwards)."""
    angles = offsets(left_hip=(hip, 0, hip_out), left_knee=(knee, 0, 0), left_ankle=(ankle, 0, 0))
    return angles if side_sign(side) > 0 else mirror(angles)


NEUTRAL_ELBOW = 0.2  # elbow bend of the relaxed stance, rad


def _neutral() -> np.ndarray:
    angles = np.zeros((JOINT_COUNT, 3))
    for side in ("left", "right"):
        angles += arm(side, abduct=0.12, twist=-0.2, elbow=NEUTRAL_ELBOW)
    for knee, hip, ankle in (("left_knee", "left_hip", "left_ankle"), ("right_knee", "right_hip", "right_ankle")):
        angles[J[hip]] = (-0.08, 0.0, 0.0)
        angles[J[knee]] = (0.16, 0.0, 0.0)
        angles[J[ankle]] = (-0.08, 0.0, 0.0)
    return angles


NEUTRAL = _neutral()


def smoothstep(u) -> np.ndarray:
    """C1 ease 0 -> 1 on [0, 1] (clipped outside)."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def ramp(frames: int, rise: int, fall: int) -> np.ndarray:
    """Envelope [frames]: eases 0 -> 1 over `rise` frames, holds, eases back to 0 over `fall`."""
    t = np.arange(frames, dtype=np.float64)
    up = smoothstep(t / max(rise, 1))
    down = smoothstep((frames - 1 - t) / max(fall, 1))
    return np.minimum(up, down)


def hermite(frames: int, times, values, slopes) -> np.ndarray:
    """Piecewise cubic Hermite curve through knots (time in frames, value [...], slope per frame),
    sampled at frames 0..frames-1 and held outside the knots. It reproduces quadratics exactly,
    so knots with matching slopes give a true ballistic parabola."""
    times = np.asarray(times, dtype=np.float64)
    values, slopes = np.asarray(values, dtype=np.float64), np.asarray(slopes, dtype=np.float64)
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"knot times must increase, got {times}")
    t = np.clip(np.arange(frames, dtype=np.float64), times[0], times[-1])
    index = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    span = times[index + 1] - times[index]
    shape = (-1,) + (1,) * (values.ndim - 1)
    u = ((t - times[index]) / span).reshape(shape)
    dt = span.reshape(shape)
    h00, h10 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u
    h01, h11 = -2 * u**3 + 3 * u**2, u**3 - u**2
    return (h00 * values[index] + h10 * dt * slopes[index]
            + h01 * values[index + 1] + h11 * dt * slopes[index + 1])


def keyframes(frames: int, keys: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """Interpolate (time in frames, angles [22, 3]) keys into [frames, 22, 3]: Catmull-Rom
    slopes (zero at the first and last key), so velocity is continuous through every key."""
    times = np.array([k[0] for k in keys], dtype=np.float64)
    values = np.stack([k[1] for k in keys])
    slopes = np.zeros_like(values)
    slopes[1:-1] = (values[2:] - values[:-2]) / (times[2:] - times[:-2]).reshape((-1,) + (1,) * (values.ndim - 1))
    return hermite(frames, times, values, slopes)


def seconds(value: float) -> int:
    """Frames in `value` seconds at the model's frame rate."""
    return int(round(value * FPS))


@dataclass
class Track:
    """One motion before physics: what the actions author and compose.py blends."""

    angles: np.ndarray   # [T, 22, 3] joint angles (root entry: pelvis tilt, added to heading)
    root: np.ndarray     # [T, 3] pelvis position in metres (world, floor at y = 0)
    heading: np.ndarray  # [T] yaw in radians, 0 faces +Z, positive turns left
    contact: np.ndarray  # [T, 2] bool: left / right foot planted

    def __len__(self) -> int:
        return len(self.angles)


def standing(frames: int, angles: np.ndarray | None = None) -> Track:
    """A still track: the given per-frame angles (neutral by default), both feet planted."""
    if angles is None:
        angles = np.repeat(NEUTRAL[None], frames, axis=0)
    root = np.zeros((frames, 3))
    root[:, 1] = STAND_HEIGHT
    return Track(angles, root, np.zeros(frames), np.ones((frames, 2), dtype=bool))


def forward_kinematics(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions [T, 22, 3] and global rotations [T, 22, 4] of a track (Skeleton's FK
    computes the rotations internally but returns only positions; the feet need both)."""
    local = local_rotations(track.angles)
    local[:, 0] = quat.multiply(yaw(track.heading), local[:, 0])
    global_rotations = SKELETON.global_rotations(local)
    positions = np.empty(track.angles.shape[:-1] + (3,))
    positions[:, 0] = track.root
    for j in range(1, JOINT_COUNT):
        parent = SKELETON.parents[j]
        positions[:, j] = positions[:, parent] + quat.rotate(global_rotations[:, parent], SKELETON.offsets[j])
    return positions, global_rotations
