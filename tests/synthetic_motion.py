"""Synthetic motions for tests, made by forward kinematics on known rotations."""

from dataclasses import dataclass

import numpy as np

from moscale.motion import quaternion as quat
from moscale.motion.skeleton import FPS, Skeleton


@dataclass
class SyntheticMotion:
    skeleton: Skeleton
    rotations: np.ndarray         # [T, 22, 4] ground-truth local rotations
    root_translation: np.ndarray  # [T, 3]
    positions: np.ndarray         # [T, 22, 3] forward kinematics of the two above


def _about(axis: str, angle) -> np.ndarray:
    return quat.from_axis_angle(np.eye(3)["XYZ".index(axis)], angle)


def make_walk(frames: int = 80, turns: float = 0.0, skeleton: Skeleton | None = None,
              seed: int = 0, wobble: float = 0.15) -> SyntheticMotion:
    """A walking cycle (1 stride/s at 20 fps) with arm swing plus a random smooth `wobble` (rad)
    about a random axis on every joint; `turns` full turns about +Y spread evenly over the clip,
    walking along the heading. With wobble=0 knees and elbows are pure hinges."""
    skeleton = Skeleton.default() if skeleton is None else skeleton
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    phase = 2 * np.pi * t  # one stride per second

    # Wobble: every joint gets a smooth rotation about a random axis, including twist.
    axes = rng.normal(size=(22, 3))
    wobble_angles = wobble * np.sin(rng.uniform(0.5, 2.0, 22) * phase[:, None] + rng.uniform(0, 6, 22))
    rotations = quat.from_axis_angle(axes, wobble_angles)  # [T, 22, 4]

    def pose(joint, q):
        rotations[:, joint] = quat.multiply(q, rotations[:, joint])

    for hip, knee, ankle, offset in ((1, 4, 7, 0.0), (2, 5, 8, np.pi)):
        pose(hip, _about("X", -0.5 * np.sin(phase + offset)))  # negative = thigh forward
        pose(knee, _about("X", 0.15 + 0.6 * np.maximum(0.0, np.sin(phase + offset + 1.0))))
        pose(ankle, _about("X", -0.2 * np.sin(phase + offset)))
    for shoulder, elbow, side, offset in ((16, 18, 1.0, np.pi), (17, 19, -1.0, 0.0)):
        lowered = _about("Z", -side * 1.3 * np.ones(frames))  # from T-pose down along the body
        pose(shoulder, quat.multiply(_about("X", -0.4 * np.sin(phase + offset)), lowered))
        pose(elbow, _about("Y", -side * (0.7 + 0.3 * np.sin(phase + offset))))
    pose(3, _about("Y", 0.1 * np.sin(phase)))
    pose(12, _about("X", 0.2 * np.ones(frames)))

    heading = 2 * np.pi * turns * t / max(t[-1], 1e-9)
    pose(0, _about("Y", heading))
    speed = 1.2  # m/s along the heading
    step = speed / FPS * np.stack([np.sin(heading), np.zeros(frames), np.cos(heading)], -1)
    root = np.cumsum(step, axis=0) + np.array([0.3, 0.0, -0.2])
    root[:, 1] = 0.93 + 0.03 * np.cos(2 * phase)
    positions = skeleton.forward_kinematics(rotations, root)
    return SyntheticMotion(skeleton, rotations, root, positions)
