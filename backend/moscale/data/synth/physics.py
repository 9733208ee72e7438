"""Ground contact: planting feet with a two-bone leg IK, and the foot-skate / penetration metrics.

Feet are planted on the toe joint (left_foot / right_foot), the lowest joint of the skeleton:
during a planted interval the toe stays at one point on the floor and the heel may lift (the foot
pivots about the toe) when the hip is too far away for a flat foot. Between plants the foot
follows the authored motion plus a correction that blends smoothly from one plant to the next.
Only knee, ankle and toe positions change, and each is placed at its bone length from its
parent, so bone lengths stay exactly those of the skeleton.
"""

import numpy as np

from moscale.motion import quaternion as quat

from .pose import AXES, J, SKELETON, smoothstep, yaw

# Toe joints are the contact points; the metric and the planting use the same ones.
TOE_JOINTS = (J["left_foot"], J["right_foot"])
_LEGS = (
    (J["left_hip"], J["left_knee"], J["left_ankle"], J["left_foot"]),
    (J["right_hip"], J["right_knee"], J["right_ankle"], J["right_foot"]),
)
# The ankle -> toe offset of the skeleton, [2, 3] (left, right).
_FOOT_OFFSETS = np.array([SKELETON.offsets[leg[3]] for leg in _LEGS])
_REACH_MARGIN = 0.995      # never straighten a knee completely: its bend plane would be undefined
_MAX_HEEL_LIFT = 1.3       # radians of foot pitch about the toe
_CLEARANCE = 0.03          # m above the skate height over which a swinging toe is freed
_DROP_HEEL_LIFT = 0.8      # radians of heel lift tolerated before the body is lowered instead

# foot_skate_ratio defaults (see its docstring).
SKATE_HEIGHT = 0.05
SKATE_SPEED = 0.25


def foot_skate_steps(positions: np.ndarray, fps: float = 20.0, height: float = SKATE_HEIGHT,
                     speed: float = SKATE_SPEED, floor: float = 0.0) -> np.ndarray:
    """Per step t -> t+1, whether a foot skates: [N-1] bool (see foot_skate_ratio)."""
    toes = np.asarray(positions, dtype=np.float64)[:, list(TOE_JOINTS)]   # [N, 2, 3]
    low = (toes[:-1, :, 1] - floor < height) & (toes[1:, :, 1] - floor < height)
    horizontal = np.linalg.norm(toes[1:, :, [0, 2]] - toes[:-1, :, [0, 2]], axis=-1) * fps
    return np.any(low & (horizontal > speed), axis=-1)


def foot_skate_ratio(positions: np.ndarray, fps: float = 20.0, height: float = SKATE_HEIGHT,
                     speed: float = SKATE_SPEED, floor: float = 0.0) -> float:
    """Fraction of frame steps in which a foot slides while on the ground.

    Exact definition: for joint positions [N, 22, 3] (metres, Y up, floor at `floor`), take the
    two toe joints (10 left_foot, 11 right_foot). Step t -> t+1 (of N-1 steps) skates when, for
    either toe, its height above the floor is below `height` (0.05 m) in both frames and its
    horizontal (XZ) speed |p[t+1] - p[t]| * fps exceeds `speed` (0.25 m/s, i.e. 1.25 cm per
    20-fps frame). The ratio is skating steps / (N - 1). Over a set of clips, pool the steps
    (sum of skating steps / sum of steps) rather than averaging per-clip ratios.
    """
    return float(np.mean(foot_skate_steps(positions, fps, height, speed, floor)))


def ground_penetration(positions: np.ndarray, floor: float = 0.0) -> float:
    """Height of the lowest joint over all frames relative to the floor (negative: below it)."""
    return float(np.asarray(positions)[..., 1].min() - floor)


def contact_intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a bool vector as [start, end) pairs."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _foot_yaw_pitch(rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading and pitch (positive: toe down) of the foot's forward axis under `rotation`."""
    forward = quat.rotate(rotation, AXES[2])
    heading = np.arctan2(forward[..., 0], forward[..., 2])
    pitch = np.arctan2(-forward[..., 1], np.hypot(forward[..., 0], forward[..., 2]))
    return heading, pitch


def _foot_rotation(heading, pitch) -> np.ndarray:
    return quat.multiply(yaw(heading), quat.from_axis_angle(AXES[0], np.asarray(pitch, dtype=np.float64)))


def swings(planted: np.ndarray, free_ends: bool = False) -> list[tuple[int, int]]:
    """(before, after) frame pairs of the swings of one foot: from the last frame of each plant to
    the first frame of the next; with `free_ends`, also from frame 0 to the first plant and from
    the last plant to the last frame."""
    intervals = contact_intervals(planted)
    gaps = [(previous_end - 1, next_start) for (_, previous_end), (next_start, _) in zip(intervals[:-1], intervals[1:])]
    if free_ends and intervals:
        first_plant, last_plant = intervals[0][0], intervals[-1][1] - 1
        gaps = [(0, first_plant)] * (first_plant > 0) + gaps + [(last_plant, len(planted) - 1)] * (last_plant < len(planted) - 1)
    return gaps


def _lifted_path(toe: np.ndarray, pinned_toe: np.ndarray, planted: np.ndarray, free_ends: bool) -> np.ndarray:
    """Toe positions [T, 3] whose horizontal travel between two plants happens only while the
    toe is above the skate height: progress from one plant to the next accumulates in
    proportion to how far the toe is lifted, and any authored detour (a kick) is added back in
    the same proportion. A swing that never lifts (a shuffle) falls back to an even ease.
    With `free_ends`, the travel before the first plant and after the last is timed the same
    way, between the plant and the authored first or last frame."""
    result = toe.copy()
    lifted = smoothstep((toe[:, 1] - SKATE_HEIGHT) / _CLEARANCE)
    for before, after in swings(planted, free_ends):
        frames = np.arange(before, after + 1)
        even = smoothstep((frames - before) / (after - before))
        weight = lifted[frames]
        increments = 0.5 * (weight[1:] + weight[:-1])
        if increments.sum() < 1e-6:
            progress, weight = even, np.zeros_like(weight)
        else:
            progress = np.concatenate([[0.0], np.cumsum(increments)]) / increments.sum()
        start, end = pinned_toe[before], pinned_toe[after]
        detour = toe[frames] - (start + even[:, None] * (end - start))
        result[frames] = start + progress[:, None] * (end - start) + weight[:, None] * detour
    return result


def _ankle_at(toe, heading, pitch, foot_offset) -> np.ndarray:
    """Ankle position for a toe, foot heading and pitch: toe - Ry(heading) Rx(pitch) offset,
    written out because it runs inside the bisection."""
    ox, oy, oz = foot_offset
    cos_p, sin_p = np.cos(pitch), np.sin(pitch)
    y, z = oy * cos_p - oz * sin_p, oy * sin_p + oz * cos_p
    cos_h, sin_h = np.cos(heading), np.sin(heading)
    return toe - np.stack([ox * cos_h + z * sin_h, y, -ox * sin_h + z * cos_h], axis=-1)


def _stance(hip, toe, heading, authored_pitch, foot_offset, reach) -> tuple[np.ndarray, np.ndarray]:
    """Ankle positions and foot rotations for a given toe: the authored pitch, or the smallest
    larger heel lift that brings the ankle within the leg's reach (bisection; the distance
    shrinks monotonically as the heel rises for the hip positions that occur)."""
    low = np.minimum(authored_pitch, _MAX_HEEL_LIFT)
    needs_lift = np.linalg.norm(_ankle_at(toe, heading, low, foot_offset) - hip, axis=-1) > reach
    high = np.full_like(low, _MAX_HEEL_LIFT)
    for _ in range(14):
        middle = 0.5 * (low + high)
        too_far = np.linalg.norm(_ankle_at(toe, heading, middle, foot_offset) - hip, axis=-1) > reach
        low = np.where(needs_lift & too_far, middle, low)
        high = np.where(needs_lift & ~too_far, middle, high)
    pitch = np.where(needs_lift, high, low)
    return _ankle_at(toe, heading, pitch, foot_offset), _foot_rotation(heading, pitch)


def _two_bone(hip, target, pole, upper, lower) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle [T, 3] for a leg from `hip` towards `target`, the knee bent towards `pole`."""
    along = target - hip
    distance = np.linalg.norm(along, axis=-1, keepdims=True)
    axis = along / np.maximum(distance, 1e-9)
    distance = np.clip(distance, abs(upper - lower) + 1e-3, (upper + lower) * _REACH_MARGIN)
    to_knee = (upper**2 - lower**2 + distance**2) / (2.0 * distance)
    height = np.sqrt(np.maximum(upper**2 - to_knee**2, 0.0))
    bend = pole - np.sum(pole * axis, axis=-1, keepdims=True) * axis
    bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    return hip + to_knee * axis + height * bend, hip + distance * axis


def _eased(values: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Values [T, ...] kept on planted frames and eased from each plant to the next in between
    (held before the first and after the last plant)."""
    intervals = contact_intervals(contact)
    if not intervals:
        return np.zeros_like(values)
    result = values.copy()
    first, last = intervals[0][0], intervals[-1][1] - 1
    result[:first] = values[first]
    result[last + 1:] = values[last]
    for (_, previous_end), (next_start, _) in zip(intervals[:-1], intervals[1:]):
        before, after = previous_end - 1, next_start
        u = smoothstep((np.arange(before, after + 1) - before) / (after - before))
        u = u.reshape((-1,) + (1,) * (values.ndim - 1))
        result[before:after + 1] = (1 - u) * values[before] + u * values[after]
    return result


def _pins(toe: np.ndarray, heading: np.ndarray, planted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinned toe on the floor and foot heading per frame: those of each planted interval's
    middle frame (other frames keep the authored values)."""
    pinned_toe, pinned_heading = toe.copy(), heading.copy()
    for start, end in contact_intervals(planted):
        middle = (start + end - 1) // 2
        pinned_toe[start:end] = toe[middle] * np.array([1.0, 0.0, 1.0])
        pinned_heading[start:end] = heading[middle]
    return pinned_toe, pinned_heading


def _root_drop(hips: list[np.ndarray], ankles: list[np.ndarray], contact: np.ndarray, reach: float) -> np.ndarray:
    """How far [T] to lower the body so that planted ankles are within reach, smoothed over
    a few frames (a running max, then a binomial filter) so the pelvis never jerks."""
    drop = np.zeros(len(contact))
    for side in range(2):
        horizontal = np.linalg.norm(hips[side][:, [0, 2]] - ankles[side][:, [0, 2]], axis=-1)
        horizontal = np.minimum(horizontal, reach)
        needed = hips[side][:, 1] - ankles[side][:, 1] - np.sqrt(reach**2 - horizontal**2)
        drop = np.maximum(drop, np.where(contact[:, side], needed, 0.0))
    if not np.any(drop > 0):
        return drop
    window = np.lib.stride_tricks.sliding_window_view(np.pad(drop, 3, mode="edge"), 7).max(axis=-1)
    kernel = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    return np.convolve(np.pad(window, 2, mode="edge"), kernel, mode="valid")


def foot_angles(rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading and pitch [T, 2] (left, right) of the feet from global joint rotations [T, 22, 4]."""
    angles = [_foot_yaw_pitch(rotations[:, leg[2]]) for leg in _LEGS]
    return np.stack([a[0] for a in angles], axis=-1), np.stack([a[1] for a in angles], axis=-1)


def foot_angles_from_positions(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading and pitch [T, 2] that turn each rest foot (ankle -> toe) onto the posed one, for
    motion known only by joint positions: the inverse of _ankle_at, for any foot length."""
    headings, pitches = [], []
    for side, (_, _, ankle, toe) in enumerate(_LEGS):
        ox, oy, oz = _FOOT_OFFSETS[side]
        foot = positions[:, toe] - positions[:, ankle]
        lateral = ox * np.linalg.norm(foot, axis=-1) / np.linalg.norm(_FOOT_OFFSETS[side])
        forward = np.sqrt(np.maximum(foot[:, 0] ** 2 + foot[:, 2] ** 2 - lateral**2, 0.0))
        pitches.append(np.arctan2(oy, oz) - np.arctan2(foot[:, 1], forward))
        headings.append(np.arctan2(foot[:, 0], foot[:, 2]) - np.arctan2(lateral, forward))
    return np.stack(headings, axis=-1), np.stack(pitches, axis=-1)


def plant_feet(positions: np.ndarray, heading: np.ndarray, pitch: np.ndarray, contact: np.ndarray,
               free_ends: bool = False) -> np.ndarray:
    """Positions [T, 22, 3] with each foot pinned to the floor where contact [T, 2] is True.

    `heading` and `pitch` [T, 2] are the feet's angles in the same poses (foot_angles or
    foot_angles_from_positions). Each planted interval pins the toe where the authored toe is in the
    middle of the interval, on the floor, with the foot turned to the authored heading. Between
    plants the toe, heading and pitch are the authored ones plus corrections eased from one
    plant to the next. Everywhere the heel lifts as far as needed for the leg to reach; where
    even a moderately lifted heel is out of reach, the body above the knees is lowered first.
    `free_ends` (for motion that does not start and end planted) also keeps the feet from
    sliding before the first plant and after the last (see _lifted_path).
    """
    positions = positions.copy()
    upper = np.linalg.norm(SKELETON.offsets[_LEGS[0][1]])
    lower = np.linalg.norm(SKELETON.offsets[_LEGS[0][2]])
    reach = (upper + lower) * _REACH_MARGIN
    feet = []  # per side: toe [T, 3], heading [T], pitch [T] of the foot to solve for
    for side, (_, _, _, toe_joint) in enumerate(_LEGS):
        planted = contact[:, side]
        authored_toe = positions[:, toe_joint]
        side_heading, side_pitch = heading[:, side], pitch[:, side]
        pinned_toe, pinned_heading = _pins(authored_toe, side_heading, planted)
        turn = np.angle(np.exp(1j * (pinned_heading - side_heading)))
        toe = authored_toe + _eased(pinned_toe - authored_toe, planted)
        toe[:, [0, 2]] = _lifted_path(toe, pinned_toe, planted, free_ends)[:, [0, 2]]
        toe[:, 1] = np.maximum(toe[:, 1], 0.0)
        side_pitch = side_pitch + _eased(np.clip(side_pitch, 0.0, _MAX_HEEL_LIFT) - side_pitch, planted)
        feet.append((toe, side_heading + _eased(turn, planted), side_pitch))

    lifted_ankles = [_ankle_at(toe, heading, np.maximum(pitch, _DROP_HEEL_LIFT), _FOOT_OFFSETS[side])
                     for side, (toe, heading, pitch) in enumerate(feet)]
    drop = _root_drop([positions[:, leg[0]] for leg in _LEGS], lifted_ankles, contact, reach)
    body = np.ones(positions.shape[1], dtype=bool)
    body[[leg[j] for leg in _LEGS for j in (1, 2, 3)]] = False
    positions[:, body, 1] -= drop[:, None]

    for side, (hip_joint, knee_joint, ankle_joint, toe_joint) in enumerate(_LEGS):
        hip, knee = positions[:, hip_joint], positions[:, knee_joint]
        toe, heading, pitch = feet[side]
        ankle_target, foot_rotation = _stance(hip, toe, heading, pitch, _FOOT_OFFSETS[side], reach)
        pole = (knee - hip) + 0.05 * quat.rotate(yaw(heading), AXES[2])
        new_knee, new_ankle = _two_bone(hip, ankle_target, pole, upper, lower)
        positions[:, knee_joint] = new_knee
        positions[:, ankle_joint] = new_ankle
        positions[:, toe_joint] = new_ankle + quat.rotate(foot_rotation, _FOOT_OFFSETS[side])
    return positions
