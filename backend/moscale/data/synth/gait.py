"""The gait cycle: legs, pelvis, torso and arm swing for any speed, heading and travel direction.

One generator serves every kind of locomotion (walk, jog, run, march, sneak, walking backwards,
sidestepping, turning on the spot, curved paths): the gait style sets cadence, stance fraction and
posture; the caller supplies per-frame speed, heading, travel direction (relative to the facing)
and activity (0 standing, 1 full gait). Legs swing so that the foot under the hip at mid-stance
matches the distance the pelvis covers; physics.plant_feet then pins the stance feet exactly.
"""

from dataclasses import dataclass, replace

import numpy as np

from moscale.motion.skeleton import FPS

from .pose import J, NEUTRAL, NEUTRAL_ELBOW, STAND_HEIGHT, Track, arm, smoothstep

_LEG_LENGTH = 0.85      # hip to floor, m (sets the thigh sweep for a step length)
_STANDING = 0.15        # activity below which a gait only finishes the step it is in
_WALK_STANCE = 0.6      # stance fraction of a gait starting or stopping


@dataclass(frozen=True)
class Gait:
    cadence: float          # steps per second
    stance: float           # fraction of a cycle each foot is planted
    knee_lift: float        # knee flexion added at mid-swing, rad
    thigh_lift: float = 0.0  # thigh raise added at mid-swing (marching), rad
    stance_knee: float = 0.15  # knee flexion while planted, rad
    bounce: float = 0.02    # pelvis bob, m (positive: high at mid-stance, as in walking)
    crouch: float = 0.0     # pelvis lowered, m
    lean: float = 0.05      # torso forward lean, rad
    arm_swing: float = 0.35  # shoulder swing amplitude, rad
    elbow: float = 0.25     # elbow bend, rad
    heel_lift: float = 0.0  # foot pitch while planted (tiptoe), rad
    pelvis_turn: float = 0.08  # pelvis yaw swing, rad
    reach_bias: float = 0.1  # > 0 lands the foot less far ahead than it leaves behind


WALK = Gait(cadence=2.0, stance=0.56, knee_lift=0.9)
JOG = Gait(cadence=2.7, stance=0.36, knee_lift=1.3, stance_knee=0.3, bounce=-0.03, crouch=0.03, lean=0.12,
           arm_swing=0.5, elbow=1.3, pelvis_turn=0.1)
RUN = Gait(cadence=3.0, stance=0.3, knee_lift=1.7, stance_knee=0.35, bounce=-0.04, crouch=0.05, lean=0.2,
           arm_swing=0.7, elbow=1.45, pelvis_turn=0.12)
MARCH = Gait(cadence=1.8, stance=0.6, knee_lift=1.3, thigh_lift=0.9, bounce=0.01, lean=0.0,
             arm_swing=0.7, elbow=0.1, pelvis_turn=0.03)
SNEAK = Gait(cadence=1.4, stance=0.65, knee_lift=0.9, stance_knee=0.45, bounce=0.01, crouch=0.1,
             lean=0.3, arm_swing=0.15, elbow=1.2, heel_lift=0.45, pelvis_turn=0.04)
SIDESTEP = Gait(cadence=1.7, stance=0.62, knee_lift=0.7, bounce=0.01, arm_swing=0.05, pelvis_turn=0.0)
SHUFFLE = Gait(cadence=1.8, stance=0.6, knee_lift=0.6, bounce=0.005, arm_swing=0.05, pelvis_turn=0.0)
BACKWARD = replace(WALK, cadence=1.7, lean=-0.03, arm_swing=0.2)


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(values[:-1], axis=0)])


def _stance_fraction(activity: np.ndarray, gait: Gait) -> np.ndarray:
    """Per-frame stance fraction: the gait's own at speed, a walk's when starting or stopping,
    so that even a run begins and ends with both feet on the floor."""
    return gait.stance + (max(gait.stance, _WALK_STANCE) - gait.stance) * (1.0 - smoothstep(activity / 0.35))


def _phases(activity: np.ndarray, stance: np.ndarray, gait: Gait) -> tuple[np.ndarray, np.ndarray]:
    """Left-foot cycle phase per frame (the right foot is half a cycle on) and whether a foot is
    swinging. The phase advances with activity; below the standing threshold it only advances
    to finish a step in progress, so a stopping gait always ends with both feet planted."""
    phase = np.empty(len(activity))
    swinging = np.zeros(len(activity), dtype=bool)
    current = stance[0] - 1e-6  # left foot about to lift, right foot planted
    for t, level in enumerate(activity):
        phase[t] = current
        in_swing = any(np.mod(current + offset, 1.0) >= stance[t] for offset in (0.0, 0.5))
        swinging[t] = in_swing
        tempo = min(level / 0.4, 1.0) if level >= _STANDING else (1.0 if in_swing else 0.0)
        current += tempo * gait.cadence / 2.0 / FPS
    return phase, swinging


def locomote(speed: np.ndarray, heading: np.ndarray, travel: np.ndarray, activity: np.ndarray,
             gait: Gait) -> Track:
    """A track from per-frame speed (m/s), heading (rad), travel direction relative to the
    facing (rad: 0 forward, pi backward, +pi/2 to the left) and activity in [0, 1]."""
    frames = len(speed)
    direction = heading + travel
    velocity = speed[:, None] * np.stack([np.sin(direction), np.zeros(frames), np.cos(direction)], -1)
    root = _exclusive_cumsum(velocity / FPS)

    stance = _stance_fraction(activity, gait)
    phase, swinging = _phases(activity, stance, gait)
    step_length = speed / gait.cadence
    sweep = np.arctan(stance * step_length / _LEG_LENGTH)   # thigh angle at stance ends

    angles = np.repeat(NEUTRAL[None], frames, axis=0)
    contact = np.zeros((frames, 2), dtype=bool)
    back = {}  # per side: -1 foot forward ... +1 foot back
    # A stepping leg takes most of the gait pose even at low activity, so every step clears the floor.
    legs = np.where(swinging, np.maximum(activity, 0.7), activity)
    for side, offset in ((0, 0.0), (1, 0.5)):
        name = ("left", "right")[side]
        p = np.mod(phase + offset, 1.0)
        planted = p < stance
        s = np.where(planted, p / stance, (p - stance) / (1.0 - stance))
        back[side] = np.where(planted, -np.cos(np.pi * s), np.cos(np.pi * s))
        lift = np.where(planted, 0.0, np.sin(np.pi * s))
        reach = sweep * (back[side] + gait.reach_bias)
        hip_x = reach * np.cos(travel) - gait.thigh_lift * lift
        hip_z = -reach * np.sin(travel)
        knee_x = gait.stance_knee * np.where(planted, np.sin(np.pi * s), 0.0) + 0.1 + gait.knee_lift * lift
        ankle_x = -(hip_x + knee_x) + np.where(planted, gait.heel_lift, -0.25 * lift)
        leg = np.stack([hip_x, np.zeros(frames), hip_z], -1)
        for joint, value in ((f"{name}_hip", leg), (f"{name}_knee", knee_x), (f"{name}_ankle", ankle_x)):
            full = value if value.ndim == 2 else np.stack([value, np.zeros(frames), np.zeros(frames)], -1)
            angles[:, J[joint]] = (1 - legs[:, None]) * NEUTRAL[J[joint]] + legs[:, None] * full
        contact[:, side] = planted

    # Arms swing against the legs on the same side, harder the faster the gait goes.
    arm_scale = activity * np.clip(speed / max(gait.cadence * 0.4, 1e-6), 0.3, 1.0)
    for side, name in ((0, "left"), (1, "right")):
        swing = gait.arm_swing * back[side] * arm_scale * np.sign(np.cos(travel) + 1e-9)
        angles += arm(name, flex=swing, elbow=activity * (gait.elbow - NEUTRAL_ELBOW) + 0.3 * np.maximum(swing, 0.0))

    pelvis_turn = gait.pelvis_turn * back[0] * activity * np.cos(travel)
    angles[:, J["pelvis"], 1] += pelvis_turn
    angles[:, J["spine3"], 1] -= 1.3 * pelvis_turn
    angles[:, J["spine1"], 0] += gait.lean * activity
    angles[:, J["neck"], 0] -= gait.lean * activity

    mid_stance = np.mod(phase, 1.0) - stance / 2.0
    root[:, 1] = STAND_HEIGHT - activity * (gait.crouch + gait.bounce * (1 - np.cos(4 * np.pi * mid_stance)) / 2)
    return Track(angles, root, heading.astype(np.float64), contact)
