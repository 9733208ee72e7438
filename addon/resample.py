"""From the motion's frame rate (20 fps) to the scene's: slerp for rotations, lerp for locations.

The frame-count rule: N source frames last N / source_fps seconds (each frame holds for one
frame time), and so do the M = round(N * scene_fps / source_fps) scene frames. Scene frame k
(keyed at start_frame + k) shows the motion at k / scene_fps seconds, so the first scene frame
is the first source frame, and scene frames that fall in the last source frame's time, after the
last source sample, hold its pose. 200 frames at 20 fps become 240 at 24 fps, 250 at 25, 300
at 30, 600 at 60 and 240 at 23.976 (24000 / 1001).
"""

import numpy as np

from . import quaternion as quat

# Sample times closer than this (in source frames) to a source frame are that frame exactly.
_SNAP = 1e-9


def frame_count(source_frames: int, source_fps: float, scene_fps: float) -> int:
    """Scene frames for `source_frames` frames of motion (see the module docstring)."""
    if source_frames < 1 or source_fps <= 0 or scene_fps <= 0:
        raise ValueError(
            f"resample: need at least one frame and positive frame rates, got {source_frames} "
            f"frames, {source_fps} fps -> {scene_fps} fps"
        )
    return max(1, round(source_frames * scene_fps / source_fps))


def sample_points(source_frames: int, source_fps: float, scene_fps: float):
    """(lower source frame [M], upper source frame [M], weight of the upper [M]) per scene frame."""
    count = frame_count(source_frames, source_fps, scene_fps)
    return _bracket(np.arange(count) * (source_fps / scene_fps), source_frames)


def _bracket(position, source_frames: int):
    """Source frames around fractional positions (in source frames; before 0 and after the last
    frame the end poses hold) and the weight of the upper one."""
    position = np.asarray(position, dtype=np.float64)
    nearest = np.round(position)
    position = np.where(np.abs(position - nearest) < _SNAP, nearest, position)
    position = np.clip(position, 0, source_frames - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, source_frames - 1)
    return lower, upper, position - lower


def resample_rotations(rotations, source_fps: float, scene_fps: float) -> np.ndarray:
    """Quaternions [N, ..., 4] (w, x, y, z) -> [M, ..., 4] by slerp, sign-continuous in time."""
    count = frame_count(len(rotations), source_fps, scene_fps)
    return rotations_at(rotations, np.arange(count) * (source_fps / scene_fps))


def resample_locations(locations, source_fps: float, scene_fps: float) -> np.ndarray:
    """Vectors [N, ..., 3] -> [M, ..., 3] by linear interpolation."""
    count = frame_count(len(locations), source_fps, scene_fps)
    return locations_at(locations, np.arange(count) * (source_fps / scene_fps))


def rotations_at(rotations, positions) -> np.ndarray:
    """Quaternions [N, ..., 4] slerped at fractional source frames [M] -> [M, ..., 4], sign-continuous."""
    rotations = np.asarray(rotations, dtype=np.float64)
    lower, upper, weight = _bracket(positions, len(rotations))
    weight = weight.reshape((-1,) + (1,) * (rotations.ndim - 2))
    return quat.make_continuous(quat.slerp(rotations[lower], rotations[upper], weight), axis=0)


def locations_at(locations, positions) -> np.ndarray:
    """Vectors [N, ..., 3] interpolated at fractional source frames [M] -> [M, ..., 3]."""
    locations = np.asarray(locations, dtype=np.float64)
    lower, upper, weight = _bracket(positions, len(locations))
    weight = weight.reshape((-1,) + (1,) * (locations.ndim - 1))
    return (1.0 - weight) * locations[lower] + weight * locations[upper]
