"""Foot contact cleanup: pin the feet the model says are planted.

A generated motion is decoded from tokens, so its root travel and its steps never agree exactly
and planted feet slide by a few centimetres a frame. The model also predicts foot contact (the
last four feature channels), so we take the frames where it says a toe is planted and is on the
floor, and plant that foot there with the same leg IK that made the training corpus
(data.synth.physics.plant_feet). Only knees, ankles and toes move; the body is lowered where a
planted foot would be out of the leg's reach.
"""

import numpy as np

from ..data.synth.physics import (SKATE_HEIGHT, TOE_JOINTS, contact_intervals, foot_angles_from_positions, plant_feet,
                                  swings)
from ..data.synth.pose import smoothstep
from ..motion.features import FOOT_CONTACT
from ..motion.skeleton import FPS

TOE_CONTACT_CHANNELS = (FOOT_CONTACT.start + 1, FOOT_CONTACT.start + 3)  # l_foot, r_foot of (l_ankle, l_foot, r_ankle, r_foot)
STANCE_HEIGHT = SKATE_HEIGHT + 0.03  # m: a toe predicted planted but higher than this is in the air
STANCE_SPEED = 1.0  # m/s: a toe predicted planted but moving faster than this is stepping
MIN_STANCE = 2  # frames: a shorter predicted plant is noise
MAX_DRIFT = 0.08  # m: a planted toe the model moves further than this from where it landed takes a step
SWING_HEIGHT = 0.10  # m: the least height a toe reaches between two plants, so it steps and never slides


def _closed(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill runs of False no longer than `gap` between two runs of True."""
    result = mask.copy()
    true_frames = np.flatnonzero(mask)
    for before, after in zip(true_frames[:-1], true_frames[1:]):
        if 1 < after - before <= gap + 1:
            result[before:after] = True
    return result


def _opened(mask: np.ndarray, length: int) -> np.ndarray:
    """Drop runs of True shorter than `length`."""
    result = mask.copy()
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for start, end in zip(edges[0::2], edges[1::2]):
        if end - start < length:
            result[start:end] = False
    return result


def _split_drifting(mask: np.ndarray, toe: np.ndarray) -> np.ndarray:
    """End a plant, and free the foot for two frames, wherever the toe [T, 3] has drifted more than
    MAX_DRIFT from where the plant began: the model slid the foot, so the cleaned foot steps there
    instead of the leg stretching to a far-away pin. A plant about to end anyway is left whole."""
    result = mask.copy()
    for start, end in contact_intervals(mask):
        anchor = toe[start, [0, 2]]
        for frame in range(start, end - 2):
            if result[frame] and np.linalg.norm(toe[frame, [0, 2]] - anchor) > MAX_DRIFT:
                result[frame:frame + 2] = False
                anchor = toe[frame + 2, [0, 2]]
    return result


def stance(positions: np.ndarray, features: np.ndarray) -> np.ndarray:
    """[T, 2] bool (left, right): the model predicts the toe planted, and the toe is near the floor
    and not moving fast."""
    toes = np.asarray(positions)[:, list(TOE_JOINTS)]
    predicted = np.asarray(features)[:, list(TOE_CONTACT_CHANNELS)] > 0.5
    speed = np.linalg.norm(np.gradient(toes[..., [0, 2]], axis=0), axis=-1) * FPS
    speed[:2], speed[-2:] = speed[2], speed[-3]  # the decoder's end frames jump: judge them by their neighbours
    mask = predicted & (toes[..., 1] < STANCE_HEIGHT) & (speed < STANCE_SPEED)
    return np.stack([_opened(_split_drifting(_closed(mask[:, side], 1), toes[:, side]), MIN_STANCE)
                     for side in range(2)], axis=-1)


def lift_swings(toe_height: np.ndarray, planted: np.ndarray) -> np.ndarray:
    """Toe heights [T] raised between plants so each swing reaches SWING_HEIGHT.

    plant_feet moves a toe forward only while it is lifted, and it lowers a swing by the
    heights of the toe at the plants either side (the plants go to the floor); a shuffle that
    never clears the floor would slide. So each gap gets a half-sine bump on top of that."""
    heights = toe_height.copy()
    for before, after in swings(planted, free_ends=True):
        u = (np.arange(before, after + 1) - before) / (after - before)
        planted_level = (1 - smoothstep(u)) * toe_height[before] + smoothstep(u) * toe_height[after]
        lift = SWING_HEIGHT - np.max(toe_height[before:after + 1] - planted_level)
        if lift > 0:
            heights[before:after + 1] += lift * np.sin(np.pi * u)
    return heights


def clean_feet(positions: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Joint positions [T, 22, 3] with the planted feet pinned (see the module docstring)."""
    positions = np.array(positions, dtype=np.float64)
    contact = stance(positions, features)
    if not contact.any():
        return positions
    angles = foot_angles_from_positions(positions)
    for side, toe in enumerate(TOE_JOINTS):
        positions[:, toe, 1] = lift_swings(positions[:, toe, 1], contact[:, side])
    return plant_feet(positions, *angles, contact, free_ends=True)
