"""Clips from actions: one action, two or three in sequence, or an upper-body action layered on
locomotion; then forward kinematics and foot planting, and the clip's captions.

Every action starts and ends standing with both feet planted and the pelvis at rest, so a
sequence joins actions with a short cross-fade in which poses, pelvis and heading ease from
one to the next with zero velocity on both sides: no velocity jumps at transitions.
"""

from dataclasses import dataclass

import numpy as np

from . import actions_jump, actions_locomotion, actions_upper, actions_whole  # noqa: F401 (registers actions)
from .captions import layered_caption, sequence_caption
from .physics import foot_angles, plant_feet
from .pose import J, NEUTRAL, Track, forward_kinematics, ramp, seconds, smoothstep
from .segment import ACTIONS, Segment

# Poses per clip: HumanML3D loaders keep feature lengths (poses - 1) in [40, 200).
MIN_FRAMES, MAX_FRAMES = 41, 200
CAPTIONS_PER_CLIP = 3
_BLEND = 6  # frames of cross-fade between actions in a sequence
_ARM_JOINTS = [J[f"{side}_{part}"] for side in ("left", "right") for part in ("collar", "shoulder", "elbow", "wrist")]
_TORSO_JOINTS = [J[name] for name in ("spine1", "spine2", "spine3", "neck", "head")]
# How clips are composed: (kind, probability).
_KINDS = (("single", 0.45), ("sequence2", 0.28), ("sequence3", 0.1), ("layered", 0.17))


@dataclass
class Clip:
    positions: np.ndarray            # [T, 22, 3] world joint positions, floor at y = 0
    captions: list[tuple[str, dict]]  # (caption, verb forms -> lemma)
    segments: list[Segment]          # the actions, in order (layered: upper body first)
    kind: str                        # single | sequence2 | sequence3 | layered


def _rotate_y(vectors: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, z = vectors[..., 0], vectors[..., 2]
    result = vectors.copy()
    result[..., 0], result[..., 2] = c * x + s * z, -s * x + c * z
    return result


def append(first: Track, second: Track, blend: int = _BLEND) -> Track:
    """`second` continued from where `first` ends (its start turned and moved onto first's end),
    cross-faded over `blend` frames."""
    heading0, start = first.heading[-1], first.root[-1]
    root = _rotate_y(second.root - second.root[0] * np.array([1.0, 0.0, 1.0]), heading0) + start * np.array([1.0, 0.0, 1.0])
    second = Track(second.angles, root, second.heading + heading0, second.contact)
    blend = min(blend, len(first) - 1, len(second) - 1)
    weight = smoothstep((np.arange(blend) + 1.0) / (blend + 1.0))

    def join(a, b):
        w = weight.reshape((-1,) + (1,) * (a.ndim - 1))
        middle = (1 - w) * a[len(a) - blend:] + w * b[:blend]
        return np.concatenate([a[:len(a) - blend], middle, b[blend:]])

    contact = np.concatenate([first.contact[:len(first) - blend],
                              first.contact[len(first) - blend:] & second.contact[:blend], second.contact[blend:]])
    return Track(join(first.angles, second.angles), join(first.root, second.root),
                 join(first.heading, second.heading), contact)


def layer(base: Track, upper: Track, rng: np.random.Generator) -> Track:
    """The arms (and the torso's deviation from neutral) of `upper` over `base`, faded in and out;
    cropped to the base if longer."""
    room = len(base) - seconds(0.6)
    length = min(len(upper), room - seconds(0.3))
    start = int(rng.integers(seconds(0.3), max(room - length, seconds(0.3)) + 1))
    weight = np.zeros(len(base))
    weight[start:start + length] = ramp(length, seconds(0.3), seconds(0.3))
    w = weight[:, None, None]
    upper_angles = np.repeat(NEUTRAL[None], len(base), axis=0)
    upper_angles[start:start + length] = upper.angles[:length]
    angles = base.angles.copy()
    angles[:, _ARM_JOINTS] = (1 - w) * base.angles[:, _ARM_JOINTS] + w * upper_angles[:, _ARM_JOINTS]
    angles[:, _TORSO_JOINTS] += w * (upper_angles[:, _TORSO_JOINTS] - NEUTRAL[_TORSO_JOINTS])
    return Track(angles, base.root, base.heading, base.contact)


def _pick(rng, names: list[str]) -> Segment:
    return ACTIONS[names[int(rng.integers(len(names)))]].make(rng)


def _compose(rng: np.random.Generator, kind: str) -> tuple[Track, list[Segment]]:
    names = sorted(ACTIONS)
    if kind == "layered":
        bases = [n for n in names if ACTIONS[n].family in ("locomotion", "path") and n != "spin"]
        upper = _pick(rng, [n for n in names if ACTIONS[n].family == "upper"])
        base = _pick(rng, bases)
        while not base.layer_templates or len(base.track) < seconds(2.5):
            base = _pick(rng, bases)
        return layer(base.track, upper.track, rng), [upper, base]
    count = {"single": 1, "sequence2": 2, "sequence3": 3}[kind]
    segments = [_pick(rng, names) for _ in range(count)]
    track = segments[0].track
    for segment in segments[1:]:
        track = append(track, segment.track)
    return track, segments


def _hold_end(track: Track, frames: int) -> Track:
    """Pad with the last (standing) frame up to `frames` poses."""
    extra = frames - len(track)
    if extra <= 0:
        return track

    def pad(a):
        return np.concatenate([a, np.repeat(a[-1:], extra, axis=0)])

    return Track(pad(track.angles), pad(track.root), pad(track.heading), pad(track.contact))


def positions_of(track: Track) -> np.ndarray:
    """World joint positions [T, 22, 3] of a track: forward kinematics, then feet planted."""
    positions, rotations = forward_kinematics(track)
    return plant_feet(positions, *foot_angles(rotations), track.contact)


def make_clip(rng: np.random.Generator) -> Clip:
    """One clip of MIN_FRAMES to MAX_FRAMES poses with its captions, drawn from `rng`."""
    kinds, weights = zip(*_KINDS)
    while True:
        kind = str(rng.choice(kinds, p=weights))
        track, segments = _compose(rng, kind)
        if len(track) <= MAX_FRAMES:
            break
    positions = positions_of(_hold_end(track, MIN_FRAMES))

    captions, texts = [], set()
    for _ in range(20 * CAPTIONS_PER_CLIP):
        caption = layered_caption(*segments, rng) if kind == "layered" else sequence_caption(segments, rng)
        if caption[0] not in texts:
            texts.add(caption[0])
            captions.append(caption)
        if len(captions) == CAPTIONS_PER_CLIP:
            break
    return Clip(positions, captions, segments, kind)
