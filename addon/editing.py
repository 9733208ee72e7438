"""Regenerating a frame range and extending an action, the parts without bpy: which frames, which
context goes to the backend, and the key values that replace the range.

Scene frame f shows the context motion (20 fps, first frame at scene frame `window_first`) at the
fractional motion frame (f - window_first) * 20 / scene_fps, the same rule as resample.py. New keys
are the retargeted motion sampled there, offset at each seam so that they continue the keys that
stay: the difference between the old and the new value next to the seam fades out over `blend`
frames inside the range (the backend re-anchors root and heading in joint space; this takes up what
the round trip through joint positions cannot carry, such as bone twist and unmapped detail).
"""

import math
from dataclasses import dataclass

import numpy as np

from . import resample
from .retarget import Retargeted

CONTEXT_SECONDS = 4.0      # of the existing animation on each side of a range, sent as context
MIN_CONTEXT_SECONDS = 2.0  # the backend's shortest context (40 frames at 20 fps)
EXTEND_CONTEXT_SECONDS = 8.0
# The backend's lengths: at least 40 frames, rounded to a multiple of 4 (rounding up keeps enough).
MIN_EXTEND_FRAMES, FRAME_MULTIPLE = 40, 4


@dataclass(frozen=True)
class FrameRange:
    first: int   # scene frames, both regenerated
    last: int
    source: str  # where it came from, for the panel


def selected_span(selected_frames, all_frames):
    """(first, last) of the selected keys, or None when they are no choice: fewer than two frames,
    or every key (new keys start out selected, so a fresh action would always win)."""
    selected = sorted({round(float(frame)) for frame in selected_frames})
    if len(selected) < 2 or len(selected_frames) == len(all_frames):
        return None
    return selected[0], selected[-1]


def choose_range(preview, selected, fields) -> FrameRange:
    """The range to regenerate: the preview range (when enabled), else the selected keys' span,
    else the panel's start/end fields. Each is a (first, last) pair or None."""
    for span, source in ((preview, "preview range"), (selected, "selected keys"), (fields, "start/end fields")):
        if span is not None:
            return FrameRange(int(span[0]), int(span[1]), source)
    raise ValueError("No range to regenerate: set the preview range, select keys, or fill in Start and End")


def context_window(frame_range: FrameRange, action_span, scene_fps: float) -> tuple[int, int]:
    """Scene frames (first, last) read back as context: the range plus up to CONTEXT_SECONDS of the
    action on each side, widened evenly (the rig holds its end poses) to the backend's minimum."""
    margin = math.ceil(CONTEXT_SECONDS * scene_fps)
    first = max(min(frame_range.first, math.floor(action_span[0])), frame_range.first - margin)
    last = min(max(frame_range.last, math.ceil(action_span[1])), frame_range.last + margin)
    shortfall = math.ceil(MIN_CONTEXT_SECONDS * scene_fps) + 1 - (last - first + 1)
    if shortfall > 0:
        first -= shortfall // 2 + shortfall % 2
        last += shortfall // 2
    return first, last


def extend_window(join: int, action_first: float, scene_fps: float) -> int:
    """First scene frame of the context for continuing after `join`: up to EXTEND_CONTEXT_SECONDS of
    the action, at least the backend's minimum (before the action's first key the rig holds it)."""
    first = max(min(math.floor(action_first), join), join - round(EXTEND_CONTEXT_SECONDS * scene_fps))
    return min(first, join - math.ceil(MIN_CONTEXT_SECONDS * scene_fps))


def motion_blend(seam_frames: int, scene_fps: float) -> int:
    """The backend's seam blend (20 fps frames, 1 to 64) for a blend of `seam_frames` scene frames."""
    return min(64, max(1, round(seam_frames * 20.0 / scene_fps)))


def motion_position(frames, window_first: int, scene_fps: float, motion_fps: float = 20.0) -> np.ndarray:
    """Fractional motion frames shown at scene frames."""
    return (np.asarray(frames, dtype=np.float64) - window_first) * (motion_fps / scene_fps)


def edit_span(frame_range: FrameRange, window_first: int, motion_frames: int, scene_fps: float) -> tuple[int, int]:
    """Motion frames [start, end) the backend regenerates: all that the range's keys sample."""
    low, high = motion_position([frame_range.first, frame_range.last], window_first, scene_fps)
    start, end = math.floor(low + 1e-9), min(math.ceil(high - 1e-9) + 1, motion_frames)
    if start <= 0 and end >= motion_frames:
        raise ValueError("The range covers the whole animation around it; use Generate instead")
    return max(start, 0), end


def extend_frames(needed: int) -> int:
    """Frames to ask the backend for when `needed` new motion frames are keyed."""
    return max(MIN_EXTEND_FRAMES, math.ceil(needed / FRAME_MULTIPLE) * FRAME_MULTIPLE)


def channels(keys: Retargeted) -> list[tuple[str, str, int]]:
    """(bone, property, index) of each column of `key_values`."""
    columns = [(bone, "rotation_quaternion", index) for bone in keys.bone_names for index in range(4)]
    return columns + [(keys.root_bone, "location", index) for index in range(3)]


def key_values(keys: Retargeted, positions) -> np.ndarray:
    """The keys at fractional motion frames [F] -> [F, C] in the order of `channels`."""
    rotations = resample.rotations_at(keys.rotations, positions)  # [F, K, 4]
    locations = resample.locations_at(keys.root_locations, positions)  # [F, 3]
    return np.concatenate([rotations.reshape(len(rotations), -1), locations], axis=1)


def seam_weights(count: int, blend: int) -> np.ndarray:
    """1 next to the seam fading to 0 over `blend` frames (smoothstep), for `count` frames."""
    t = np.clip((np.arange(count) + 1.0) / max(blend, 1), 0.0, 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)


def plan_keys(keys: Retargeted, frames, window_first: int, scene_fps: float, before=None, after=None,
              blend: int = 8) -> np.ndarray:
    """New key values [F, C] for consecutive scene frames: the motion sampled there, continuing
    the old values `before` (at frames[0] - 1) and `after` (at frames[-1] + 1), [C] each or None."""
    frames = np.asarray(frames)
    around = np.concatenate([[frames[0] - 1], frames, [frames[-1] + 1]])
    new = key_values(keys, motion_position(around, window_first, scene_fps))
    rotation_columns = 4 * len(keys.bone_names)

    def signs(old, reference_row):  # per column: +-1 making old's quaternions agree with the row's
        dots = np.sum((old[:rotation_columns] * reference_row[:rotation_columns]).reshape(-1, 4), axis=-1)
        return np.concatenate([np.repeat(np.where(dots < 0.0, -1.0, 1.0), 4), np.ones(len(old) - rotation_columns)])

    # q and -q are one rotation: the new keys take the sign of the old ones before the range, and
    # the old ones after it are compared in the new keys' sign (a flip there would blend through 0).
    if before is not None:
        new *= signs(np.asarray(before, dtype=np.float64), new[0])
    if after is not None:
        after = np.asarray(after, dtype=np.float64)
        after = after * signs(after, new[-1])
    values = new[1:-1].copy()
    count = len(frames)
    if before is not None:
        values += seam_weights(count, blend)[:, None] * (np.asarray(before) - new[0])
    if after is not None:
        values += seam_weights(count, blend)[::-1, None] * (np.asarray(after) - new[-1])
    rotations = values[:, :rotation_columns].reshape(count, -1, 4)
    values[:, :rotation_columns] = (rotations / np.linalg.norm(rotations, axis=-1, keepdims=True)).reshape(count, -1)
    return values


def keys_in_span(key_frames, first: float, last: float) -> np.ndarray:
    """Mask of the keys that new keys for frames first..last replace (both ends included, and any
    subframe keys between); every other key is left exactly as it is."""
    key_frames = np.asarray(key_frames, dtype=np.float64)
    return (key_frames >= first) & (key_frames <= last)
